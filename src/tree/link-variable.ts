// LinkVariable: a value computed from other variables (linkedGet) and/or written through
// to them (linkedSet); recomputed and re-notified whenever a dependency changes.

import { BaseVariable, type GetOptions, type SetOptions, type VariableOptions } from './variable.ts';
import { type TypeInfo, type Value, type ValueInput, VariableError, coerceValue, inferTypeStr, parseTypeStr } from './types.ts';
import type { Device } from './device.ts';

/** What a {@link LinkVariable}'s linkedGet is called with. */
export interface LinkedGetArgs<T> { dev: Device | undefined; var: LinkVariable<T>; read: boolean }
/** What a {@link LinkVariable}'s linkedSet is called with. */
export interface LinkedSetArgs<T> { dev: Device | undefined; var: LinkVariable<T>; value: T; write: boolean }

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyVariable = BaseVariable<any>;

/** Options of a {@link LinkVariable}: an alias, or linkedGet / linkedSet over its dependencies. */
export interface LinkVariableOptions<T = Value> extends VariableOptions<T> {
  /** Plain alias of another variable: get/set pass through; disp, enum, units, limits are inherited. */
  variable?: AnyVariable;
  dependencies?: AnyVariable[];
  linkedGet?: (args: LinkedGetArgs<T>) => T | Promise<T>;
  linkedSet?: (args: LinkedSetArgs<T>) => void | Promise<void>;
}

function inherit<T>(opts: LinkVariableOptions<T>): LinkVariableOptions<T> {
  const v = opts.variable;
  if (!v) return opts;
  return {
    disp: v.disp === 'enum' ? undefined : v.disp, enum: v.enum, units: v.units, minimum: v.minimum, maximum: v.maximum,
    mode: opts.linkedSet || !opts.linkedGet ? v.mode : 'RO',
    ...Object.fromEntries(Object.entries(opts).filter(([, x]) => x !== undefined)),
  } as LinkVariableOptions<T>;
}

/**
 * A variable computed from others (PyRogue's LinkVariable): an alias of one variable, or functions
 * over its dependencies, updated when they change.
 */
export class LinkVariable<T = Value> extends BaseVariable<T> {
  readonly dependencies: readonly AnyVariable[];
  private readonly _variable: AnyVariable | undefined;
  private readonly _linkedGet: LinkVariableOptions<T>['linkedGet'];
  private readonly _linkedSet: LinkVariableOptions<T>['linkedSet'];
  private readonly _typeStr: string | undefined;
  private _typeInfo: TypeInfo | undefined;
  private _valid = false;

  constructor(opts: LinkVariableOptions<T>) {
    const o = inherit(opts);
    super({ ...o, mode: o.mode ?? (o.linkedSet ? 'RW' : 'RO') });
    this._variable = opts.variable;
    this._linkedGet = opts.linkedGet;
    this._linkedSet = opts.linkedSet;
    this._typeStr = opts.typeStr;
    if (!opts.linkedGet && !opts.variable) throw new VariableError(`LinkVariable ${opts.name}: give linkedGet or variable`);
    const deps = [...(opts.dependencies ?? [])];
    if (opts.variable && !deps.includes(opts.variable)) deps.unshift(opts.variable);
    this.dependencies = deps;
    for (const d of deps) d._addDependent(this);
  }

  /**
   * Explicit typeStr, else the aliased variable's, else inferred from the first computed value
   * (numbers → Float64; not computable yet → Float64).
   */
  get typeInfo(): TypeInfo {
    if (!this._typeInfo) {
      if (this._typeStr) this._typeInfo = parseTypeStr(this._typeStr);
      else if (this._variable) this._typeInfo = this._variable.typeInfo;
      else {
        const v = this._compute(false);
        // a computed number is a double even when it happens to be integral right now
        const t = v === undefined || v instanceof Promise || typeof v === 'number' ? 'Float64' : inferTypeStr(v);
        this._typeInfo = parseTypeStr(t);
      }
    }
    return this._typeInfo;
  }

  override get value(): T {
    if (!this._valid) this._recompute();
    return this._value;
  }

  private _compute(read: boolean): T | Promise<T> | undefined {
    try {
      if (this._linkedGet) return this._linkedGet({ dev: this.device, var: this, read });
      return read ? this._variable!.get({ read }) : this._variable!.value;
    } catch (e) {
      if (read) throw e;
      return undefined; // not computable yet (e.g. device not attached)
    }
  }

  private _store(raw: unknown): T {
    let v: T;
    try { v = coerceValue(this.typeInfo, raw) as T; } catch (e) {
      throw new VariableError(`${this.path}: linked value: ${(e as Error).message}`);
    }
    this._valid = true;
    this._update(v);
    return v;
  }

  private _recompute(): void {
    const r = this._compute(false);
    if (r === undefined) return;
    if (r instanceof Promise) {
      r.then((x) => this._store(x)).catch((e: Error) => this.root?._reportError(e, `link ${this.path}`));
    } else {
      try { this._store(r); } catch (e) { this.root?._reportError(e as Error, `link ${this.path}`); }
    }
  }

  /** @internal */
  override _dependencyChanged(): void {
    this._recompute();
  }

  async get(opts?: GetOptions): Promise<T> {
    const read = opts?.read !== false && this.mode !== 'WO';
    return this._store(await this._compute(read));
  }

  async set(value: T | ValueInput, opts?: SetOptions): Promise<void> {
    const v = this._check(value, opts?.force);
    const write = opts?.write !== false;
    if (this._linkedSet) await this._linkedSet({ dev: this.device, var: this, value: v, write });
    else if (this._variable) await this._variable.set(v, { write });
    else throw new VariableError(`${this.path} has no linkedSet`);
    if (this.mode === 'WO') this._update(v);
    else this._recompute();
  }
}
