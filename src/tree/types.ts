// Value types: typeStr parsing, inference from initial values, range-checked coercion.
// Everything here is pure and EPICS-agnostic; variables delegate all value checks here.

/** Access mode of a variable: read-write, read-only or write-only. */
export type Mode = 'RW' | 'RO' | 'WO';
/** How a remote variable's bits are read: unsigned, signed, bool, IEEE float or string. */
export type Base = 'UInt' | 'Int' | 'Bool' | 'Float' | 'String';
/** The kind of value a variable holds, for bridges picking a wire type. */
export type NativeKind = 'uint' | 'int' | 'float' | 'bool' | 'str' | 'enum' | 'other';
/** Alarm status of a variable against its limits (PyRogue's names). */
export type AlarmStatus = 'AlarmLoLo' | 'AlarmLow' | 'AlarmHigh' | 'AlarmHiHi' | 'Good';
/** Alarm severity of a variable against its limits (PyRogue's names). */
export type AlarmSeverity = 'AlarmMajor' | 'AlarmMinor' | 'Good';

/** What a bridge needs to pick a wire type: scalar kind, container width, array length. */
export interface NativeType {
  kind: NativeKind;
  /** 8/16/32/64 for ints (bit fields round up), 32/64 for floats, undefined otherwise. */
  bits: number | undefined;
  /** Array length, undefined for scalars. */
  length: number | undefined;
}

/** The typed arrays numeric array variables hold. */
export type NumericArray =
  | Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array
  | Float32Array | Float64Array | BigInt64Array | BigUint64Array;
/** A scalar variable's value (64-bit integers are bigints). */
export type ScalarValue = number | bigint | boolean | string;
/** An array variable's value. */
export type ArrayValue = NumericArray | boolean[] | string[];
/** Any variable value. */
export type Value = ScalarValue | ArrayValue;
/** What set() accepts besides the stored type: plain arrays are converted (and range-checked). */
export type ValueInput = Value | readonly number[] | readonly bigint[] | readonly (number | bigint)[];
/** How an initial value is stored: plain number arrays become typed arrays (see inferTypeStr). */
export type Stored<T> = T extends readonly number[] ? NumericArray : T extends readonly bigint[] ? BigInt64Array | BigUint64Array : T;

/** Parsed typeStr. `bits` is the value width (12 for UInt12); 0 for String. */
export interface TypeInfo {
  readonly typeStr: string;
  readonly base: Base;
  readonly bits: number;
  readonly length: number | undefined;
}

/**
 * A value a variable refuses (wrong type, out of range, not an enum choice, a read-only variable
 * written …).
 */
export class VariableError extends Error {
  override name = 'VariableError';
}

const TYPE_RE = /^(UInt|Int|Float|Bool|String|str|int|float|bool)(\d*)(?:\[(\d+)\])?$/;

const typeInfos = new Map<string, TypeInfo>();

/**
 * Parse 'UInt32', 'Int16', 'Float32', 'Bool', 'str', 'UInt8[8]', and python names int/float/bool/str.
 * The result is frozen and shared by every variable of that typeStr.
 */
export function parseTypeStr(typeStr: string): TypeInfo {
  let info = typeInfos.get(typeStr);
  if (!info) {
    info = Object.freeze(parseTypeStrUncached(typeStr));
    if (typeInfos.size < 4096) typeInfos.set(typeStr, info);
  }
  return info;
}

function parseTypeStrUncached(typeStr: string): TypeInfo {
  const m = TYPE_RE.exec(typeStr);
  if (!m) throw new VariableError(`unknown typeStr '${typeStr}'`);
  const [, name, bitsS, lenS] = m;
  const length = lenS === undefined ? undefined : Number(lenS);
  let base: Base;
  let bits = bitsS ? Number(bitsS) : 0;
  switch (name) {
    case 'UInt': base = 'UInt'; break;
    case 'Int': base = 'Int'; break;
    case 'Float': base = 'Float'; break;
    case 'Bool': case 'bool': base = 'Bool'; bits = 1; break;
    case 'String': case 'str': base = 'String'; bits = 0; break;
    case 'int': base = 'Int'; bits = bits || 64; break;
    default: base = 'Float'; bits = bits || 64; break; // float
  }
  if ((base === 'UInt' || base === 'Int') && !(bits >= 1 && bits <= 1024)) {
    throw new VariableError(`typeStr '${typeStr}' needs a bit width`);
  }
  if (base === 'Float' && bits !== 32 && bits !== 64) throw new VariableError(`typeStr '${typeStr}': floats are 32 or 64 bits`);
  return { typeStr, base, bits, length };
}

/** Canonical typeStr from base, width and optional length ('UInt8[8]', 'Float64', 'Bool', 'str'). */
export function makeTypeStr(base: Base, bits: number, length?: number): string {
  const s = base === 'String' ? 'str' : base === 'Bool' ? 'Bool' : `${base}${bits}`;
  return length === undefined ? s : `${s}[${length}]`;
}

const TYPED_ARRAY_TYPES: [new (n: number) => NumericArray, string][] = [
  [Float64Array, 'Float64'], [Float32Array, 'Float32'], [Int8Array, 'Int8'], [Uint8Array, 'UInt8'],
  [Int16Array, 'Int16'], [Uint16Array, 'UInt16'], [Int32Array, 'Int32'], [Uint32Array, 'UInt32'],
  [BigInt64Array, 'Int64'], [BigUint64Array, 'UInt64'],
];

/**
 * Infer a typeStr from an initial value. Python's rules, made explicit:
 * integer number or bigint → Int64 (Python int), other number → Float64, boolean → Bool,
 * string → str; typed arrays by element type. A plain number[] is a double array
 * (Float64[n], like JSON) since a 64-bit int array would come back as a BigInt64Array;
 * bigint[] → Int64[n], boolean[] → Bool[n], string[] → str[n].
 */
export function inferTypeStr(value: unknown): string {
  switch (typeof value) {
    case 'number': return Number.isInteger(value) ? 'Int64' : 'Float64';
    case 'bigint': return 'Int64';
    case 'boolean': return 'Bool';
    case 'string': return 'str';
  }
  if (ArrayBuffer.isView(value)) {
    for (const [ctor, t] of TYPED_ARRAY_TYPES) if (value instanceof ctor) return `${t}[${(value as NumericArray).length}]`;
  }
  if (Array.isArray(value) && value.length > 0) {
    const n = value.length;
    if (value.every((v) => typeof v === 'boolean')) return `Bool[${n}]`;
    if (value.every((v) => typeof v === 'string')) return `str[${n}]`;
    if (value.every((v) => typeof v === 'bigint')) return `Int64[${n}]`;
    if (value.every((v) => typeof v === 'number')) return `Float64[${n}]`;
  }
  throw new VariableError(`cannot infer a type from value ${String(value)}; give typeStr`);
}

/** Container width a bridge should use for an integer of `bits` bits. */
function containerBits(bits: number): number {
  return bits <= 8 ? 8 : bits <= 16 ? 16 : bits <= 32 ? 32 : 64;
}

export function nativeTypeOf(info: TypeInfo, hasEnum: boolean): NativeType {
  const length = info.length;
  switch (info.base) {
    case 'UInt': case 'Int':
      if (info.bits > 64) return { kind: 'other', bits: undefined, length };
      return { kind: hasEnum ? 'enum' : info.base === 'UInt' ? 'uint' : 'int', bits: containerBits(info.bits), length };
    case 'Float': return { kind: 'float', bits: info.bits, length };
    case 'Bool': return { kind: hasEnum ? 'enum' : 'bool', bits: undefined, length };
    default: return { kind: 'str', bits: undefined, length };
  }
}

// ---- integer ranges -------------------------------------------------------

interface IntRange { minN: number; maxN: number; minB: bigint; maxB: bigint }
const rangeCache = new Map<number, IntRange>();

export function intRange(bits: number, signed: boolean): IntRange {
  const key = signed ? -bits : bits;
  let r = rangeCache.get(key);
  if (!r) {
    const minB = signed ? -(1n << BigInt(bits - 1)) : 0n;
    const maxB = signed ? (1n << BigInt(bits - 1)) - 1n : (1n << BigInt(bits)) - 1n;
    r = { minB, maxB, minN: Number(minB), maxN: Number(maxB) };
    rangeCache.set(key, r);
  }
  return r;
}

/** bigint → number when it fits exactly (the public representation beyond 2^53 is bigint). */
export function normInt(v: bigint): number | bigint {
  return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v;
}

const FLT_MAX = 3.4028234663852886e38;

function typeName(info: TypeInfo): string {
  return info.length === undefined ? info.typeStr : makeTypeStr(info.base, info.bits);
}

/** Range-checked conversion of one element to the canonical scalar form. Never wraps. */
export function coerceScalar(info: TypeInfo, v: unknown): ScalarValue {
  switch (info.base) {
    case 'UInt': case 'Int': {
      const r = intRange(info.bits, info.base === 'Int');
      if (typeof v === 'number') {
        if (Number.isSafeInteger(v)) {
          if (v < r.minN || v > r.maxN) break;
          return v;
        }
        if (!Number.isInteger(v)) throw new VariableError(`${v} is not an integer (${typeName(info)})`);
        v = BigInt(v);
      } else if (typeof v === 'boolean') {
        return v ? 1 : 0;
      }
      if (typeof v === 'bigint') {
        if (v < r.minB || v > r.maxB) break;
        return normInt(v);
      }
      throw new VariableError(`expected an integer for ${typeName(info)}, got ${describe(v)}`);
    }
    case 'Float': {
      if (typeof v === 'bigint') v = Number(v);
      if (typeof v !== 'number') throw new VariableError(`expected a number for ${typeName(info)}, got ${describe(v)}`);
      if (info.bits === 32) {
        if (Number.isFinite(v) && Math.abs(v) > FLT_MAX) break;
        return Math.fround(v);
      }
      return v;
    }
    case 'Bool':
      if (typeof v === 'boolean') return v;
      if (v === 0 || v === 1 || v === 0n || v === 1n) return Boolean(v);
      throw new VariableError(`expected a boolean, got ${describe(v)}`);
    case 'String':
      if (typeof v === 'string') return v;
      throw new VariableError(`expected a string, got ${describe(v)}`);
  }
  throw new VariableError(`value ${String(v)} out of range for ${typeName(info)}`);
}

function describe(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) || ArrayBuffer.isView(v) ? 'an array' : `${typeof v} ${String(v)}`;
}

/** Allocate the canonical array container for an array type. */
export function newArray(info: TypeInfo, n: number): ArrayValue {
  switch (info.base) {
    case 'Float': return info.bits === 32 ? new Float32Array(n) : new Float64Array(n);
    case 'Bool': return new Array<boolean>(n).fill(false);
    case 'String': return new Array<string>(n).fill('');
    default: {
      const s = info.base === 'Int';
      const b = containerBits(info.bits);
      if (info.bits > 64) throw new VariableError(`arrays of ${info.bits}-bit integers are not supported`);
      if (b === 8) return s ? new Int8Array(n) : new Uint8Array(n);
      if (b === 16) return s ? new Int16Array(n) : new Uint16Array(n);
      if (b === 32) return s ? new Int32Array(n) : new Uint32Array(n);
      return s ? new BigInt64Array(n) : new BigUint64Array(n);
    }
  }
}

/** Range-checked conversion of a whole value (scalar or array) to its canonical form (a fresh copy). */
export function coerceValue(info: TypeInfo, v: unknown): Value {
  if (info.length === undefined) {
    if (Array.isArray(v) || ArrayBuffer.isView(v)) throw new VariableError(`expected a scalar ${info.typeStr}, got an array`);
    return coerceScalar(info, v);
  }
  if (!Array.isArray(v) && !ArrayBuffer.isView(v)) throw new VariableError(`expected an array for ${info.typeStr}, got ${describe(v)}`);
  const src = v as ArrayLike<unknown>;
  if (src.length !== info.length) throw new VariableError(`expected ${info.length} values for ${info.typeStr}, got ${src.length}`);
  const out = newArray(info, src.length) as unknown[];
  // same typed-array class and full-width elements: every value is already in range
  if (ArrayBuffer.isView(v) && v.constructor === out.constructor && (info.base === 'Float' || containerBits(info.bits) === info.bits)) {
    (out as unknown as NumericArray).set(v as never);
    return out as unknown as ArrayValue;
  }
  const big = out instanceof BigInt64Array || out instanceof BigUint64Array;
  for (let i = 0; i < src.length; i++) {
    let e: unknown;
    try { e = coerceScalar(info, src[i]); } catch (err) {
      throw new VariableError(`element ${i}: ${(err as Error).message}`);
    }
    out[i] = big ? BigInt(e as number | bigint) : e;
  }
  return out as ArrayValue;
}

/** Value equality used to decide whether listeners fire. */
export function valuesEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a === 'number' && typeof b === 'number') return Number.isNaN(a) && Number.isNaN(b);
  const aa = Array.isArray(a) || ArrayBuffer.isView(a);
  const ba = Array.isArray(b) || ArrayBuffer.isView(b);
  if (!aa || !ba) return false;
  const x = a as ArrayLike<unknown>, y = b as ArrayLike<unknown>;
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i] && !(Number.isNaN(x[i]) && Number.isNaN(y[i]))) return false;
  return true;
}

export function isArrayValue(v: unknown): v is ArrayValue {
  return Array.isArray(v) || ArrayBuffer.isView(v);
}
