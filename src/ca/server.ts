// Channel Access server: thin Node socket glue over CaServerConnection.
// TCP circuits, UDP name search on the same port number, and beacons.

import * as dgram from 'node:dgram';
import * as net from 'node:net';
import * as os from 'node:os';

import { CA_DEFAULT_REPEATER_PORT, CA_DEFAULT_SERVER_PORT, CA_MINOR_VERSION } from './constants.ts';
import { CaServerConnection, type CaLogger } from './connection.ts';
import { answerUdpDatagram } from './udp-responder.ts';
import { DEFAULT_MAX_PAYLOAD_SIZE } from './framer.ts';
import { encodeMessage, ipv4ToUint32 } from './messages.ts';
import type { CaPv, CaSource } from './source.ts';

/** How often an ephemeral TCP port is chosen again when its number is taken for UDP. */
const EPHEMERAL_RETRIES = 20;

/** Unsent bytes above which a connection counts as congested (monitor updates squash). */
const CONGESTION_BYTES = 256 * 1024;

/** Environment variables the Channel Access server reads (EPICS_CAS_* / EPICS_CA_*). */
export type CaEnv = Record<string, string | undefined>;

/**
 * Settings of a {@link CaServer}; what is not given comes from the EPICS_CAS_* / EPICS_CA_*
 * environment.
 */
export interface CaServerOptions {
  source: CaSource;
  /** TCP and UDP port. Default: EPICS_CAS_SERVER_PORT, else EPICS_CA_SERVER_PORT, else 5064. 0 = ephemeral. */
  port?: number;
  /** Addresses to listen on. Default: EPICS_CAS_INTF_ADDR_LIST, else 0.0.0.0. */
  interfaces?: string[];
  /** Beacon destinations ("host" or "host:port"). Default: EPICS_CAS_BEACON_ADDR_LIST, else EPICS_CA_ADDR_LIST. */
  beaconAddresses?: string[];
  /** Add interface broadcast addresses to the beacon list. Default: EPICS_CAS_AUTO_BEACON_ADDR_LIST, else EPICS_CA_AUTO_ADDR_LIST, else true. */
  autoBeaconAddresses?: boolean;
  /** Longest beacon interval in seconds. Default: EPICS_CAS_BEACON_PERIOD, else EPICS_CA_BEACON_PERIOD, else 15. */
  beaconPeriod?: number;
  /** Port beacons are sent to. Default: EPICS_CAS_BEACON_PORT, else EPICS_CA_REPEATER_PORT, else 5065. */
  repeaterPort?: number;
  /** Set false to run without beacons. */
  beacons?: boolean;
  /** Set false to run without the UDP search responder. */
  udp?: boolean;
  /** Largest accepted request payload (bounds allocation). Default 16 MiB, or EPICS_CA_MAX_ARRAY_BYTES if larger. */
  maxPayloadSize?: number;
  /** A connection whose unsent output exceeds this many bytes is closed. Default 8 MiB. */
  maxSendQueueBytes?: number;
  /** Environment to read EPICS_* settings from. Default process.env. */
  env?: CaEnv;
  /** Log sink. Default: warnings and errors to stderr. */
  log?: CaLogger;
}

/** Fully resolved server settings (options first, then environment, then defaults). */
export interface CaServerConfig {
  port: number;
  interfaces: string[];
  beaconAddresses: { host: string; port: number }[];
  autoBeaconAddresses: boolean;
  beaconPeriod: number;
  repeaterPort: number;
  beacons: boolean;
  udp: boolean;
  maxPayloadSize: number;
  maxSendQueueBytes: number;
}

function envStr(env: CaEnv, ...names: string[]): string | undefined {
  for (const n of names) {
    const v = env[n];
    if (v !== undefined && v.trim() !== '') return v.trim();
  }
  return undefined;
}
function envInt(env: CaEnv, names: string[], dflt: number, max = Number.MAX_SAFE_INTEGER): number {
  const v = envStr(env, ...names);
  if (v === undefined) return dflt;
  const n = Number(v);
  return Number.isInteger(n) && n >= 0 && n <= max ? n : dflt;
}
function envBool(env: CaEnv, names: string[], dflt: boolean): boolean {
  const v = envStr(env, ...names);
  if (v === undefined) return dflt;
  return /^(y|yes|true|1)$/i.test(v);
}
function envList(env: CaEnv, ...names: string[]): string[] | undefined {
  for (const n of names) {
    const v = env[n];
    if (v !== undefined) return v.split(/\s+/).filter(Boolean);
  }
  return undefined;
}

function parseHostPort(s: string, dfltPort: number): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  if (i > 0) {
    const p = Number(s.slice(i + 1));
    if (Number.isInteger(p) && p > 0 && p < 65536) return { host: s.slice(0, i), port: p };
  }
  return { host: s, port: dfltPort };
}

/** Resolves options against the EPICS environment variables. */
export function resolveCaServerConfig(options: Omit<CaServerOptions, 'source'> = {}): CaServerConfig {
  const env = options.env ?? process.env;
  const port = options.port ?? envInt(env, ['EPICS_CAS_SERVER_PORT', 'EPICS_CA_SERVER_PORT'], CA_DEFAULT_SERVER_PORT, 65535);
  const interfaces = options.interfaces ?? envList(env, 'EPICS_CAS_INTF_ADDR_LIST') ?? [];
  const repeaterPort =
    options.repeaterPort ?? envInt(env, ['EPICS_CAS_BEACON_PORT', 'EPICS_CA_REPEATER_PORT'], CA_DEFAULT_REPEATER_PORT, 65535);
  const beaconList = options.beaconAddresses ?? envList(env, 'EPICS_CAS_BEACON_ADDR_LIST', 'EPICS_CA_ADDR_LIST') ?? [];
  const autoBeaconAddresses =
    options.autoBeaconAddresses ??
    (envStr(env, 'EPICS_CAS_AUTO_BEACON_ADDR_LIST') !== undefined
      ? envBool(env, ['EPICS_CAS_AUTO_BEACON_ADDR_LIST'], true)
      : envBool(env, ['EPICS_CA_AUTO_ADDR_LIST'], true));
  const periodStr = envStr(env, 'EPICS_CAS_BEACON_PERIOD', 'EPICS_CA_BEACON_PERIOD');
  const envPeriod = periodStr !== undefined && Number(periodStr) > 0 ? Number(periodStr) : 15;
  const maxArray = envInt(env, ['EPICS_CA_MAX_ARRAY_BYTES'], 0);
  return {
    port,
    interfaces: interfaces.length > 0 ? interfaces : ['0.0.0.0'],
    beaconAddresses: beaconList.map((s) => parseHostPort(s, repeaterPort)),
    autoBeaconAddresses,
    beaconPeriod: options.beaconPeriod ?? envPeriod,
    repeaterPort,
    beacons: options.beacons ?? true,
    udp: options.udp ?? true,
    maxPayloadSize: options.maxPayloadSize ?? Math.max(DEFAULT_MAX_PAYLOAD_SIZE, maxArray + 1024),
    maxSendQueueBytes: options.maxSendQueueBytes ?? 8 * 1024 * 1024,
  };
}

function defaultLog(level: string, message: string): void {
  if (level === 'warn' || level === 'error') console.warn(message);
}

/** Broadcast addresses of the machine's IPv4 interfaces (or of the one holding `iface`). */
function broadcastAddresses(iface: string): string[] {
  const out: string[] = [];
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.family !== 'IPv4' || a.internal) continue;
      if (iface !== '0.0.0.0' && a.address !== iface) continue;
      const b = (ipv4ToUint32(a.address) | (~ipv4ToUint32(a.netmask) >>> 0)) >>> 0;
      out.push([(b >>> 24) & 255, (b >>> 16) & 255, (b >>> 8) & 255, b & 255].join('.'));
    }
  }
  return out;
}

/** The broadcast address of the local interface holding `address` (loopback included), if any. */
function interfaceBroadcast(address: string): string | undefined {
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.family !== 'IPv4' || a.address !== address) continue;
      const b = (ipv4ToUint32(a.address) | (~ipv4ToUint32(a.netmask) >>> 0)) >>> 0;
      return b === ipv4ToUint32(address) ? undefined : [(b >>> 24) & 255, (b >>> 16) & 255, (b >>> 8) & 255, b & 255].join('.');
    }
  }
  return undefined;
}

interface Listener {
  address: string;
  tcp: net.Server;
  /** Bound to the interface address: unicast searches, and the socket replies and beacons leave from. */
  udp?: dgram.Socket;
  /**
   * Bound to the interface's broadcast address: a socket bound to a unicast address does not receive
   * broadcasts (BSD sockets), so a server listening on one interface needs this one to hear them.
   */
  bcast?: dgram.Socket;
}

/**
 * A Channel Access server on Node sockets: a UDP search responder, beacons, and a TCP circuit
 * ({@link CaServerConnection}) per client, serving the PVs of a {@link CaSource}.
 */
export class CaServer {
  readonly source: CaSource;
  readonly config: CaServerConfig;
  private readonly log: CaLogger;
  private listeners: Listener[] = [];
  private readonly connections = new Set<{ conn: CaServerConnection; socket: net.Socket }>();
  private boundPort = 0;
  private boundUdpPort = 0;
  private beaconTimer: NodeJS.Timeout | undefined;
  private beaconId = 0;
  private beaconInterval = 0.02;
  private running = false;

  constructor(options: CaServerOptions) {
    this.source = options.source;
    this.config = resolveCaServerConfig(options);
    this.log = options.log ?? defaultLog;
  }

  /** The TCP (and UDP) port actually bound; 0 before start(). */
  get port(): number {
    return this.boundPort;
  }

  /** The UDP port searches are answered on (the configured port, or the TCP port if that was 0). */
  get udpPort(): number {
    return this.boundUdpPort;
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Per-connection diagnostics: peer, bytes waiting in the socket, open channels and subscriptions. */
  connectionStats(): { address: string; queuedBytes: number; channels: number; subscriptions: number }[] {
    return [...this.connections].map((c) => ({
      address: `${c.socket.remoteAddress}:${c.socket.remotePort}`,
      queuedBytes: c.socket.writableLength,
      channels: c.conn.channelCount,
      subscriptions: c.conn.subscriptionCount,
    }));
  }

  /** Binds the sockets and starts beacons. Resolves with the bound port. */
  async start(): Promise<{ port: number }> {
    if (this.running) return { port: this.boundPort };
    this.running = true;
    let port = this.config.port;
    let retries = EPHEMERAL_RETRIES;
    try {
      for (const address of this.config.interfaces) {
        const tcp = net.createServer({ noDelay: true }, (s) => this.accept(s));
        try {
          port = await listenTcp(tcp, address, port);
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code !== 'EADDRINUSE' || this.listeners.length > 0) throw e;
          this.log('warn', `ca: TCP port ${port} on ${address} is in use; using an ephemeral port`);
          port = await listenTcp(tcp, address, 0);
        }
        // An ephemeral port (port 0) is bound for UDP on the TCP port's number, which no other
        // socket may hold: the kernel chose the number free for TCP only, and a UDP socket bound
        // with SO_REUSEADDR would join another server's port (the last socket bound to a port
        // receives its unicast datagrams: one of the two would lose its searches). So a number
        // taken for UDP is given back and another one chosen.
        while (this.config.port === 0 && this.listeners.length === 0 && (this.config.udp || this.config.beacons)) {
          if ((await udpPortUnused(port)) || retries-- <= 0) break;
          await new Promise<void>((res) => tcp.close(() => res()));
          port = await listenTcp(tcp, address, 0);
        }
        this.boundPort = port;
        const listener: Listener = { address, tcp };
        this.listeners.push(listener);
        // UDP searches arrive on the configured port even when TCP had to fall back
        // to an ephemeral one (SO_REUSEADDR lets several servers share it).
        const udpPort = this.config.port !== 0 ? this.config.port : port;
        this.boundUdpPort = udpPort;
        if (this.config.udp || this.config.beacons) {
          try {
            listener.udp = await bindUdp(address, udpPort, (msg, rinfo) => this.onDatagram(listener, msg, rinfo));
          } catch (e) {
            this.log('warn', `ca: cannot bind UDP ${address}:${udpPort} (${(e as Error).message}); no UDP search on it`);
          }
          const bcast = listener.udp && this.config.udp ? interfaceBroadcast(address) : undefined;
          if (bcast) {
            listener.bcast = await bindUdp(bcast, udpPort, (msg, rinfo) => this.onDatagram(listener, msg, rinfo)).catch((e: Error) => {
              this.log('debug', `ca: cannot bind UDP ${bcast}:${udpPort} (${e.message}); broadcast searches there are not heard`);
              return undefined;
            });
          }
        }
      }
    } catch (e) {
      await this.stop();
      throw e;
    }
    this.boundPort = port;
    this.log('info', `ca: serving on ${this.config.interfaces.join(', ')} port ${port}`);
    if (this.config.beacons) this.scheduleBeacon(0);
    return { port };
  }

  /** Closes every socket and stops beacons. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.beaconTimer) clearTimeout(this.beaconTimer);
    this.beaconTimer = undefined;
    for (const c of this.connections) {
      c.conn.close();
      c.socket.destroy();
    }
    this.connections.clear();
    const ls = this.listeners;
    this.listeners = [];
    await Promise.all(
      ls.map(async (l) => {
        await new Promise<void>((res) => l.tcp.close(() => res()));
        if (l.udp) await new Promise<void>((res) => l.udp!.close(() => res()));
        if (l.bcast) await new Promise<void>((res) => l.bcast!.close(() => res()));
      }),
    );
    this.boundPort = 0;
    this.boundUdpPort = 0;
  }

  /**
   * Re-evaluates every client's access rights on every channel (after the access rules changed):
   * ACCESS_RIGHTS goes out where they moved, and subscriptions follow READ.
   */
  recomputeAccess(): void {
    for (const c of this.connections) c.conn.recomputeAccess();
  }

  /** Sends SERVER_DISCONN for every channel open on `pv` (e.g. after removing it from the source). */
  disconnectPv(pv: CaPv): void {
    for (const c of this.connections) c.conn.disconnectChannelsFor(pv);
  }

  private accept(socket: net.Socket): void {
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    socket.setKeepAlive(true, 30000);
    const maxQueue = this.config.maxSendQueueBytes;
    let corked = false;
    const entry = {
      socket,
      conn: new CaServerConnection(
        {
          send: (bytes) => {
            if (socket.destroyed) return true;
            // Coalesce everything sent in one tick into a single writev.
            if (!corked) {
              corked = true;
              socket.cork();
              process.nextTick(() => {
                corked = false;
                socket.uncork();
              });
            }
            socket.write(bytes);
            // Monitors are held back (squashed) once this much is waiting in the socket;
            // 'drain' follows, since Node's own high-water mark is lower.
            const ok = socket.writableLength < CONGESTION_BYTES;
            // Judge by what was already waiting, so one large array update is never the cause.
            if (socket.writableLength - bytes.length > maxQueue) {
              this.log('warn', `ca: ${peer} is not reading (${socket.writableLength} bytes queued); closing`);
              entry.conn.close();
              socket.destroy();
            }
            return ok;
          },
          close: () => {
            socket.end();
            setTimeout(() => socket.destroy(), 1000).unref();
          },
        },
        {
          source: this.source,
          serverPort: this.boundPort,
          maxPayloadSize: this.config.maxPayloadSize,
          clientAddress: peer,
          log: this.log,
        },
      ),
    };
    this.connections.add(entry);
    socket.on('data', (d) => entry.conn.receive(d));
    socket.on('drain', () => entry.conn.drained());
    socket.on('error', (e) => this.log('debug', `ca: ${peer}: ${e.message}`));
    socket.on('close', () => {
      entry.conn.close();
      this.connections.delete(entry);
    });
    entry.conn.start();
  }

  private onDatagram(l: Listener, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (!this.config.udp) return;
    const r = answerUdpDatagram(msg, this.source, this.boundPort, this.config.maxPayloadSize, {
      address: `${rinfo.address}:${rinfo.port}`,
    });
    if (r.error) this.log('debug', `ca: dropped bad datagram from ${rinfo.address}:${rinfo.port}: ${r.error}`);
    if (r.reply && l.udp) {
      l.udp.send(r.reply, rinfo.port, rinfo.address, (err) => {
        if (err) this.log('debug', `ca: search reply to ${rinfo.address}:${rinfo.port} failed: ${err.message}`);
      });
    }
  }

  private beaconTargets(l: Listener): { host: string; port: number }[] {
    const t = [...this.config.beaconAddresses];
    if (this.config.autoBeaconAddresses) for (const b of broadcastAddresses(l.address)) t.push({ host: b, port: this.config.repeaterPort });
    return t;
  }

  private scheduleBeacon(delayMs: number): void {
    this.beaconTimer = setTimeout(() => {
      if (!this.running) return;
      this.sendBeacons();
      this.beaconInterval = Math.min(this.beaconInterval * 2, this.config.beaconPeriod);
      this.scheduleBeacon(this.beaconInterval * 1000);
    }, delayMs);
    this.beaconTimer.unref();
  }

  private sendBeacons(): void {
    const id = this.beaconId++ >>> 0;
    for (const l of this.listeners) {
      if (!l.udp) continue;
      const bytes = encodeMessage({
        kind: 'beacon',
        minorVersion: CA_MINOR_VERSION,
        port: this.boundPort,
        beaconId: id,
        serverAddress: ipv4ToUint32(l.address),
      });
      for (const t of this.beaconTargets(l)) {
        try {
          l.udp.send(bytes, t.port, t.host, (err) => {
            if (err) this.log('debug', `ca: beacon to ${t.host}:${t.port} failed: ${err.message}`);
          });
        } catch (e) {
          this.log('debug', `ca: beacon to ${t.host}:${t.port} failed: ${(e as Error).message}`);
        }
      }
    }
  }
}

function listenTcp(server: net.Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error): void => {
      server.off('listening', onListening);
      reject(e);
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve((server.address() as net.AddressInfo).port);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ host, port, exclusive: true });
  });
}

/**
 * True when no UDP socket of this host holds `port` (on any address, with or without SO_REUSEADDR):
 * a socket bound to the wildcard address without SO_REUSEADDR conflicts with every one of them.
 */
function udpPortUnused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = dgram.createSocket({ type: 'udp4', reuseAddr: false });
    probe.once('error', () => {
      try {
        probe.close();
      } catch {
        // never bound
      }
      resolve(false);
    });
    probe.bind({ address: '0.0.0.0', port, exclusive: true }, () => probe.close(() => resolve(true)));
  });
}

function bindUdp(host: string, port: number, onMessage: (m: Buffer, r: dgram.RemoteInfo) => void): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    const onError = (e: Error): void => {
      sock.close();
      reject(e);
    };
    sock.once('error', onError);
    sock.on('message', onMessage);
    sock.bind({ address: host, port, exclusive: true }, () => {
      sock.off('error', onError);
      sock.on('error', () => {});
      try {
        sock.setBroadcast(true);
      } catch {
        // not fatal
      }
      resolve(sock);
    });
  });
}
