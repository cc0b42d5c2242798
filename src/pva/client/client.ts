// PvaClient: the client context. It keeps the channels (found by search.ts, connected over one TCP
// circuit per server, circuit.ts) and runs the operations on them, each in its own file: get.ts,
// put.ts, put-get.ts, rpc.ts, monitor.ts, info.ts (type and channel list). The protocol work of a
// circuit is in ClientConnection (connection.ts, sans-I/O).
import { PVStructure, requestOptions, type FieldDesc } from '../../pvdata/index.ts';
import { isAnyAddress, type SearchResponseMsg } from '../messages.ts';
import { Channel } from './channel.ts';
import { Circuit, type CircuitOwner } from './circuit.ts';
import { configFromEnv, splitHostPort, type ClientConfig } from './config.ts';
import { statusText } from './connection.ts';
import { PvaCallbackError, PvaClientError, printCallbackError } from './errors.ts';
import { startGet } from './get.ts';
import { channelNames, startInfo } from './info.ts';
import { MonitorImpl, type MonitorEvent, type MonitorHost, type MonitorOptions, type Subscription } from './monitor.ts';
import { Call, pvRequestFor, type CallHost, type Starter } from './operation.ts';
import { startPutGet, type PutGetResult } from './put-get.ts';
import { startPut, type PutInput } from './put.ts';
import { ntUri, startRpc } from './rpc.ts';
import { ChannelSearch, type SearchHost } from './search.ts';

export { PvaClientError, PvaCallbackError } from './errors.ts';
export { ntUri } from './rpc.ts';
export type { MonitorOptions, MonitorEvent, Subscription } from './monitor.ts';

/** Constructor options: client settings (over the environment) and the callback-error handler. */
export interface PvaClientOptions extends Partial<ClientConfig> {
  /** Where failing user callbacks are reported (see PvaClient.onError). */
  onError?: (e: PvaCallbackError) => void;
}

export interface OpOptions {
  /** pvRequest text, e.g. 'field(value,alarm)'. */
  request?: string;
  /** Seconds (default: the client's timeout). */
  timeout?: number;
  /** Talk to this server ('host:port') directly instead of searching. */
  server?: string;
}

/** What the parts of the client (search, circuits, calls, subscriptions) ask of it. */
type Hooks = CallHost & MonitorHost & SearchHost & CircuitOwner;

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
  private readonly byKey = new Map<string, Channel>();
  private readonly byCid = new Map<number, Channel>();
  private readonly circuits = new Map<string, Circuit>();
  private readonly search: ChannelSearch;
  private readonly hooks: Hooks;
  private nextCid = 1;
  private nextIoid = 1;
  private closed = false;

  constructor(options: PvaClientOptions = {}) {
    const { onError, ...config } = options;
    this.config = { ...configFromEnv(), ...config };
    this.onError = onError ?? printCallbackError;
    const client = this;
    this.hooks = {
      config: this.config,
      get isClosed() {
        return client.closed;
      },
      channels: () => this.byKey.values(),
      found: (m, from) => this.found(m, from),
      circuit: (host, port) => this.circuit(host, port),
      echo: (server) => this.circuits.get(server)?.conn.echo(),
      ready: (c) => this.circuitReady(c),
      lost: (c) => this.circuitLost(c),
      searchResponse: (m, host) => this.found(m, host),
      nextIoid: () => this.nextIoid++,
      callbackFailed: (pv, callback, cause) => this.callbackFailed(pv, callback, cause),
      maybeForget: (ch) => this.maybeForget(ch),
      updateRef: () => this.search.updateRef(),
    };
    this.search = new ChannelSearch(this.hooks);
  }

  // ------------------------------------------------------------ public API

  /**
   * Fetches the PV's value (only the fields the request selects are marked changed). The GET
   * operation stays open on the server afterwards (a few per channel): the next get of the PV with
   * the same request is one round trip. A kept operation that fails (e.g. the PV's type changed)
   * is dropped and the call runs once more on a fresh one.
   */
  async get(name: string, opts: OpOptions = {}): Promise<PVStructure> {
    const pvRequest = pvRequestFor(name, opts.request);
    const request = opts.request ?? '';
    return this.call<PVStructure>(name, opts, (call, c) => startGet(c.conn, call, pvRequest, request));
  }

  /**
   * Writes to the PV. `value` is a plain value for the `value` field (an enum's index or choice
   * name), an object of dotted field paths (`{'value.index': 2}`, `{value: 2.5, 'alarm.message': ''}`),
   * or a PVStructure whose changed fields are sent. The PUT operation is kept open as for get():
   * the next put with the same request is one round trip (two for an enum choice by name). A put
   * the server refuses is not sent again; only a kept operation the server calls stale (the PV
   * closed or changed type since) is replaced and the put run once more.
   */
  async put(name: string, value: PutInput, opts: OpOptions = {}): Promise<void> {
    const pvRequest = pvRequestFor(name, opts.request);
    const request = opts.request ?? '';
    return this.call<void>(name, opts, (call, c) => startPut(c.conn, call, pvRequest, request, value));
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
    const pvRequest = pvRequestFor(name, opts.request);
    return this.call<PutGetResult>(name, opts, (call, c) =>
      startPutGet({
        conn: c.conn,
        sid: call.sid,
        ioid: call.ioid,
        pvRequest,
        input: value,
        readBefore: opts.readBefore === true,
        ok: (r) => call.ok(r),
        fail: (msg) => call.fail(msg),
      }),
    );
  }

  /**
   * Calls an RPC PV. A plain object argument becomes an NTURI with those query fields (strings stay
   * strings, numbers become doubles, booleans booleans); a PVStructure is sent as it is.
   */
  async rpc(name: string, argument: PVStructure | Record<string, unknown> = {}, opts: OpOptions = {}): Promise<PVStructure> {
    const pvRequest = pvRequestFor(name, opts.request);
    const arg = argument instanceof PVStructure ? argument : ntUri(name, argument);
    return this.call<PVStructure>(name, opts, (call, c) => startRpc(c.conn, call, pvRequest, arg));
  }

  /** The PV's type (GET_FIELD), optionally of one sub-field. */
  async info(name: string, opts: OpOptions & { subField?: string } = {}): Promise<FieldDesc> {
    return this.call<FieldDesc>(name, opts, (call, c) => startInfo(c.conn, call, opts.subField ?? ''));
  }

  /** Channels currently being searched for (diagnostics). */
  get searching(): string[] {
    return [...this.byKey.values()].filter((c) => c.state === 'searching').map((c) => c.name);
  }

  /** The server ('host:port') a connected PV lives on, or undefined. */
  peerOf(name: string, server?: string): string | undefined {
    const ch = this.byKey.get(chanKey(name, server));
    return ch && ch.state === 'connected' ? ch.peer : undefined;
  }

  /**
   * Names of the channels a server offers, from its built-in `server` PV (RPC op=channels), like
   * pvxlist. Without a server address, the first server answering a search for `server` is asked.
   */
  async list(server?: string, opts: { timeout?: number } = {}): Promise<string[]> {
    return channelNames(await this.rpc('server', { op: 'channels' }, { ...opts, server }));
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
    const pvRequest = pvRequestFor(name, text);
    const ro = requestOptions(pvRequest);
    const queueSize = Math.max(1, ro.queueSize ?? opts.queueSize ?? 4);
    const ch = this.channel(name, opts.server);
    const sub = new MonitorImpl(this.hooks, ch, pvRequest, callback, ro.pipeline ?? false, queueSize, opts.onEvent);
    ch.subs.add(sub);
    if (ch.state === 'connected') sub.start();
    else this.search.updateRef();
    return sub;
  }

  /** Closes every circuit and socket; pending operations fail. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.search.close();
    for (const ch of this.byKey.values()) {
      ch.state = 'closed';
      ch.idleOps.forget();
      for (const w of ch.waiters) w.reject(new PvaClientError(`${ch.name}: client closed`, ch.name));
      ch.waiters.clear();
      for (const s of ch.subs) s.closeQuietly();
    }
    for (const c of this.circuits.values()) c.close('client closed');
    this.circuits.clear();
  }

  /** Where beacons are listened for ('host:port'; empty before the first search or with beacons off). */
  get beaconListeners(): string[] {
    return this.search.beaconListeners;
  }

  // ------------------------------------------------------------ operations

  /** Runs one request/response operation on the channel `name` (see Call). */
  private call<T>(name: string, opts: { timeout?: number; server?: string }, start: Starter<T>): Promise<T> {
    if (this.closed) return Promise.reject(new PvaClientError(`${name}: client closed`, name));
    const timeout = opts.timeout ?? this.config.timeout;
    const ch = this.channel(name, opts.server);
    return new Promise<T>((resolve, reject) => void new Call<T>(this.hooks, ch, timeout, start, resolve, reject));
  }

  /** @internal a fresh operation id */
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

  // ------------------------------------------------------------ channels

  /** The channel for a name (created and searched for or connected directly on first use). */
  private channel(name: string, server?: string): Channel {
    const key = chanKey(name, server);
    let ch = this.byKey.get(key);
    if (ch) return ch;
    ch = new Channel(name, this.nextCid++, server);
    this.byKey.set(key, ch);
    this.byCid.set(ch.cid, ch);
    this.lookFor(ch);
    return ch;
  }

  /** @internal Stops searching for a channel nobody waits for any more (connected channels stay cached). */
  maybeForget(ch: Channel): void {
    if (ch.state !== 'searching' || ch.waiters.size > 0 || ch.subs.size > 0) return;
    ch.state = 'closed';
    const key = chanKey(ch.name, ch.server);
    if (this.byKey.get(key) === ch) this.byKey.delete(key);
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
    this.search.want(ch, backoff);
  }

  /** A search response: a server has channels we search for. */
  private found(m: SearchResponseMsg, from: string): void {
    if (!m.found || m.protocol !== 'tcp') return;
    const host = isAnyAddress(m.address) ? from : m.address;
    for (const cid of m.cids) {
      const ch = this.byCid.get(cid);
      if (!ch || ch.state !== 'searching') continue;
      ch.state = 'connecting';
      this.attach(ch, host, m.port);
    }
  }

  // ------------------------------------------------------------ circuits

  /** The circuit to host:port (opened on first use). */
  private circuit(host: string, port: number): Circuit {
    const key = `${host}:${port}`;
    const have = this.circuits.get(key);
    if (have && !have.closed) return have;
    const c = new Circuit(host, port, this.config, this.hooks);
    this.circuits.set(key, c);
    return c;
  }

  private attach(ch: Channel, host: string, port: number): void {
    const c = this.circuit(host, port);
    ch.circuit = c;
    c.channels.add(ch);
    if (c.ready) this.create(ch, c);
  }

  /** A circuit's handshake is done: create its channels. */
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
            this.byKey.delete(chanKey(ch.name, ch.server));
          } else {
            ch.state = 'searching';
            this.search.refused(ch);
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

  /** A circuit's socket closed: its channels look for their server again. */
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
    // the operations kept on the server ended with the channel or the circuit
    ch.idleOps.forget();
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
}

function chanKey(name: string, server: string | undefined): string {
  return server ? `${name}\u0000${server}` : name;
}
