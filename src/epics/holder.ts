// EpicsPvHolder: one served PV. Holds the SharedPV for a tree variable or command, turns tree
// updates into partial pvData updates and client puts / RPCs into tree sets and calls.
import {
  BitSet,
  PVStructure,
  coerce,
  coerceScalar,
  type AnyValue,
  type ScalarType,
  type Structure,
} from '../pvdata/index.ts';
import { ntEnum, ntScalar, ntScalarArray, timeFromDate, DISPLAY_FORMS } from '../pvdata/nt.ts';
import { SharedPV, type Logger, type PutRequest } from '../pva/server/index.ts';
import { parseTypeStr, type BaseCommand, type BaseVariable, type VariableValue } from '../tree/index.ts';
import { parseScalar, splitArray } from '../tree/format.ts';
import { alarmOf, displayFormOf, pvKindOf, scalarTypeOfTypeStr, type PvKind } from './type-map.ts';

/** Per-PV settings of the bridge. */
export interface HolderOptions {
  /** Read hardware on a client get when the cached value is older than this (ms). */
  readOnGetMs?: number;
  log: Logger;
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

/**
 * Serves one tree Variable as a pvAccess PV (an NTScalar, NTScalarArray or NTEnum with alarm, time
 * stamp, display and control): follows the variable's updates, turns client puts into tree sets,
 * and reads hardware on a get when asked to.
 */
export class EpicsPvHolder {
  readonly pv: SharedPV;
  readonly type: Structure;
  readonly kind: PvKind;
  /** Enum keys in choice order (choice index → tree value). */
  readonly enumKeys: number[] = [];
  readonly choices: string[] = [];
  private readonly update: PVStructure;
  private readonly offValue: number;
  private readonly offAlarm: number;
  private readonly offTime: number;
  private lastAlarm = '';
  private readonly listeners = new Set<HolderListener>();
  private readonly onTreeUpdate = (_path: string, vv: VariableValue<unknown>) => this.publish(vv);

  constructor(
    readonly name: string,
    readonly variable: BaseVariable<unknown>,
    private readonly opts: HolderOptions,
  ) {
    this.kind = pvKindOf(variable.nativeType);
    if (variable.enum) {
      for (const [k, v] of Object.entries(variable.enum)) {
        this.enumKeys.push(Number(k));
        this.choices.push(v);
      }
    }
    this.type = this.buildType();
    this.update = new PVStructure(this.type);
    this.offValue = this.type.offsetOf('value')!;
    this.offAlarm = this.type.offsetOf('alarm')!;
    this.offTime = this.type.offsetOf('timeStamp')!;
    this.pv = new SharedPV({
      onPut: (_pv, put) => this.put(put),
      onGet: opts.readOnGetMs === undefined ? undefined : () => this.readOnGet(),
    });
  }

  get path(): string {
    return this.variable.path;
  }

  get writable(): boolean {
    return this.variable.mode !== 'RO';
  }

  private buildType(): Structure {
    const k = this.kind;
    if (k.kind === 'enum') return ntEnum();
    if (k.kind === 'display') return ntScalar('string', { display: true });
    if (k.array) return ntScalarArray(k.type, { display: true, control: true });
    return ntScalar(k.type, { display: true, control: true, valueAlarm: true });
  }

  /** The tree value in this PV's pvData form. */
  toPvValue(v: unknown): unknown {
    const k = this.kind;
    if (k.kind === 'enum') {
      const key = typeof v === 'boolean' ? (v ? 1 : 0) : Number(v);
      let index = this.enumKeys.indexOf(key);
      // a value that is not a key (an enable's 'parent'): the choice its display names
      if (index < 0 && typeof v === 'string') index = this.choices.indexOf(this.variable.genDisp(v));
      return { index: Math.max(0, index), choices: this.choices };
    }
    if (k.kind === 'display') return this.variable.genDisp(v);
    return coerce(this.type.layout[this.offValue].type, v);
  }

  /** The complete value, with metadata (used when opening and for new clients). */
  initial(): PVStructure {
    const v = this.variable;
    const s = new PVStructure(this.type);
    s.set('value', this.toPvValue(v.value));
    const vv = v.getVariableValue(false);
    const a = alarmOf(vv.status, vv.severity, vv.error);
    s.set('alarm', { severity: a.severity, status: a.status, message: a.message });
    this.lastAlarm = `${a.severity}/${a.status}/${a.message}`;
    s.set('timeStamp', timeFromDate(vv.updated || Date.now()));
    s.set('display.description', v.description ?? '');
    if (s.has('display.units')) s.set('display.units', v.units ?? '');
    const k = this.kind;
    if (k.kind === 'scalar' && s.has('display.limitLow')) {
      const t = k.type;
      // a limit outside the wire type (minimum -1 on a UInt8) must not stop the server: not shown
      const bad = (what: string) => (x: number | bigint) =>
        this.opts.log.warn(`${this.name}: ${what} ${String(x)} does not fit the PV's ${t}; not shown`);
      s.set('display.limitLow', num(v.minimum, t, 0, bad('minimum')));
      s.set('display.limitHigh', num(v.maximum, t, 0, bad('maximum')));
      s.set('control.limitLow', num(v.minimum, t, 0));
      s.set('control.limitHigh', num(v.maximum, t, 0));
      if (s.has('display.precision')) {
        const { precision, form } = displayFormOf(v.disp);
        s.set('display.precision', precision);
        s.set('display.form', { index: form, choices: DISPLAY_FORMS });
      }
      if (s.has('valueAlarm.active')) {
        const isFloat = t === 'float' || t === 'double';
        const lim = (x: number | bigint | undefined) => num(x, t, isFloat ? NaN : 0, bad('alarm limit'));
        s.set('valueAlarm', {
          active: v.hasAlarm,
          lowAlarmLimit: lim(v.lowAlarm),
          lowWarningLimit: lim(v.lowWarning),
          highWarningLimit: lim(v.highWarning),
          highAlarmLimit: lim(v.highAlarm),
          lowAlarmSeverity: v.lowAlarm != null ? 2 : 0,
          lowWarningSeverity: v.lowWarning != null ? 1 : 0,
          highWarningSeverity: v.highWarning != null ? 1 : 0,
          highAlarmSeverity: v.highAlarm != null ? 2 : 0,
        });
      }
    }
    return s;
  }

  start(): void {
    this.pv.open(this.initial());
    this.variable.addListener(this.onTreeUpdate);
  }

  stop(): void {
    this.variable.delListener(this.onTreeUpdate);
    this.pv.close();
    this.listeners.clear();
  }

  /** Subscribes to changes (used by the Channel Access adapter). */
  subscribe(l: HolderListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  /** A tree update: post only what changed (value, alarm when it moved, timestamp). */
  publish(vv: VariableValue<unknown>): void {
    if (!this.pv.isOpen) return;
    const u = this.update;
    u.clearChanged();
    if (this.kind.kind === 'enum') u.setAt(this.offValue + 1, (this.toPvValue(vv.value) as { index: number }).index);
    else u.setAt(this.offValue, this.toPvValue(vv.value));
    const a = alarmOf(vv.status, vv.severity, vv.error);
    const alarmKey = `${a.severity}/${a.status}/${a.message}`;
    const alarmMoved = alarmKey !== this.lastAlarm;
    if (alarmMoved) {
      this.lastAlarm = alarmKey;
      u.set('alarm', { severity: a.severity, status: a.status, message: a.message });
    }
    // timeStamp's leaves follow it: secondsPastEpoch, nanoseconds, userTag
    const ms = vv.updated || Date.now();
    u.data[this.offTime + 1] = BigInt(Math.floor(ms / 1000));
    u.data[this.offTime + 2] = Math.round((ms % 1000) * 1e6);
    u.changed.set(this.offTime);
    this.pv.post(u);
    for (const l of this.listeners) l({ value: true, alarm: alarmMoved });
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
    if (v.lastUpdated !== before && this.pv.isOpen) {
      // value unchanged (no listener call) but fresher: move the timestamp
      this.update.clearChanged();
      this.update.set('timeStamp', timeFromDate(v.lastUpdated));
      this.pv.post(this.update);
    }
  }

  /** Converts a client's put to a tree value; throws with a message for the client. */
  treeValueFromPut(put: PutRequest): unknown {
    const valueBit = this.offValue;
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

  private async put(put: PutRequest): Promise<void> {
    const v = this.variable;
    if (v.mode === 'RO') {
      this.opts.log.info(`put to read-only ${this.name} from ${put.peer} refused`);
      throw new Error(`${this.name} is read-only`);
    }
    const value = this.treeValueFromPut(put);
    await this.set(value);
  }

  /** A set from any protocol: completes after the tree (and hardware) write. */
  async set(value: unknown): Promise<void> {
    const v = this.variable;
    if (v.mode === 'RO') throw new Error(`${this.name} is read-only`);
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
  readonly pv: SharedPV;
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
    this.pv = new SharedPV({
      onPut: async (_pv, put) => this.put(put.value.get('value')),
      onRpc: async (_pv, arg) => this.rpc(arg),
    });
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

  /** A put from any protocol: runs the command with the value, then shows it to every subscriber. */
  async put(arg: unknown): Promise<void> {
    await this.call(arg);
    const ms = Date.now();
    this.last = { value: arg, ms };
    if (this.pv.isOpen) {
      try {
        this.pv.post({ value: arg, timeStamp: timeFromDate(ms) });
      } catch (e) {
        this.opts.log.debug(`command ${this.name}: value not shown over pvAccess: ${(e as Error).message}`);
      }
    }
    for (const l of [...this.listeners]) l(arg);
  }

  get path(): string {
    return this.command.path;
  }

  start(): void {
    const s = new PVStructure(this.type);
    s.set('display.description', this.command.description ?? '');
    if (this.command.defaultArg !== undefined) {
      try {
        s.set('value', this.command.defaultArg);
      } catch {
        // a default the wire type cannot hold is simply not shown
      }
    }
    s.set('timeStamp', timeFromDate(Date.now()));
    this.pv.open(s);
  }

  stop(): void {
    this.pv.close();
    this.listeners.clear();
  }

  /** Runs the command; the argument may be a string (parsed by the command's argType). */
  async call(arg: unknown): Promise<unknown> {
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

  private async rpc(arg: AnyValue | null): Promise<PVStructure> {
    let a: unknown;
    const v = arg?.value;
    if (v instanceof PVStructure) {
      if (v.has('query')) {
        const q = v.get('query') as Record<string, unknown>;
        a = q.arg ?? q.value;
      } else if (v.has('value')) a = v.get('value');
      else if (v.has('arg')) a = v.get('arg');
    } else if (v !== undefined && v !== null) a = v;
    const result = await this.call(a);
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
