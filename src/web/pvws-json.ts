// The pvws message format (ORNL's PV Web Socket, see its Vtype2Json): how a served PV's value,
// metadata, alarm and time are written as JSON fragments. Pure functions, no I/O.
import type { ScalarType } from '../pvdata/index.ts';
import type { PvKind } from '../epics/index.ts';

/** pvws severity names, by NT alarm severity (0..3). */
export const SEVERITY_NAMES: readonly string[] = ['NONE', 'MINOR', 'MAJOR', 'INVALID'];

/** The severity name of an NT alarm severity (UNDEFINED beyond INVALID, as Phoebus names it). */
export function severityName(severity: number): string {
  return SEVERITY_NAMES[severity] ?? 'UNDEFINED';
}

const SCALAR_VTYPE: Record<ScalarType, string> = {
  boolean: 'VBoolean',
  byte: 'VByte',
  ubyte: 'VUByte',
  short: 'VShort',
  ushort: 'VUShort',
  int: 'VInt',
  uint: 'VUInt',
  long: 'VLong',
  ulong: 'VULong',
  float: 'VFloat',
  double: 'VDouble',
  string: 'VString',
};

/** The Phoebus VType name pvws reports for a PV of this kind (`vtype` of the first update). */
export function vtypeOf(kind: PvKind): string {
  if (kind.kind === 'enum') return 'VEnum';
  if (kind.kind === 'display') return 'VString';
  const s = SCALAR_VTYPE[kind.type];
  return kind.array ? `${s}Array` : s;
}

/**
 * The base64 field an array of this element type travels in, and the little-endian element that
 * field holds: pvws's client decodes b64dbl as Float64, b64flt as Float32, b64int as Int32,
 * b64srt as Int16, b64byt as Uint8. Element types without an exact match go in the next field
 * that holds every value exactly (signed bytes as Int16, unsigned 16-bit as Int32, 32- and
 * 64-bit unsigned and 64-bit signed as Float64, exact to 2^53).
 */
export function arrayFieldOf(type: ScalarType): 'b64dbl' | 'b64flt' | 'b64int' | 'b64srt' | 'b64byt' | undefined {
  switch (type) {
    case 'double':
    case 'uint':
    case 'long':
    case 'ulong':
      return 'b64dbl';
    case 'float':
      return 'b64flt';
    case 'int':
    case 'ushort':
      return 'b64int';
    case 'short':
    case 'byte':
      return 'b64srt';
    case 'ubyte':
    case 'boolean':
      return 'b64byt';
    default:
      return undefined;
  }
}

const ELEMENT_BYTES = { b64dbl: 8, b64flt: 4, b64int: 4, b64srt: 2, b64byt: 1 } as const;

const toNumber = (x: unknown): number => (typeof x === 'boolean' ? (x ? 1 : 0) : Number(x));

/** A numeric array as little-endian base64 in the given pvws field. */
export function base64Array(field: keyof typeof ELEMENT_BYTES, values: ArrayLike<unknown>): string {
  const n = values.length;
  const buf = Buffer.allocUnsafe(n * ELEMENT_BYTES[field]);
  switch (field) {
    case 'b64dbl':
      for (let i = 0; i < n; i++) buf.writeDoubleLE(toNumber(values[i]), i * 8);
      break;
    case 'b64flt':
      for (let i = 0; i < n; i++) buf.writeFloatLE(toNumber(values[i]), i * 4);
      break;
    case 'b64int':
      for (let i = 0; i < n; i++) buf.writeInt32LE(toNumber(values[i]) | 0, i * 4);
      break;
    case 'b64srt':
      for (let i = 0; i < n; i++) buf.writeInt16LE(toNumber(values[i]) << 16 >> 16, i * 2);
      break;
    case 'b64byt':
      for (let i = 0; i < n; i++) buf[i] = toNumber(values[i]) & 0xff;
      break;
  }
  return buf.toString('base64');
}

/** A JSON number for a float, or the string "NaN" for a value JSON cannot hold (as pvws). */
export function jsonFloat(x: number): string {
  return Number.isFinite(x) ? String(x) : '"NaN"';
}

/** A JSON number for an integer of any size (bigints beyond 2^53 keep every digit). */
export function jsonInteger(x: unknown): string {
  if (typeof x === 'bigint') return x.toString();
  const n = toNumber(x);
  return Number.isFinite(n) ? String(Math.trunc(n)) : '0';
}

/**
 * The value part of an update: `"value":…` for numbers, `"value":index,"text":label` for enums
 * and booleans, `"text":…` for strings, a base64 field for numeric arrays, and (pvtree's
 * addition) `"value":[…]` for string arrays.
 * @param choices enum labels, for `text`
 */
export function valueFragment(kind: PvKind, value: unknown, choices?: readonly string[]): string {
  if (kind.kind === 'enum') {
    const index = typeof value === 'number' ? value : (value as { index: number }).index;
    return `"value":${index},"text":${JSON.stringify(choices?.[index] ?? String(index))}`;
  }
  if (kind.kind === 'display') return `"text":${JSON.stringify(String(value ?? ''))}`;
  const t = kind.type;
  if (kind.array) {
    const arr = (value ?? []) as ArrayLike<unknown>;
    const field = arrayFieldOf(t);
    if (field) return `"${field}":"${base64Array(field, arr)}"`;
    return `"value":${JSON.stringify(Array.from(arr, (x) => String(x)))}`;
  }
  switch (t) {
    case 'string':
      return `"text":${JSON.stringify(String(value ?? ''))}`;
    case 'boolean': {
      const b = value === true || (typeof value === 'number' && value !== 0) || value === 1n;
      return `"value":${b ? 1 : 0},"text":"${b ? 'True' : 'False'}"`;
    }
    case 'float':
    case 'double':
      return `"value":${jsonFloat(toNumber(value))}`;
    default:
      return `"value":${jsonInteger(value)}`;
  }
}

/** `"seconds":…,"nanos":…` of a time in milliseconds since the epoch. */
export function timeFragment(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  return `"seconds":${seconds},"nanos":${Math.round((ms - seconds * 1000) * 1e6)}`;
}

/** Metadata shown with the first update of a PV. Unset fields are left out. */
export interface PvwsMetadata {
  vtype: string;
  description?: string;
  units?: string;
  precision?: number;
  min?: number | bigint;
  max?: number | bigint;
  warn_low?: number | bigint;
  warn_high?: number | bigint;
  alarm_low?: number | bigint;
  alarm_high?: number | bigint;
  labels?: readonly string[];
}

/** The metadata fields as a JSON fragment (each preceded by a comma). */
export function metadataFragment(m: PvwsMetadata): string {
  let s = `,"vtype":${JSON.stringify(m.vtype)}`;
  if (m.units !== undefined) s += `,"units":${JSON.stringify(m.units)}`;
  if (m.description !== undefined) s += `,"description":${JSON.stringify(m.description)}`;
  if (m.precision !== undefined) s += `,"precision":${m.precision}`;
  for (const k of ['min', 'max', 'warn_low', 'warn_high', 'alarm_low', 'alarm_high'] as const) {
    const v = m[k];
    if (v !== undefined && v !== null) s += `,"${k}":${typeof v === 'bigint' ? v.toString() : jsonFloat(Number(v))}`;
  }
  if (m.labels) s += `,"labels":${JSON.stringify(m.labels)}`;
  return s;
}
