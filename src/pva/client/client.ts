// PvaClient: search (UDP unicast/broadcast and TCP name servers), one TCP circuit per server shared
// by its channels, and the operations get / put / monitor / rpc / info on top. The protocol work
// is in ClientConnection (sans-I/O); this file is the Node socket glue and the channel bookkeeping.
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import * as os from 'node:os';
import {
  PVStructure,
  Structure,
  Writer,
  parseRequest,
  requestOptions,
  scalar,
  type AnyValue,
  type FieldDesc,
  type Member,
} from '../../pvdata/index.ts';
import { framesOfDatagram } from '../framer.ts';
import {
  ProtocolError,
  decodeMessage,
  encodeMessage,
  isAnyAddress,
  type OpResponseMsg,
  type SearchResponseMsg,
} from '../messages.ts';
import { Cmd, MONITOR_ACK, MONITOR_START, SEARCH_UNICAST, SUB_DESTROY, SUB_GET, SUB_INIT } from '../protocol.ts';
import { configFromEnv, splitHostPort, type ClientConfig } from './config.ts';
import { ClientConnection, statusText, type OpHandler } from './connection.ts';
import { startPutGet, type PutGetResult } from './put-get.ts';
import { BeaconWatch, beaconListenAddresses } from './beacons.ts';
import { buildPutValue, needsCurrent, type PutInput } from './put.ts';

/**
 * A failed client operation. The message starts with the PV name: `pv: not found (timeout 5 s)`,
 * `pv: <server message>`.
 */
export class PvaClientError extends Error {
  constructor(message: string, readonly pv?: string) {
    super(message);
    this.name = 'PvaClientError';
  }
}

/**
 * A user callback failed: a monitor callback or an `onEvent` listener threw, or the promise it
 * returned rejected. `cause` is what was thrown. See PvaClient.onError.
 */
export class PvaCallbackError extends PvaClientError {
  constructor(pv: string, readonly callback: 'monitor' | 'onEvent', cause: unknown) {
    super(`${pv}: ${callback === 'monitor' ? 'monitor callback' : 'onEvent listener'} failed: ${cause instanceof Error ? cause.message : String(cause)}`, pv);
    this.name = 'PvaCallbackError';
    this.cause = cause;
  }
}

/** Constructor options: client settings (over the environment) and the callback-error handler. */
export interface PvaClientOptions extends Partial<ClientConfig> {
  /** Where failing user callbacks are reported (see PvaClient.onError). */
  onError?: (e: PvaCallbackError) => void;
}

/** The default onError: the failure and its stack on stderr. */
function printCallbackError(e: PvaCallbackError): void {
  const stack = e.cause instanceof Error && e.cause.stack ? `\n${e.cause.stack}` : '';
  console.error(`pvtree client: ${e.message}${stack}`);
}

/** Options of one get, put, put-get, RPC or info operation. */
export interface OpOptions {
  /** pvRequest text, e.g. 'field(value,alarm)'. */
  request?: string;
  /** Seconds (default: the client's timeout). */
  timeout?: number;
  /** Talk to this server ('host:port') directly instead of searching. */
  server?: string;
}

/** Options of a {@link PvaClient.monitor} subscription. */
export interface MonitorOptions {
  request?: string;
  /** Server-side queue depth (record._options.queueSize); with pipeline, the flow-control window. */
  queueSize?: number;
  /** Flow control: the server sends at most queueSize updates before the client acknowledges. */
  pipeline?: boolean;
  server?: string;
  /** Connection events: 'connected' (with the server), 'disconnected', 'error', 'finished'. */
  onEvent?: (ev: MonitorEvent) => void;
}

/** Connection events of a subscription, given to {@link MonitorOptions.onEvent}. */
export type MonitorEvent =
  | { type: 'connected'; peer: string }
  | { type: 'disconnected' }
  | { type: 'error'; error: PvaClientError }
  | { type: 'finished' };

/** A running monitor; close() ends it. */
export interface Subscription {
  readonly name: string;
  /** Updates delivered so far. */
  readonly count: number;
  close(): void;
}

type ChannelState = 'searching' | 'connecting' | 'connected' | 'closed';

interface Waiter {
  resolve(): void;
  reject(e: Error): void;
}

class Circuit {
  readonly conn: ClientConnection;
  readonly channels = new Set<Channel>();
  ready = false;
  closed = false;
  lastRx = Date.now();
  keepAlive: NodeJS.Timeout | undefined;
  constructor(
    readonly key: string,
    readonly host: string,
    readonly port: number,
    readonly socket: net.Socket,
    make: (c: Circuit) => ClientConnection,
  ) {
    this.conn = make(this);
  }
}

class Channel {
  state: ChannelState = 'searching';
  circuit: Circuit | undefined;
  sid = -1;
  searchDelay = 0;
  nextSearch = 0;
  readonly waiters = new Set<Waiter>();
  readonly subs = new Set<MonitorImpl>();
  /** Error from the last create attempt (reported to waiters). */
  lastError: string | undefined;
  constructor(readonly name: string, readonly cid: number, readonly server: string | undefined) {}
  get peer(): string {
    return this.circuit ? `${this.circuit.host}:${this.circuit.port}` : '';
  }
}

const fmtSeconds = (s: number): string => `${Number(s.toFixed(3))} s`;

/** Beacon-triggered searches come at most once a second. */
const BEACON_SEARCH_HOLDOFF_MS = 1000;

const isLoopback = (host: string): boolean => host.startsWith('127.') || host === 'localhost';


/**
 * A pvAccess client: finds PVs by UDP search (and TCP name servers), shares one TCP circuit per
 * server, and runs get, put, put-get, monitor, RPC, info (GET_FIELD) and list. Settings come from
 * the EPICS_PVA_* environment unless given.
 *
 * ```ts
 * const client = new PvaClient();
 * const v = await client.get('lab:Board:Gain', { request: 'field(value,alarm)' });
 * await client.put('lab:Board:Gain', 2.5);
 * const sub = client.monitor('lab:Board:Uptime', (v) => console.log(v.get('value')));
 * sub.close();
 * client.close();
 * ```
 */
export class PvaClient {
  readonly config: ClientConfig;
  /**
   * Called for every exception a user callback throws and every rejection of the promise it
   * returns: monitor callbacks and `onEvent` listeners. Such errors are never swallowed, and they
   * do not end the subscription: it carries on with the next update (a pipelined monitor counts the
   * update as consumed). Default: printed to stderr with the stack. Replace it (here or with the
   * `onError` constructor option) to log elsewhere, count, or fail a test.
   */
  onError: (e: PvaCallbackError) => void;
  private readonly channels = new Map<string, Channel>();
  private readonly byCid = new Map<number, Channel>();
  private readonly circuits = new Map<string, Circuit>();
  private udp: dgram.Socket | undefined;
  private udpReady: Promise<void> | undefined;
  private beacons: BeaconWatch | undefined;
  private searchTimer: NodeJS.Timeout | undefined;
  private nextCid = 1;
  private nextIoid = 1;
  private searchSeq = 1;
  private closed = false;

  constructor(options: PvaClientOptions = {}) {
    const { onError, ...config } = options;
    this.config = { ...configFromEnv(), ...config };
    this.onError = onError ?? printCallbackError;
  }

  // ------------------------------------------------------------ public API

  /** Fetches the PV's value (only the fields the request selects are marked changed). */
  async get(name: string, opts: OpOptions = {}): Promise<PVStructure> {
    const pvRequest = this.request(name, opts.request);
    return this.operation<PVStructure>(name, opts, (ch, c, ok, fail, track) => {
      const ioid = this.nextIoid++;
      const sid = ch.sid;
      const h: OpHandler = {
        types: {},
        onMessage: (m) => {
          if (m.type !== 'opResponse') return;
          if (m.status && m.status.type > 1) {
            c.conn.destroyRequest(sid, ioid);
            return fail(`${name}: ${statusText(m.status)}`);
          }
          if (m.subcmd & SUB_INIT) {
            if (!m.fieldType) return fail(`${name}: server sent no type`);
            h.types.get = m.fieldType;
            c.conn.opRequest({ command: Cmd.GET, sid, ioid, subcmd: 0 });
          } else {
            c.conn.destroyRequest(sid, ioid);
            if (!m.value) return fail(`${name}: reply without a value`);
            ok(m.value);
          }
        },
        onClosed: (r) => fail(`${name}: ${r}`),
      };
      track(() => c.conn.destroyRequest(sid, ioid));
      c.conn.register(ioid, h);
      c.conn.opRequest({ command: Cmd.GET, sid, ioid, subcmd: SUB_INIT, pvRequest });
    });
  }

  /**
   * Writes to the PV. `value` is a plain value for the `value` field (an enum's index or choice
   * name), an object of dotted field paths (`{'value.index': 2}`, `{value: 2.5, 'alarm.message': ''}`),
   * or a PVStructure whose changed fields are sent.
   */
  async put(name: string, value: PutInput, opts: OpOptions = {}): Promise<void> {
    const pvRequest = this.request(name, opts.request);
    return this.operation<void>(name, opts, (ch, c, ok, fail, track) => {
      const ioid = this.nextIoid++;
      const sid = ch.sid;
      let putType: Structure | undefined;
      let stage: 'init' | 'fetch' | 'put' = 'init';
      const send = (current?: PVStructure): void => {
        let v: PVStructure;
        try {
          v = buildPutValue(putType!, value, current);
        } catch (e) {
          c.conn.destroyRequest(sid, ioid);
          return fail(`${name}: ${(e as Error).message}`);
        }
        stage = 'put';
        c.conn.opRequest({ command: Cmd.PUT, sid, ioid, subcmd: 0, value: v, changed: v.changed });
      };
      const h: OpHandler = {
        types: {},
        onMessage: (m) => {
          if (m.type !== 'opResponse') return;
          if (m.status && m.status.type > 1) {
            c.conn.destroyRequest(sid, ioid);
            return fail(`${name}: ${statusText(m.status)}`);
          }
          if (stage === 'init') {
            if (!m.fieldType) return fail(`${name}: server sent no put type`);
            putType = h.types.put = h.types.get = m.fieldType;
            if (needsCurrent(putType, value)) {
              stage = 'fetch';
              c.conn.opRequest({ command: Cmd.PUT, sid, ioid, subcmd: SUB_GET });
            } else send();
          } else if (stage === 'fetch') {
            send(m.value);
          } else {
            c.conn.destroyRequest(sid, ioid);
            ok();
          }
        },
        onClosed: (r) => fail(`${name}: ${r}`),
      };
      track(() => c.conn.destroyRequest(sid, ioid));
      c.conn.register(ioid, h);
      c.conn.opRequest({ command: Cmd.PUT, sid, ioid, subcmd: SUB_INIT, pvRequest });
    });
  }

  /**
   * Writes to the PV and reads it back in the same operation (PUT_GET): the value returned is what
   * this put left, in the get structure. `value` is given as for put(). The request may select
   * fields for each side: 'putField(value)getField(value,alarm,timeStamp)' (default: all). With
   * `readBefore`, the result also holds the value read just before the put, in the same operation.
   * Servers that do not implement PUT_GET never answer (pvxs's, hence softIocPVX and QSRV2, ignore
   * it): the call then fails with its timeout; put() followed by get() works everywhere.
   */
  async putGet(name: string, value: PutInput, opts: OpOptions & { readBefore?: boolean } = {}): Promise<PutGetResult> {
    const pvRequest = this.request(name, opts.request);
    return this.operation<PutGetResult>(name, opts, (ch, c, ok, fail, track) => {
      const ioid = this.nextIoid++;
      const sid = ch.sid;
      track(() => c.conn.destroyRequest(sid, ioid));
      startPutGet({
        conn: c.conn,
        sid,
        ioid,
        pvRequest,
        input: value,
        readBefore: opts.readBefore === true,
        ok,
        fail: (msg) => fail(`${name}: ${msg}`),
      });
    });
  }

  /**
   * Calls an RPC PV. A plain object argument becomes an NTURI with those query fields (strings stay
   * strings, numbers become doubles, booleans booleans); a PVStructure is sent as it is.
   */
  async rpc(name: string, argument: PVStructure | Record<string, unknown> = {}, opts: OpOptions = {}): Promise<PVStructure> {
    const pvRequest = this.request(name, opts.request);
    const arg = argument instanceof PVStructure ? argument : ntUri(name, argument);
    return this.operation<PVStructure>(name, opts, (ch, c, ok, fail, track) => {
      const ioid = this.nextIoid++;
      const sid = ch.sid;
      const h: OpHandler = {
        types: {},
        onMessage: (m) => {
          if (m.type !== 'opResponse') return;
          if (m.status && m.status.type > 1) {
            c.conn.destroyRequest(sid, ioid);
            return fail(`${name}: ${statusText(m.status)}`);
          }
          if (m.subcmd & SUB_INIT) {
            c.conn.opRequest({ command: Cmd.RPC, sid, ioid, subcmd: 0, argument: { type: arg.type, value: arg } });
          } else {
            c.conn.destroyRequest(sid, ioid);
            ok(resultStructure(m.result ?? null));
          }
        },
        onClosed: (r) => fail(`${name}: ${r}`),
      };
      track(() => c.conn.destroyRequest(sid, ioid));
      c.conn.register(ioid, h);
      c.conn.opRequest({ command: Cmd.RPC, sid, ioid, subcmd: SUB_INIT, pvRequest });
    });
  }

  /** The PV's type (GET_FIELD), optionally of one sub-field. */
  async info(name: string, opts: OpOptions & { subField?: string } = {}): Promise<FieldDesc> {
    return this.operation<FieldDesc>(name, opts, (ch, c, ok, fail, track) => {
      const ioid = this.nextIoid++;
      const h: OpHandler = {
        types: {},
        onMessage: (m) => {
          if (m.type !== 'getFieldResponse') return;
          c.conn.unregister(ioid);
          if (m.status.type > 1) return fail(`${name}: ${statusText(m.status)}`);
          if (!m.fieldType) return fail(`${name}: server sent no type`);
          ok(m.fieldType);
        },
        onClosed: (r) => fail(`${name}: ${r}`),
      };
      track(() => c.conn.unregister(ioid));
      c.conn.register(ioid, h);
      c.conn.getField(ch.sid, ioid, opts.subField ?? '');
    });
  }

  /** Channels currently being searched for (diagnostics). */
  get searching(): string[] {
    return [...this.channels.values()].filter((c) => c.state === 'searching').map((c) => c.name);
  }

  /** The server ('host:port') a connected PV lives on, or undefined. */
  peerOf(name: string, server?: string): string | undefined {
    const ch = this.channels.get(this.chanKey(name, server));
    return ch && ch.state === 'connected' ? ch.peer : undefined;
  }

  /**
   * Names of the channels a server offers, from its built-in `server` PV (RPC op=channels), like
   * pvxlist. Without a server address, the first server answering a search for `server` is asked.
   */
  async list(server?: string, opts: { timeout?: number } = {}): Promise<string[]> {
    const r = await this.rpc('server', { op: 'channels' }, { ...opts, server });
    if (r.has('value')) {
      const v = r.get('value');
      if (Array.isArray(v)) return v.map(String);
    }
    throw new PvaClientError(`server: unexpected reply to op=channels`, 'server');
  }

  /**
   * Subscribes to a PV. The callback gets the complete current value, with `changed` marking what
   * this update carried. The subscription survives disconnects: it resubscribes when the PV is found
   * again.
   */
  monitor(name: string, callback: (value: PVStructure) => void | Promise<void>, opts: MonitorOptions = {}): Subscription {
    if (this.closed) throw new PvaClientError(`${name}: client closed`, name);
    const extra: string[] = [];
    if (opts.queueSize !== undefined) extra.push(`queueSize=${opts.queueSize}`);
    if (opts.pipeline) extra.push('pipeline=true');
    const text = (extra.length ? `record[${extra.join(',')}]` : '') + (opts.request ?? '');
    const pvRequest = this.request(name, text);
    const ro = requestOptions(pvRequest);
    const queueSize = Math.max(1, ro.queueSize ?? opts.queueSize ?? 4);
    const ch = this.channel(name, opts.server);
    const sub = new MonitorImpl(this, ch, pvRequest, callback, ro.pipeline ?? false, queueSize, opts.onEvent);
    ch.subs.add(sub);
    if (ch.state === 'connected') sub.start();
    else this.updateRef();
    return sub;
  }

  /** Closes every circuit and socket; pending operations fail. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.searchTimer) clearTimeout(this.searchTimer);
    for (const ch of this.channels.values()) {
      ch.state = 'closed';
      for (const w of ch.waiters) w.reject(new PvaClientError(`${ch.name}: client closed`, ch.name));
      ch.waiters.clear();
      for (const s of ch.subs) s.closeQuietly();
    }
    for (const c of this.circuits.values()) {
      if (c.keepAlive) clearInterval(c.keepAlive);
      c.closed = true;
      c.conn.closed('client closed');
      c.socket.destroy();
    }
    this.circuits.clear();
    this.udp?.close();
    this.udp = undefined;
    this.beacons?.close();
    this.beacons = undefined;
  }

  /** Where beacons are listened for ('host:port'; empty before the first search or with beacons off). */
  get beaconListeners(): string[] {
    return this.beacons?.listening ?? [];
  }

  // ------------------------------------------------------------ internals: operations

  private request(name: string, text: string | undefined): PVStructure {
    try {
      return parseRequest(text ?? '');
    } catch (e) {
      throw new PvaClientError(`${name}: ${(e as Error).message}`, name);
    }
  }

  /**
   * Runs one operation: waits for the channel (within the timeout), then `start`s it on the
   * channel's circuit. `track` registers cleanup for when the timeout fires first.
   */
  private operation<T>(
    name: string,
    opts: { timeout?: number; server?: string },
    start: (
      ch: Channel,
      c: Circuit,
      ok: (v: T) => void,
      fail: (msg: string) => void,
      track: (cleanup: () => void) => void,
    ) => void,
  ): Promise<T> {
    if (this.closed) return Promise.reject(new PvaClientError(`${name}: client closed`, name));
    const timeout = opts.timeout ?? this.config.timeout;
    const ch = this.channel(name, opts.server);
    return new Promise<T>((resolve, reject) => {
      let done = false;
      let started = false;
      let cleanup: (() => void) | undefined;
      const waiter: Waiter = {
        resolve: () => begin(),
        reject: (e) => finish(e),
      };
      const timer =
        timeout > 0
          ? setTimeout(() => {
              if (done) return;
              let why: string;
              if (started) why = `${name}: timeout (${fmtSeconds(timeout)})`;
              else if (ch.state === 'searching')
                why = ch.lastError
                  ? `${name}: ${ch.lastError} (timeout ${fmtSeconds(timeout)})`
                  : `${name}: not found (timeout ${fmtSeconds(timeout)})`;
              else why = `${name}: not connected to ${ch.peer || opts.server} (timeout ${fmtSeconds(timeout)})`;
              if (started) cleanup?.();
              finish(new PvaClientError(why, name));
            }, Math.min(timeout * 1000, 0x7fffffff))
          : undefined;
      const finish = (e: Error | undefined, v?: T): void => {
        if (done) return;
        done = true;
        if (timer) clearTimeout(timer);
        ch.waiters.delete(waiter);
        this.maybeForget(ch);
        if (e) reject(e);
        else resolve(v as T);
      };
      const begin = (): void => {
        if (done || started) return;
        ch.waiters.delete(waiter);
        started = true;
        const c = ch.circuit!;
        try {
          start(
            ch,
            c,
            (v) => finish(undefined, v),
            (msg) => finish(new PvaClientError(msg, name)),
            (fn) => (cleanup = fn),
          );
        } catch (e) {
          finish(e instanceof Error ? e : new Error(String(e)));
        }
      };
      if (ch.state === 'connected') begin();
      else {
        ch.waiters.add(waiter);
        this.updateRef();
      }
    });
  }

  // ------------------------------------------------------------ internals: channels and search

  private chanKey(name: string, server: string | undefined): string {
    return server ? `${name}\u0000${server}` : name;
  }

  /** The channel for a name (created and searched for or connected directly on first use). */
  private channel(name: string, server?: string): Channel {
    const key = this.chanKey(name, server);
    let ch = this.channels.get(key);
    if (ch) return ch;
    ch = new Channel(name, this.nextCid++, server);
    this.channels.set(key, ch);
    this.byCid.set(ch.cid, ch);
    this.lookFor(ch);
    return ch;
  }

  /** Stops searching for a channel nobody waits for any more (connected channels stay cached). */
  maybeForget(ch: Channel): void {
    if (ch.state !== 'searching' || ch.waiters.size > 0 || ch.subs.size > 0) return;
    ch.state = 'closed';
    const key = this.chanKey(ch.name, ch.server);
    if (this.channels.get(key) === ch) this.channels.delete(key);
    this.byCid.delete(ch.cid);
  }

  /** Starts finding a channel again: direct channels reconnect, others search. */
  private lookFor(ch: Channel, backoff = false): void {
    if (this.closed || ch.state === 'closed') return;
    ch.circuit = undefined;
    ch.sid = -1;
    if (ch.server) {
      ch.state = 'connecting';
      const { host, port } = splitHostPort(ch.server, this.config.serverPort);
      this.attach(ch, host, port);
      return;
    }
    ch.state = 'searching';
    if (backoff && ch.searchDelay > 0) {
      // found but could not connect: keep backing off instead of searching again at once
      ch.nextSearch = Date.now() + ch.searchDelay;
      this.scheduleSearch(Math.min(ch.searchDelay, this.searchTimerDue()));
      return;
    }
    ch.searchDelay = 0;
    ch.nextSearch = 0;
    this.scheduleSearch(0);
  }

  /** Milliseconds until the pending search tick (Infinity if none). */
  private searchTimerDue(): number {
    let next = Infinity;
    for (const ch of this.channels.values()) {
      if (ch.state === 'searching' && !ch.server) next = Math.min(next, ch.nextSearch - Date.now());
    }
    return Math.max(0, next);
  }

  private scheduleSearch(delay: number): void {
    if (this.closed) return;
    if (this.searchTimer) clearTimeout(this.searchTimer);
    this.searchTimer = setTimeout(() => void this.searchTick(), delay);
    this.updateRef();
  }

  /** Keeps the process alive (search timer referenced) only while someone waits for a channel. */
  private updateRef(): void {
    if (!this.searchTimer) return;
    let wanted = false;
    for (const ch of this.channels.values()) {
      if (ch.state !== 'connected' && ch.state !== 'closed' && (ch.waiters.size > 0 || ch.subs.size > 0)) {
        wanted = true;
        break;
      }
    }
    if (wanted) this.searchTimer.ref();
    else this.searchTimer.unref();
  }

  private async searchTick(): Promise<void> {
    this.searchTimer = undefined;
    if (this.closed) return;
    this.watchBeacons();
    const now = Date.now();
    const due: Channel[] = [];
    let next = Infinity;
    for (const ch of this.channels.values()) {
      if (ch.state !== 'searching' || ch.server) continue;
      if (ch.nextSearch <= now) {
        due.push(ch);
        ch.searchDelay = ch.searchDelay
          ? Math.min(ch.searchDelay * 2, this.config.searchMaxInterval)
          : this.config.searchInterval;
        ch.nextSearch = now + ch.searchDelay;
      }
      next = Math.min(next, ch.nextSearch);
    }
    if (due.length) await this.sendSearch(due);
    if (next !== Infinity) this.scheduleSearch(Math.max(10, next - Date.now()));
  }

  /** Starts listening for beacons (once), on loopback only when every search target is local. */
  private watchBeacons(): void {
    if (this.beacons || !this.config.beacons) return;
    const hosts = [
      ...this.udpTargets().map((t) => t.host),
      ...this.config.nameServers.map((n) => splitHostPort(n, this.config.serverPort).host),
    ];
    if (!hosts.length) return; // nothing is ever searched
    this.beacons = new BeaconWatch({
      port: this.config.broadcastPort,
      addresses: beaconListenAddresses(hosts.every(isLoopback)),
      holdoffMs: BEACON_SEARCH_HOLDOFF_MS,
      searchAgain: () => this.searchAgain(),
      // a circuit to the old instance may linger half-open (host rebooted): an echo draws its reset
      restarted: (server) => this.circuits.get(server)?.conn.echo(),
    });
    void this.beacons.start();
  }

  /** A new or restarted server appeared: every channel not yet found is searched for now. */
  private searchAgain(): void {
    if (this.closed) return;
    let any = false;
    for (const ch of this.channels.values()) {
      if (ch.state !== 'searching' || ch.server) continue;
      ch.searchDelay = 0;
      ch.nextSearch = 0;
      any = true;
    }
    if (any) this.scheduleSearch(0);
  }

  private async ensureUdp(): Promise<dgram.Socket | undefined> {
    if (this.udp) {
      const u = this.udp;
      await this.udpReady?.catch(() => undefined);
      return this.udp === u ? u : undefined;
    }
    const targets = this.udpTargets();
    if (!targets.length) return undefined;
    const loopOnly = targets.every((t) => isLoopback(t.host));
    const sock = dgram.createSocket({ type: 'udp4', reuseAddr: false });
    this.udp = sock;
    sock.on('message', (msg, rinfo) => this.onDatagram(msg, rinfo.address));
    sock.on('error', () => {});
    this.udpReady = new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(0, loopOnly ? '127.0.0.1' : '0.0.0.0', () => {
        sock.off('error', reject);
        resolve();
      });
    });
    try {
      await this.udpReady;
    } catch {
      // cannot bind: UDP search is off for now (name servers still work); retried next round
      if (this.udp === sock) this.udp = undefined;
      try {
        sock.close();
      } catch {
        /* never bound */
      }
      return undefined;
    }
    if (!loopOnly) {
      try {
        sock.setBroadcast(true);
      } catch {
        /* not permitted: unicast only */
      }
    }
    sock.unref();
    return sock;
  }

  private udpTargets(): Array<{ host: string; port: number }> {
    const out = this.config.addrList.map((a) => splitHostPort(a, this.config.broadcastPort));
    if (this.config.autoAddrList) {
      for (const ifs of Object.values(os.networkInterfaces())) {
        for (const i of ifs ?? []) {
          if (i.family !== 'IPv4' || i.internal || !i.cidr) continue;
          const bits = Number(i.cidr.split('/')[1]);
          const ip = i.address.split('.').reduce((a, b) => (a << 8) | Number(b), 0) >>> 0;
          const bcast = (ip | (bits >= 32 ? 0 : 0xffffffff >>> bits)) >>> 0;
          out.push({ host: [24, 16, 8, 0].map((s) => (bcast >>> s) & 0xff).join('.'), port: this.config.broadcastPort });
        }
      }
    }
    return out;
  }

  private async sendSearch(chans: Channel[]): Promise<void> {
    const udp = await this.ensureUdp().catch(() => undefined);
    if (this.closed) return;
    const port = udp ? udp.address().port : 0;
    // batches of channels small enough for one datagram
    const batches: Channel[][] = [];
    let cur: Channel[] = [];
    let bytes = 0;
    for (const ch of chans) {
      const n = 5 + Buffer.byteLength(ch.name);
      if (cur.length && (bytes + n > 1200 || cur.length >= 0xffff)) {
        batches.push(cur);
        cur = [];
        bytes = 0;
      }
      cur.push(ch);
      bytes += n;
    }
    if (cur.length) batches.push(cur);
    const w = new Writer(false, 1500);
    for (const b of batches) {
      const sequence = this.searchSeq++ >>> 0;
      const channels = b.map((ch) => ({ cid: ch.cid, name: ch.name }));
      if (udp) {
        for (const t of this.udpTargets()) {
          const unicast = !/\.255$/.test(t.host);
          w.reset();
          encodeMessage(w, {
            type: 'search',
            sequence,
            flags: unicast ? SEARCH_UNICAST : 0,
            address: '0.0.0.0',
            port,
            protocols: ['tcp'],
            channels,
          });
          udp.send(w.toBuffer(), t.port, t.host, () => {});
        }
      }
      for (const ns of this.config.nameServers) {
        const { host, port: p } = splitHostPort(ns, this.config.serverPort);
        const c = this.circuit(host, p);
        c.conn.search({ sequence, flags: SEARCH_UNICAST, address: '0.0.0.0', port: 0, protocols: ['tcp'], channels });
      }
    }
  }

  private onDatagram(msg: Buffer, from: string): void {
    for (const f of framesOfDatagram(msg)) {
      if (f instanceof ProtocolError) return;
      const m = decodeMessage(f);
      if (m instanceof ProtocolError) return;
      if (m.type === 'searchResponse') this.onSearchResponse(m, from);
    }
  }

  private onSearchResponse(m: SearchResponseMsg, from: string): void {
    if (!m.found || m.protocol !== 'tcp') return;
    const host = isAnyAddress(m.address) ? from : m.address;
    for (const cid of m.cids) {
      const ch = this.byCid.get(cid);
      if (!ch || ch.state !== 'searching') continue;
      ch.state = 'connecting';
      this.attach(ch, host, m.port);
    }
  }

  // ------------------------------------------------------------ internals: circuits

  private circuit(host: string, port: number): Circuit {
    const key = `${host}:${port}`;
    const have = this.circuits.get(key);
    if (have && !have.closed) return have;
    const socket = net.connect({ host, port });
    socket.setNoDelay(true);
    const c = new Circuit(key, host, port, socket, (circ) =>
      new ClientConnection(
        {
          send: (b) => {
            if (!circ.closed) socket.write(b);
          },
          onReady: () => this.circuitReady(circ),
          onSearchResponse: (m) => this.onSearchResponse(m, host),
          onFatal: () => socket.destroy(),
        },
        {
          method: this.config.auth,
          user: this.config.user ?? safeUser(),
          host: this.config.host ?? os.hostname(),
        },
      ),
    );
    this.circuits.set(key, c);
    socket.on('data', (d) => {
      c.lastRx = Date.now();
      c.conn.receive(d);
    });
    const period = this.config.echoInterval * 1000;
    if (period > 0) {
      c.keepAlive = setInterval(() => {
        const idle = Date.now() - c.lastRx;
        if (idle >= 2 * period) socket.destroy(); // silent server: treat as gone
        else if (idle >= period / 2) c.conn.echo();
      }, period / 2);
      c.keepAlive.unref();
    }
    socket.on('error', () => {});
    socket.on('close', () => this.circuitLost(c));
    return c;
  }

  private attach(ch: Channel, host: string, port: number): void {
    const c = this.circuit(host, port);
    ch.circuit = c;
    c.channels.add(ch);
    if (c.ready) this.create(ch, c);
  }

  private circuitReady(c: Circuit): void {
    c.ready = true;
    for (const ch of c.channels) if (ch.state === 'connecting') this.create(ch, c);
  }

  private create(ch: Channel, c: Circuit): void {
    c.conn.createChannel(ch.cid, ch.name, {
      onCreated: (sid, status) => {
        if (ch.circuit !== c || ch.state !== 'connecting') return;
        if (status.type > 1) {
          ch.lastError = statusText(status);
          c.channels.delete(ch);
          ch.circuit = undefined;
          // let waiters see the reason; look again later
          for (const w of ch.waiters) w.reject(new PvaClientError(`${ch.name}: ${ch.lastError}`, ch.name));
          ch.waiters.clear();
          if (ch.server) {
            ch.state = 'closed';
            this.channels.delete(this.chanKey(ch.name, ch.server));
          } else {
            ch.state = 'searching';
            ch.searchDelay = this.config.searchMaxInterval / 2;
            ch.nextSearch = Date.now() + ch.searchDelay;
            this.scheduleSearch(10);
          }
          return;
        }
        ch.sid = sid;
        ch.state = 'connected';
        ch.lastError = undefined;
        const ws = [...ch.waiters];
        ch.waiters.clear();
        for (const w of ws) w.resolve();
        for (const s of ch.subs) s.start();
      },
      onDestroyed: () => {
        if (ch.circuit !== c) return;
        c.channels.delete(ch);
        this.disconnected(ch, 'channel destroyed by server');
      },
    });
  }

  private circuitLost(c: Circuit): void {
    if (c.keepAlive) clearInterval(c.keepAlive);
    const wasClosed = c.closed;
    c.closed = true;
    if (this.circuits.get(c.key) === c) this.circuits.delete(c.key);
    if (wasClosed && this.closed) return;
    const reason = c.ready ? `disconnected from ${c.key}` : `cannot connect to ${c.key}`;
    c.conn.closed(reason);
    const chans = [...c.channels];
    c.channels.clear();
    for (const ch of chans) this.disconnected(ch, reason);
  }

  private disconnected(ch: Channel, reason: string): void {
    if (ch.state === 'closed' || this.closed) return;
    const was = ch.state;
    for (const s of ch.subs) s.lost(was === 'connected');
    ch.lastError = was === 'connected' ? undefined : reason;
    if (ch.server) {
      // direct connections retry after a pause
      ch.state = 'connecting';
      ch.circuit = undefined;
      const t = setTimeout(() => {
        if (ch.state === 'connecting' && !ch.circuit) this.lookFor(ch);
      }, was === 'connected' ? 100 : 1000);
      t.unref();
      return;
    }
    this.lookFor(ch, was !== 'connected');
  }

  /** @internal used by subscriptions */
  ioid(): number {
    return this.nextIoid++;
  }

  /** @internal a user callback of a subscription failed: report it through onError */
  callbackFailed(pv: string, callback: 'monitor' | 'onEvent', cause: unknown): void {
    const e = new PvaCallbackError(pv, callback, cause);
    try {
      this.onError(e);
    } catch (again) {
      // the handler itself failed: say both rather than lose either
      printCallbackError(e);
      console.error(`pvtree client: onError handler failed too: ${again instanceof Error ? again.stack : String(again)}`);
    }
  }
}

function safeUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return process.env.USER ?? '';
  }
}

// ------------------------------------------------------------ monitors

class MonitorImpl implements Subscription {
  count = 0;
  private ioid = -1;
  private circuit: Circuit | undefined;
  private full: PVStructure | undefined;
  private unack = 0;
  private readonly ackAt: number;
  private done = false;
  private failed = false;

  constructor(
    private readonly client: PvaClient,
    private readonly ch: Channel,
    private readonly pvRequest: PVStructure,
    private readonly callback: (value: PVStructure) => void | Promise<void>,
    private readonly pipeline: boolean,
    private readonly queueSize: number,
    private readonly onEvent: ((ev: MonitorEvent) => void) | undefined,
  ) {
    this.ackAt = Math.max(1, Math.floor(queueSize / 2));
  }

  get name(): string {
    return this.ch.name;
  }

  private emit(ev: MonitorEvent): void {
    try {
      this.onEvent?.(ev);
    } catch (e) {
      this.client.callbackFailed(this.ch.name, 'onEvent', e);
    }
  }

  /** (Re)subscribes on the channel's current circuit. */
  start(): void {
    if (this.done || this.failed || this.ioid >= 0) return;
    const c = this.ch.circuit;
    if (!c) return;
    this.circuit = c;
    const ioid = (this.ioid = this.client.ioid());
    const sid = this.ch.sid;
    this.full = undefined;
    this.unack = 0;
    const h: OpHandler = {
      types: {},
      onMessage: (m) => {
        if (m.type === 'opResponse') this.onResponse(m, h, sid, ioid, c);
      },
      onClosed: () => {
        /* handled through the channel's disconnect */
      },
    };
    c.conn.register(ioid, h);
    c.conn.opRequest({
      command: Cmd.MONITOR,
      sid,
      ioid,
      subcmd: SUB_INIT | (this.pipeline ? MONITOR_ACK : 0),
      pvRequest: this.pvRequest,
      ack: this.pipeline ? this.queueSize : undefined,
    });
    this.emit({ type: 'connected', peer: this.ch.peer });
  }

  private onResponse(m: OpResponseMsg, h: OpHandler, sid: number, ioid: number, c: Circuit): void {
    if (ioid !== this.ioid) return;
    if (m.subcmd & SUB_INIT) {
      if (m.status && m.status.type > 1) {
        this.failed = true;
        c.conn.destroyRequest(sid, ioid);
        this.ioid = -1;
        this.emit({ type: 'error', error: new PvaClientError(`${this.ch.name}: ${statusText(m.status)}`, this.ch.name) });
        return;
      }
      if (!m.fieldType) return;
      h.types.get = m.fieldType;
      this.full = new PVStructure(m.fieldType);
      c.conn.opRequest({ command: Cmd.MONITOR, sid, ioid, subcmd: MONITOR_START });
      return;
    }
    if (m.value && m.changed && this.full) {
      this.full.copyChanged(m.value, m.changed);
      const out = this.full.clone();
      out.changed.clear().or(m.changed);
      this.full.clearChanged();
      this.count++;
      this.deliver(out, sid, ioid, c);
    }
    if (m.subcmd & SUB_DESTROY) {
      // the server ended the subscription
      c.conn.unregister(ioid);
      this.ioid = -1;
      this.done = true;
      this.ch.subs.delete(this);
      if (m.status && m.status.type > 1) {
        this.emit({ type: 'error', error: new PvaClientError(`${this.ch.name}: ${statusText(m.status)}`, this.ch.name) });
      }
      this.emit({ type: 'finished' });
    }
  }

  /** Runs the callback; failures go to the client's onError. Pipelined: acks once it is done. */
  private deliver(out: PVStructure, sid: number, ioid: number, c: Circuit): void {
    let r: void | Promise<void>;
    try {
      r = this.callback(out);
    } catch (e) {
      this.client.callbackFailed(this.ch.name, 'monitor', e);
      r = undefined;
    }
    if (r && typeof (r as Promise<void>).then === 'function') {
      (r as Promise<void>).then(
        () => {
          if (this.pipeline) this.consumed(sid, ioid, c);
        },
        (e: unknown) => {
          this.client.callbackFailed(this.ch.name, 'monitor', e);
          if (this.pipeline) this.consumed(sid, ioid, c);
        },
      );
    } else if (this.pipeline) this.consumed(sid, ioid, c);
  }

  private consumed(sid: number, ioid: number, c: Circuit): void {
    if (ioid !== this.ioid || c.closed) return;
    this.unack++;
    if (this.unack >= this.ackAt) {
      const n = this.unack;
      this.unack = 0;
      c.conn.opRequest({ command: Cmd.MONITOR, sid, ioid, subcmd: MONITOR_ACK, ack: n });
    }
  }

  /** The channel disconnected: wait for it to come back. */
  lost(wasConnected: boolean): void {
    if (this.ioid >= 0) this.circuit?.conn.unregister(this.ioid);
    this.ioid = -1;
    this.circuit = undefined;
    if (wasConnected && !this.done) this.emit({ type: 'disconnected' });
  }

  closeQuietly(): void {
    this.done = true;
    this.ioid = -1;
  }

  close(): void {
    if (this.done) return;
    this.done = true;
    this.ch.subs.delete(this);
    this.client.maybeForget(this.ch);
    if (this.ioid >= 0 && this.circuit && !this.circuit.closed) {
      this.circuit.conn.destroyRequest(this.ch.sid, this.ioid);
    }
    this.ioid = -1;
  }
}

// ------------------------------------------------------------ helpers

/** An NTURI for an RPC call, query fields typed by their JS values. */
export function ntUri(path: string, query: Record<string, unknown>): PVStructure {
  const q: Member[] = Object.entries(query).map(([k, v]) => ({
    name: k,
    type: scalar(
      typeof v === 'number' ? 'double' : typeof v === 'boolean' ? 'boolean' : typeof v === 'bigint' ? 'long' : 'string',
    ),
  }));
  const t = new Structure('epics:nt/NTURI:1.0', [
    { name: 'scheme', type: scalar('string') },
    { name: 'authority', type: scalar('string') },
    { name: 'path', type: scalar('string') },
    { name: 'query', type: new Structure('', q) },
  ]);
  const v = new PVStructure(t, { scheme: '', authority: '', path });
  for (const [k, x] of Object.entries(query)) v.set(`query.${k}`, typeof x === 'object' && x !== null ? String(x) : x);
  v.markAll();
  return v;
}

function resultStructure(r: AnyValue | null): PVStructure {
  if (!r) return new PVStructure(new Structure('', []));
  if (r.value instanceof PVStructure) return r.value;
  const t = new Structure('', [{ name: 'value', type: r.type }]);
  const v = new PVStructure(t);
  v.setAt(1, r.value);
  return v;
}

