// Values of pvData structures. A PVStructure stores its leaves in one array indexed by the type's
// depth-first field numbering and tracks which fields were assigned since the last clearChanged(),
// which is exactly the BitSet a partial (monitor/put) encoding needs.
import { BitSet } from './bitset.ts';
import {
  typeEquals,
  type FieldDesc,
  type ScalarType,
  type Structure,
  type UnionDesc,
} from './types.ts';

/** A scalar's value: 64-bit integers are bigints. */
export type ScalarValue = boolean | number | bigint | string;
/** The typed arrays numeric scalar arrays are held in. */
export type TypedNumberArray =
  | Int8Array | Int16Array | Int32Array | BigInt64Array
  | Uint8Array | Uint16Array | Uint32Array | BigUint64Array
  | Float32Array | Float64Array;
/** A scalar array's value. */
export type ArrayValue = TypedNumberArray | boolean[] | string[];

/** A union's value: which member is selected (by index) and that member's value. */
export interface UnionValue {
  selector: number;
  value: unknown;
}

/** A variant union's value: a type carried with its value. */
export interface AnyValue {
  type: FieldDesc;
  value: unknown;
}

type TypedCtor = {
  new (n: number): TypedNumberArray;
  from(src: ArrayLike<number> | ArrayLike<bigint>): TypedNumberArray;
  BYTES_PER_ELEMENT: number;
};

/** The typed array class of each numeric scalar type. */
export const ARRAY_CTOR: Partial<Record<ScalarType, TypedCtor>> = {
  byte: Int8Array as unknown as TypedCtor,
  short: Int16Array as unknown as TypedCtor,
  int: Int32Array as unknown as TypedCtor,
  long: BigInt64Array as unknown as TypedCtor,
  ubyte: Uint8Array as unknown as TypedCtor,
  ushort: Uint16Array as unknown as TypedCtor,
  uint: Uint32Array as unknown as TypedCtor,
  ulong: BigUint64Array as unknown as TypedCtor,
  float: Float32Array as unknown as TypedCtor,
  double: Float64Array as unknown as TypedCtor,
};

const INT_RANGE: Partial<Record<ScalarType, [number, number]>> = {
  byte: [-128, 127],
  short: [-32768, 32767],
  int: [-2147483648, 2147483647],
  ubyte: [0, 255],
  ushort: [0, 65535],
  uint: [0, 4294967295],
};

const BIG_RANGE: Partial<Record<ScalarType, [bigint, bigint]>> = {
  long: [-(1n << 63n), (1n << 63n) - 1n],
  ulong: [0n, (1n << 64n) - 1n],
};

/** The zero value of a scalar type (false, 0, 0n or ''). */
export function defaultScalar(t: ScalarType): ScalarValue {
  switch (t) {
    case 'boolean':
      return false;
    case 'string':
      return '';
    case 'long':
    case 'ulong':
      return 0n;
    default:
      return 0;
  }
}

/** The initial value of a field of this type (zeros, empty arrays, nested defaults). */
export function defaultValue(t: FieldDesc): unknown {
  switch (t.kind) {
    case 'scalar':
      return defaultScalar(t.type);
    case 'scalarArray': {
      const C = ARRAY_CTOR[t.type];
      return C ? new C(0) : [];
    }
    case 'structure':
      return new PVStructure(t);
    case 'union':
    case 'any':
      return null;
    case 'structureArray':
    case 'unionArray':
      return [];
  }
}

function numberFrom(v: unknown, what: string): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'string' && v.trim() !== '') {
    const n = Number(v.trim());
    if (!Number.isNaN(n) || v.trim().toLowerCase() === 'nan') return n;
  }
  throw new TypeError(`cannot convert ${JSON.stringify(String(v))} to ${what}`);
}

/** Converts `v` to the representation of scalar type `t`, refusing values out of range. */
export function coerceScalar(t: ScalarType, v: unknown): ScalarValue {
  switch (t) {
    case 'boolean':
      if (typeof v === 'boolean') return v;
      if (typeof v === 'string') {
        const s = v.trim().toLowerCase();
        if (s === 'true') return true;
        if (s === 'false') return false;
      }
      return numberFrom(v, 'boolean') !== 0;
    case 'string':
      return typeof v === 'string' ? v : String(v);
    case 'float':
    case 'double':
      return numberFrom(v, t);
    case 'long':
    case 'ulong': {
      let b: bigint;
      if (typeof v === 'bigint') b = v;
      else {
        const n = typeof v === 'string' && /^[-+]?(0x[0-9a-f]+|\d+)$/i.test(v.trim()) ? v.trim() : numberFrom(v, t);
        if (typeof n === 'number' && !Number.isInteger(n)) throw new RangeError(`${v} is not an integer`);
        b = BigInt(n);
      }
      const [lo, hi] = BIG_RANGE[t]!;
      if (b < lo || b > hi) throw new RangeError(`${b} is out of range for ${t}`);
      return b;
    }
    default: {
      const n = numberFrom(v, t);
      if (!Number.isInteger(n)) throw new RangeError(`${v} is not an integer`);
      const [lo, hi] = INT_RANGE[t]!;
      if (n < lo || n > hi) throw new RangeError(`${n} is out of range for ${t}`);
      return n;
    }
  }
}

/** A scalar array value of type `t` from an array-like (range-checked for integers). */
export function coerceArray(t: ScalarType, v: unknown): ArrayValue {
  const C = ARRAY_CTOR[t];
  if (C) {
    if (v instanceof C) return v;
    if (ArrayBuffer.isView(v) || Array.isArray(v)) {
      const src = v as ArrayLike<unknown>;
      const out = new C(src.length);
      for (let i = 0; i < src.length; i++) (out as unknown as unknown[])[i] = coerceScalar(t, src[i]);
      return out;
    }
    return coerceArray(t, [v]);
  }
  const src: ArrayLike<unknown> = Array.isArray(v) || ArrayBuffer.isView(v) ? (v as ArrayLike<unknown>) : [v];
  return Array.from(src, (x) => coerceScalar(t, x)) as boolean[] | string[];
}

function coerceUnion(u: UnionDesc, v: unknown): UnionValue | null {
  if (v === null || v === undefined) return null;
  const uv = v as Partial<UnionValue> & { name?: string };
  let sel = uv.selector;
  if (sel === undefined && typeof uv.name === 'string') sel = u.index.get(uv.name);
  if (typeof sel !== 'number' || sel < 0 || sel >= u.fields.length) throw new TypeError(`no such union member`);
  return { selector: sel, value: coerce(u.fields[sel].type, uv.value) };
}

/** Converts a plain JS value to the representation of type `t`. */
export function coerce(t: FieldDesc, v: unknown): unknown {
  switch (t.kind) {
    case 'scalar':
      return coerceScalar(t.type, v);
    case 'scalarArray':
      return coerceArray(t.type, v);
    case 'structure': {
      if (v instanceof PVStructure) {
        if (v.type === t) return v;
        // a value of an equal type (e.g. decoded from the wire) shares the layout: copy the slots
        if (typeEquals(v.type, t)) {
          const s = new PVStructure(t);
          for (let i = 1; i < v.data.length; i++) s.data[i] = v.data[i];
          return s;
        }
      }
      const s = new PVStructure(t);
      if (v) s.assign(v as Record<string, unknown>);
      return s;
    }
    case 'union':
      return coerceUnion(t, v);
    case 'any': {
      if (v === null || v === undefined) return null;
      const av = v as AnyValue;
      if (!av.type) throw new TypeError('a variant union value needs {type, value}');
      return { type: av.type, value: coerce(av.type, av.value) };
    }
    case 'structureArray':
      return Array.from(v as ArrayLike<unknown>, (e) => (e === null ? null : coerce(t.element, e)));
    case 'unionArray':
      return Array.from(v as ArrayLike<unknown>, (e) => (e === null ? null : coerceUnion(t.element, e)));
  }
}

/**
 * A value of a {@link Structure}: fields read and written by dotted path (`get('value')`,
 * `set('alarm.severity', 2)`), with the set of fields changed since the last clearChanged() (what
 * a partial update sends).
 */
/** Marks the constructor call of clone(), which fills every slot itself. */
const CLONE: Record<string, unknown> = Object.freeze({});
/** The value clone() copies, for the constructor (set only during that call). */
let cloneSource: PVStructure | undefined;

export class PVStructure {
  readonly data: unknown[];
  /** Fields assigned since the last clearChanged(), by depth-first offset. */
  readonly changed: BitSet;

  constructor(readonly type: Structure, init?: Record<string, unknown>) {
    const n = type.layout.length;
    this.changed = new BitSet(n);
    // a clone takes a copy of its original's slots (see clone)
    if (init === CLONE) {
      this.data = cloneSource!.data.slice();
      return;
    }
    this.data = new Array(n);
    for (let i = 1; i < n; i++) {
      const e = type.layout[i];
      if (e.type.kind !== 'structure') this.data[i] = defaultValue(e.type);
    }
    if (init) this.assign(init);
  }

  private offset(path: string): number {
    const o = this.type.offsetOf(path);
    if (o === undefined) throw new RangeError(`no field '${path}' in ${this.type.id || 'structure'}`);
    return o;
  }

  has(path: string): boolean {
    return this.type.offsetOf(path) !== undefined;
  }

  /** Value at a dotted path; a sub-structure comes back as a plain object. */
  get(path: string): unknown {
    const o = this.offset(path);
    return this.type.layout[o].type.kind === 'structure' ? this.subJSON(o) : this.data[o];
  }

  /** Leaf value by offset (no path lookup). */
  getAt(offset: number): unknown {
    return this.data[offset];
  }

  /** Assigns a value (converted to the field's type) and marks it changed. */
  set(path: string, v: unknown): this {
    const o = this.offset(path);
    const e = this.type.layout[o];
    if (e.type.kind === 'structure') this.assignAt(o, v as Record<string, unknown>);
    else this.setAt(o, coerce(e.type, v));
    return this;
  }

  /** Stores an already converted value by offset and marks it changed (hot path). */
  setAt(offset: number, v: unknown): void {
    this.data[offset] = v;
    this.changed.set(offset);
  }

  /** Assigns every key of a nested plain object. */
  assign(obj: Record<string, unknown>): this {
    this.assignAt(0, obj);
    return this;
  }

  private assignAt(offset: number, obj: Record<string, unknown>): void {
    // another structure value is taken field by field, not as its own properties
    if (obj instanceof PVStructure) obj = obj.toJSON();
    const base = this.type.layout[offset].path;
    for (const [k, v] of Object.entries(obj)) this.set(base ? `${base}.${k}` : k, v);
  }

  markAll(): this {
    this.changed.set(0);
    return this;
  }

  clearChanged(): this {
    this.changed.clear();
    return this;
  }

  /** True when the field at `offset` is covered by a change mark on it or an enclosing structure. */
  isChanged(offset: number): boolean {
    for (let o = offset; o >= 0; o = this.type.layout[o].parent) if (this.changed.get(o)) return true;
    return false;
  }

  /** Copies the marked fields of `other` (same type) into this value, marking them here. */
  copyChanged(other: PVStructure, mask: BitSet = other.changed): this {
    const L = this.type.layout;
    for (let o = mask.nextSetBit(0); o >= 0 && o < L.length; o = mask.nextSetBit(o + 1)) {
      const e = L[o];
      for (let i = o; i < e.end; i++) if (L[i].type.kind !== 'structure') this.data[i] = other.data[i];
      this.changed.set(o);
    }
    return this;
  }

  clone(): PVStructure {
    const c = this.cloneUnchanged();
    c.changed.copyFrom(this.changed);
    return c;
  }

  /** A copy of the values with no field marked changed (cheaper than clone().clearChanged()). */
  cloneUnchanged(): PVStructure {
    cloneSource = this;
    const c = new PVStructure(this.type, CLONE);
    cloneSource = undefined;
    return c;
  }

  private subJSON(offset: number): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const L = this.type.layout;
    const end = L[offset].end;
    for (let i = offset + 1; i < end; ) {
      const e = L[i];
      out[e.name] = e.type.kind === 'structure' ? this.subJSON(i) : toPlain(this.data[i]);
      i = e.end;
    }
    return out;
  }

  /** A nested plain-object copy (unions as {selector, value}, sub-structures as objects). */
  toJSON(): Record<string, unknown> {
    return this.subJSON(0);
  }
}

function toPlain(v: unknown): unknown {
  if (v instanceof PVStructure) return v.toJSON();
  if (Array.isArray(v)) return v.map(toPlain);
  if (v && typeof v === 'object' && 'selector' in v) {
    const u = v as UnionValue;
    return { selector: u.selector, value: toPlain(u.value) };
  }
  if (v && typeof v === 'object' && 'type' in v && 'value' in v) {
    const a = v as AnyValue;
    return { type: a.type, value: toPlain(a.value) };
  }
  return v;
}
