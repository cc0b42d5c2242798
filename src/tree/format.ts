// Python-style display formatting ('{}', '{:.3f}', '{:#x}', '{:>8,d}' …) and its inverse parsing.
// PyRogue users write disp strings in Python's format mini-language, so we honour that subset.

import { type TypeInfo, type Value, VariableError, normInt } from './types.ts';

interface Spec {
  fill: string; align: string; sign: string; alt: boolean; zero: boolean;
  width: number; group: string; precision: number | undefined; type: string;
}

const SPEC_RE = /^(?:([\s\S])?([<>=^]))?([+\- ])?(#)?(0)?(\d+)?([,_])?(?:\.(\d+))?([bcdeEfFgGnosxX%])?$/;

interface Parsed { prefix: string; spec: Spec | undefined; suffix: string }
const parsedCache = new Map<string, Parsed>();

function parseFormat(fmt: string): Parsed {
  let p = parsedCache.get(fmt);
  if (p) return p;
  const open = fmt.indexOf('{');
  const close = fmt.indexOf('}', open + 1);
  if (open < 0 || close < 0) {
    p = { prefix: fmt, spec: undefined, suffix: '' };
  } else {
    const inner = fmt.slice(open + 1, close);
    const colon = inner.indexOf(':');
    const specStr = colon < 0 ? '' : inner.slice(colon + 1);
    const m = SPEC_RE.exec(specStr);
    if (!m) throw new VariableError(`bad display format '${fmt}'`);
    p = {
      prefix: fmt.slice(0, open).replaceAll('{{', '{'),
      suffix: fmt.slice(close + 1).replaceAll('}}', '}'),
      spec: {
        fill: m[1] ?? (m[5] && !m[2] ? '0' : ' '), align: m[2] ?? (m[5] ? '=' : ''), sign: m[3] ?? '-',
        alt: !!m[4], zero: !!m[5], width: m[6] ? Number(m[6]) : 0, group: m[7] ?? '',
        precision: m[8] === undefined ? undefined : Number(m[8]), type: m[9] ?? '',
      },
    };
  }
  parsedCache.set(fmt, p);
  return p;
}

/** Python's repr of a float: '1.0', '1.5', '1e-07', 'inf', 'nan'. */
export function pyFloat(v: number): string {
  if (Number.isNaN(v)) return 'nan';
  if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
  if (Number.isInteger(v) && Math.abs(v) < 1e16) return `${v}.0`;
  return fixExp(String(v));
}

function fixExp(s: string): string {
  return s.replace(/e([+-])(\d)$/, 'e$10$2');
}

/**
 * x.toFixed(p) with Python's rounding: the exact binary value rounds half to even, where
 * toFixed rounds an exact tie up ('{:.1f}' of 2.25 is '2.2', of 2.35 is '2.4'). x >= 0.
 */
function fixedPy(x: number, p: number): string {
  const s = x.toFixed(p);
  if (x >= 1e21 || p > 60) return s;
  // the exact decimal expansion of a double (toFixed gives it up to 100 digits)
  const exact = x.toFixed(Math.min(100, p + 40));
  const dot = exact.indexOf('.');
  const tail = exact.slice(dot + 1 + p);
  if (!/^50*$/.test(tail)) return s; // not a tie: toFixed is right
  const kept = exact.slice(0, dot + 1 + p).replace(/\.$/, '');
  const last = kept.replace('.', '').at(-1);
  return Number(last) % 2 === 0 ? kept : s; // even: round down (toFixed went up)
}

function groupDigits(int: string, sep: string): string {
  return int.replace(/\B(?=(\d{3})+(?!\d))/g, sep);
}

function formatNumber(v: number | bigint, s: Spec, isFloat: boolean): string {
  let t = s.type;
  if (t === '' || t === 'n') t = isFloat ? '' : 'd';
  let neg: boolean;
  let body: string;
  let prefix = '';
  if (t === 'd' || t === 'x' || t === 'X' || t === 'o' || t === 'b' || t === 'c') {
    let iv: bigint = typeof v === 'bigint' ? v : BigInt(Math.trunc(Number.isFinite(v) ? v : 0));
    neg = iv < 0n;
    if (neg) iv = -iv;
    if (t === 'c') return String.fromCodePoint(Number(iv));
    const radix = t === 'd' ? 10 : t === 'o' ? 8 : t === 'b' ? 2 : 16;
    body = iv.toString(radix);
    if (t === 'X') body = body.toUpperCase();
    if (s.group && t === 'd') body = groupDigits(body, s.group);
    if (s.alt && t !== 'd') prefix = t === 'x' ? '0x' : t === 'X' ? '0X' : t === 'o' ? '0o' : '0b';
  } else {
    let fv = Number(v);
    neg = fv < 0 || Object.is(fv, -0);
    fv = Math.abs(fv);
    const p = s.precision;
    if (!Number.isFinite(fv)) {
      body = Number.isNaN(fv) ? 'nan' : 'inf';
      if (t === 'F' || t === 'E' || t === 'G') body = body.toUpperCase();
    } else if (t === 'f' || t === 'F' || t === '%') {
      body = fixedPy(t === '%' ? fv * 100 : fv, p ?? 6);
      if (s.group) { const [i, f] = body.split('.'); body = groupDigits(i, s.group) + (f !== undefined ? '.' + f : ''); }
      if (t === '%') body += '%';
    } else if (t === 'e' || t === 'E') {
      body = fixExp(fv.toExponential(p ?? 6));
      if (t === 'E') body = body.toUpperCase();
    } else if (t === 'g' || t === 'G') {
      const pp = p === undefined ? 6 : p === 0 ? 1 : p;
      const exp = fv === 0 ? 0 : Math.floor(Math.log10(fv));
      if (exp >= -4 && exp < pp) body = fixedPy(fv, Math.max(0, pp - 1 - exp));
      else body = fixExp(fv.toExponential(pp - 1));
      if (!s.alt) {
        const [mant, ex] = body.split('e');
        const m2 = mant.includes('.') ? mant.replace(/0+$/, '').replace(/\.$/, '') : mant;
        body = ex === undefined ? m2 : `${m2}e${ex}`;
      }
      if (t === 'G') body = body.toUpperCase();
    } else {
      // no type: Python str(float), or with precision like 'g' but keeping a '.0'
      body = p === undefined ? pyFloat(fv) : fixExp(Number(fv.toPrecision(p)).toString());
    }
  }
  const signStr = neg ? '-' : s.sign === '+' ? '+' : s.sign === ' ' ? ' ' : '';
  return pad(signStr + prefix, body, s, '>');
}

function pad(sign: string, body: string, s: Spec, defAlign: string): string {
  const len = sign.length + body.length;
  if (len >= s.width) return sign + body;
  const n = s.width - len;
  const fill = s.fill.repeat(n);
  switch (s.align || defAlign) {
    case '<': return sign + body + fill;
    case '^': { const l = n >> 1; return s.fill.repeat(l) + sign + body + s.fill.repeat(n - l); }
    case '=': return sign + fill + body;
    default: return fill + sign + body;
  }
}

/** Format one scalar the way Python's str.format would. `isFloat` picks Python's float str(). */
export function formatScalar(fmt: string, v: unknown, isFloat: boolean): string {
  const p = parseFormat(fmt);
  if (!p.spec) return p.prefix;
  let out: string;
  if (typeof v === 'number' || typeof v === 'bigint') {
    out = formatNumber(v, p.spec, isFloat || (typeof v === 'number' && !Number.isInteger(v)));
  } else if (typeof v === 'boolean' && p.spec.type !== '' && p.spec.type !== 's') {
    out = formatNumber(v ? 1 : 0, p.spec, false);
  } else {
    let str = typeof v === 'boolean' ? (v ? 'True' : 'False') : String(v);
    if (p.spec.precision !== undefined) str = str.slice(0, p.spec.precision);
    out = pad('', str, p.spec, '<');
  }
  return p.prefix + out + p.suffix;
}

/** Display string for a whole value; arrays as '[a, b, c]' like PyRogue's list display. */
export function formatValue(fmt: string, v: Value, info: TypeInfo, enumMap: Record<number, string> | undefined): string {
  const isFloat = info.base === 'Float';
  const one = (e: unknown): string => {
    if (enumMap) {
      const k = typeof e === 'boolean' ? Number(e) : Number(e);
      const s = enumMap[k];
      return s !== undefined ? s : `INVALID: ${String(e)}`;
    }
    return formatScalar(fmt, e, isFloat);
  };
  if (Array.isArray(v) || ArrayBuffer.isView(v)) {
    const a = v as ArrayLike<unknown>;
    const parts: string[] = new Array(a.length);
    for (let i = 0; i < a.length; i++) parts[i] = one(a[i]);
    return `[${parts.join(', ')}]`;
  }
  return one(v);
}

const INT_RE = /^([+-])?(0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|\d[\d_]*)$/;

/** Parse one display element for a type (no enum). Hex/octal/binary ok for ints; 'nan'/'inf' for floats. */
export function parseScalar(info: TypeInfo, raw: string): unknown {
  const s = raw.trim();
  switch (info.base) {
    case 'UInt': case 'Int': {
      const m = INT_RE.exec(s);
      if (m) {
        const b = BigInt(m[2].replaceAll('_', ''));
        return normInt(m[1] === '-' ? -b : b);
      }
      const f = s === '' ? NaN : Number(s);
      if (Number.isInteger(f)) return f; // '3.0' from a client that only speaks doubles
      throw new VariableError(`'${raw}' is not an integer`);
    }
    case 'Float': {
      const l = s.toLowerCase();
      if (l === 'nan') return NaN;
      if (l === 'inf' || l === '+inf' || l === 'infinity') return Infinity;
      if (l === '-inf' || l === '-infinity') return -Infinity;
      const f = s === '' ? NaN : Number(s.replaceAll('_', ''));
      if (Number.isNaN(f)) throw new VariableError(`'${raw}' is not a number`);
      return f;
    }
    case 'Bool': {
      const l = s.toLowerCase();
      if (l === 'true' || l === '1') return true;
      if (l === 'false' || l === '0') return false;
      throw new VariableError(`'${raw}' is not a boolean (True/False)`);
    }
    default: return raw;
  }
}

/** Split an array display string '[1, 2, 3]' (or '1 2 3') into element strings. */
export function splitArray(s: string): string[] {
  let t = s.trim();
  if (t.startsWith('[') && t.endsWith(']')) t = t.slice(1, -1);
  t = t.trim();
  if (t === '') return [];
  return t.includes(',') ? t.split(',').map((x) => x.trim().replace(/^(['"])(.*)\1$/, '$2')) : t.split(/\s+/);
}
