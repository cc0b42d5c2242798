// SharedPV: one value shared by every client of a PV. Posts merge into the current value; all
// posts made in one tick reach subscribers as one update.
import { BitSet, PVStructure, type AnyValue, type RequestOptions, type Structure } from '../../pvdata/index.ts';
import { processFanout } from './fanout.ts';
import type { SharedBody } from './shared-body.ts';

/** Who is on the other end of a connection: its address and what its authentication said. */
export interface PvaClientInfo {
  /** Peer 'ip:port'. */
  readonly peer: string;
  /** Authentication method chosen in the validation ('ca', 'anonymous', or '' before it). */
  readonly method: string;
  /** The account the 'ca' method sent ('' for anonymous). */
  readonly user: string;
  /** The host name the 'ca' method sent (claimed; not used for access decisions). */
  readonly host: string;
}

/** What a put handler receives. */
export interface PutRequest {
  /** A value of the PV's type holding the client's fields; `changed` marks which were sent. */
  readonly value: PVStructure;
  readonly changed: BitSet;
  readonly channel: string;
  readonly peer: string;
  /** Who sent it (absent when a put does not come from a connection). */
  readonly client?: PvaClientInfo;
  /** The client's pvRequest options (e.g. `record._options.process`). */
  readonly options: Readonly<RequestOptions>;
}

/** Who called an RPC and on which channel. */
export interface RpcRequest {
  readonly channel: string;
  readonly peer: string;
  /** Who sent it (absent when an RPC does not come from a connection). */
  readonly client?: PvaClientInfo;
}

/** What an RPC handler returns: a structure, a typed value, or nothing. */
export type RpcResult = PVStructure | AnyValue | null | undefined;

/** How a {@link SharedPV} answers puts and RPCs (and learns about its first and last subscriber). */
export interface SharedPVHandlers {
  /** Completes the put: resolve for success, throw/reject with an Error whose message goes to the client. */
  onPut?(pv: SharedPV, put: PutRequest): void | Promise<void>;
  onRpc?(pv: SharedPV, argument: AnyValue | null, req: RpcRequest): RpcResult | Promise<RpcResult>;
  /** Called before a get is answered; may post a fresher value. */
  onGet?(pv: SharedPV): void | Promise<void>;
  /**
   * Called when a post now would reach every subscriber without being squashed (see `writable`):
   * after an update went out, if all subscribers can take another, and when a subscriber's pipeline
   * window opens, its client drains, or it (re)starts. Lets a producer post exactly as fast as its
   * clients take updates. A pipelined subscriber takes at most a quarter of its window per socket
   * write (its client acks at half, and can ack while the rest is on its way); the rest is asked
   * for in the next turns of the event loop.
   */
  onWritable?(pv: SharedPV): void;
  onFirstConnect?(pv: SharedPV): void;
  onLastDisconnect?(pv: SharedPV): void;
}

/**
 * Encodings subscribers share during one flush, by selection key. Usually one key: a couple of
 * arrays searched in order, emptied by resetting a count (a Map allocates whenever it is cleared
 * or shrinks, and a busy PV flushes thousands of times a second).
 */
export class EncodingBatch {
  private readonly keys: string[] = [];
  private readonly bodies: Array<Buffer | SharedBody | undefined> = [];
  private count = 0;

  get(key: string): Buffer | SharedBody | undefined {
    for (let i = 0; i < this.count; i++) if (this.keys[i] === key) return this.bodies[i];
    return undefined;
  }

  set(key: string, body: Buffer | SharedBody): void {
    for (let i = 0; i < this.count; i++) {
      if (this.keys[i] === key) {
        this.bodies[i] = body;
        return;
      }
    }
    this.keys[this.count] = key;
    this.bodies[this.count++] = body;
  }

  /** Forgets every encoding (they are views of output buffers that will be reused). */
  clear(): void {
    for (let i = 0; i < this.count; i++) this.bodies[i] = undefined;
    this.count = 0;
  }
}

/** A server-side consumer of a PV's updates (a monitor operation). */
export interface PVSubscriber {
  /**
   * `changed` is shared and valid only during the call; `batch` lets subscribers share encodings
   * made during this call (one per selection key); `overrun`: fields posted more than once while
   * the fan-out budget held the PV back (their earlier values were never sent).
   */
  update(pv: SharedPV, changed: BitSet, batch: EncodingBatch, overrun?: BitSet): void;
  /** The PV closed: the subscription ends. */
  closed(pv: SharedPV): void;
  /** Can this subscriber send an update now without squashing? (absent: always) */
  ready?(): boolean;
}

const EMPTY = Buffer.alloc(0);

/**
 * One PV's value, shared by every client: post() sends the changed fields to every monitor, with
 * flow control; handlers decide what puts and RPCs do. {@link SharedPV.mailbox} makes one that
 * accepts every put.
 */
export class SharedPV {
  private value: PVStructure | undefined;
  private readonly pending = new BitSet();
  /** The fan-out budget holds this PV's pending changes back (see flush), and fields posted again meanwhile. */
  private deferred = false;
  private readonly overrun = new BitSet();
  private flushQueued = false;
  private readonly subscribers = new Set<PVSubscriber>();
  private channels = 0;
  /** Waiters for open(). */
  private openWaiters: Array<() => void> = [];

  constructor(public handlers: SharedPVHandlers = {}) {}

  /** A PV whose puts are simply posted (like pvxs's mailbox). */
  static mailbox(handlers: SharedPVHandlers = {}): SharedPV {
    return new SharedPV({
      onPut: (pv, put) => {
        pv.post(put.value, put.changed);
      },
      ...handlers,
    });
  }

  get isOpen(): boolean {
    return this.value !== undefined;
  }

  get type(): Structure | undefined {
    return this.value?.type;
  }

  /** The current value (do not modify: use post). */
  get current(): PVStructure {
    if (!this.value) throw new Error('SharedPV is not open');
    return this.value;
  }

  open(initial: PVStructure): this {
    if (this.value) throw new Error('SharedPV is already open');
    this.value = initial.clone();
    this.value.clearChanged();
    const w = this.openWaiters;
    this.openWaiters = [];
    for (const f of w) f();
    return this;
  }

  /** Resolves once the PV is open. */
  whenOpen(): Promise<void> {
    return this.value ? Promise.resolve() : new Promise((res) => this.openWaiters.push(res));
  }

  /** Merges an update: a PVStructure of the same type (its marked fields) or a nested plain object. */
  post(update: PVStructure | Record<string, unknown>, mask?: BitSet): void {
    const v = this.value;
    if (!v) throw new Error('SharedPV is not open');
    if (update instanceof PVStructure) {
      if (update.type !== v.type) throw new TypeError('post of a value of another type');
      v.clearChanged();
      v.copyChanged(update, mask ?? update.changed);
    } else {
      v.clearChanged();
      v.assign(update);
    }
    // with nobody subscribed there is nobody to tell; new subscribers start from the full value
    if (this.subscribers.size) {
      // held back by the fan-out budget: a field posted again loses its earlier value (overrun)
      if (this.deferred) for (let o = v.changed.nextSetBit(0); o >= 0; o = v.changed.nextSetBit(o + 1)) if (this.pending.get(o)) this.overrun.set(o);
      this.pending.or(v.changed);
    }
    v.clearChanged();
    if (!this.flushQueued && this.subscribers.size) {
      this.flushQueued = true;
      queueMicrotask(this.flushNow);
    }
  }

  private readonly flushNow = (): void => this.flush();
  /** Encodings shared by subscribers during one flush (reused: no allocation per update). */
  private readonly batch = new EncodingBatch();

  private flush(): void {
    if (!this.value || this.pending.isEmpty()) {
      this.flushQueued = false;
      return;
    }
    // this turn's fan-out is done: wait for the next (still queued: posts merge into pending)
    if (processFanout.spent) {
      this.deferred = true;
      return processFanout.deferFlush(this);
    }
    this.flushQueued = false;
    this.version++;
    const batch = this.batch;
    const overrun = this.deferred && !this.overrun.isEmpty() ? this.overrun : undefined;
    this.deferred = false;
    try {
      for (const s of this.subscribers) s.update(this, this.pending, batch, overrun);
    } finally {
      // the encodings are views into output buffers: never let one outlive this flush
      batch.clear();
      this.pending.clear();
      this.overrun.clear();
    }
    // ask for the next update at once if every subscriber can take it in this tick's write
    if (this.handlers.onWritable) this.notifyWritable();
  }

  /**
   * @internal Updates flushed to subscribers so far. A subscriber that holds back changes notes
   * the version they began at: two subscribers with the same selection whose held-back changes
   * began at the same version hold the same changes, so one encoding serves both.
   */
  version = 0;
  /** Encodings of held-back changes made during a fan-out turn: selection key and start → bytes. */
  private readonly encodings: Array<{ key: string; since: number; version: number; body: Buffer | SharedBody }> = [];
  private encodingCount = 0;

  /** @internal The encoding kept for these held-back changes at the current version, if any. */
  encodingFor(key: string, since: number): Buffer | SharedBody | undefined {
    for (let i = 0; i < this.encodingCount; i++) {
      const e = this.encodings[i];
      if (e.since === since && e.version === this.version && e.key === key) return e.body;
    }
    return undefined;
  }

  /** @internal Keeps an encoding until dropEncodings(); true when it is the first kept since then. */
  keepEncoding(key: string, since: number, body: Buffer | SharedBody): boolean {
    const e = this.encodings[this.encodingCount];
    if (e) {
      e.key = key;
      e.since = since;
      e.version = this.version;
      e.body = body;
    } else this.encodings.push({ key, since, version: this.version, body });
    return this.encodingCount++ === 0;
  }

  /** @internal Forgets the kept encodings (they are views of output buffers about to be reused). */
  dropEncodings(): void {
    for (let i = 0; i < this.encodingCount; i++) this.encodings[i].body = EMPTY;
    this.encodingCount = 0;
  }

  /** @internal The fan-out budget's turn has come (see fanout.ts). */
  flushDeferred(): void {
    this.flush();
  }

  private writableQueued = false;
  private readonly writableNow = (): void => {
    this.writableQueued = false;
    this.notifyWritable();
  };

  /** True when someone is subscribed and a post now would reach every subscriber without squashing. */
  get writable(): boolean {
    if (!this.value || this.flushQueued || this.subscribers.size === 0) return false;
    for (const s of this.subscribers) if (s.ready && !s.ready()) return false;
    return true;
  }

  /** @internal A subscriber can take updates again: calls onWritable if every subscriber can. */
  notifyWritable(): void {
    if (this.handlers.onWritable && this.writable) this.handlers.onWritable(this);
  }

  /**
   * @internal A subscriber will take updates again in the next write (it has sent its share of
   * this one): asks again in the next turn of the event loop.
   */
  notifyWritableSoon(): void {
    if (!this.handlers.onWritable || this.writableQueued) return;
    this.writableQueued = true;
    setImmediate(this.writableNow);
  }

  close(): void {
    if (!this.value) return;
    this.value = undefined;
    this.pending.clear();
    this.overrun.clear();
    this.deferred = false;
    for (const s of [...this.subscribers]) s.closed(this);
    this.subscribers.clear();
  }

  subscribe(s: PVSubscriber): () => void {
    this.subscribers.add(s);
    return () => this.subscribers.delete(s);
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  /** Called by the server as channels attach and detach. */
  attach(): void {
    if (this.channels++ === 0) this.handlers.onFirstConnect?.(this);
  }

  detach(): void {
    if (this.channels > 0 && --this.channels === 0) this.handlers.onLastDisconnect?.(this);
  }

  get channelCount(): number {
    return this.channels;
  }
}
