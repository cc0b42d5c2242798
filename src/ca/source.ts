// The protocol-neutral interface through which a CA server finds and serves
// process variables. A higher layer (e.g. the device tree) implements CaSource;
// the server does all DBR type conversion, so a CaPv only deals in its native type.

import { DBE_ALARM, DBE_LOG, DBE_PROPERTY, DBE_VALUE } from './constants.ts';

/** A PV's native type (what CREATE_CHAN reports as DBF_*). */
export type CaNativeType = 'string' | 'short' | 'float' | 'enum' | 'char' | 'long' | 'double';

/** Wall-clock time: POSIX seconds (since 1970) and nanoseconds within that second. */
export interface CaTimestamp {
  secondsPastEpoch: number;
  nanoseconds: number;
}

/**
 * A value in a PV's native type: a number (short/float/enum index/char/long/double)
 * or string for scalars; an array of numbers or strings for arrays.
 */
export type CaValue = number | string | ArrayLike<number> | readonly string[];

/** A PV's value with its alarm and time stamp, as a read or a monitor update sends it. */
export interface CaPvSnapshot {
  value: CaValue;
  /** Alarm condition (epicsAlarmCondition): 0 NO_ALARM, 3 HIHI, 4 HIGH, 5 LOLO, 6 LOW, 7 STATE, ... */
  status: number;
  /** Alarm severity: 0 NO_ALARM, 1 MINOR, 2 MAJOR, 3 INVALID. */
  severity: 0 | 1 | 2 | 3;
  timestamp: CaTimestamp;
}

/**
 * Display and control properties of a PV (units, precision, limits, enum strings) for the GR and
 * CTRL DBR types.
 */
export interface CaPvMetadata {
  units?: string;
  precision?: number;
  upperDisplay?: number;
  lowerDisplay?: number;
  upperAlarm?: number;
  upperWarning?: number;
  lowerWarning?: number;
  lowerAlarm?: number;
  upperControl?: number;
  lowerControl?: number;
  /** State names of an 'enum' PV (at most 16 of 25 characters are sent). */
  enumStrings?: string[];
  /** Reported for DBR_CLASS_NAME (a record type name in an IOC); default "pvtree". */
  className?: string;
}

/** Who asked and how, passed to write() for logging or authorisation. */
export interface CaWriteContext {
  /** The DBR type the client sent. */
  dbrType: number;
  /** The element count the client sent. */
  count: number;
  /** Client user name (CLIENT_NAME), host name (HOST_NAME) and socket address. */
  user?: string;
  host?: string;
  address?: string;
  /** True when the client waits for completion (WRITE_NOTIFY). */
  notify: boolean;
}

/**
 * One PV as the Channel Access server sees it: native type and count, the current snapshot,
 * metadata, writes and change notifications.
 */
export interface CaPv {
  readonly nativeType: CaNativeType;
  /** Maximum element count (1 for scalars). */
  readonly maxCount: number;
  /**
   * Whether clients may write (sent as ACCESS_RIGHTS). It may change at run time:
   * post DBE_PROPERTY afterwards and connected clients get new ACCESS_RIGHTS.
   */
  readonly writable: boolean;
  metadata(): CaPvMetadata;
  snapshot(): CaPvSnapshot;
  /**
   * Applies a client write. The value is already converted to the native type:
   * a scalar (number, or string for 'string' PVs; enum index for 'enum') when
   * maxCount is 1, else an array (number[] or string[]). Reject with an Error to
   * refuse: the client sees ECA_PUTFAIL and the error message; an Error whose
   * `accessDenied` property is true is answered ECA_NOWTACCESS instead.
   */
  write(value: CaValue, context: CaWriteContext): Promise<void>;
  /**
   * Optional per-client access (access security): CA_ACCESS_READ | CA_ACCESS_WRITE for this client.
   * Without it every client may read, and write when `writable`. With it the server sends these
   * rights, refuses reads and subscriptions without READ (ECA_NORDACCESS), and leaves every write
   * to write() (which must refuse with an `accessDenied` error, so refusals can be audited there).
   * Call CaServer.recomputeAccess() when the answers may have changed.
   */
  accessRights?(client: CaClientInfo): number;
  /**
   * Optional: called before a read (READ_NOTIFY) is answered, so the PV can fetch a fresher value
   * (e.g. from hardware). A rejection is logged and the read answered with the current value.
   */
  refresh?(): Promise<void>;
  /** Listener receives DBE_* bits describing what changed. Returns an unsubscribe function. */
  subscribe(listener: (events: number) => void): () => void;
}

/** The client asking, as far as the server knows it. */
export interface CaClientInfo {
  /** Peer "ip:port" (TCP circuit or UDP sender). */
  address?: string;
  /** CLIENT_NAME (user) and HOST_NAME as the client reported them (TCP only). */
  user?: string;
  host?: string;
}

/** What a {@link CaServer} serves: finds PVs by name. */
export interface CaSource {
  /**
   * Finds a PV by name; called for every SEARCH (UDP and TCP) and CREATE_CHAN, so
   * it must be cheap. Returning undefined hides the name from that client.
   */
  lookup(name: string, client?: CaClientInfo): CaPv | undefined;
}

/** A CaSource backed by a Map from name to PV. */
export class StaticCaSource implements CaSource {
  readonly pvs: Map<string, CaPv>;
  constructor(entries?: Iterable<readonly [string, CaPv]> | Record<string, CaPv>) {
    this.pvs = new Map();
    if (entries) {
      const it: Iterable<readonly [string, CaPv]> =
        Symbol.iterator in (entries as object) ? (entries as Iterable<readonly [string, CaPv]>) : Object.entries(entries);
      for (const [k, v] of it) this.pvs.set(k, v);
    }
  }
  add(name: string, pv: CaPv): this {
    this.pvs.set(name, pv);
    return this;
  }
  delete(name: string): boolean {
    return this.pvs.delete(name);
  }
  lookup(name: string): CaPv | undefined {
    return this.pvs.get(name);
  }
}

/** Initial settings of a {@link CaMemoryPv}. */
export interface CaMemoryPvOptions {
  type: CaNativeType;
  value: CaValue;
  /** Maximum element count; defaults to 1 for scalars, or the array length. */
  maxCount?: number;
  writable?: boolean;
  metadata?: CaPvMetadata;
  status?: number;
  severity?: 0 | 1 | 2 | 3;
  /**
   * Called before a client write is applied; may transform the value (return it),
   * or throw/reject to refuse the write.
   */
  onWrite?: (value: CaValue, context: CaWriteContext) => void | CaValue | Promise<void | CaValue>;
}

function nowTimestamp(): CaTimestamp {
  const ms = Date.now();
  return { secondsPastEpoch: Math.floor(ms / 1000), nanoseconds: (ms % 1000) * 1e6 };
}

function copyValue(v: CaValue): CaValue {
  if (typeof v === 'number' || typeof v === 'string') return v;
  if (ArrayBuffer.isView(v)) return (v as unknown as Float64Array).slice();
  return Array.from(v as ArrayLike<number | string>) as number[] | string[];
}

/** A simple in-memory PV: holds a value, alarm and metadata, and posts changes to subscribers. */
export class CaMemoryPv implements CaPv {
  readonly nativeType: CaNativeType;
  readonly maxCount: number;
  writable: boolean;
  private value: CaValue;
  private status: number;
  private severity: 0 | 1 | 2 | 3;
  private timestamp: CaTimestamp;
  private meta: CaPvMetadata;
  private readonly listeners = new Set<(events: number) => void>();
  private readonly onWrite: CaMemoryPvOptions['onWrite'];

  constructor(options: CaMemoryPvOptions) {
    this.nativeType = options.type;
    const v = options.value;
    const len = typeof v === 'number' || typeof v === 'string' ? 1 : v.length;
    this.maxCount = Math.max(1, options.maxCount ?? len);
    this.writable = options.writable ?? true;
    this.value = copyValue(v);
    this.status = options.status ?? 0;
    this.severity = options.severity ?? 0;
    this.timestamp = nowTimestamp();
    this.meta = { ...(options.metadata ?? {}) };
    this.onWrite = options.onWrite;
  }

  get current(): CaValue {
    return this.value;
  }

  metadata(): CaPvMetadata {
    return this.meta;
  }

  snapshot(): CaPvSnapshot {
    return { value: this.value, status: this.status, severity: this.severity, timestamp: this.timestamp };
  }

  /** Sets the value (and optionally alarm/timestamp) and posts DBE_VALUE|DBE_LOG (+DBE_ALARM if the alarm changed). */
  set(value: CaValue, opts: { status?: number; severity?: 0 | 1 | 2 | 3; timestamp?: CaTimestamp } = {}): void {
    this.value = copyValue(value);
    this.timestamp = opts.timestamp ?? nowTimestamp();
    let events = DBE_VALUE | DBE_LOG;
    if (opts.status !== undefined || opts.severity !== undefined) {
      const st = opts.status ?? this.status;
      const sv = opts.severity ?? this.severity;
      if (st !== this.status || sv !== this.severity) events |= DBE_ALARM;
      this.status = st;
      this.severity = sv;
    }
    this.post(events);
  }

  /** Changes whether clients may write; connected clients get new ACCESS_RIGHTS. */
  setWritable(writable: boolean): void {
    if (writable === this.writable) return;
    this.writable = writable;
    this.post(DBE_PROPERTY);
  }

  /** Changes the alarm state only; posts DBE_ALARM if it changed. */
  setAlarm(status: number, severity: 0 | 1 | 2 | 3): void {
    if (status === this.status && severity === this.severity) return;
    this.status = status;
    this.severity = severity;
    this.timestamp = nowTimestamp();
    this.post(DBE_ALARM);
  }

  /** Merges metadata and posts DBE_PROPERTY. */
  setMetadata(meta: CaPvMetadata): void {
    this.meta = { ...this.meta, ...meta };
    this.post(DBE_PROPERTY);
  }

  async write(value: CaValue, context: CaWriteContext): Promise<void> {
    let v = value;
    if (this.onWrite) {
      const r = await this.onWrite(value, context);
      if (r !== undefined) v = r;
    }
    this.set(v);
  }

  subscribe(listener: (events: number) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  get subscriberCount(): number {
    return this.listeners.size;
  }

  private post(events: number): void {
    // Iterate over a copy: a listener may subscribe or unsubscribe while being called.
    for (const l of [...this.listeners]) {
      try {
        l(events);
      } catch {
        // a faulty listener must not break the others
      }
    }
  }
}
