// DBR payload codec: plain / STS / TIME / GR / CTRL structures for the seven
// value types, scalar and array, big-endian, with the exact C struct layouts
// (including the RISC padding fields) used on the wire.

import {
  DBR,
  MAX_ENUM_STATES,
  MAX_ENUM_STRING_SIZE,
  MAX_STRING_SIZE,
  MAX_UNITS_SIZE,
  dbrFamily,
  dbrValueType,
  isValidDbrType,
  type DbrFamily,
  type DbrValueType,
} from './constants.ts';
import { CaProtocolError, decodeCString, headerSize, padTo8, writeHeader, type CaHeader } from './messages.ts';

/** A timestamp in the EPICS epoch (seconds since 1990-01-01 UTC). */
export interface DbrTimestamp {
  secondsPastEpoch: number;
  nanoseconds: number;
}

/** Decoded (or to-be-encoded) DBR contents. Only the fields of the chosen structure are used. */
export interface DbrData {
  /** string[] for the STRING types, number[] otherwise (enum = index, char = byte). */
  value: number[] | string[];
  status?: number;
  severity?: number;
  timestamp?: DbrTimestamp;
  units?: string;
  precision?: number;
  upperDisplay?: number;
  lowerDisplay?: number;
  upperAlarm?: number;
  upperWarning?: number;
  lowerWarning?: number;
  lowerAlarm?: number;
  upperControl?: number;
  lowerControl?: number;
  enumStrings?: string[];
  /** DBR_STSACK_STRING only: acknowledge-transient flag and unacknowledged severity. */
  ackt?: number;
  acks?: number;
}

/** What encodeDbr accepts: like DbrData, but the values may be any array-like (e.g. a Float64Array). */
export type DbrInput = Omit<DbrData, 'value'> & { value: ArrayLike<number> | ArrayLike<string> };

const ELEMENT_SIZE: Record<DbrValueType, number> = { string: 40, short: 2, float: 4, enum: 2, char: 1, long: 4, double: 8 };

// Bytes of metadata before the value, per family, per value type.
const META_SIZE: Record<DbrFamily, Record<DbrValueType, number>> = {
  plain: { string: 0, short: 0, float: 0, enum: 0, char: 0, long: 0, double: 0 },
  sts: { string: 4, short: 4, float: 4, enum: 4, char: 5, long: 4, double: 8 },
  time: { string: 12, short: 14, float: 12, enum: 14, char: 15, long: 12, double: 16 },
  gr: { string: 4, short: 24, float: 40, enum: 422, char: 19, long: 36, double: 64 },
  ctrl: { string: 4, short: 28, float: 48, enum: 422, char: 21, long: 44, double: 80 },
};

/** Bytes of one value element of a DBR type. */
export function dbrElementSize(dbrType: number): number {
  return ELEMENT_SIZE[dbrValueType(dbrType)];
}
/** Bytes of the metadata (status, time stamp, limits …) before the value of a DBR type. */
export function dbrMetaSize(dbrType: number): number {
  if (dbrType === DBR.STSACK_STRING) return 8;
  return META_SIZE[dbrFamily(dbrType)][dbrValueType(dbrType)];
}
/** Unpadded payload size of a DBR structure with `count` elements. */
export function dbrPayloadSize(dbrType: number, count: number): number {
  return dbrMetaSize(dbrType) + dbrElementSize(dbrType) * Math.max(count, 1);
}

const enc = new TextEncoder();

function writeFixedString(u8: Uint8Array, offset: number, size: number, s: string | undefined): void {
  if (!s) return;
  let b = enc.encode(s);
  if (b.length > size - 1) {
    // cut at a character boundary: never leave half a UTF-8 sequence (clients fail to decode it)
    let end = size - 1;
    while (end > 0 && (b[end] & 0xc0) === 0x80) end--;
    b = b.subarray(0, end);
  }
  u8.set(b, offset);
}

function toInt(v: number, min: number, max: number): number {
  if (!Number.isFinite(v)) return Number.isNaN(v) ? 0 : v > 0 ? max : min;
  const t = Math.trunc(v);
  return t < min ? min : t > max ? max : t;
}

/** Writes one numeric element of the given value type. */
function writeNumber(dv: DataView, offset: number, type: DbrValueType, v: number): void {
  switch (type) {
    case 'short':
      dv.setInt16(offset, toInt(v, -32768, 32767));
      return;
    case 'enum':
      dv.setUint16(offset, toInt(v, 0, 65535));
      return;
    case 'char':
      dv.setUint8(offset, Number.isFinite(v) ? Math.trunc(v) & 0xff : 0);
      return;
    case 'long':
      dv.setInt32(offset, toInt(v, -2147483648, 2147483647));
      return;
    case 'float':
      dv.setFloat32(offset, v);
      return;
    case 'double':
      dv.setFloat64(offset, v);
      return;
    case 'string':
      return;
  }
}

function readNumber(dv: DataView, offset: number, type: DbrValueType): number {
  switch (type) {
    case 'short':
      return dv.getInt16(offset);
    case 'enum':
      return dv.getUint16(offset);
    case 'char':
      return dv.getUint8(offset);
    case 'long':
      return dv.getInt32(offset);
    case 'float':
      return dv.getFloat32(offset);
    case 'double':
      return dv.getFloat64(offset);
    default:
      return 0;
  }
}

/** GR limit fields in wire order; CTRL adds the two control limits. */
export const LIMITS_GR = ['upperDisplay', 'lowerDisplay', 'upperAlarm', 'upperWarning', 'lowerWarning', 'lowerAlarm'] as const;
/** CTRL limit fields in wire order: the GR limits, then the upper and lower control limits. */
export const LIMITS_CTRL = [...LIMITS_GR, 'upperControl', 'lowerControl'] as const;

/**
 * Encodes a DBR structure. `count` defaults to the number of values; missing
 * elements are zero. With count 0 (an empty array) the structure still holds one
 * zero element, as dbr_size_n() sizes it. The result is not padded (encodeFrame
 * pads to 8 bytes).
 */
export function encodeDbr(dbrType: number, data: DbrInput, count = data.value.length): Uint8Array {
  if (!isValidDbrType(dbrType)) throw new CaProtocolError('bad-dbr-type', `unsupported DBR type ${dbrType}`);
  const out = new Uint8Array(dbrPayloadSize(dbrType, count));
  writeDbr(out, dbrType, data, count);
  return out;
}

/**
 * Encodes a whole message (header + DBR payload + padding) in one buffer, so a
 * large array is written once rather than encoded and then copied into a frame.
 */
export function encodeDbrMessage(h: Omit<CaHeader, 'payloadSize'>, dbrType: number, data: DbrInput, count: number): Uint8Array {
  if (!isValidDbrType(dbrType)) throw new CaProtocolError('bad-dbr-type', `unsupported DBR type ${dbrType}`);
  const size = dbrPayloadSize(dbrType, count);
  const padded = padTo8(size);
  const hl = headerSize(padded, h.count);
  const out = new Uint8Array(hl + padded);
  writeHeader(out, 0, {
    command: h.command,
    payloadSize: padded,
    dataType: h.dataType,
    count: h.count,
    parameter1: h.parameter1,
    parameter2: h.parameter2,
  });
  writeDbr(out.subarray(hl, hl + size), dbrType, data, count);
  return out;
}

/** Writes a DBR structure into a zeroed buffer of dbrPayloadSize() bytes. */
function writeDbr(out: Uint8Array, dbrType: number, data: DbrInput, count: number): void {
  const type = dbrValueType(dbrType);
  const family = dbrFamily(dbrType);
  const meta = dbrMetaSize(dbrType);
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  if (family !== 'plain') {
    dv.setInt16(0, data.status ?? 0);
    dv.setInt16(2, data.severity ?? 0);
  }
  if (dbrType === DBR.STSACK_STRING) {
    dv.setUint16(4, data.ackt ?? 0);
    dv.setUint16(6, data.acks ?? 0);
  }
  if (family === 'time') {
    dv.setUint32(4, (data.timestamp?.secondsPastEpoch ?? 0) >>> 0);
    dv.setUint32(8, (data.timestamp?.nanoseconds ?? 0) >>> 0);
  } else if ((family === 'gr' || family === 'ctrl') && type !== 'string') {
    if (type === 'enum') {
      const strs = data.enumStrings ?? [];
      const n = Math.min(strs.length, MAX_ENUM_STATES);
      dv.setInt16(4, n);
      for (let k = 0; k < n; k++) writeFixedString(out, 6 + k * MAX_ENUM_STRING_SIZE, MAX_ENUM_STRING_SIZE, strs[k]);
    } else {
      let o = 4;
      if (type === 'float' || type === 'double') {
        dv.setInt16(4, data.precision ?? 0);
        o = 8; // precision + RISC_pad
      }
      writeFixedString(out, o, MAX_UNITS_SIZE, data.units);
      o += MAX_UNITS_SIZE;
      const names = family === 'gr' ? LIMITS_GR : LIMITS_CTRL;
      for (const name of names) {
        writeNumber(dv, o, type, data[name] ?? 0);
        o += ELEMENT_SIZE[type];
      }
    }
  }
  const vals = data.value;
  const m = Math.min(count, vals.length);
  if (type === 'string') {
    for (let k = 0; k < m; k++) writeFixedString(out, meta + k * MAX_STRING_SIZE, MAX_STRING_SIZE, String(vals[k] ?? ''));
  } else if (m >= BULK_MIN && type !== 'char' && type !== 'enum' && LITTLE_ENDIAN_HOST && isNumeric(vals)) {
    // Large arrays: convert with a typed array and byte-swap natively.
    const bytes = Buffer.from(bulkTyped(type, vals, m).buffer);
    if (type === 'double') bytes.swap64();
    else if (type === 'short') bytes.swap16();
    else bytes.swap32();
    out.set(bytes, meta);
  } else if (type === 'double' && isNumeric(vals)) {
    for (let k = 0, o = meta; k < m; k++, o += 8) dv.setFloat64(o, vals[k]!);
  } else if (type === 'float' && isNumeric(vals)) {
    for (let k = 0, o = meta; k < m; k++, o += 4) dv.setFloat32(o, vals[k]!);
  } else {
    const es = ELEMENT_SIZE[type];
    for (let k = 0; k < m; k++) {
      const v = vals[k];
      writeNumber(dv, meta + k * es, type, typeof v === 'number' ? v : Number(v));
    }
  }
}

const BULK_MIN = 256;
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The first m values as a fresh typed array of the wire type (integers saturate like writeNumber). */
function bulkTyped(type: DbrValueType, vals: ArrayLike<number>, m: number): Float64Array | Float32Array | Int32Array | Int16Array {
  if (type === 'double') {
    if (vals instanceof Float64Array) return vals.slice(0, m);
    const t = new Float64Array(m);
    for (let k = 0; k < m; k++) t[k] = vals[k]!;
    return t;
  }
  if (type === 'float') {
    const t = new Float32Array(m);
    for (let k = 0; k < m; k++) t[k] = vals[k]!;
    return t;
  }
  if (type === 'long') {
    const t = new Int32Array(m);
    for (let k = 0; k < m; k++) t[k] = toInt(vals[k]!, -2147483648, 2147483647);
    return t;
  }
  const t = new Int16Array(m);
  for (let k = 0; k < m; k++) t[k] = toInt(vals[k]!, -32768, 32767);
  return t;
}

function isNumeric(v: ArrayLike<number> | ArrayLike<string>): v is ArrayLike<number> {
  return ArrayBuffer.isView(v) || v.length === 0 || typeof v[0] === 'number';
}

/** Decodes a DBR structure of `count` elements. Throws CaProtocolError when the payload is too short. */
export function decodeDbr(dbrType: number, count: number, payload: Uint8Array): DbrData {
  if (!isValidDbrType(dbrType)) throw new CaProtocolError('bad-dbr-type', `unsupported DBR type ${dbrType}`);
  const type = dbrValueType(dbrType);
  const family = dbrFamily(dbrType);
  const meta = dbrMetaSize(dbrType);
  // Clients send a lone DBR_STRING shortened to its NUL (e.g. 8 bytes for "2.5"),
  // so string elements are read up to the end of the payload.
  const need = type === 'string' ? meta + (count > 0 ? (count - 1) * MAX_STRING_SIZE + 1 : 0) : meta + ELEMENT_SIZE[type] * count;
  if (payload.length < need)
    throw new CaProtocolError('bad-payload', `DBR type ${dbrType} x${count} needs ${need} bytes, got ${payload.length}`);
  const dv = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const out: DbrData = { value: [] };
  if (family !== 'plain') {
    out.status = dv.getInt16(0);
    out.severity = dv.getInt16(2);
  }
  if (dbrType === DBR.STSACK_STRING) {
    out.ackt = dv.getUint16(4);
    out.acks = dv.getUint16(6);
  }
  if (family === 'time') {
    out.timestamp = { secondsPastEpoch: dv.getUint32(4), nanoseconds: dv.getUint32(8) };
  } else if ((family === 'gr' || family === 'ctrl') && type !== 'string') {
    if (type === 'enum') {
      const n = Math.max(0, Math.min(dv.getInt16(4), MAX_ENUM_STATES));
      const strs: string[] = [];
      for (let k = 0; k < n; k++) {
        const o = 6 + k * MAX_ENUM_STRING_SIZE;
        strs.push(decodeCString(payload.subarray(o, o + MAX_ENUM_STRING_SIZE)));
      }
      out.enumStrings = strs;
    } else {
      let o = 4;
      if (type === 'float' || type === 'double') {
        out.precision = dv.getInt16(4);
        o = 8;
      }
      out.units = decodeCString(payload.subarray(o, o + MAX_UNITS_SIZE));
      o += MAX_UNITS_SIZE;
      const names = family === 'gr' ? LIMITS_GR : LIMITS_CTRL;
      for (const name of names) {
        out[name] = readNumber(dv, o, type);
        o += ELEMENT_SIZE[type];
      }
    }
  }
  if (type === 'string') {
    const vals: string[] = [];
    for (let k = 0; k < count; k++) {
      const o = meta + k * MAX_STRING_SIZE;
      vals.push(decodeCString(payload.subarray(o, Math.min(o + MAX_STRING_SIZE, payload.length))));
    }
    out.value = vals;
  } else {
    const vals: number[] = [];
    const es = ELEMENT_SIZE[type];
    for (let k = 0; k < count; k++) vals.push(readNumber(dv, meta + k * es, type));
    out.value = vals;
  }
  return out;
}

/** Converts a POSIX time (seconds + nanoseconds) to the EPICS epoch. */
export function toEpicsTimestamp(posixSeconds: number, nanoseconds = 0): DbrTimestamp {
  let s = Math.floor(posixSeconds);
  let ns = Math.round((posixSeconds - s) * 1e9) + nanoseconds;
  s += Math.floor(ns / 1e9);
  ns = ns % 1e9;
  if (ns < 0) ns += 1e9;
  const e = s - 631152000;
  return { secondsPastEpoch: e < 0 ? 0 : e >>> 0, nanoseconds: ns };
}

/** Converts an EPICS-epoch timestamp to POSIX milliseconds. */
export function epicsTimestampToMs(ts: DbrTimestamp): number {
  return (ts.secondsPastEpoch + 631152000) * 1000 + ts.nanoseconds / 1e6;
}
