// One TCP circuit to a server, shared by every channel the client has there: the socket, the
// sans-I/O ClientConnection speaking over it, keep-alive echoes, and the channels created on it.
import * as net from 'node:net';
import * as os from 'node:os';
import type { SearchResponseMsg } from '../messages.ts';
import type { Channel } from './channel.ts';
import type { ClientConfig } from './config.ts';
import { ClientConnection } from './connection.ts';

/** What a circuit tells its client. */
export interface CircuitOwner {
  /** The handshake is done: channels can be created. */
  ready(c: Circuit): void;
  /** The socket closed (or never connected). */
  lost(c: Circuit): void;
  /** A search response arrived over this circuit (name-server search). */
  searchResponse(m: SearchResponseMsg, host: string): void;
}

export class Circuit {
  readonly key: string;
  readonly socket: net.Socket;
  readonly conn: ClientConnection;
  readonly channels = new Set<Channel>();
  ready = false;
  closed = false;
  lastRx = Date.now();
  /** When we last sent anything: a server drops a client it has not heard from for a while. */
  private lastTx = Date.now();
  keepAlive: NodeJS.Timeout | undefined;
  /** The socket is corked until the end of this tick (see send). */
  private corked = false;

  constructor(
    readonly host: string,
    readonly port: number,
    config: ClientConfig,
    owner: CircuitOwner,
  ) {
    this.key = `${host}:${port}`;
    const socket = (this.socket = net.connect({ host, port }));
    socket.setNoDelay(true);
    this.conn = new ClientConnection(
      {
        send: (b) => this.send(b),
        onReady: () => owner.ready(this),
        onSearchResponse: (m) => owner.searchResponse(m, host),
        onFatal: () => socket.destroy(),
      },
      {
        method: config.auth,
        user: config.user ?? safeUser(),
        host: config.host ?? os.hostname(),
      },
    );
    socket.on('data', (d) => {
      this.lastRx = Date.now();
      this.conn.receive(d);
    });
    const period = config.echoInterval * 1000;
    if (period > 0) {
      this.keepAlive = setInterval(() => {
        const now = Date.now();
        const idle = now - this.lastRx;
        if (idle >= 2 * period) socket.destroy(); // silent server: treat as gone
        // an echo draws an answer from a quiet server, and tells a server that only sends (to a
        // monitor) that we are still here: pvxs drops a client it has not heard from in 40 s
        else if (idle >= period / 2 || now - this.lastTx >= period / 2) this.conn.echo();
      }, period / 2);
      this.keepAlive.unref();
    }
    socket.on('error', () => {});
    socket.on('close', () => owner.lost(this));
  }

  /** Everything sent in one tick leaves in one write (writev): the socket is corked until the tick ends. */
  private send(b: Buffer): void {
    if (this.closed) return;
    if (!this.corked) {
      this.lastTx = Date.now();
      this.corked = true;
      this.socket.cork();
      process.nextTick(this.uncork);
    }
    this.socket.write(b);
  }

  private readonly uncork = (): void => {
    this.corked = false;
    this.socket.uncork();
  };

  /** The client is closing: fail what is open, drop the socket. */
  close(reason: string): void {
    if (this.keepAlive) clearInterval(this.keepAlive);
    this.closed = true;
    this.conn.closed(reason);
    this.socket.destroy();
  }
}

function safeUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return process.env.USER ?? '';
  }
}
