// PvaServer: Node socket glue around the sans-I/O connection, plus UDP search, beacons and the
// built-in `server` PV that list tools query.
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { hostname } from 'node:os';
import { PVStructure, Writer, struct, type AnyValue } from '../../pvdata/index.ts';
import { encodeMessage } from '../messages.ts';
import { SEARCH_MUST_REPLY } from '../protocol.ts';
import { serverConfig, type PvaServerConfig } from './config.ts';
import { ServerConnection, type PvaAccessControl, type ServerContext } from './connection.ts';
import { consoleLogger, type Logger } from './log.ts';
import type { SearchToAnswer } from './search.ts';
import { SharedPV } from './shared-pv.ts';
import { StaticProvider, type ChannelSource } from './source.ts';
import { SearchSockets } from './udp.ts';

/**
 * Settings of a {@link PvaServer}; what is not given comes from the environment (EPICS_PVAS_* /
 * EPICS_PVA_*, or `env`).
 */
export interface PvaServerOptions extends Partial<PvaServerConfig> {
  logger?: Logger;
  env?: NodeJS.ProcessEnv;
  /** Serve the built-in `server` PV (channel list and info for list tools). Default true. */
  serverPv?: boolean;
  /** Per-client access control (access security); see PvaAccessControl. */
  access?: PvaAccessControl;
}

const SERVER_PV_NAME = 'server';

/**
 * A pvAccess server on Node sockets: UDP search (forwarding unicast searches to the other servers
 * on the host), beacons, and a TCP circuit ({@link ServerConnection}) per client. Serves {@link
 * SharedPV}s added by name, and any {@link ChannelSource}.
 *
 * ```ts
 * const server = new PvaServer({ tcpPort: 0, udpPort: 0 });
 * server.addPV('demo:x', SharedPV.mailbox().open(new PVStructure(ntScalar('double'), { value: 1 })));
 * await server.start();
 * ```
 */
export class PvaServer {
  readonly config: PvaServerConfig;
  readonly log: Logger;
  readonly guid = randomBytes(12);
  /** The default static provider (`addPV` / `removePV`). */
  readonly provider = new StaticProvider();
  private readonly sources: ChannelSource[] = [this.provider];
  private readonly builtin = new StaticProvider();
  private tcp: Server | undefined;
  private udp: SearchSockets | undefined;
  private readonly conns = new Set<ServerConnection>();
  private beaconTimer: NodeJS.Timeout | undefined;
  private beaconSeq = 0;
  private boundTcpPort = 0;
  private running = false;

  private readonly access: PvaAccessControl | undefined;

  constructor(opts: PvaServerOptions = {}) {
    this.access = opts.access;
    this.config = serverConfig(opts, opts.env ?? process.env);
    this.log = opts.logger ?? consoleLogger('pva-server');
    if (opts.serverPv !== false) this.builtin.add(SERVER_PV_NAME, this.makeServerPv());
  }

  get tcpPort(): number {
    return this.boundTcpPort;
  }

  get udpPort(): number {
    return this.udp?.port ?? 0;
  }

  /** Whether unicast searches are forwarded to the other servers of this host (local multicast). */
  get forwardsSearches(): boolean {
    return this.udp?.forwards ?? false;
  }

  get isRunning(): boolean {
    return this.running;
  }

  get connectionCount(): number {
    return this.conns.size;
  }

  addPV(name: string, pv: SharedPV): this {
    this.provider.add(name, pv);
    return this;
  }

  /** Removes a PV: its clients see the channel destroyed. */
  removePV(name: string): void {
    const pv = this.provider.get(name);
    if (!pv) return;
    for (const c of this.conns) c.channelGone(pv);
    this.provider.remove(name);
  }

  /**
   * Re-evaluates every client's rights on every channel (after the access rules changed): monitors
   * of clients that lost READ stop, those that regained it get the complete value.
   */
  recomputeAccess(): void {
    for (const c of this.conns) c.recomputeAccess();
  }

  /** Adds a source asked after those already added. */
  addSource(source: ChannelSource): this {
    this.sources.push(source);
    return this;
  }

  removeSource(source: ChannelSource): void {
    const i = this.sources.indexOf(source);
    if (i >= 0) this.sources.splice(i, 1);
  }

  has(name: string): boolean {
    return this.builtin.has(name) || this.sources.some((s) => s.has(name));
  }

  lookup(name: string): SharedPV | undefined {
    const b = this.builtin.get(name);
    if (b) return b;
    for (const s of this.sources) {
      if (!s.has(name)) continue;
      const pv = s.get(name);
      if (pv) return pv;
    }
    return undefined;
  }

  /** Names of every PV whose source can list them. */
  channelNames(): string[] {
    const out: string[] = [];
    for (const s of this.sources) for (const n of s.names?.() ?? []) out.push(n);
    return out;
  }

  async start(): Promise<void> {
    if (this.running) return;
    const iface = this.config.interfaces[0] ?? '0.0.0.0';
    const ctx: ServerContext = {
      guid: this.guid,
      log: this.log,
      maxMessageSize: this.config.maxMessageSize,
      sendQueueLimit: this.config.sendQueueLimit,
      get tcpPort() {
        return server.boundTcpPort;
      },
      has: (n) => this.has(n),
      lookup: (n) => this.lookup(n),
      access: this.access,
    };
    const server = this;
    this.tcp = createServer((s) => this.accept(s, ctx));
    this.boundTcpPort = await listen(this.tcp, iface, this.config.tcpPort).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EADDRINUSE' || this.config.tcpPort === 0) throw e;
      this.log.info(`TCP port ${this.config.tcpPort} in use; using an ephemeral port`);
      return listen(this.tcp!, iface, 0);
    });
    this.udp = new SearchSockets({
      interfaces: this.config.interfaces,
      port: this.config.udpPort,
      ignoreAddrs: this.config.ignoreAddrs,
      log: this.log,
      onSearch: (q) => this.answerSearch(q),
    });
    try {
      await this.udp.start();
    } catch (e) {
      this.udp.stop();
      this.udp = undefined;
      await new Promise<void>((res) => this.tcp!.close(() => res()));
      this.tcp = undefined;
      throw e;
    }
    this.running = true;
    this.log.info(`pvAccess server on ${iface} TCP ${this.boundTcpPort}, UDP ${this.udpPort}`);
    this.sendBeacon();
    this.beaconTimer = setInterval(() => this.sendBeacon(), this.config.beaconPeriodMs);
    this.beaconTimer.unref();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    clearInterval(this.beaconTimer);
    for (const c of [...this.conns]) c.close();
    this.conns.clear();
    this.udp?.stop();
    this.udp = undefined;
    await new Promise<void>((res) => this.tcp!.close(() => res()));
    this.tcp = undefined;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  private accept(s: Socket, ctx: ServerContext): void {
    s.setNoDelay(true);
    const peer = `${s.remoteAddress}:${s.remotePort}`;
    const limit = ctx.sendQueueLimit;
    const flushed = () => conn.drained();
    const conn = new ServerConnection(ctx, {
      // 'drain' only follows a write that reached the socket's high-water mark: when a limit below
      // it is crossed, learn from the write's own callback when the bytes have left
      write: (b) => void (s.writableLength + b.length > limit ? s.write(b, flushed) : s.write(b)),
      // one writev system call, nothing copied (some chunks are encodings other clients share)
      writev: (chunks, done) => {
        let bytes = s.writableLength;
        for (const b of chunks) bytes += b.length;
        const over = bytes > limit;
        s.cork();
        const last = chunks.length - 1;
        for (let i = 0; i < last; i++) s.write(chunks[i]);
        s.write(chunks[last], () => {
          done();
          if (over) flushed();
        });
        s.uncork();
      },
      bufferedBytes: () => s.writableLength,
      close: () => s.destroy(),
    }, peer);
    this.conns.add(conn);
    this.log.debug(`connection from ${peer}`);
    s.on('data', (d) => conn.receive(d));
    s.on('drain', () => conn.drained());
    s.on('error', (e) => this.log.debug(`${peer}: ${e.message}`));
    s.on('close', () => {
      conn.close();
      this.conns.delete(conn);
    });
    conn.start();
  }

  private answerSearch({ search: m, replyHost, replyPort }: SearchToAnswer): void {
    if (m.protocols.length && !m.protocols.includes('tcp')) return;
    const found = m.channels.filter((c) => this.has(c.name)).map((c) => c.cid);
    if (!found.length && !(m.flags & SEARCH_MUST_REPLY)) return;
    const w = new Writer(true, 128);
    encodeMessage(w, {
      type: 'searchResponse',
      guid: this.guid,
      sequence: m.sequence,
      address: '0.0.0.0',
      port: this.boundTcpPort,
      protocol: 'tcp',
      found: found.length > 0,
      cids: found.length ? found : m.channels.map((c) => c.cid),
    });
    this.udp?.send(w.bytes(), replyPort, replyHost);
  }

  private sendBeacon(): void {
    if (!this.running || !this.udp) return;
    const w = new Writer(true, 64);
    encodeMessage(w, {
      type: 'beacon',
      guid: this.guid,
      flags: 0,
      sequence: this.beaconSeq++ & 0xff,
      changeCount: 0,
      address: '0.0.0.0',
      port: this.boundTcpPort,
      protocol: 'tcp',
      status: null,
    });
    const data = w.toBuffer();
    for (const b of this.config.beaconAddrs) this.udp.send(data, b.port || this.udpPort, b.host);
  }

  private makeServerPv(): SharedPV {
    const info = struct('', { value: 'string' });
    const pv = new SharedPV({
      onRpc: (_pv, arg) => {
        const query = queryOf(arg);
        const op = String(query.op ?? 'channels');
        if (op === 'channels') {
          const t = struct('epics:nt/NTScalarArray:1.0', { value: 'string[]' });
          return new PVStructure(t, { value: this.channelNames().sort() });
        }
        if (op === 'info') {
          const t = struct('', { version: 'string', implLang: 'string', host: 'string', process: 'string', startTime: 'string' });
          return new PVStructure(t, {
            version: 'pvtree 0.1.0',
            implLang: 'typescript',
            host: hostname(),
            process: String(process.pid),
            startTime: startTime,
          });
        }
        throw new Error(`unknown op '${op}' (use channels or info)`);
      },
    });
    pv.open(new PVStructure(info, { value: 'pvtree server' }));
    return pv;
  }
}

const startTime = new Date().toISOString();

function queryOf(arg: AnyValue | null): Record<string, unknown> {
  const v = arg?.value;
  if (!(v instanceof PVStructure)) return {};
  if (v.has('query')) return v.get('query') as Record<string, unknown>;
  return v.toJSON();
}

function listen(s: Server, host: string, port: number): Promise<number> {
  return new Promise((res, rej) => {
    const onErr = (e: Error) => rej(e);
    s.once('error', onErr);
    s.listen(port, host, () => {
      s.off('error', onErr);
      const a = s.address();
      res(typeof a === 'object' && a ? a.port : port);
    });
  });
}
