// WebServer: the tree in a browser. A Root protocol serving, over HTTP, a page showing the tree
// live (`/`), the tree's structure (`/api/tree`) and a pvws-compatible web socket (`/pvws/pv`)
// with the PVs of an EpicsPvServer: same names, same holders, same write and command paths.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { isIP } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { consoleLogger, type Logger } from '../pva/server/index.ts';
import type { EpicsPvServer } from '../epics/index.ts';
import type { Protocol, Root } from '../tree/index.ts';
import { PvFeed, type Holder } from './feed.ts';
import { handleRequest, hostAllowed, originAllowed, type HttpContext } from './http.ts';
import { WebSession, type SessionStats, type WebSink } from './session.ts';
import { ipOf } from '../security/index.ts';
import { treeJson } from './tree-json.ts';

/** Settings of a {@link WebServer}. */
export interface WebServerOptions {
  /** The EPICS server whose PVs the page and the web socket show. Add it to the Root first. */
  epics: EpicsPvServer;
  /** TCP port; 0 picks a free one. Default 8080. */
  port?: number;
  /** Address to listen on. Default 127.0.0.1 (this host only). */
  host?: string;
  /** Refuse every write and command call. */
  readOnly?: boolean;
  /** Minimum ms between two updates of one PV to one client (latest value kept); per PV name when a function. Default 0. */
  throttleMs?: number | ((pvName: string) => number);
  /** Most PVs one client may subscribe to. Default 10000. */
  maxSubscriptions?: number;
  /** Largest client message in bytes (the connection closes with 1009 beyond it). Default 1 MiB. */
  maxMessageBytes?: number;
  /** A client's send buffer beyond which its updates wait (coalesced). Default 512 KiB. */
  highWaterBytes?: number;
  /** Most replies waiting for a client that does not read before it is disconnected. Default 1000. */
  maxReplies?: number;
  /** Most clients at once. Default 1000. */
  maxClients?: number;
  /** Ping every client this often; one that has not answered the previous ping is dropped. Default 30000. */
  pingIntervalMs?: number;
  /** Origins whose pages may open the web socket besides the server's own page ('*': any). */
  allowedOrigins?: string[];
  logger?: Logger;
}

/** What the server says about itself and its clients (`GET /api/status`). */
export interface WebServerStatus {
  pvs: number;
  readOnly: boolean;
  clients: (SessionStats & { bufferedBytes: number })[];
}

interface Client {
  session: WebSession;
  ws: WebSocket;
  alive: boolean;
}

/** The path of the web socket: pvws's (`/pvws` web application, `/pv` endpoint). */
export const PVWS_PATH = '/pvws/pv';

/**
 * Serves a tree to browsers: register it with the Root after the EpicsPvServer whose PVs it shows.
 *
 * ```ts
 * const epics = new EpicsPvServer({ base: 'lab', root });
 * root.addProtocol(epics);
 * root.addProtocol(new WebServer({ epics, port: 8080 }));   // http://127.0.0.1:8080/
 * await root.start();
 * ```
 */
export class WebServer implements Protocol {
  readonly log: Logger;
  private readonly feeds = new Map<string, PvFeed>();
  private readonly clients = new Set<Client>();
  private http: Server | undefined;
  private wss: WebSocketServer | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private tree = '';
  private _port = 0;

  constructor(private readonly opts: WebServerOptions) {
    this.log = opts.logger ?? opts.epics.log;
  }

  /** The listening port (after start). */
  get port(): number {
    return this._port;
  }

  get host(): string {
    return this.opts.host ?? '127.0.0.1';
  }

  /** The page's URL (after start). */
  get url(): string {
    const h = this.host;
    const name = h === '0.0.0.0' || h === '::' ? '127.0.0.1' : isIP(h) === 6 ? `[${h}]` : h;
    return `http://${name}:${this._port}/`;
  }

  get readOnly(): boolean {
    return this.opts.readOnly ?? false;
  }

  status(): WebServerStatus {
    return { pvs: this.feeds.size, readOnly: this.readOnly, clients: [...this.clients].map((c) => ({ ...c.session.stats(), bufferedBytes: c.ws.bufferedAmount })) };
  }

  private stopAccessWatch: (() => void) | undefined;

  async start(root?: Root): Promise<void> {
    if (this.http) return;
    const epics = this.opts.epics;
    const r = root ?? epics.root;
    const served = Object.values(epics.list());
    const holders = new Map<string, Holder>();
    for (const name of served) {
      const h = epics.holder(name);
      if (!h) throw new Error('WebServer: its EpicsPvServer is not running (add the EpicsPvServer to the Root before the WebServer)');
      holders.set(name, h);
    }
    for (const [name, h] of holders) this.feeds.set(name, new PvFeed(name, h));
    this.tree = JSON.stringify(treeJson(r, holders, this.readOnly));
    // access security moved (a reload, a CALC input): every client re-checks its PVs
    this.stopAccessWatch = epics.accessGate?.onChange(() => {
      for (const c of this.clients) c.session.accessChanged();
    });

    const host = this.host;
    const ctx: HttpContext = {
      treeJson: () => this.tree,
      status: () => this.status(),
      loopbackOnly: host === 'localhost' || /^127\./.test(host) || host === '::1',
      allowedOrigins: this.opts.allowedOrigins ?? [],
    };
    const http = createServer((req, res) => handleRequest(ctx, req, res));
    const wss = new WebSocketServer({ noServer: true, maxPayload: this.opts.maxMessageBytes ?? 1 << 20, perMessageDeflate: false, clientTracking: false });
    http.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      const refuse = (code: number, why: string): void => {
        socket.end(`HTTP/1.1 ${code} ${why}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      };
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      if (path !== PVWS_PATH) return refuse(404, 'Not Found');
      if (!hostAllowed(ctx, req.headers.host)) return refuse(421, 'Misdirected Request');
      if (!originAllowed(ctx, req.headers.origin, req.headers.host)) {
        this.log.warn(`web: web socket from origin ${req.headers.origin} refused (allowedOrigins)`);
        return refuse(403, 'Forbidden');
      }
      if (this.clients.size >= (this.opts.maxClients ?? 1000)) return refuse(503, 'Service Unavailable');
      wss.handleUpgrade(req, socket, head, (ws) => this.connected(ws, socket, req));
    });
    http.on('clientError', (_e, socket) => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(this.opts.port ?? 8080, host, () => {
        http.off('error', reject);
        resolve();
      });
    });
    this.http = http;
    this.wss = wss;
    this._port = (http.address() as { port: number }).port;
    const every = this.opts.pingIntervalMs ?? 30000;
    this.pingTimer = setInterval(() => this.keepAlive(), every);
    this.pingTimer.unref();
    this.log.info(`web: ${this.url} (pvws web socket ws://${this.url.slice(7)}${PVWS_PATH.slice(1)})${this.readOnly ? ', read-only' : ''}`);
  }

  private connected(ws: WebSocket, socket: Socket, req: IncomingMessage): void {
    const address = req.socket.remoteAddress ?? '';
    const peer = `${address.includes(':') ? `[${address}]` : address}:${req.socket.remotePort ?? '?'}`;
    const high = Math.max(this.opts.highWaterBytes ?? 512 * 1024, socket.writableHighWaterMark);
    const sink: WebSink = {
      send: (t) => ws.send(t, { binary: false }),
      get ready() {
        return ws.readyState === 1 && ws.bufferedAmount < high;
      },
      ping: () => ws.ping(),
      close: (code, reason) => ws.close(code, reason),
      cork: () => socket.cork(),
      uncork: () => socket.uncork(),
    };
    const throttle = this.opts.throttleMs ?? 0;
    const session = new WebSession({ feed: (name) => this.feeds.get(name) }, sink, {
      peer,
      // no login on the web socket: an anonymous client at its address, as an anonymous pvAccess client
      requester: { protocol: 'web', user: 'anonymous', host: ipOf(address) ?? address, address: peer },
      access: this.opts.epics.accessGate,
      readOnly: this.readOnly,
      maxSubscriptions: this.opts.maxSubscriptions ?? 10000,
      maxControlMessages: this.opts.maxReplies ?? 1000,
      throttleMs: typeof throttle === 'function' ? throttle : () => throttle,
      log: this.log,
    });
    const client: Client = { session, ws, alive: true };
    this.clients.add(client);
    this.log.debug(`web: client ${peer} connected`);
    socket.on('drain', () => session.drained());
    ws.on('message', (data, isBinary) => {
      if (isBinary) session.receiveBinary();
      else session.receive(data.toString());
    });
    ws.on('pong', () => (client.alive = true));
    ws.on('error', (e) => this.log.debug(`web: client ${peer}: ${e.message}`));
    ws.on('close', () => {
      session.close();
      this.clients.delete(client);
      this.log.debug(`web: client ${peer} gone`);
    });
  }

  private keepAlive(): void {
    for (const c of this.clients) {
      if (!c.alive) {
        this.log.info(`web: client ${c.session.peer} did not answer a ping; dropped`);
        c.ws.terminate();
        continue;
      }
      c.alive = false;
      c.ws.ping();
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.pingTimer);
    this.stopAccessWatch?.();
    this.stopAccessWatch = undefined;
    for (const c of this.clients) {
      c.session.close();
      c.ws.close(1001, 'server stopping');
      c.ws.terminate();
    }
    this.clients.clear();
    const http = this.http;
    this.http = undefined;
    this.wss?.close();
    this.wss = undefined;
    if (http) {
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    }
    for (const f of this.feeds.values()) f.close();
    this.feeds.clear();
  }
}
