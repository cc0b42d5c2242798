// BaseVariable: everything variables share: metadata, checks, display, alarms, listeners.

import { Node, type NodeOptions } from './node.ts';
import {
  type AlarmSeverity, type AlarmStatus, type Mode, type NativeType, type TypeInfo, type Value, type ValueInput,
  VariableError, coerceValue, isArrayValue, nativeTypeOf, valuesEqual,
} from './types.ts';
import { formatValue, parseScalar, splitArray } from './format.ts';
import type { Block } from './block.ts';
import type { Device } from './device.ts';

/** Enum choices: value → name. */
export type EnumMap = Record<number, string>;

/** Options common to every variable. */
export interface VariableOptions<T = Value> extends NodeOptions {
  mode?: Mode;
  value?: T;
  /** Python format string: '{}', '{:.3f}', '{:#x}' … */
  disp?: string;
  enum?: EnumMap;
  units?: string;
  minimum?: number | bigint;
  maximum?: number | bigint;
  lowWarning?: number | bigint;
  lowAlarm?: number | bigint;
  highWarning?: number | bigint;
  highAlarm?: number | bigint;
  /** Seconds between polls; 0 = not polled. */
  pollInterval?: number;
  typeStr?: string;
}

/** A variable's value as listeners get it: the value, its display string, alarm state and time. */
export interface VariableValue<T = Value> {
  value: T;
  valueDisp: string;
  status: AlarmStatus;
  severity: AlarmSeverity;
  /** ms since the epoch of the last update from hardware or a set. */
  updated: number;
  /** The last hardware access failed (a poll or read), or the device is disabled: the value may be stale. */
  error?: Error;
  /** The owning device is disabled (error is then a DeviceDisabledError unless a failure came first). */
  disabled?: boolean;
}

/**
 * A {@link VariableValue} whose display string is made when first read: formatting a number the
 * way PyRogue does costs more than the rest of an update, and most listeners (the EPICS holders
 * among them) never read it. It serializes to JSON like a plain object.
 */
class LazyVariableValue<T> implements VariableValue<T> {
  error?: Error;
  disabled?: boolean;
  #owner: { genDisp(v: T): string } | undefined;
  #disp = '';

  constructor(
    owner: { genDisp(v: T): string },
    public value: T,
    public status: AlarmStatus,
    public severity: AlarmSeverity,
    public updated: number,
  ) {
    this.#owner = owner;
  }

  get valueDisp(): string {
    const o = this.#owner;
    if (o) {
      this.#owner = undefined;
      this.#disp = o.genDisp(this.value);
    }
    return this.#disp;
  }

  set valueDisp(s: string) {
    this.#owner = undefined;
    this.#disp = s;
  }

  toJSON(): VariableValue<T> {
    const o: VariableValue<T> = { value: this.value, valueDisp: this.valueDisp, status: this.status, severity: this.severity, updated: this.updated };
    if (this.error) o.error = this.error;
    if (this.disabled) o.disabled = this.disabled;
    return o;
  }
}

/** Called with a variable's path and new value on every update. */
export type VariableListener<T = Value> = (path: string, value: VariableValue<T>) => void;

/** Options of a set. */
export interface SetOptions {
  /** Write to hardware (default true). */
  write?: boolean;
  /** Verify after write (remote variables; default: the variable's `verify`). */
  verify?: boolean;
  /** Bypass the RO check: for device code updating its own status variables. */
  force?: boolean;
}

/** Options of a get. */
export interface GetOptions {
  /** Read from hardware first (default true). */
  read?: boolean;
}

/** The listener and dependent lists of a variable that has none (frozen: never written). */
const NONE = Object.freeze([]) as unknown as never[];

/**
 * A variable of the tree (PyRogue's BaseVariable): a typed value with mode, units, limits, enum,
 * display format and listeners.
 */
export abstract class BaseVariable<T = Value> extends Node {
  readonly mode: Mode;
  readonly units: string | undefined;
  readonly enum: EnumMap | undefined;
  readonly minimum: number | bigint | undefined;
  readonly maximum: number | bigint | undefined;
  readonly lowWarning: number | bigint | undefined;
  readonly lowAlarm: number | bigint | undefined;
  readonly highWarning: number | bigint | undefined;
  readonly highAlarm: number | bigint | undefined;
  /** The display format; 'enum' when an enum map is set (as PyRogue reports it). */
  readonly disp: string;
  /** ms epoch of the last hardware read, local get or set; 0 = never. */
  lastUpdated = 0;
  /** The last error from a poll of this variable, cleared by the next good read. */
  lastError: Error | undefined;

  protected _value!: T;
  private _pollInterval: number;
  // shared empty lists until the first listener / dependent (most variables have none)
  private _listeners: VariableListener<T>[] = NONE;
  /** Link variables depending on this one. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  private _dependents: BaseVariable<any>[] = NONE;
  private readonly _hasAlarm: boolean;

  constructor(opts: VariableOptions<T>, defaultDisp = '{}') {
    super(opts);
    const mode = opts.mode ?? 'RW';
    if (mode !== 'RW' && mode !== 'RO' && mode !== 'WO') throw new VariableError(`${opts.name}: invalid mode ${String(mode)} (RW, RO or WO)`);
    this.mode = mode;
    this.units = opts.units;
    this.enum = opts.enum;
    this.minimum = opts.minimum;
    this.maximum = opts.maximum;
    this.lowWarning = opts.lowWarning;
    this.lowAlarm = opts.lowAlarm;
    this.highWarning = opts.highWarning;
    this.highAlarm = opts.highAlarm;
    this.disp = opts.enum ? 'enum' : opts.disp ?? defaultDisp;
    this._pollInterval = opts.pollInterval ?? 0;
    this._hasAlarm = [opts.lowAlarm, opts.lowWarning, opts.highWarning, opts.highAlarm].some((x) => x != null);
  }

  // ---- type ----------------------------------------------------------------

  /** Parsed type information; subclasses fix it at construction. */
  abstract get typeInfo(): TypeInfo;
  get typeStr(): string { return this.typeInfo.typeStr; }
  get nativeType(): NativeType { return nativeTypeOf(this.typeInfo, this.enum !== undefined); }
  get hasAlarm(): boolean { return this._hasAlarm; }

  // ---- value access ----------------------------------------------------------

  /** Current value without any hardware access. */
  get value(): T { return this._value; }
  /** Current value as a display string. */
  get valueDisp(): string { return this.genDisp(this.value); }

  abstract get(opts?: GetOptions): Promise<T>;
  abstract set(value: T | ValueInput, opts?: SetOptions): Promise<void>;

  async getDisp(opts?: GetOptions): Promise<string> {
    return this.genDisp(await this.get(opts));
  }

  async setDisp(s: string, opts?: SetOptions): Promise<void> {
    await this.set(this.parseDisp(s) as T, opts);
  }

  /** Display string for a value. */
  genDisp(v: T): string {
    if (v === undefined || v === null) return '';
    return formatValue(this.disp, v as Value, this.typeInfo, this.enum);
  }

  /**
   * Display string → value: enum choice names → keys, numbers parsed by type
   * ('0x1f' / '0b101' ok for ints), 'True'/'False' for Bool, '[1, 2]' for arrays.
   */
  parseDisp(s: string): T {
    if (typeof s !== 'string') return s as T;
    const info = this.typeInfo;
    const one = (x: string): unknown => {
      if (this.enum) {
        const t = x.trim();
        for (const k in this.enum) if (this.enum[k] === t) return this._enumKey(Number(k));
        const n = Number(t);
        if (t !== '' && Number.isInteger(n) && this.enum[n] !== undefined) return this._enumKey(n);
        throw new VariableError(`${this.path}: '${x}' is not one of ${Object.values(this.enum).join(', ')}`);
      }
      try { return parseScalar(info, x); } catch (e) {
        throw new VariableError(`${this.path}: ${(e as Error).message}`);
      }
    };
    if (info.length !== undefined) return splitArray(s).map(one) as T;
    return one(s) as T;
  }

  private _enumKey(k: number): unknown {
    return this.typeInfo.base === 'Bool' ? k !== 0 : k;
  }

  /** Value, display, alarm state and update time; read=true reads hardware first. */
  getVariableValue(read?: false): VariableValue<T>;
  getVariableValue(read: true): Promise<VariableValue<T>>;
  getVariableValue(read = false): VariableValue<T> | Promise<VariableValue<T>> {
    if (read) return this.get({ read: true }).then(() => this._varValue());
    return this._varValue();
  }

  private _varValue(): VariableValue<T> {
    const v = this.value;
    const [status, severity] = this.alarmState(v);
    const vv: VariableValue<T> = new LazyVariableValue(this, v, status, severity, this.lastUpdated);
    const off = this.disabledReason;
    if (this.lastError) vv.error = this.lastError;
    else if (off) vv.error = off;
    if (off) vv.disabled = true;
    return vv;
  }

  /**
   * Set while the owning device (or a parent) is disabled: no hardware access happens for this
   * variable. The device's own `enable` is never disabled.
   */
  get disabledReason(): Error | undefined {
    return (this.parent as { _disabledReason?: Error } | undefined)?._disabledReason;
  }

  /** @internal The owning device turned on or off: listeners hear the new state. */
  _deviceStateChanged(): void {
    this._changed();
  }

  /**
   * The value `set(value)` would store, without storing it: display strings are parsed (enum
   * names, '0x1f', '[1, 2]'), then mode, type, range, enum and limits are checked. Throws
   * VariableError like set.
   */
  validate(value: unknown, opts?: { force?: boolean }): T {
    const v = typeof value === 'string' && (this.enum || this.typeInfo.base !== 'String' || this.typeInfo.length !== undefined) ? this.parseDisp(value) : value;
    return this._check(v, opts?.force);
  }

  /**
   * @internal The block a read of this variable goes through (polls read each block once);
   * undefined for variables that read on their own.
   */
  _readBlock(): Block | undefined {
    return undefined;
  }

  /** @internal Records a hardware failure (or its end); listeners hear when the state changes. */
  _setError(e: Error | undefined): void {
    const changed = (e === undefined) !== (this.lastError === undefined) || (e !== undefined && e.message !== this.lastError?.message);
    this.lastError = e;
    if (changed) this._changed();
  }

  get alarmStatus(): AlarmStatus { return this.alarmState(this.value)[0]; }
  get alarmSeverity(): AlarmSeverity { return this.alarmState(this.value)[1]; }

  /** PyRogue's order: LoLo, HiHi, Low, High, each a strict comparison. 'Good' when no limits. */
  alarmState(v: unknown): [AlarmStatus, AlarmSeverity] {
    if (!this._hasAlarm || (typeof v !== 'number' && typeof v !== 'bigint')) return ['Good', 'Good'];
    if (this.lowAlarm != null && v < this.lowAlarm) return ['AlarmLoLo', 'AlarmMajor'];
    if (this.highAlarm != null && v > this.highAlarm) return ['AlarmHiHi', 'AlarmMajor'];
    if (this.lowWarning != null && v < this.lowWarning) return ['AlarmLow', 'AlarmMinor'];
    if (this.highWarning != null && v > this.highWarning) return ['AlarmHigh', 'AlarmMinor'];
    return ['Good', 'Good'];
  }

  // ---- listeners ---------------------------------------------------------------

  /** Called with (path, VariableValue) once per change (once per transaction inside a group). */
  addListener(fn: VariableListener<T>): void {
    if (this._listeners.includes(fn)) return;
    if (this._listeners === NONE) this._listeners = [fn];
    else this._listeners.push(fn);
  }

  delListener(fn: VariableListener<T>): void {
    const i = this._listeners.indexOf(fn);
    if (i < 0) return;
    // the last one gone: back to the shared empty list (a server adds and removes one per client)
    if (this._listeners.length === 1) this._listeners = NONE;
    else this._listeners.splice(i, 1);
  }

  /** Variables computed from this one (LinkVariable dependencies). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  get dependents(): readonly BaseVariable<any>[] { return this._dependents; }

  /** @internal */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  _addDependent(v: BaseVariable<any>): void {
    if (this._dependents.includes(v)) return;
    if (this._dependents === NONE) this._dependents = [v];
    else this._dependents.push(v);
  }

  // ---- polling -------------------------------------------------------------------

  get pollInterval(): number { return this._pollInterval; }
  set pollInterval(s: number) {
    if (!(s >= 0)) throw new VariableError(`${this.path}: pollInterval must be >= 0 seconds`);
    this._pollInterval = s;
    this.root?._pollIntervalChanged(this as BaseVariable<unknown>);
  }

  // ---- tree ------------------------------------------------------------------------

  get device(): Device | undefined { return this.parent as Device | undefined; }

  // ---- helpers for subclasses ------------------------------------------------------------

  /** Mode, type, range, enum and min/max checks; returns the canonical value. */
  protected _check(value: unknown, force = false): T {
    if (this.mode === 'RO' && !force) throw new VariableError(`${this.path} is read-only`);
    let v: Value;
    try {
      v = coerceValue(this.typeInfo, value);
    } catch (e) {
      throw new VariableError(`${this.path}: ${(e as Error).message}`);
    }
    if (typeof v === 'number' || typeof v === 'bigint') {
      if ((this.minimum != null && v < this.minimum) || (this.maximum != null && v > this.maximum)) {
        throw new VariableError(`${this.path}: value ${v} outside [${this.minimum ?? ''}, ${this.maximum ?? ''}]`);
      }
    }
    if (this.enum && !isArrayValue(v) && this.enum[Number(v)] === undefined) {
      throw new VariableError(`${this.path}: ${String(v)} is not an enum key (${Object.keys(this.enum).join(', ')})`);
    }
    return v as T;
  }

  /** Store a new value; listeners run if it changed. */
  protected _update(v: T, now = Date.now()): void {
    this.lastUpdated = now;
    if (valuesEqual(v, this._value)) return;
    this._value = v;
    this._changed();
  }

  /** Queue notification: immediate, or at the end of the root's current update group. */
  protected _changed(): void {
    const r = this.root;
    if (r) r._queueUpdate(this as BaseVariable<unknown>);
    else this._fire();
  }

  /** @internal Run listeners, then let dependents recompute. */
  _fire(): void {
    if (this._listeners.length) {
      const vv = this._varValue();
      for (const fn of this._listeners.slice()) {
        try { fn(this.path, vv); } catch (e) {
          this.root?._reportError(e as Error, `listener of ${this.path}`);
        }
      }
    }
    for (const d of this._dependents) d._dependencyChanged();
  }

  /** @internal A dependency changed: links override to recompute. */
  _dependencyChanged(): void {}
}
