// WebSession: one web socket client. Reads its pvws messages (subscribe/monitor, clear, list,
// write, ping, echo, and pvtree's call), and sends updates through a bounded queue: each
// subscribed PV is pending at most once (latest-value coalescing: what is sent is the PV's state
// when the connection can take it), so a slow or stalled client costs at most one entry per
// subscription plus the socket's high-water mark, and never holds back other clients.
// No sockets here: the server hands in text and gives a WebSink to send through.
import type { Logger } from '../pva/server/index.ts';
import { EpicsPvHolder } from '../epics/index.ts';
import type { AccessGate, Requester } from '../security/index.ts';
import type { PvFeed, FeedSubscriber } from './feed.ts';

/** Where a session's messages go (the web socket, or a test's array). */
export interface WebSink {
  /** Sends one text message (a Buffer holds its UTF-8, shared between clients: never changed). */
  send(text: string | Buffer): void;
  /** True while more may be sent without the connection's buffer passing its high-water mark. */
  readonly ready: boolean;
  /** Sends a web socket ping frame. */
  ping(): void;
  close(code: number, reason: string): void;
  /** Optional: hold writes back while one flush sends many messages (one system call for all). */
  cork?(): void;
  uncork?(): void;
}

/** The served PVs by name. */
export interface PvDirectory {
  /** The feed of a served PV name, or undefined when no such PV is served. */
  feed(name: string): PvFeed | undefined;
}

export interface SessionOptions {
  /** The client's address, for logs. */
  peer: string;
  /** Who the client is for access security (protocol 'web'). */
  requester: Requester;
  /**
   * The EPICS server's access security, when it has one: reads are checked when a PV is
   * subscribed, `readonly` follows the client's write access, and every write and command call
   * goes through it inside the holder (checked, applied, audited), as for pvAccess and CA.
   */
  access?: AccessGate;
  /** Refuse every write and command call (readonly: true in every update). */
  readOnly: boolean;
  /** Most PVs one client may subscribe to. */
  maxSubscriptions: number;
  /** Most replies (errors, list, echo, results) waiting for a client that does not read; beyond: closed. */
  maxControlMessages: number;
  /** Minimum milliseconds between two updates of one PV to this client (0: every change). */
  throttleMs: (pvName: string) => number;
  log: Logger;
}

/** Most writes and calls of one client in progress at once. */
const MAX_IN_FLIGHT = 256;

/** Client name prefixes of Phoebus/pvws (`pva://NAME`, `ca://NAME`) that name a served PV too. */
const PREFIX = /^(?:pva|ca):\/\//;

/** One subscribed PV of one client. */
class Subscription implements FeedSubscriber {
  /** The name as the client gave it (updates carry it back), already as JSON. */
  readonly nameJson: string;
  pending = false;
  metaSent = false;
  severity = '';
  status = '';
  /** The `readonly` last sent. */
  readonly: boolean | undefined;
  /** The client may not write this PV (mode, read-only server, access security). */
  readonlyNow = true;
  lastSentMs = 0;
  /** When a throttled update may go (0: not held). */
  dueMs = 0;

  constructor(
    readonly session: WebSession,
    readonly name: string,
    readonly feed: PvFeed,
  ) {
    this.nameJson = JSON.stringify(name);
  }

  feedChanged(): void {
    this.session.markPending(this);
  }
}

/** A client message's shape, as far as every type shares it. */
interface ClientMessage {
  type?: unknown;
  pvs?: unknown;
  pv?: unknown;
  value?: unknown;
  id?: unknown;
}

/** Counters a server shows about its clients (and tests check). */
export interface SessionStats {
  peer: string;
  subscriptions: number;
  /** Subscribed PVs with an update waiting to be sent (at most `subscriptions`). */
  pending: number;
  /** Replies waiting to be sent. */
  queuedReplies: number;
  updatesSent: number;
}

export class WebSession {
  private readonly subs = new Map<string, Subscription>();
  /** Subscriptions with an update to send, in the order they changed; each at most once. */
  private readonly pendingSet = new Set<Subscription>();
  /** Throttled subscriptions waiting for their time. */
  private readonly held = new Set<Subscription>();
  private heldTimer: NodeJS.Timeout | undefined;
  private readonly replies: string[] = [];
  private replyHead = 0;
  private flushScheduled = false;
  private closed = false;
  /** Per PV, the end of this client's chain of writes to it: its writes run in order. */
  private readonly writeChains = new Map<string, Promise<void>>();
  /** Writes and calls accepted and not yet done (bounded: a client cannot queue work without limit). */
  private inFlight = 0;
  private updatesSent = 0;

  constructor(
    private readonly directory: PvDirectory,
    private readonly sink: WebSink,
    private readonly opts: SessionOptions,
  ) {}

  get peer(): string {
    return this.opts.peer;
  }

  stats(): SessionStats {
    return {
      peer: this.opts.peer,
      subscriptions: this.subs.size,
      pending: this.pendingSet.size + this.held.size,
      queuedReplies: this.replies.length - this.replyHead,
      updatesSent: this.updatesSent,
    };
  }

  /** A text message from the client. Bad input is answered with an `error` message. */
  receive(text: string): void {
    if (this.closed) return;
    let m: ClientMessage;
    try {
      m = JSON.parse(text) as ClientMessage;
    } catch (e) {
      this.error(`malformed JSON: ${(e as Error).message}`);
      return;
    }
    if (typeof m !== 'object' || m === null || Array.isArray(m)) {
      this.error('a message must be a JSON object with a "type"');
      return;
    }
    switch (m.type) {
      case 'subscribe':
      case 'monitor': // epics2web's name, which pvws also takes
        this.subscribe(this.names(m));
        break;
      case 'clear':
        this.clear(this.names(m));
        break;
      case 'list':
        this.reply(`{"type":"list","pvs":${JSON.stringify([...this.subs.keys()])}}`);
        break;
      case 'write':
        this.write(m);
        break;
      case 'call':
        this.call(m);
        break;
      case 'ping':
        this.sink.ping();
        break;
      case 'echo':
        this.reply(text);
        break;
      case undefined:
        this.error('missing "type"');
        break;
      default:
        this.error(`unknown message type ${JSON.stringify(m.type)}`);
    }
  }

  /** A binary message from the client: not part of the protocol. */
  receiveBinary(): void {
    if (!this.closed) this.error('binary messages are not understood: send JSON text');
  }

  /**
   * Access security changed (a reload, or a CALC input moved): PVs no longer readable are dropped
   * with an error; a change of write access is sent as `readonly`.
   */
  accessChanged(): void {
    if (this.closed) return;
    for (const s of [...this.subs.values()]) {
      const denied = this.readDenied(s.feed);
      if (denied) {
        this.clear([s.name]);
        this.error(denied, s.name);
        continue;
      }
      const ro = this.readonlyFor(s.feed);
      if (ro !== s.readonlyNow) {
        s.readonlyNow = ro;
        this.markPending(s);
      }
    }
  }

  /** The refusal message when access security does not let this client read the PV. */
  private readDenied(feed: PvFeed): string | undefined {
    const a = this.opts.access;
    if (!a) return undefined;
    const res = feed.holder.resource;
    return a.canRead(res, this.opts.requester) ? undefined : a.readDenied(res, this.opts.requester).message;
  }

  private readonlyFor(feed: PvFeed): boolean {
    if (this.opts.readOnly || !feed.writable) return true;
    const a = this.opts.access;
    return a !== undefined && !a.canWrite(feed.holder.resource, this.opts.requester);
  }

  /** The connection took what was buffered: send more. */
  drained(): void {
    this.scheduleFlush();
  }

  /** The connection is gone: every subscription ends. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.subs.values()) s.feed.delete(s);
    this.subs.clear();
    this.pendingSet.clear();
    this.held.clear();
    clearTimeout(this.heldTimer);
    this.replies.length = 0;
  }

  /** @internal A subscribed PV changed. */
  markPending(s: Subscription): void {
    if (s.pending || this.closed) return;
    s.pending = true;
    this.pendingSet.add(s);
    this.scheduleFlush();
  }

  private names(m: ClientMessage): string[] {
    const pvs = m.pvs;
    if (!Array.isArray(pvs)) {
      this.error(`"${String(m.type)}" needs "pvs": an array of PV names`);
      return [];
    }
    const out: string[] = [];
    for (const p of pvs) {
      if (typeof p === 'string' && p !== '') out.push(p);
      else this.error(`not a PV name: ${JSON.stringify(p) ?? String(p)}`);
    }
    return out;
  }

  /** The feed a client's name refers to. */
  private feedOf(name: string): PvFeed | undefined {
    return this.directory.feed(name) ?? (PREFIX.test(name) ? this.directory.feed(name.replace(PREFIX, '')) : undefined);
  }

  private subscribe(names: string[]): void {
    for (const name of names) {
      if (this.subs.has(name)) continue;
      const feed = this.feedOf(name);
      if (!feed) {
        this.error(`unknown PV ${name}`, name);
        continue;
      }
      if (this.subs.size >= this.opts.maxSubscriptions) {
        this.error(`subscription limit of ${this.opts.maxSubscriptions} PVs reached; ${name} not subscribed`, name);
        continue;
      }
      const denied = this.readDenied(feed);
      if (denied) {
        this.error(denied, name);
        continue;
      }
      const s = new Subscription(this, name, feed);
      s.readonlyNow = this.readonlyFor(feed);
      this.subs.set(name, s);
      feed.add(s);
      this.markPending(s);
    }
  }

  private clear(names: string[]): void {
    for (const name of names) {
      const s = this.subs.get(name);
      if (!s) continue;
      this.subs.delete(name);
      s.feed.delete(s);
      this.pendingSet.delete(s);
      this.held.delete(s);
    }
  }

  /** `{"type":"write","pv":NAME,"value":number|string[,"id":…]}`: as a pvAccess put. */
  private write(m: ClientMessage): void {
    const name = m.pv;
    if (typeof name !== 'string' || name === '') return this.error('"write" needs "pv": a PV name', undefined, m.id);
    if (!('value' in m) || m.value === null) return this.error(`"write" to ${name} needs "value"`, name, m.id);
    const value = m.value;
    if (!isPlain(value)) return this.error(`${name}: "value" must be a number, string, boolean or array of them`, name, m.id);
    const who = this.opts.requester;
    this.runInOrder(name, m.id, 'write', async (feed) => {
      const h = feed.holder;
      if (h instanceof EpicsPvHolder) {
        const k = h.kind;
        // numbers written to text PVs are their text (pvws writes a number field as a double)
        const text = k.kind === 'display' || (k.kind === 'scalar' && k.type === 'string' && !k.array);
        await h.set(h.fromPlainValue(text && typeof value === 'number' ? String(value) : value), who);
      } else {
        const bool = h.argType.type === 'boolean' && typeof value === 'number';
        await h.put(bool ? value !== 0 : value, who);
      }
      return undefined;
    });
  }

  /** `{"type":"call","pv":NAME[,"value":arg][,"id":…]}`: runs a command as a pvAccess RPC does. */
  private call(m: ClientMessage): void {
    const name = m.pv;
    if (typeof name !== 'string' || name === '') return this.error('"call" needs "pv": a command PV name', undefined, m.id);
    const arg = m.value ?? undefined;
    if (arg !== undefined && !isPlain(arg)) return this.error(`${name}: "value" must be a number, string, boolean or array of them`, name, m.id);
    this.runInOrder(name, m.id, 'result', async (feed) => {
      const h = feed.holder;
      if (h instanceof EpicsPvHolder) throw new Error(`${feed.name} is a variable, not a command (write it instead)`);
      return { value: await h.call(arg, this.opts.requester) };
    });
  }

  /**
   * Runs a write or call after this client's earlier ones to the same PV; checks the name and the
   * read-only switch first (access security is the holder's, as for the other protocols). Answers `{"type":ok,"pv","id"[,"value"]}` when the client gave an id (and
   * always for a call), or an `error`.
   */
  private runInOrder(name: string, id: unknown, ok: 'write' | 'result', op: (feed: PvFeed) => Promise<{ value: unknown } | undefined>): void {
    const feed = this.feedOf(name);
    if (!feed) return this.error(`unknown PV ${name}`, name, id);
    if (this.opts.readOnly) return this.error(`${name}: writes are disabled (read-only web server)`, name, id);
    if (this.inFlight >= MAX_IN_FLIGHT) return this.error(`${name}: ${MAX_IN_FLIGHT} writes and calls already in progress; try again later`, name, id);
    this.inFlight++;
    const prev = this.writeChains.get(feed.name) ?? Promise.resolve();
    const next = prev.then(async () => {
      try {
        const r = await op(feed);
        if (id !== undefined || ok === 'result') {
          const idPart = id === undefined ? '' : `,"id":${safeJson(id)}`;
          const valuePart = r ? `,"value":${resultJson(r.value)}` : '';
          this.reply(`{"type":"${ok}","pv":${JSON.stringify(name)}${idPart}${valuePart}}`);
        }
      } catch (e) {
        this.opts.log.info(`web ${this.opts.peer}: ${ok === 'write' ? 'write to' : 'call of'} ${feed.name} failed: ${(e as Error).message}`);
        this.error((e as Error).message, name, id);
      } finally {
        this.inFlight--;
      }
    });
    this.writeChains.set(feed.name, next);
    void next.then(() => {
      if (this.writeChains.get(feed.name) === next) this.writeChains.delete(feed.name);
    });
  }

  /** An `error` message (pvws has `message`; pvtree adds `pv` and the request's `id` when known). */
  private error(message: string, pv?: string, id?: unknown): void {
    const pvPart = pv === undefined ? '' : `,"pv":${JSON.stringify(pv)}`;
    const idPart = id === undefined ? '' : `,"id":${safeJson(id)}`;
    this.reply(`{"type":"error"${pvPart}${idPart},"message":${JSON.stringify(message)}}`);
  }

  private reply(text: string): void {
    if (this.closed) return;
    if (this.replies.length - this.replyHead >= this.opts.maxControlMessages) {
      this.opts.log.warn(`web ${this.opts.peer}: ${this.opts.maxControlMessages} replies not read; closing`);
      this.sink.close(1008, 'too many unread replies');
      this.close();
      return;
    }
    if (this.replyHead > 1024) {
      this.replies.splice(0, this.replyHead);
      this.replyHead = 0;
    }
    this.replies.push(text);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.closed) return;
    this.flushScheduled = true;
    setImmediate(this.flush);
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    if (this.closed) return;
    const sink = this.sink;
    sink.cork?.();
    try {
      this.sendQueued(sink);
    } finally {
      sink.uncork?.();
    }
  };

  private sendQueued(sink: WebSink): void {
    while (this.replyHead < this.replies.length) {
      if (!sink.ready) return; // drained() resumes
      sink.send(this.replies[this.replyHead++]);
    }
    this.replies.length = 0;
    this.replyHead = 0;
    if (this.pendingSet.size === 0) return;
    const now = Date.now();
    for (const s of this.pendingSet) {
      if (!sink.ready) return;
      this.pendingSet.delete(s);
      const throttle = this.opts.throttleMs(s.feed.name);
      if (throttle > 0 && s.lastSentMs !== 0 && now - s.lastSentMs < throttle) {
        s.dueMs = s.lastSentMs + throttle;
        this.held.add(s);
        this.armHeldTimer(s.dueMs - now);
        continue;
      }
      s.pending = false;
      s.lastSentMs = now;
      sink.send(this.update(s));
      this.updatesSent++;
    }
  }

  private armHeldTimer(delay: number): void {
    if (this.heldTimer) return;
    this.heldTimer = setTimeout(this.releaseHeld, Math.max(1, delay));
  }

  private readonly releaseHeld = (): void => {
    this.heldTimer = undefined;
    const now = Date.now();
    let next = Infinity;
    for (const s of this.held) {
      if (s.dueMs <= now) {
        this.held.delete(s);
        s.lastSentMs = 0; // due: send at the next flush
        this.pendingSet.add(s);
      } else next = Math.min(next, s.dueMs);
    }
    if (this.pendingSet.size) this.scheduleFlush();
    if (next !== Infinity) this.armHeldTimer(next - now);
  };

  /**
   * The update for a subscription: metadata the first time, severity and access when they moved.
   * A plain delta under the served name is the same for every client: the feed's shared bytes.
   */
  private update(s: Subscription): string | Buffer {
    const f = s.feed;
    if (s.metaSent && s.readonly === s.readonlyNow && s.name === f.name && f.severity === s.severity && f.status === s.status) return f.delta;
    let t = `{"type":"update","pv":${s.nameJson}`;
    if (!s.metaSent) {
      s.metaSent = true;
      t += f.meta;
    }
    const sev = f.severity;
    if (sev !== s.severity) {
      s.severity = sev;
      t += `,"severity":"${sev}"`;
    }
    const status = f.status;
    if (status !== s.status) {
      s.status = status;
      t += `,"status":${JSON.stringify(status)}`;
    }
    const ro = s.readonlyNow;
    if (ro !== s.readonly) {
      s.readonly = ro;
      t += `,"readonly":${ro}`;
    }
    return `${t},${f.body}}`;
  }
}

function isPlain(v: unknown): v is number | string | boolean | (number | string)[] {
  if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') return true;
  return Array.isArray(v) && v.every((x) => typeof x === 'number' || typeof x === 'string');
}

/** The client's own id back, as it sent it (numbers and strings; anything else as JSON). */
function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v) ?? 'null';
  } catch {
    return 'null';
  }
}

/** A command's return value as JSON: bigints exact as numbers, typed arrays as arrays, the rest as JSON or text. */
export function resultJson(r: unknown): string {
  if (r === undefined || r === null) return 'null';
  if (typeof r === 'bigint') return r.toString();
  if (typeof r === 'number') return Number.isFinite(r) ? String(r) : '"NaN"';
  try {
    return (
      JSON.stringify(r, (_k, v: unknown) =>
        typeof v === 'bigint' ? (Number.isSafeInteger(Number(v)) ? Number(v) : v.toString()) : ArrayBuffer.isView(v) ? Array.from(v as unknown as ArrayLike<number>) : v,
      ) ?? 'null'
    );
  } catch {
    return JSON.stringify(String(r));
  }
}
