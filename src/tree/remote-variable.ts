// RemoteVariable: a value living in device memory at offset/bitOffset/bitSize.

import { BaseVariable, type GetOptions, type SetOptions, type VariableOptions } from './variable.ts';
import { type Base, type TypeInfo, type Value, type ValueInput, VariableError, coerceValue, makeTypeStr, newArray, parseTypeStr } from './types.ts';
import { Field } from './field.ts';
import type { Block, BlockMember } from './block.ts';
import type { Device } from './device.ts';

/** Rogue's big-endian models: the value's bytes are reversed in memory. */
export type BigEndianBase = 'UIntBE' | 'IntBE' | 'FloatBE';

/**
 * Options of a {@link RemoteVariable}: where its bits are in the device's address space, and how
 * to read them.
 */
export interface RemoteVariableOptions<T = Value> extends Omit<VariableOptions<T>, 'typeStr'> {
  /** Byte offset from the device's base address. */
  offset: number;
  /** Bits of the value, or a list for a value assembled from several ranges (first = low bits). Default 32. */
  bitSize?: number | number[];
  /** Bit position(s) from `offset` (may exceed 7 to reach later bytes). Default 0. */
  bitOffset?: number | number[];
  /** Value type; the BE forms (or `bigEndian: true`) store the value's bytes most significant first. */
  base?: Base | BigEndianBase;
  bigEndian?: boolean;
  /** May share bits with other variables that also set overlapEn (Rogue's overlapEn). */
  overlapEn?: boolean;
  /** Retry a failed transaction of this variable's block this many times (Rogue's retryCount). */
  retryCount?: number;
  /** Array length; elements are valueBits wide, valueStride apart. */
  numValues?: number;
  valueBits?: number;
  valueStride?: number;
  /** Read back and compare after each write (default true). */
  verify?: boolean;
}

const DEFAULT_DISP: Record<Base, string> = { UInt: '{:#x}', Int: '{:d}', Float: '{:f}', Bool: '{}', String: '{}' };

/**
 * A variable in hardware (PyRogue's RemoteVariable): bits at an offset of its device's memory,
 * read and written through the device's blocks, polled when pollInterval is set.
 *
 * ```ts
 * dev.add(new RemoteVariable({ name: 'Status', offset: 0x4, bitSize: 8, bitOffset: 4, base: 'UInt', mode: 'RO', pollInterval: 1 }));
 * ```
 */
export class RemoteVariable<T = Value> extends BaseVariable<T> implements BlockMember {
  readonly typeInfo: TypeInfo;
  readonly offset: number;
  readonly base: Base;
  readonly field: Field;
  readonly verifyEn: boolean;
  readonly overlapEn: boolean;
  readonly retryCount: number;
  /** Stored most significant byte first. */
  readonly bigEndian: boolean;
  /** Constructed with `value` (its block is written by initWrite / the first WriteAll). */
  readonly hasDefault: boolean;
  /** The constructor's value (what a reset restores). */
  readonly default: T;
  private _block: Block | undefined;

  constructor(opts: RemoteVariableOptions<T>) {
    const given = opts.base ?? 'UInt';
    const be = given.endsWith('BE');
    const base = (be ? given.slice(0, -2) : given) as Base;
    if (!DEFAULT_DISP[base]) throw new VariableError(`RemoteVariable ${opts.name}: unknown base '${given}'`);
    super(opts, DEFAULT_DISP[base]);
    this.bigEndian = be || !!opts.bigEndian;
    this.overlapEn = !!opts.overlapEn;
    this.hasDefault = opts.value !== undefined;
    this.retryCount = opts.retryCount ?? 0;
    if (!Number.isInteger(this.retryCount) || this.retryCount < 0) throw new VariableError(`RemoteVariable ${opts.name}: retryCount must be a non-negative integer`);
    if (!Number.isInteger(opts.offset) || opts.offset < 0) throw new VariableError(`RemoteVariable ${opts.name}: offset must be a non-negative integer`);
    this.offset = opts.offset;
    this.base = base;
    this.verifyEn = opts.verify ?? true;
    const bitSize = opts.bitSize ?? (base === 'Bool' ? 1 : 32);
    const bitOffset = opts.bitOffset ?? 0;
    const n = opts.numValues ?? 0;
    const bits = n > 0 ? opts.valueBits ?? (bitSize as number) : Array.isArray(bitSize) ? bitSize.reduce((a, b) => a + b, 0) : bitSize;
    try {
      this.typeInfo = parseTypeStr(makeTypeStr(base, bits, n > 0 ? n : undefined));
      this.field = new Field(this.typeInfo, { bitOffset, bitSize, numValues: n, valueBits: opts.valueBits, valueStride: opts.valueStride, bigEndian: this.bigEndian });
      const init = opts.value ?? (n > 0 ? newArray(this.typeInfo, n) : base === 'Bool' ? false : base === 'String' ? '' : 0);
      this._value = coerceValue(this.typeInfo, init) as T;
      this.default = this._value;
    } catch (e) {
      throw new VariableError(`RemoteVariable ${opts.name}: ${(e as Error).message}`);
    }
  }

  /** Byte address of the variable (device address + offset). */
  get address(): number { return (this.parent as Device).address + this.offset; }

  /** @internal */
  _setBlock(b: Block | undefined): void {
    this._block = b;
    if (b) this.field.encode(b.shadow, b.view, this._value as Value);
  }

  /** The block holding this variable (built on first use). */
  get block(): Block { return this._blk(); }

  /** @internal */
  override _readBlock(): Block | undefined {
    return this._block ?? (this.parent as Device | undefined)?._blockOf(this);
  }

  private _blk(): Block {
    const b = this._readBlock();
    if (!b) throw new VariableError(`${this.path}: not attached to a device`);
    return b;
  }

  /** @internal */
  _blockRead(now: number): void {
    const b = this._block!;
    this._setError(undefined);
    this._update(this.field.decode(b.shadow, b.view) as T, now);
  }

  async set(value: T | ValueInput, opts?: SetOptions): Promise<void> {
    const v = this._check(value, opts?.force);
    const b = this._blk();
    const old = this._value;
    this.field.encode(b.shadow, b.view, v as Value);
    if (opts?.write !== false) {
      b._stage(this);
      try {
        await b.write(opts?.verify ?? this.verifyEn);
      } catch (e) {
        this.field.encode(b.shadow, b.view, old as Value);
        throw e;
      }
    } else if (this.mode !== 'RO') b.stale = true;
    this._update(v);
  }

  /** Posted write: no verify; resolves when the memory accepted it. */
  async post(value: T | ValueInput): Promise<void> {
    const v = this._check(value);
    const b = this._blk();
    const old = this._value;
    this.field.encode(b.shadow, b.view, v as Value);
    b._stage(this);
    try {
      await b.write(false, 'post');
    } catch (e) {
      this.field.encode(b.shadow, b.view, old as Value);
      throw e;
    }
    this._update(v);
  }

  async get(opts?: GetOptions): Promise<T> {
    if (opts?.read !== false && this.mode !== 'WO') await this._blk().read();
    return this._value;
  }

  /** Write the current value to hardware. */
  async write(verify = this.verifyEn): Promise<void> {
    await this._blk().write(verify);
  }
}
