// Printing values and types the way the pvxs tools do: the "delta" form of pvxget/pvxmonitor
// (one `path type = value` line per changed leaf) and the "tree" form of pvxcall/pvxinfo.
import {
  PVStructure,
  SCALAR_CNAME,
  type AnyDesc,
  type AnyValue,
  type FieldDesc,
  type Structure,
  type StructureArrayDesc,
  type UnionArrayDesc,
  type UnionDesc,
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

/** How values are printed (array elements shown, escaping). */
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
  const o: DeltaOptions = { indent: opts.indent ?? '    ', limit: opts.limit ?? 0 };
  const L = v.type.layout;
  let out = '';
  for (let i = 1; i < L.length; i++) {
    const e = L[i];
    if (e.type.kind === 'structure' || !v.isChanged(i)) continue;
    out += deltaField(o, e.path, e.type, v.getAt(i));
  }
  return out;
}

type DeltaOptions = Required<FormatOptions>;

/** A field's line, then the lines of what it holds: a union's member, an array's elements. */
function deltaField(o: DeltaOptions, path: string, t: FieldDesc, val: unknown): string {
  const txt = valueText(t, val, o.limit);
  const idHint = t.kind === 'structure' && t.id ? ` "${escape(t.id)}"` : '';
  const line = `${o.indent}${path} ${typeName(t)}${idHint}${txt !== undefined ? ` = ${txt}` : ''}\n`;
  switch (t.kind) {
    case 'union':
    case 'any':
      return line + deltaSelected(o, path, t, val);
    case 'structureArray':
    case 'unionArray':
      return line + deltaElements(o, path, t, val);
    default:
      return line;
  }
}

/** The member a union or variant union holds, as `path->member` lines. */
function deltaSelected(o: DeltaOptions, path: string, t: UnionDesc | AnyDesc, val: unknown): string {
  if (val === null || val === undefined) return `${o.indent}${path}-> null\n`;
  if (t.kind === 'union') {
    const u = val as UnionValue;
    const m = t.fields[u.selector];
    return deltaHeld(o, `${path}->${m.name}`, m.type, u.value);
  }
  const a = val as AnyValue;
  return deltaHeld(o, `${path}->`, a.type, a.value);
}

/** The elements of a structure or union array, as `path[i]` lines. */
function deltaElements(o: DeltaOptions, path: string, t: StructureArrayDesc | UnionArrayDesc, val: unknown): string {
  const arr = (val as unknown[]) ?? [];
  let out = '';
  for (let i = 0; i < arr.length; i++) {
    const e = arr[i];
    const p = `${path}[${i}]`;
    if (e === null || e === undefined) out += `${o.indent}${p} null\n`;
    else if (t.kind === 'structureArray') out += deltaHeld(o, p, t.element, e);
    else out += deltaField(o, p, t.element, e);
  }
  return out;
}

/** A value held by a union or an array: a structure as its header line and a line per leaf. */
function deltaHeld(o: DeltaOptions, path: string, t: FieldDesc, val: unknown): string {
  if (t.kind !== 'structure') return deltaField(o, path, t, val);
  const s = val as PVStructure;
  let out = `${o.indent}${path} struct${t.id ? ` "${escape(t.id)}"` : ''}\n`;
  const SL = s.type.layout;
  for (let i = 1; i < SL.length; i++) {
    if (SL[i].type.kind === 'structure') continue;
    out += deltaField(o, `${path}.${SL[i].path}`, SL[i].type, s.getAt(i));
  }
  return out;
}

/**
 * The tree form: `struct "id" {` … `} name`, with ` = value` on leaves when a value is given
 * (pvxcall), or just the types (pvxinfo).
 */
export function formatTree(v: PVStructure | FieldDesc, opts: FormatOptions = {}): string {
  return v instanceof PVStructure ? valueTree(v.type, v, '', 0, opts.limit ?? 0) : typeTree(v, '', 0);
}

const pad = (depth: number): string => '    '.repeat(depth);
const named = (member: string): string => (member ? ` ${member}` : '');
/** ` "id"` of a structure or union that has one. */
const idText = (t: FieldDesc): string => ((t.kind === 'structure' || t.kind === 'union') && t.id ? ` "${escape(t.id)}"` : '');

/** `head {`, one indented line (or block) per member, `} name`: the shape both tree printers share. */
function block(head: string, member: string, depth: number, count: number, memberText: (i: number, depth: number) => string): string {
  let out = `${head} {`;
  for (let i = 0; i < count; i++) {
    if (i === 0) out += '\n';
    out += pad(depth + 1) + memberText(i, depth + 1);
  }
  if (count) out += pad(depth);
  return `${out}}${named(member)}\n`;
}

/** The type printer (pvxinfo): a field's type, members nested as blocks. */
function typeTree(t: FieldDesc, member: string, depth: number): string {
  switch (t.kind) {
    case 'scalar':
    case 'scalarArray':
    case 'any':
      return `${typeName(t)}${named(member)}\n`;
    case 'union':
    case 'structure': {
      const fields = t.fields;
      return block(`${typeName(t)}${idText(t)}`, member, depth, fields.length, (i, d) => typeTree(fields[i].type, fields[i].name, d));
    }
    case 'structureArray':
    case 'unionArray': {
      const fields = t.element.fields;
      return block(`${typeName(t)}${idText(t.element)}`, member, depth, fields.length, (i, d) => typeTree(fields[i].type, fields[i].name, d));
    }
  }
}

/** The value printer (pvxcall): a field's type with its value; unions show the member they hold. */
function valueTree(t: FieldDesc, val: unknown, member: string, depth: number, limit: number): string {
  const nm = named(member);
  switch (t.kind) {
    case 'scalar':
    case 'scalarArray':
      return `${typeName(t)}${nm} = ${valueText(t, val, limit)}\n`;
    case 'union':
    case 'any': {
      const head = `${typeName(t)}${idText(t)}${nm}`;
      if (!val) return `${head} null\n`;
      if (t.kind === 'union') {
        const u = val as UnionValue;
        const m = t.fields[u.selector];
        return `${head}.${m.name} ${valueTree(m.type, u.value, '', depth, limit)}`;
      }
      const a = val as AnyValue;
      return `${head} ${valueTree(a.type, a.value, '', depth, limit)}`;
    }
    case 'structure': {
      const s = val as PVStructure | undefined;
      const fields = t.fields;
      return block(`struct${idText(t)}`, member, depth, fields.length, (i, d) =>
        valueTree(fields[i].type, s && memberValue(s, fields[i].name, fields[i].type), fields[i].name, d, limit),
      );
    }
    case 'structureArray':
    case 'unionArray':
      return elementsTree(t, (val as unknown[]) ?? [], nm, depth, limit);
  }
}

/** A structure or union array with its values: `struct[] "id" name = {N}[`, an element a line, `]`. */
function elementsTree(t: StructureArrayDesc | UnionArrayDesc, arr: unknown[], nm: string, depth: number, limit: number): string {
  let out = `${typeName(t)}${idText(t.element)}${nm} = {${arr.length}}[`;
  let shown = 0;
  for (const el of arr) {
    if (!shown) out += '\n';
    out += pad(depth + 1);
    if (limit && shown >= limit) {
      out += '...\n';
      break;
    }
    out += el === null || el === undefined ? 'null\n' : valueTree(t.element, el, '', depth + 1, limit);
    shown++;
  }
  if (shown) out += pad(depth);
  return `${out}]\n`;
}

/** The value of a member of `s` (a structure member as a PVStructure of its own). */
function memberValue(s: PVStructure, name: string, t: FieldDesc): unknown {
  const off = s.type.offsetOf(name);
  if (off === undefined) return undefined;
  return t.kind === 'structure' ? subStruct(s, off) : s.getAt(off);
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
