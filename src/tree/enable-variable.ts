// EnableVariable: every Device's `enable`. A disabled device (or one under a disabled parent, or
// with a false enable dependency) does no hardware access, as in PyRogue.

import { BaseVariable, type SetOptions } from './variable.ts';
import { type TypeInfo, VariableError, parseTypeStr } from './types.ts';

/** What `enable.value` reports: own state, or why the device is off although its own flag is on. */
export type EnableState = boolean | 'parent' | 'deps';

const INFO = parseTypeStr('bool');
/** PyRogue's display names; index = EPICS enum index. */
const CHOICES: Record<number, string> = { 0: 'False', 1: 'True', 2: 'ParentFalse', 3: 'ExtDepFalse' };

/** The owner as seen from here (device.ts imports this file). */
interface EnableOwner {
  readonly enabled: boolean;
  /** @internal */
  _enableFlagChanged(value: boolean): void;
  readonly parent: unknown;
}

export interface EnableVariableOptions {
  enabled?: boolean;
  /** Variables that must all be truthy for the device to be enabled (PyRogue's enableDeps). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  deps?: readonly BaseVariable<any>[];
}

/**
 * The `enable` variable every Device has: True, False, or ParentFalse / ExtDepFalse when a parent
 * or a dependency is disabled. A disabled device does no hardware access.
 */
export class EnableVariable extends BaseVariable<EnableState> {
  readonly typeInfo: TypeInfo = INFO;
  private _own: boolean;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  private readonly _deps: readonly BaseVariable<any>[];

  constructor(opts: EnableVariableOptions = {}) {
    super({
      name: 'enable',
      mode: 'RW',
      groups: ['Enable'],
      enum: CHOICES,
      description: 'Determines if device is enabled for hardware access',
    });
    this._own = opts.enabled ?? true;
    this._value = this._own;
    this._deps = opts.deps ?? [];
    for (const d of this._deps) d._addDependent(this);
  }

  /** The device's own flag (what `set` changes). */
  get own(): boolean { return this._own; }

  /** All dependencies truthy (no dependencies: true). */
  get depsOk(): boolean {
    for (const d of this._deps) if (!d.value) return false;
    return true;
  }

  /** True, False, 'parent' (own flag on, a parent is off) or 'deps' (a dependency is false). */
  override get value(): EnableState {
    if (!this._own) return false;
    if (!this.depsOk) return 'deps';
    const dev = this.parent as EnableOwner | undefined;
    const up = dev?.parent as EnableOwner | undefined;
    if (up && typeof up.enabled === 'boolean' && !up.enabled) return 'parent';
    return true;
  }

  override genDisp(v: EnableState): string {
    return v === true ? 'True' : v === false ? 'False' : v === 'parent' ? 'ParentFalse' : 'ExtDepFalse';
  }

  /** 'True' / 'False' (any case), 'ParentFalse', 'ExtDepFalse', or the enum index 0–3. */
  override parseDisp(s: string): EnableState {
    if (typeof s !== 'string') return this.normalize(s);
    const t = s.trim();
    for (const [k, name] of Object.entries(CHOICES)) if (name === t) return this.normalize(Number(k));
    if (/^true$/i.test(t)) return true;
    if (/^false$/i.test(t)) return false;
    const n = Number(t);
    if (t !== '' && Number.isInteger(n)) return this.normalize(n);
    throw new VariableError(`${this.path}: '${s}' is not one of True, False, ParentFalse, ExtDepFalse`);
  }

  /** Booleans, 0–3 (the enum index), or the states themselves. */
  normalize(v: unknown): EnableState {
    if (typeof v === 'boolean' || v === 'parent' || v === 'deps') return v;
    if (typeof v === 'string') return this.parseDisp(v);
    const n = typeof v === 'bigint' ? Number(v) : v;
    if (n === 0 || n === 1) return n === 1;
    if (n === 2) return 'parent';
    if (n === 3) return 'deps';
    throw new VariableError(`${this.path}: ${String(v)} is not an enable state (True, False, ParentFalse, ExtDepFalse)`);
  }

  /** The switch itself stays usable while its device is off. */
  override get disabledReason(): undefined {
    return undefined;
  }

  override alarmState(): ['Good', 'Good'] {
    return ['Good', 'Good'];
  }

  async get(): Promise<EnableState> {
    return this.value;
  }

  /** True/False set the device's own flag; 'parent' and 'deps' are reports and are ignored (as PyRogue). */
  async set(value: unknown, _opts?: SetOptions): Promise<void> {
    const v = this.normalize(value);
    if (typeof v !== 'boolean') return;
    if (v === this._own) return;
    this._own = v;
    (this.parent as EnableOwner | undefined)?._enableFlagChanged(v);
    this._changed();
  }

  /** @internal A dependency changed: the device may have turned on or off. */
  override _dependencyChanged(): void {
    (this.parent as EnableOwner | undefined)?._enableFlagChanged(this._own);
    this._changed();
  }

  /** @internal The device's effective state moved (a parent or dependency): tell listeners. */
  _stateChanged(): void {
    this._changed();
  }
}
