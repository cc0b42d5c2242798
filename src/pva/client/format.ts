// Printing values and types the way the pvxs tools do: the "delta" form of pvxget/pvxmonitor
// (one `path type = value` line per changed leaf) and the "tree" form of pvxcall/pvxinfo.
import {
  PVStructure,
  SCALAR_CNAME,
  type AnyValue,
  type FieldDesc,
  type Structure,
  type UnionValue,
} from '../../pvdata/index.ts';

/** A double as C++ iostreams print it by default (%g, 6 significant digits; nan, inf). */
export function formatNumber(x: number): string {
  if (Number.isNaN(x)) return x < 0 ? '-nan' : 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const exp = x.toExponential(5); // d.ddddde±X, rounded to 6 digits
  const e = Number(exp.slice(exp.indexOf('e') + 1));
  if (e < -4 || e >= 6) {
    let [m, ex] = exp.split('e');
    if (m.includes('.')) m = m.replace(/0+$/, '').replace(/\.$/, '');
    const sign = ex[0] === '-' ? '-' : '+';
    const digits = ex.replace(/^[-+]/, '').padStart(2, '0');
    return `${m}e${sign}${digits}`;
  }
  let s = x.toFixed(Math.max(0, 5 - e));
  if (s.includes('.')) s = s.replace(/0+$/, '').replace(/\.$/, '');
  return s;
}

/** pvxs's escape(): C escapes for control characters, quotes and backslash. */
export function escape(s: string): string {
  let out = '';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    switch (ch) {
      case '\x07': out += '\\a'; break;
      case '\b': out += '\\b'; break;
      case '\f': out += '\\f'; break;
      case '\n': out += '\\n'; break;
      case '\r': out += '\\r'; break;
      case '\t': out += '\\t'; break;
      case '\v': out += '\\v'; break;
      case '\\': out += '\\\\'; break;
      case "'": out += "\\'"; break;
      case '"': out += '\\"'; break;
      default:
        out += c < 0x20 || c === 0x7f ? `\\x${c.toString(16).padStart(2, '0')}` : ch;
    }
  }
  return out;
}

/** The type's name as pvxs prints it ('double', 'int32_t[]', 'struct', 'union', 'any', 'struct[]'). */
export function typeName(t: FieldDesc): string {
  switch (t.kind) {
    case 'scalar':
      return SCALAR_CNAME[t.type];
    case 'scalarArray':
      return `${SCALAR_CNAME[t.type]}[]`;
    case 'structure':
      return 'struct';
    case 'union':
      return 'union';
    case 'any':
      return 'any';
    case 'structureArray':
      return 'struct[]';
    case 'unionArray':
      return 'union[]';
  }
}

function scalarText(t: FieldDesc, v: unknown): string {
  if (typeof v === 'string') return `"${escape(v)}"`;
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') {
    if (t.kind !== 'scalar' && t.kind !== 'scalarArray') return formatNumber(v);
    return t.type === 'float' || t.type === 'double' ? formatNumber(v) : String(v);
  }
  return String(v);
}

/** A scalar array as pvxs prints it: `{N}[a, b, c]`. */
export function arrayText(t: FieldDesc, v: ArrayLike<unknown>, limit = 0): string {
  const n = v.length;
  const shown = limit > 0 ? Math.min(limit, n) : n;
  const parts: string[] = [];
  for (let i = 0; i < shown; i++) parts.push(scalarText(t, v[i]));
  if (shown < n) parts.push('...');
  return `{${n}}[${parts.join(', ')}]`;
}

function valueText(t: FieldDesc, v: unknown, limit: number): string | undefined {
  switch (t.kind) {
    case 'scalar':
      return scalarText(t, v);
    case 'scalarArray':
      return arrayText(t, v as ArrayLike<unknown>, limit);
    default:
      return undefined;
  }
}

export interface FormatOptions {
  /** Array elements shown before '...' (0: all). */
  limit?: number;
  /** Indent of each line (pvxget: 4 spaces under the PV name). */
  indent?: string;
}

/**
 * The delta form: one `path type = value` line for each leaf field marked changed (or under a
 * marked structure), in field order. Unions and variant unions show their member as `path->member`.
 */
export function formatDelta(v: PVStructure, opts: FormatOptions = {}): string {
  const indent = opts.indent ?? '    ';
  const limit = opts.limit ?? 0;
  let out = '';
  const L = v.type.layout;
  const line = (path: string, t: FieldDesc, val: unknown): void => {
    const txt = valueText(t, val, limit);
    let idHint = '';
    if (t.kind === 'structure' && t.id) idHint = ` "${escape(t.id)}"`;
    out += `${indent}${path} ${typeName(t)}${idHint}${txt !== undefined ? ` = ${txt}` : ''}\n`;
    if (t.kind === 'union' || t.kind === 'any') {
      if (val === null || val === undefined) {
        out += `${indent}${path}-> null\n`;
        return;
      }
      if (t.kind === 'union') {
        const u = val as UnionValue;
        const m = t.fields[u.selector];
        nested(`${path}->${m.name}`, m.type, u.value);
      } else {
        const a = val as AnyValue;
        nested(`${path}->`, a.type, a.value);
      }
    } else if (t.kind === 'structureArray' || t.kind === 'unionArray') {
      const arr = (val as unknown[]) ?? [];
      for (let i = 0; i < arr.length; i++) {
        const e = arr[i];
        const p = `${path}[${i}]`;
        if (e === null || e === undefined) out += `${indent}${p} null\n`;
        else if (t.kind === 'structureArray') nested(p, t.element, e);
        else line(p, t.element, e);
      }
    }
  };
  const nested = (path: string, t: FieldDesc, val: unknown): void => {
    if (t.kind === 'structure') {
      const s = val as PVStructure;
      out += `${indent}${path} struct${t.id ? ` "${escape(t.id)}"` : ''}\n`;
      const SL = s.type.layout;
      for (let i = 1; i < SL.length; i++) {
        if (SL[i].type.kind === 'structure') continue;
        line(`${path}.${SL[i].path}`, SL[i].type, s.getAt(i));
      }
    } else line(path, t, val);
  };
  for (let i = 1; i < L.length; i++) {
    const e = L[i];
    if (e.type.kind === 'structure' || !v.isChanged(i)) continue;
    line(e.path, e.type, v.getAt(i));
  }
  return out;
}

/**
 * The tree form: `struct "id" {` … `} name`, with ` = value` on leaves when a value is given
 * (pvxcall), or just the types (pvxinfo).
 */
export function formatTree(v: PVStructure | FieldDesc, opts: FormatOptions = {}): string {
  const limit = opts.limit ?? 0;
  const showValue = v instanceof PVStructure;
  const t: FieldDesc = v instanceof PVStructure ? v.type : v;
  let out = '';
  const pad = (n: number): string => '    '.repeat(n);
  const show = (t: FieldDesc, val: unknown, member: string, depth: number): void => {
    const nm = member ? ` ${member}` : '';
    const id = (t.kind === 'structure' || t.kind === 'union') && t.id ? ` "${escape(t.id)}"` : '';
    switch (t.kind) {
      case 'scalar':
      case 'scalarArray':
        out += `${typeName(t)}${nm}${showValue ? ` = ${valueText(t, val, limit)}` : ''}\n`;
        return;
      case 'any':
      case 'union': {
        if (t.kind === 'any' || showValue) {
          let mem = '';
          let inner: { t: FieldDesc; v: unknown } | undefined;
          if (showValue && val) {
            if (t.kind === 'union') {
              const u = val as UnionValue;
              mem = `.${t.fields[u.selector].name}`;
              inner = { t: t.fields[u.selector].type, v: u.value };
            } else {
              const a = val as AnyValue;
              inner = { t: a.type, v: a.value };
            }
          }
          out += `${typeName(t)}${id}${nm}${mem}`;
          if (showValue) {
            out += ' ';
            if (inner) show(inner.t, inner.v, '', depth);
            else out += 'null\n';
          } else out += '\n';
          return;
        }
        // union type without value: like a struct
        block(t.fields, undefined, depth, `union${id}`, nm);
        return;
      }
      case 'structure':
        block(t.fields, val as PVStructure | undefined, depth, `struct${id}`, nm, t);
        return;
      case 'structureArray':
      case 'unionArray': {
        const e = t.element;
        const eid = e.id ? ` "${escape(e.id)}"` : '';
        if (!showValue) {
          block(e.fields, undefined, depth, `${typeName(t)}${eid}`, nm);
          return;
        }
        const arr = (val as unknown[]) ?? [];
        out += `${typeName(t)}${eid}${nm} = {${arr.length}}[`;
        let shown = 0;
        for (const el of arr) {
          if (!shown) out += '\n';
          out += pad(depth + 1);
          if (limit && shown >= limit) {
            out += '...\n';
            break;
          }
          if (el === null || el === undefined) out += 'null\n';
          else show(e, el, '', depth + 1);
          shown++;
        }
        if (shown) out += pad(depth);
        out += ']\n';
        return;
      }
    }
  };
  const block = (
    fields: Structure['fields'],
    val: PVStructure | undefined,
    depth: number,
    head: string,
    nm: string,
    st?: Structure,
  ): void => {
    out += `${head} {`;
    let first = true;
    for (const m of fields) {
      if (first) out += '\n';
      first = false;
      out += pad(depth + 1);
      let mv: unknown;
      if (val && st) {
        const off = val.type.offsetOf(m.name);
        mv = off === undefined ? undefined : m.type.kind === 'structure' ? subStruct(val, off) : val.getAt(off);
      }
      show(m.type, mv, m.name, depth + 1);
    }
    if (!first) out += pad(depth);
    out += `}${nm}\n`;
  };
  show(t, v instanceof PVStructure ? v : undefined, '', 0);
  return out;
}

/** A sub-structure of a value as a PVStructure of its own (values copied). */
function subStruct(v: PVStructure, offset: number): PVStructure {
  const e = v.type.layout[offset];
  const t = e.type as Structure;
  const s = new PVStructure(t);
  for (let i = 1; i < t.layout.length; i++) s.data[i] = v.data[offset + i];
  return s;
}

/** The type alone, pvxinfo style. */
export function formatType(t: FieldDesc): string {
  return formatTree(t);
}

function classicScalar(v: unknown, t: FieldDesc): string {
  if (typeof v === 'string') return v === '' || /\s/.test(v) ? `"${v}"` : v;
  return scalarText(t, v).replace(/^"(.*)"$/, '$1');
}

function classicTime(v: PVStructure): string {
  const o = v.type.offsetOf('timeStamp.secondsPastEpoch');
  // absent, or not sent (the request did not select it)
  if (o === undefined || !v.has('timeStamp.nanoseconds') || !v.isChanged(o)) return '<undefined>            ';
  const secs = Number(v.get('timeStamp.secondsPastEpoch') as bigint);
  const ns = Number(v.get('timeStamp.nanoseconds'));
  const d = new Date(secs * 1000 + Math.round(ns / 1e6));
  const z = (n: number, w = 2): string => String(n).padStart(w, '0');
  return (
    `${d.getFullYear()}-${z(d.getMonth() + 1)}-${z(d.getDate())} ` +
    `${z(d.getHours())}:${z(d.getMinutes())}:${z(d.getSeconds())}.${z(d.getMilliseconds(), 3)}`
  );
}

/**
 * The one-line form of pvAccessCPP's pvget/pvmonitor for normative types:
 * `NAME 2026-11-24 16:47:09.267  3.25 `, `NAME <time>  (2) Two`, `NAME <time>  [1.5,2.5]`.
 * Structures that are not NTScalar/NTScalarArray/NTEnum-like fall back to the tree form.
 */
export function formatClassic(name: string, v: PVStructure): string {
  const line = formatClassicLine(v);
  return line === undefined ? `${name}\n${formatTree(v)}` : `${name} ${line}`;
}

/**
 * What pvAccessCPP's pvput prints around a put: `Old : <line>` and `New : <line>` in the one-line
 * form (`Old : 2026-11-24 16:51:31.237  1 `); without `before` (pvput -q) the new line alone.
 * Structures without that form are printed as trees after the label.
 */
export function formatPutReport(before: PVStructure | undefined, after: PVStructure): string {
  return before === undefined ? formatPutLine(after) : `Old : ${formatPutLine(before)}New : ${formatPutLine(after)}`;
}

/** One value as pvput prints it after its label: the one-line form, else the tree. */
export function formatPutLine(v: PVStructure): string {
  return formatClassicLine(v) ?? formatTree(v);
}

/**
 * pvAccessCPP's one-line form without the name, as pvput prints after `Old : ` / `New : `:
 * `2026-11-24 16:51:31.237  1 \n`; undefined for structures that are not NTScalar-,
 * NTScalarArray- or NTEnum-like.
 */
export function formatClassicLine(v: PVStructure): string | undefined {
  const t = v.type.typeAt('value');
  if (!t) return undefined;
  const val = v.get('value');
  let text: string;
  if (t.kind === 'scalar') text = `${classicScalar(val, t)} `;
  else if (t.kind === 'scalarArray') {
    text = `[${Array.from(val as ArrayLike<unknown>, (x) => classicScalar(x, t)).join(',')}]`;
  } else if (t.kind === 'structure' && t.field('index') && t.field('choices')) {
    const e = val as { index: number; choices: string[] };
    text = `(${e.index}) ${e.choices[e.index] ?? '<undefined>'}`;
  } else return undefined;
  return `${classicTime(v)}  ${text}\n`;
}
