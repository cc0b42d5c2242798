// The thin Node shell around LinkStack: one UDP socket and one timer. A client talks to one
// peer (a connected socket, so the kernel drops datagrams from anyone else); a server answers
// whoever sent the last datagram, as Rogue's udp::Server does.

import { createSocket, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import { DeadlineTimer } from './deadline-timer.ts';
import { LinkStack, type StackOptions } from './stack.ts';

export interface UdpLinkOptions extends Omit<StackOptions, 'sendDatagram' | 'onFrame' | 'onState' | 'server'> {
  role: 'client' | 'server';
  /** Client: the peer's host. */
  host?: string;
  /** Client: the peer's port. Server: the port to bind (0: any free port). */
  port: number;
  /** Address to bind. Default: 127.0.0.1 for a loopback peer (and for servers), else all interfaces. */
  localAddress?: string;
}

export type FrameHandler = (frame: Uint8Array, error: boolean) => void;
export type LinkListener = (open: boolean, detail: string) => void;

function isLoopback(host: string): boolean {
  return host === 'localhost' || (isIP(host) === 4 && host.startsWith('127.')) || host === '::1';
}

export class UdpLink {
  readonly role: 'client' | 'server';
  readonly stack: LinkStack;
  private readonly opts: UdpLinkOptions;
  private sock: Socket | undefined;
  private readonly deadline: DeadlineTimer;
  private readonly routes = new Map<number, FrameHandler>();
  private readonly listeners = new Set<LinkListener>();
  private peer: { address: string; port: number } | undefined;
  private closed = false;
  /** Frames for a tDest nobody listens on; socket errors (e.g. ICMP port unreachable). */
  unrouted = 0;
  socketErrors = 0;
  lastDetail = 'not started';

  constructor(opts: UdpLinkOptions) {
    this.role = opts.role;
    this.opts = opts;
    if (opts.role === 'client' && !opts.host) throw new RangeError('a client link needs the peer host');
    if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535 || (opts.role === 'client' && opts.port === 0)) {
      throw new RangeError(`bad UDP port ${opts.port}`);
    }
    this.stack = new LinkStack({
      ...opts,
      server: opts.role === 'server',
      sendDatagram: (d) => this.sendDatagram(d),
      onFrame: (tDest, frame, error) => {
        const h = this.routes.get(tDest);
        if (h) h(frame, error);
        else this.unrouted++;
      },
      onState: (open, detail) => {
        this.lastDetail = detail;
        for (const l of [...this.listeners]) l(open, detail);
      },
    });
    this.deadline = new DeadlineTimer(this.stack);
  }

  /** Bind (and for a client connect) the socket and start the link (RSSI opens in the background). */
  async start(): Promise<void> {
    if (this.sock) return;
    const o = this.opts;
    const s = createSocket({ type: 'udp4' });
    this.sock = s;
    s.on('error', () => void this.socketErrors++);
    const server = o.role === 'server';
    s.on('message', (msg, from) => {
      if (this.closed) return;
      if (server) this.peer = { address: from.address, port: from.port };
      this.stack.receive(msg, performance.now());
      this.arm();
    });
    const local = o.localAddress ?? (o.role === 'server' || isLoopback(o.host!) ? '127.0.0.1' : '0.0.0.0');
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind({ address: local, port: o.role === 'server' ? o.port : 0 }, () => {
        s.off('error', reject);
        resolve();
      });
    });
    if (o.role === 'client') {
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.connect(o.port, o.host === 'localhost' ? '127.0.0.1' : o.host, () => {
          s.off('error', reject);
          resolve();
        });
      });
    }
    this.stack.start(performance.now());
    this.arm();
  }

  /** Local port (after start). */
  get port(): number {
    return this.sock?.address().port ?? 0;
  }

  get isOpen(): boolean {
    return this.stack.isOpen;
  }

  /** Receive frames of `tDest` (one handler per tDest). */
  route(tDest: number, handler: FrameHandler | undefined): void {
    if (handler) this.routes.set(tDest, handler);
    else this.routes.delete(tDest);
  }

  /** Hear the link open and go down. Returns an unsubscribe function. */
  onLinkChange(l: LinkListener): () => void {
    this.listeners.add(l);
    return () => void this.listeners.delete(l);
  }

  /** Resolves when the link is open; rejects after `ms`. */
  waitOpen(ms: number): Promise<void> {
    if (this.isOpen) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        off();
        reject(new Error(`link to ${this.describe()} not open after ${ms / 1000} s (${this.lastDetail})`));
      }, ms);
      const off = this.onLinkChange((open) => {
        if (!open) return;
        clearTimeout(t);
        off();
        resolve();
      });
    });
  }

  /** Send a frame on `tDest`; false when the link is down (dropped). */
  sendFrame(tDest: number, frame: Uint8Array): boolean {
    const ok = this.stack.sendFrame(tDest, frame, performance.now());
    this.arm();
    return ok;
  }

  describe(): string {
    return this.role === 'client' ? `${this.opts.host}:${this.opts.port}` : `UDP port ${this.port}`;
  }

  private sendDatagram(d: Uint8Array): void {
    const s = this.sock;
    if (!s || this.closed) return;
    if (this.role === 'client') s.send(d);
    else if (this.peer) s.send(d, this.peer.port, this.peer.address);
  }

  /** Keep one timer at the stack's next deadline. */
  private arm(): void {
    if (!this.closed) this.deadline.arm();
  }

  /** Stop the link (RST to the peer when open) and close the socket. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.stack.stop(performance.now());
    this.closed = true;
    this.deadline.stop();
    const s = this.sock;
    this.sock = undefined;
    if (!s) return;
    await new Promise((r) => setImmediate(r)); // let the RST leave
    await new Promise<void>((r) => s.close(() => r()));
  }
}
