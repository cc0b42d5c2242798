// Conversion between a PV's native type and the DBR type a client asks for.

import { DBR, DBR_VALUE_TYPES, MAX_STRING_SIZE, dbrFamily, dbrValueType, type DbrValueType } from './constants.ts';
import { LIMITS_CTRL, toEpicsTimestamp, type DbrInput } from './dbr.ts';
import type { CaNativeType, CaPvMetadata, CaPvSnapshot, CaValue } from './source.ts';

/** DBF/DBR code of a native type (0..6). */
export function nativeDbrType(t: CaNativeType): number {
  return DBR_VALUE_TYPES.indexOf(t);
}

/** Formats a number as EPICS would for DBR_STRING (honouring PREC for float/double). */
export function formatNumber(v: number, native: CaNativeType, precision: number | undefined): string {
  let s: string;
  if ((native === 'double' || native === 'float') && precision !== undefined && Number.isFinite(v)) {
    const p = Math.max(0, Math.min(17, Math.trunc(precision)));
    s = Math.abs(v) < 1e15 && (v === 0 || Math.abs(v) >= 1e-4 || p === 0) ? v.toFixed(p) : v.toExponential(p);
  } else if (native === 'float') {
    s = String(Number(Math.fround(v).toPrecision(7)));
  } else {
    s = String(v);
  }
  return s.length > MAX_STRING_SIZE - 1 ? s.slice(0, MAX_STRING_SIZE - 1) : s;
}

function elementToString(v: number | string, native: CaNativeType, meta: CaPvMetadata): string {
  if (typeof v === 'string') return v;
  if (native === 'enum') {
    const s = meta.enumStrings?.[v];
    return s !== undefined ? s : String(v);
  }
  return formatNumber(v, native, meta.precision);
}

function elementToNumber(v: number | string, native: CaNativeType, meta: CaPvMetadata): number {
  if (typeof v === 'number') return v;
  if (native === 'enum' || meta.enumStrings) {
    const i = meta.enumStrings?.indexOf(v) ?? -1;
    if (i >= 0) return i;
  }
  const n = Number(v.trim());
  return v.trim() === '' || Number.isNaN(n) ? 0 : n;
}

/** Current element count of a PV's value. */
export function currentCount(snapshot: CaPvSnapshot, maxCount: number): number {
  const v = snapshot.value;
  const n = typeof v === 'number' || typeof v === 'string' ? 1 : v.length;
  return Math.min(n, maxCount);
}

/**
 * Builds the DbrData for a read or monitor update of `dbrType` with `count`
 * elements (already resolved: 0 was replaced by the current length).
 */
export function snapshotToDbr(
  native: CaNativeType,
  snapshot: CaPvSnapshot,
  meta: CaPvMetadata,
  dbrType: number,
  count: number,
): DbrInput {
  if (dbrType === DBR.CLASS_NAME) return { value: [meta.className ?? 'pvtree'] };
  const want = dbrValueType(dbrType);
  const family = dbrFamily(dbrType);
  const raw = snapshot.value;
  const src: ArrayLike<number | string> = typeof raw === 'number' || typeof raw === 'string' ? [raw] : raw;
  const n = Math.min(count, src.length);
  let value: ArrayLike<number> | ArrayLike<string>;
  if (want === 'string') {
    const out: string[] = new Array(n);
    for (let i = 0; i < n; i++) out[i] = elementToString(src[i]!, native, meta);
    value = out;
  } else if (native !== 'string' && (ArrayBuffer.isView(src) || n === 0 || typeof src[0] === 'number')) {
    // Numbers to numbers: the encoder converts element by element, no copy needed.
    value = src as ArrayLike<number>;
  } else {
    const out: number[] = new Array(n);
    for (let i = 0; i < n; i++) out[i] = elementToNumber(src[i]!, native, meta);
    value = out;
  }
  const data: DbrInput = { value };
  if (family === 'plain') return data;
  data.status = snapshot.status;
  data.severity = snapshot.severity;
  if (dbrType === DBR.STSACK_STRING) {
    data.ackt = 0;
    data.acks = 0;
  }
  if (family === 'time') {
    data.timestamp = toEpicsTimestamp(snapshot.timestamp.secondsPastEpoch, snapshot.timestamp.nanoseconds);
    return data;
  }
  if (family === 'gr' || family === 'ctrl') {
    if (want === 'enum') {
      data.enumStrings = native === 'enum' ? (meta.enumStrings ?? []) : [];
      return data;
    }
    data.units = meta.units;
    data.precision = meta.precision;
    for (const k of LIMITS_CTRL) {
      let x = meta[k];
      // Integer types cannot carry NaN: an unset limit is 0 there, NaN only for float/double alarms.
      if (x === undefined) x = (want === 'double' || want === 'float') && /Alarm|Warning/.test(k) ? Number.NaN : 0;
      data[k] = x;
    }
  }
  return data;
}

/** Thrown (as a plain Error) when a client value cannot be converted for a write. */
export class CaConversionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CaConversionError';
  }
}

function parseNumber(s: string): number {
  const t = s.trim();
  if (t === '') throw new CaConversionError('empty string cannot be converted to a number');
  let n = Number(t);
  if (Number.isNaN(n)) {
    const f = parseFloat(t);
    if (Number.isNaN(f) || !/^[+-]?(\d|\.\d|inf|nan)/i.test(t)) throw new CaConversionError(`cannot convert "${s}" to a number`);
    n = f;
  }
  return n;
}

const INT_RANGE: Partial<Record<CaNativeType, [number, number]>> = {
  short: [-32768, 32767],
  long: [-2147483648, 2147483647],
  char: [0, 255],
  enum: [0, 65535],
};

/** A written number in the native type; out of range is refused, never wrapped or clamped. */
function toNativeNumber(n: number, native: CaNativeType): number {
  const range = INT_RANGE[native];
  if (range) {
    if (!Number.isFinite(n)) throw new CaConversionError(`${n} is not a valid ${native} value`);
    const t = Math.trunc(n);
    if (t < range[0] || t > range[1]) throw new CaConversionError(`${n} is out of range for ${native} [${range[0]}, ${range[1]}]`);
    return t;
  }
  return native === 'float' ? Math.fround(n) : n;
}

/**
 * Converts values a client wrote (decoded with the client's DBR type) to the
 * PV's native type. Throws CaConversionError when that is impossible.
 */
export function clientValueToNative(
  native: CaNativeType,
  maxCount: number,
  meta: CaPvMetadata,
  clientType: DbrValueType,
  values: readonly (number | string)[],
): CaValue {
  const n = Math.min(values.length, maxCount);
  if (n === 0 && maxCount === 1) throw new CaConversionError('no value written');
  const out: (number | string)[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    if (native === 'string') {
      out[i] = typeof v === 'string' ? v : formatNumber(v, clientType === 'float' ? 'float' : 'double', undefined);
    } else if (native === 'enum') {
      const states = meta.enumStrings ?? [];
      let idx: number;
      if (typeof v === 'string') {
        idx = states.indexOf(v);
        if (idx < 0) idx = states.findIndex((s) => s.trim() === v.trim());
        if (idx < 0) {
          const t = v.trim();
          if (!/^\d+$/.test(t)) throw new CaConversionError(`"${v}" is not one of the states ${JSON.stringify(states)}`);
          idx = Number(t);
        }
      } else {
        idx = Math.trunc(v);
      }
      if (!Number.isFinite(idx) || idx < 0 || (states.length > 0 && idx >= states.length) || idx > 65535)
        throw new CaConversionError(`enum index ${v} out of range (${states.length} states)`);
      out[i] = idx;
    } else {
      const num = typeof v === 'string' ? parseNumber(v) : v;
      out[i] = toNativeNumber(num, native);
    }
  }
  if (maxCount === 1) return out[0]!;
  return native === 'string' ? (out as string[]) : (out as number[]);
}
