// EpicsPvHolder: one served PV. Turns tree updates into partial pvData updates and client puts /
// RPCs into tree sets and calls. A holder costs a few words until a client uses it: its SharedPV,
// pvData values and tree listener are made on first use (a pvAccess channel, a Channel Access or
// web subscriber) and dropped again when the last one leaves; the pvData type is shared by every
// PV of the same kind (shape.ts).
import {
  BitSet,
  PVStructure,
  coerce,
  coerceScalar,
  type AnyValue,
  type ScalarType,
  type Structure,
} from '../pvdata/index.ts';
import { ntScalar, ntScalarArray, timeFromDate, DISPLAY_FORMS } from '../pvdata/nt.ts';
import { SharedPV, type Logger, type PutRequest } from '../pva/server/index.ts';
import { parseTypeStr, type BaseCommand, type BaseVariable, type VariableValue } from '../tree/index.ts';
import { parseScalar, splitArray } from '../tree/format.ts';
import { alarmOf, displayFormOf, scalarTypeOfTypeStr, type PvKind } from './type-map.ts';
import { shapeOf, type PvShape } from './shape.ts';
import { AccessDeniedError, type AccessGate, type Requester, type Resource } from '../security/index.ts';
import { pvaRequester } from './access.ts';

/** Per-PV settings of the bridge. */
export interface HolderOptions {
  /** Read hardware on a client get when the cached value is older than this (ms). */
  readOnGetMs?: number;
  log: Logger;
  /** Access security: client puts, RPCs and command calls given a Requester go through it. */
  gate?: AccessGate;
  /**
   * When serving started (ms since the epoch): the timestamp of a value the tree never updated
   * (default: when the PV is first used).
   */
  startMs?: number;
}

/** What both protocols see of a holder's state. */
export interface HolderListener {
  (events: { value: boolean; alarm: boolean }): void;
}

/** A metadata number in the wire type; a limit the wire type cannot hold falls back to `dflt`. */
function num(v: number | bigint | undefined, type: ScalarType, dflt: number, onBad?: (v: number | bigint) => void): unknown {
  if (v == null) return coerceScalar(type, dflt);
  try {
    return coerceScalar(type, v);
  } catch {
    onBad?.(v);
    return coerceScalar(type, dflt);
  }
}

/** Enum keys in choice order (choice index → tree value) and the choice names. */
interface EnumChoices {
  readonly keys: number[];
  readonly choices: string[];
}

const NO_ENUM: EnumChoices = Object.freeze({ keys: [], choices: [] }) as unknown as EnumChoices;

function enumChoicesOf(variable: BaseVariable<unknown>): EnumChoices {
  if (!variable.enum) return { keys: [], choices: [] };
  const keys: number[] = [];
  const choices: string[] = [];
  for (const [k, v] of Object.entries(variable.enum)) {
    keys.push(Number(k));
    choices.push(v);
  }
  return { keys, choices };
}

/** A holder's state while the PV is in use. */
class LivePv {
  /** CA and web subscribers (made for the first). */
  listeners: Set<HolderListener> | undefined;
  readonly enums: EnumChoices;
  /** The alarm last posted (severity -1: none yet). */
  lastSeverity = -1;
  lastStatus = -1;
  lastMessage = '';
  /** Stays live until stop() (start() was called). */
  pinned = false;

  /** Records the alarm being posted; true when it differs from the last one. */
  noteAlarm(a: { severity: number; status: number; message: string }): boolean {
    if (a.severity === this.lastSeverity && a.status === this.lastStatus && a.message === this.lastMessage) return false;
    this.lastSeverity = a.severity;
    this.lastStatus = a.status;
    this.lastMessage = a.message;
    return true;
  }

  constructor(
    readonly shape: PvShape,
    variable: BaseVariable<unknown>,
    readonly pv: SharedPV,
    readonly onTreeUpdate: (path: string, vv: VariableValue<unknown>) => void,
  ) {
    this.enums = shape.kind.kind === 'enum' ? enumChoicesOf(variable) : NO_ENUM;
  }

  get users(): number {
    return this.pv.channelCount + (this.listeners?.size ?? 0);
  }
}

/**
 * The partial update a tree change is posted as, one per shape and shared by every holder of it:
 * post() copies its marked fields into the PV's value at once, so nothing outlives the call.
 */
const scratch = new Map<Structure, PVStructure>();
function scratchOf(type: Structure): PVStructure {
  let u = scratch.get(type);
  if (!u) scratch.set(type, (u = new PVStructure(type)));
  u.clearChanged();
  return u;
}

/** The SharedPV handlers of a live variable PV: methods of one small object, no closures. */
class VariableHandlers {
  constructor(protected readonly h: EpicsPvHolder) {}
  onPut(_pv: SharedPV, put: PutRequest): Promise<void> {
    return this.h._putFromPva(put);
  }
  onLastDisconnect(): void {
    this.h.releaseIfIdle();
  }
}

/** With read-on-get: a get reads the hardware first when the value is too old. */
class ReadOnGetHandlers extends VariableHandlers {
  onGet(): Promise<void> {
    return this.h.readOnGet();
  }
}

/** Holders made live with no user yet: dropped again at the next turn unless someone came. */
const unclaimed = new Set<EpicsPvHolder>();
let sweepQueued = false;
function sweep(): void {
  sweepQueued = false;
  const hs = [...unclaimed];
  unclaimed.clear();
  for (const h of hs) h.releaseIfIdle();
}

const noop = (): void => {};

/** PVs whose metadata limits were checked against their wire type (and any misfit reported). */
const limitsReported = new WeakSet<EpicsPvHolder>();

/**
 * Serves one tree Variable as a pvAccess PV (an NTScalar, NTScalarArray or NTEnum with alarm, time
 * stamp, display and control): follows the variable's updates, turns client puts into tree sets,
 * and reads hardware on a get when asked to. Idle, it holds only its name, variable and options.
 */
export class EpicsPvHolder {
  /** undefined: idle (nothing made); null: stopped for good. */
  private live: LivePv | undefined | null;

  constructor(
    readonly name: string,
    readonly variable: BaseVariable<unknown>,
    private readonly opts: HolderOptions,
  ) {}

  /** The PV's shared pvData shape (type and offsets). */
  get shape(): PvShape {
    return this.live?.shape ?? shapeOf(this.variable);
  }

  get kind(): PvKind {
    return this.shape.kind;
  }

  get type(): Structure {
    return this.shape.type;
  }

  /** Enum keys in choice order (choice index → tree value). */
  get enumKeys(): number[] {
    return this.enums().keys;
  }

  get choices(): string[] {
    return this.enums().choices;
  }

  private enums(): EnumChoices {
    return this.live?.enums ?? (this.variable.enum ? enumChoicesOf(this.variable) : NO_ENUM);
  }

  /** The SharedPV serving this PV over pvAccess (made on first use). */
  get pv(): SharedPV {
    return this.activate()?.pv ?? new SharedPV();
  }

  /** True while the PV's pvData state exists (someone uses it, or it was just asked for). */
  get isLive(): boolean {
    return !!this.live;
  }

  get path(): string {
    return this.variable.path;
  }

  /** What access security sees of this PV: name, tree path, ASG (the node's, or from the group map). */
  get resource(): Resource {
    const v = this.variable;
    return { name: this.name, path: v.path, asg: this.opts.gate?.asgOf(v) ?? v.accessGroup };
  }

  get writable(): boolean {
    return this.variable.mode !== 'RO';
  }

  /** Makes the live state (SharedPV open with the current value, tree listener) if missing. */
  private activate(): LivePv | undefined {
    if (this.live !== undefined) return this.live ?? undefined;
    const pv = new SharedPV(this.opts.readOnGetMs === undefined ? new VariableHandlers(this) : new ReadOnGetHandlers(this));
    const live = new LivePv(shapeOf(this.variable), this.variable, pv, (_path, vv) => this.publish(vv));
    this.live = live;
    live.pv.open(this.initial());
    this.variable.addListener(live.onTreeUpdate);
    // asked for without a user (a lookup that came to nothing): dropped again unless one comes
    unclaimed.add(this);
    if (!sweepQueued) {
      sweepQueued = true;
      setImmediate(sweep);
    }
    return live;
  }

  /** @internal Drops the live state when no channel or subscriber uses it any more. */
  releaseIfIdle(): void {
    const live = this.live;
    if (!live || live.pinned || live.users > 0) return;
    this.variable.delListener(live.onTreeUpdate);
    this.live = undefined;
    live.pv.close();
  }

  /** The tree value in this PV's pvData form. */
  toPvValue(v: unknown): unknown {
    const k = this.kind;
    if (k.kind === 'enum') {
      const e = this.enums();
      const key = typeof v === 'boolean' ? (v ? 1 : 0) : Number(v);
      let index = e.keys.indexOf(key);
      // a value that is not a key (an enable's 'parent'): the choice its display names
      if (index < 0 && typeof v === 'string') index = e.choices.indexOf(this.variable.genDisp(v));
      return { index: Math.max(0, index), choices: e.choices };
    }
    if (k.kind === 'display') return this.variable.genDisp(v);
    return coerce(this.type.layout[this.shape.value].type, v);
  }

  /** The complete value, with metadata (used when opening and for new clients). */
  initial(): PVStructure {
    const v = this.variable;
    const sh = this.shape;
    const s = new PVStructure(sh.type);
    const pv = this.toPvValue(v.value);
    if (sh.kind.kind === 'enum') {
      const e = pv as { index: number; choices: string[] };
      s.setAt(sh.value + 1, e.index);
      s.setAt(sh.value + 2, e.choices);
    } else s.setAt(sh.value, pv);
    const vv = v.getVariableValue(false);
    const a = alarmOf(vv.status, vv.severity, vv.error);
    s.setAt(sh.alarm + 1, a.severity);
    s.setAt(sh.alarm + 2, a.status);
    s.setAt(sh.alarm + 3, a.message);
    if (this.live) this.live.noteAlarm(a);
    const t = timeFromDate(vv.updated || this.opts.startMs || Date.now());
    s.setAt(sh.timeStamp + 1, t.secondsPastEpoch);
    s.setAt(sh.timeStamp + 2, t.nanoseconds);
    s.setAt(sh.timeStamp + 3, t.userTag);
    s.setAt(sh.description, v.description ?? '');
    if (sh.units >= 0) s.setAt(sh.units, v.units ?? '');
    const k = sh.kind;
    if (k.kind === 'scalar' && sh.displayLow >= 0) {
      const t = k.type;
      // a limit outside the wire type (minimum -1 on a UInt8) must not stop the server: not shown
      // said once per PV, though its value is made again each time a client comes after none
      const say = !limitsReported.has(this);
      limitsReported.add(this);
      const bad = (what: string) => (x: number | bigint) => {
        if (say) this.opts.log.warn(`${this.name}: ${what} ${String(x)} does not fit the PV's ${t}; not shown`);
      };
      s.setAt(sh.displayLow, num(v.minimum, t, 0, bad('minimum')));
      s.setAt(sh.displayHigh, num(v.maximum, t, 0, bad('maximum')));
      s.setAt(sh.controlLow, num(v.minimum, t, 0));
      s.setAt(sh.controlHigh, num(v.maximum, t, 0));
      if (sh.precision >= 0) {
        const { precision, form } = displayFormOf(v.disp);
        s.setAt(sh.precision, precision);
        s.setAt(sh.form + 1, form);
        s.setAt(sh.form + 2, DISPLAY_FORMS);
      }
      if (sh.valueAlarm >= 0) {
        const isFloat = t === 'float' || t === 'double';
        const lim = (x: number | bigint | undefined) => num(x, t, isFloat ? NaN : 0, bad('alarm limit'));
        // valueAlarm's leaves in NT order: active, low/high limits, their severities, hysteresis
        const o = sh.valueAlarm;
        s.setAt(o + 1, v.hasAlarm);
        s.setAt(o + 2, lim(v.lowAlarm));
        s.setAt(o + 3, lim(v.lowWarning));
        s.setAt(o + 4, lim(v.highWarning));
        s.setAt(o + 5, lim(v.highAlarm));
        s.setAt(o + 6, v.lowAlarm != null ? 2 : 0);
        s.setAt(o + 7, v.lowWarning != null ? 1 : 0);
        s.setAt(o + 8, v.highWarning != null ? 1 : 0);
        s.setAt(o + 9, v.highAlarm != null ? 2 : 0);
      }
    }
    return s;
  }

  /** Makes the PV live and keeps it so until stop() (the server makes PVs live on first use). */
  start(): void {
    const live = this.activate();
    if (live) live.pinned = true;
  }

  /** Ends the PV for good: clients' monitors end, the tree listener goes. */
  stop(): void {
    const live = this.live;
    this.live = null;
    if (!live) return;
    this.variable.delListener(live.onTreeUpdate);
    live.pv.close();
    live.listeners?.clear();
  }

  /** Subscribes to changes (used by the Channel Access adapter and the web feed). */
  subscribe(l: HolderListener): () => void {
    const live = this.activate();
    if (!live) return noop;
    (live.listeners ??= new Set()).add(l);
    return () => {
      if (live.listeners?.delete(l) && this.live === live) this.releaseIfIdle();
    };
  }

  /** A tree update: post only what changed (value, alarm when it moved, timestamp). */
  publish(vv: VariableValue<unknown>): void {
    const live = this.live;
    if (!live || !live.pv.isOpen) return;
    const sh = live.shape;
    const u = scratchOf(sh.type);
    if (sh.kind.kind === 'enum') u.setAt(sh.value + 1, (this.toPvValue(vv.value) as { index: number }).index);
    else u.setAt(sh.value, this.toPvValue(vv.value));
    const a = alarmOf(vv.status, vv.severity, vv.error);
    const alarmMoved = live.noteAlarm(a);
    if (alarmMoved) {
      u.setAt(sh.alarm + 1, a.severity);
      u.setAt(sh.alarm + 2, a.status);
      u.setAt(sh.alarm + 3, a.message);
    }
    // timeStamp's leaves follow it: secondsPastEpoch, nanoseconds, userTag
    const ms = vv.updated || Date.now();
    u.data[sh.timeStamp + 1] = BigInt(Math.floor(ms / 1000));
    u.data[sh.timeStamp + 2] = Math.round((ms % 1000) * 1e6);
    u.changed.set(sh.timeStamp);
    live.pv.post(u);
    if (live.listeners) for (const l of live.listeners) l({ value: true, alarm: alarmMoved });
  }

  /** True when client reads should refresh the value first (read-on-get is configured). */
  get readsOnGet(): boolean {
    return this.opts.readOnGetMs !== undefined;
  }

  /** Read-on-get, for either protocol: reads hardware when the cached value is older than maxAgeMs. */
  readOnGet(): Promise<void> {
    return this.opts.readOnGetMs === undefined ? Promise.resolve() : this.refresh(this.opts.readOnGetMs);
  }

  private async refresh(maxAgeMs: number): Promise<void> {
    const v = this.variable;
    if (v.mode === 'WO' || Date.now() - v.lastUpdated <= maxAgeMs) return;
    const before = v.lastUpdated;
    await v.get({ read: true });
    const live = this.live;
    if (v.lastUpdated !== before && live && live.pv.isOpen) {
      // value unchanged (no listener call) but fresher: move the timestamp
      const u = scratchOf(live.shape.type);
      u.set('timeStamp', timeFromDate(v.lastUpdated));
      live.pv.post(u);
    }
  }

  /** Converts a client's put to a tree value; throws with a message for the client. */
  treeValueFromPut(put: PutRequest): unknown {
    const valueBit = this.shape.value;
    const c = put.changed;
    let sent = c.get(0) || c.get(valueBit);
    for (let o = valueBit + 1; !sent && o < this.type.layout[valueBit].end; o++) sent = c.get(o);
    if (!sent) throw new Error(`${this.name}: put must include the value field`);
    const raw = put.value.get('value');
    return this.fromPvValue(raw);
  }

  /** pvData value (or a plain string / number from another protocol) → tree value. */
  fromPvValue(raw: unknown): unknown {
    const k = this.kind;
    const v = this.variable;
    if (k.kind === 'enum') {
      if (typeof raw === 'string') return v.parseDisp(raw);
      const index = typeof raw === 'number' ? raw : Number((raw as { index: number }).index);
      if (!Number.isInteger(index) || index < 0 || index >= this.enumKeys.length) {
        throw new Error(`${this.name}: enum index ${index} out of range 0..${this.enumKeys.length - 1}`);
      }
      const key = this.enumKeys[index];
      return v.typeStr === 'Bool' ? key !== 0 : key;
    }
    if (k.kind === 'display' || typeof raw === 'string') {
      return k.kind === 'scalar' && k.type === 'string' && !k.array ? raw : v.parseDisp(String(raw));
    }
    if (typeof raw === 'bigint') {
      const info = v.typeStr;
      // the tree keeps 64-bit values as numbers while they are exact
      if (/64/.test(info) && raw >= BigInt(Number.MIN_SAFE_INTEGER) && raw <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(raw);
      return raw;
    }
    return raw;
  }

  /**
   * A plain value from a client that has no pvData (Channel Access, the web socket) → tree
   * value: a number is an enum's choice index (a boolean's 0/1), a string goes through the display
   * parser (enum choice names, '0x1f', '[1, 2]'), an array is the elements. Throws like fromPvValue.
   */
  fromPlainValue(value: number | string | boolean | ArrayLike<number | string>): unknown {
    const k = this.kind;
    if (k.kind === 'enum' && typeof value === 'number') return this.fromPvValue({ index: value });
    if (typeof value === 'string') return this.fromPvValue(value);
    if (typeof value === 'number' || typeof value === 'boolean') {
      if (k.kind === 'scalar' && k.type === 'boolean') return typeof value === 'boolean' ? value : value !== 0;
      return value;
    }
    return Array.from(value);
  }

  /** @internal A pvAccess client's put (the SharedPV's handler). */
  _putFromPva(put: PutRequest): Promise<void> {
    return this.put(put);
  }

  private async put(put: PutRequest): Promise<void> {
    const v = this.variable;
    if (v.mode === 'RO') {
      this.opts.log.info(`put to read-only ${this.name} from ${put.peer} refused`);
      throw new Error(`${this.name} is read-only`);
    }
    const value = this.treeValueFromPut(put);
    await this.set(value, put.client ? pvaRequester(put.client) : undefined);
  }

  /**
   * A set from any protocol: completes after the tree (and hardware) write. With a requester it
   * goes through access security (checked, audited; AccessDeniedError when refused).
   */
  async set(value: unknown, who?: Requester): Promise<void> {
    const gate = this.opts.gate;
    if (gate && who) return gate.write(this.resource, who, { op: 'put', old: this.variable.value, value }, () => this.apply(value));
    return this.apply(value);
  }

  private async apply(value: unknown): Promise<void> {
    const v = this.variable;
    if (v.mode === 'RO') throw new AccessDeniedError(`${this.name} is read-only`);
    try {
      await v.set(value, { write: true });
    } catch (e) {
      this.opts.log.info(`put to ${this.name} failed: ${(e as Error).message}`);
      throw e;
    }
  }
}

/** A Command served as a PV: RPC runs it (NTURI query `arg`), a put runs it with the value. */
export class EpicsCommandHolder {
  readonly type: Structure;
  readonly argType: { type: ScalarType; array: boolean };
  private readonly retType: { type: ScalarType; array: boolean } | undefined;
  private last: { value: unknown; ms: number } | undefined;
  private readonly listeners = new Set<(value: unknown) => void>();

  constructor(
    readonly name: string,
    readonly command: BaseCommand<unknown, unknown>,
    private readonly opts: HolderOptions,
  ) {
    this.argType = scalarTypeOfTypeStr(command.argType) ?? { type: 'int', array: false };
    this.retType = scalarTypeOfTypeStr(command.retType);
    this.type = this.argType.array ? ntScalarArray(this.argType.type, { display: true }) : ntScalar(this.argType.type, { display: true });
  }

  private _pv: SharedPV | undefined;
  private stopped = false;

  /** The SharedPV serving the command over pvAccess (made on first use, then kept: it shows the last put). */
  get pv(): SharedPV {
    if (this._pv) return this._pv;
    const pv = new SharedPV({
      onPut: async (_pv, put) => this.put(put.value.get('value'), put.client ? pvaRequester(put.client) : undefined),
      onRpc: async (_pv, arg, req) => this.rpc(arg, req.client ? pvaRequester(req.client) : undefined),
    });
    if (this.stopped) return pv;
    pv.open(this.initial());
    return (this._pv = pv);
  }

  /** The last value a put ran the command with (over either protocol), and when. */
  get lastPut(): { value: unknown; ms: number } | undefined {
    return this.last;
  }

  /** Subscribes to puts (used by the Channel Access adapter, so both protocols see every put). */
  subscribe(l: (value: unknown) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  /** What access security sees of this PV: name, tree path, ASG (the node's, or from the group map). */
  get resource(): Resource {
    const c = this.command;
    return { name: this.name, path: c.path, asg: this.opts.gate?.asgOf(c) ?? c.accessGroup };
  }

  /**
   * A put from any protocol: runs the command with the value, then shows it to every subscriber.
   * With a requester it goes through access security (a command call is a write).
   */
  async put(arg: unknown, who?: Requester): Promise<void> {
    await this.call(arg, who);
    const ms = Date.now();
    this.last = { value: arg, ms };
    const pv = this._pv;
    if (pv?.isOpen) {
      try {
        pv.post({ value: arg, timeStamp: timeFromDate(ms) });
      } catch (e) {
        this.opts.log.debug(`command ${this.name}: value not shown over pvAccess: ${(e as Error).message}`);
      }
    }
    for (const l of [...this.listeners]) l(arg);
  }

  get path(): string {
    return this.command.path;
  }

  /** The PV's value when first used: the default argument, or the last put before that. */
  private initial(): PVStructure {
    const s = new PVStructure(this.type);
    s.set('display.description', this.command.description ?? '');
    if (this.command.defaultArg !== undefined) {
      try {
        s.set('value', this.command.defaultArg);
      } catch {
        // a default the wire type cannot hold is simply not shown
      }
    }
    s.set('timeStamp', timeFromDate(this.opts.startMs || Date.now()));
    const last = this.last;
    if (last) {
      try {
        s.set('value', last.value);
        s.set('timeStamp', timeFromDate(last.ms));
      } catch {
        // as a put's post: a value the wire type cannot hold is not shown
      }
    }
    return s;
  }

  /** Opens the PV now (the server opens it on first use). */
  start(): void {
    void this.pv;
  }

  stop(): void {
    this.stopped = true;
    this._pv?.close();
    this._pv = undefined;
    this.listeners.clear();
  }

  /**
   * Runs the command; the argument may be a string (parsed by the command's argType). With a
   * requester it goes through access security (checked, audited; AccessDeniedError when refused).
   */
  async call(arg: unknown, who?: Requester): Promise<unknown> {
    const gate = this.opts.gate;
    if (gate && who) return gate.write(this.resource, who, { op: 'call', value: arg }, () => this.run(arg));
    return this.run(arg);
  }

  private async run(arg: unknown): Promise<unknown> {
    let a = typeof arg === 'bigint' && arg >= BigInt(Number.MIN_SAFE_INTEGER) && arg <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(arg) : arg;
    try {
      if (typeof a === 'string') a = this.parseArrayText(a);
      return await this.command.call(a === undefined ? undefined : (a as never));
    } catch (e) {
      this.opts.log.info(`command ${this.name} failed: ${(e as Error).message}`);
      throw e;
    }
  }

  /** Text for an array argType ('[1, 2, 3]', '1,2,3') → its elements; the tree parses scalars itself. */
  private parseArrayText(text: string): unknown {
    const t = this.command.argType;
    let info;
    try {
      info = t === undefined ? undefined : parseTypeStr(t);
    } catch {
      return text;
    }
    if (!info || info.length === undefined) return text;
    const elements = splitArray(text);
    if (info.base === 'String') return elements;
    return elements.map((e) => {
      try {
        return parseScalar(info, e);
      } catch (err) {
        throw new Error(`${this.command.path}: bad argument: ${(err as Error).message}`);
      }
    });
  }

  private async rpc(arg: AnyValue | null, who?: Requester): Promise<PVStructure> {
    let a: unknown;
    const v = arg?.value;
    if (v instanceof PVStructure) {
      if (v.has('query')) {
        const q = v.get('query') as Record<string, unknown>;
        a = q.arg ?? q.value;
      } else if (v.has('value')) a = v.get('value');
      else if (v.has('arg')) a = v.get('arg');
    } else if (v !== undefined && v !== null) a = v;
    const result = await this.call(a, who);
    return this.result(result);
  }

  private result(r: unknown): PVStructure {
    let t = this.retType;
    if (!t) {
      if (typeof r === 'number') t = { type: 'double', array: false };
      else if (typeof r === 'bigint') t = { type: 'long', array: false };
      else if (typeof r === 'boolean') t = { type: 'boolean', array: false };
      else t = { type: 'string', array: false };
    }
    const type = t.array ? ntScalarArray(t.type) : ntScalar(t.type);
    const s = new PVStructure(type);
    if (r !== undefined && r !== null) s.set('value', t.type === 'string' && typeof r !== 'string' && !t.array ? textOf(r) : r);
    s.set('timeStamp', timeFromDate(Date.now()));
    return s;
  }
}

/** A return value shown as text: objects and arrays as JSON (bigints as numbers), others by String. */
function textOf(r: unknown): string {
  if (typeof r !== 'object' || r === null) return String(r);
  try {
    return JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? v.toString() : ArrayBuffer.isView(v) ? Array.from(v as unknown as ArrayLike<number>) : v));
  } catch {
    return String(r);
  }
}

export { BitSet };
