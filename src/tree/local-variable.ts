// LocalVariable: a value held in memory, with optional localSet / localGet hooks.

import { BaseVariable, type GetOptions, type SetOptions, type VariableOptions } from './variable.ts';
import { type Stored, type TypeInfo, type Value, type ValueInput, VariableError, coerceValue, inferTypeStr, newArray, parseTypeStr, valuesEqual } from './types.ts';
import type { Device } from './device.ts';

/** What a {@link LocalVariable}'s localSet is called with. */
export interface LocalSetArgs<T> { dev: Device | undefined; var: LocalVariable<T>; value: Stored<T>; changed: boolean }
/** What a {@link LocalVariable}'s localGet is called with. */
export interface LocalGetArgs<T> { dev: Device | undefined; var: LocalVariable<T> }

/** Options of a {@link LocalVariable}. */
export interface LocalVariableOptions<T = Value> extends VariableOptions<T> {
  /** Called on every set with the new value (already stored); throwing undoes the set. */
  localSet?: (args: LocalSetArgs<T>) => void | Promise<void>;
  /** Called on get({read: true}); its result becomes the value. */
  localGet?: (args: LocalGetArgs<T>) => T | Stored<T> | Promise<T | Stored<T>>;
}

function zeroOf(info: TypeInfo): unknown {
  if (info.length !== undefined) return newArray(info, info.length);
  switch (info.base) {
    case 'Bool': return false;
    case 'String': return '';
    default: return 0;
  }
}

/**
 * A variable held by the program, not in hardware (PyRogue's LocalVariable): its type comes from
 * `typeStr` or the initial value; localSet / localGet hook in code.
 *
 * ```ts
 * dev.add(new LocalVariable({ name: 'Gain', value: 1.5, units: 'dB', minimum: 0, maximum: 10 }));
 * ```
 */
export class LocalVariable<T = Value> extends BaseVariable<Stored<T>> {
  readonly typeInfo: TypeInfo;
  /** The initial value, restored by resetToDefault(). */
  readonly default: Stored<T>;
  private readonly _localSet: LocalVariableOptions<T>['localSet'];
  private readonly _localGet: LocalVariableOptions<T>['localGet'];

  constructor(opts: LocalVariableOptions<T>) {
    super(opts as VariableOptions<Stored<T>>);
    if (opts.value === undefined && opts.typeStr === undefined) {
      throw new VariableError(`LocalVariable ${opts.name}: give value or typeStr`);
    }
    try {
      this.typeInfo = parseTypeStr(opts.typeStr ?? inferTypeStr(opts.value));
      this._value = coerceValue(this.typeInfo, opts.value ?? zeroOf(this.typeInfo)) as Stored<T>;
    } catch (e) {
      throw new VariableError(`LocalVariable ${opts.name}: ${(e as Error).message}`);
    }
    this.default = this._value;
    this._localSet = opts.localSet;
    this._localGet = opts.localGet;
  }

  async set(value: Stored<T> | ValueInput, opts?: SetOptions): Promise<void> {
    const v = this._check(value, opts?.force);
    const ls = this._localSet;
    // a disabled device's hooks do not run (PyRogue's LocalBlock); the value is still kept
    if (!ls || this.disabledReason) return this._update(v);
    const old = this._value;
    const changed = !valuesEqual(old, v);
    this._value = v;
    try {
      await ls({ dev: this.device, var: this, value: v, changed });
    } catch (e) {
      this._value = old;
      throw e;
    }
    this._value = old; // let _update see the change and notify
    this._update(v);
  }

  async get(opts?: GetOptions): Promise<Stored<T>> {
    const lg = this._localGet;
    if (lg && opts?.read !== false && this.mode !== 'WO' && !this.disabledReason) {
      const raw = await lg({ dev: this.device, var: this });
      let v: Stored<T>;
      try {
        v = coerceValue(this.typeInfo, raw) as Stored<T>;
      } catch (e) {
        throw new VariableError(`${this.path}: localGet returned a bad value: ${(e as Error).message}`);
      }
      this._update(v);
    }
    return this._value;
  }

  /** Set back to the constructor's value (no hardware involved). */
  async resetToDefault(): Promise<void> {
    await this.set(this.default, { force: true });
  }
}
