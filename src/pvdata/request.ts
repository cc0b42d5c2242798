// pvRequest: the text users type (`field(value,alarm)record[queueSize=4]`), the structure it
// becomes on the wire (as pvxs's client builds it), and on the server side the field mask and
// options a received request stands for, plus the reduced type of a selection for servers that
// send only the selected fields.
import { BitSet } from './bitset.ts';
import { Structure, scalar, type FieldDesc, type Member } from './types.ts';
import { PVStructure } from './value.ts';

export class RequestError extends Error {
  override name = 'RequestError';
}

// ---------------------------------------------------------------- text → request structure

/** A request field tree: each node is an (empty unless nested) structure in the request. */
interface FieldNode {
  children: Map<string, FieldNode>;
}

function node(): FieldNode {
  return { children: new Map() };
}

const SECTIONS = ['field', 'putField', 'getField'] as const;
type Section = (typeof SECTIONS)[number];

interface Parsed {
  sections: Map<Section, FieldNode>;
  options: Map<string, string | number | boolean>;
}

type Tok = { kind: 'punct' | 'name' | 'eof'; text: string; at: number };

const PUNCT = new Set(['[', ']', '(', ')', ',', '=']);
const NAME_CHAR = /[A-Za-z0-9_.:+%\-]/;

function tokenize(text: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    if (PUNCT.has(c)) {
      out.push({ kind: 'punct', text: c, at: i++ });
      continue;
    }
    const start = i;
    while (i < text.length && NAME_CHAR.test(text[i])) i++;
    if (i === start) throw new RequestError(`pvRequest: invalid character '${c}' at ${start} in '${text}'`);
    out.push({ kind: 'name', text: text.slice(start, i), at: start });
  }
  out.push({ kind: 'eof', text: '', at: text.length });
  return out;
}

function addPath(root: FieldNode, path: string, text: string, at: number): FieldNode {
  const parts = path.split('.').filter((p) => p !== '');
  if (parts.length === 0) throw new RequestError(`pvRequest: empty field name at ${at} in '${text}'`);
  let cur = root;
  for (const p of parts) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(p)) throw new RequestError(`pvRequest: bad field name '${path}' at ${at} in '${text}'`);
    let next = cur.children.get(p);
    if (!next) {
      next = node();
      cur.children.set(p, next);
    }
    cur = next;
  }
  return cur;
}

function parseText(text: string): Parsed {
  const toks = tokenize(text);
  const sections = new Map<Section, FieldNode>();
  const options = new Map<string, string | number | boolean>();
  let k = 0;
  const peek = (): Tok => toks[k];
  const where = (t: Tok): string => (t.kind === 'eof' ? `end of '${text}'` : `'${t.text}' at ${t.at} in '${text}'`);
  const expect = (p: string, ctx: string): void => {
    const t = toks[k];
    if (t.kind !== 'punct' || t.text !== p) throw new RequestError(`pvRequest: expected '${p}' ${ctx}, found ${where(t)}`);
    k++;
  };
  const section = (s: Section): FieldNode => {
    let n = sections.get(s);
    if (!n) sections.set(s, (n = node()));
    return n;
  };

  while (peek().kind !== 'eof') {
    const t = toks[k++];
    if (t.kind === 'punct') {
      if (t.text === ',') continue; // `value,timeStamp` at top level
      throw new RequestError(`pvRequest: unexpected ${where(t)}`);
    }
    if ((SECTIONS as readonly string[]).includes(t.text) && peek().text === '(') {
      k++;
      const root = section(t.text as Section);
      // FIELD_LIST: names separated by commas, each optionally followed by [k=v,...] field options
      for (;;) {
        const f = toks[k];
        if (f.kind === 'punct' && f.text === ')') {
          k++;
          break;
        }
        if (f.kind === 'punct' && f.text === ',') {
          k++;
          continue;
        }
        if (f.kind !== 'name') throw new RequestError(`pvRequest: expected a field name or ')' in ${t.text}(...), found ${where(f)}`);
        k++;
        const leaf = addPath(root, f.text, text, f.at);
        if (peek().text === '[') {
          k++;
          const opts = parseOptions();
          if (opts.size) {
            const o = leaf.children.get('_options') ?? node();
            leaf.children.set('_options', o);
            for (const key of opts.keys()) o.children.set(key, node());
            fieldOptions.set(o, opts);
          }
        }
      }
    } else if (t.text === 'record' && peek().text === '[') {
      k++;
      for (const [key, v] of parseOptions()) options.set(key, v);
    } else if (t.text === 'record' || (SECTIONS as readonly string[]).includes(t.text)) {
      throw new RequestError(`pvRequest: expected '${t.text === 'record' ? '[' : '('}' after '${t.text}', found ${where(peek())}`);
    } else {
      if (peek().kind === 'punct' && peek().text !== ',') throw new RequestError(`pvRequest: unexpected ${where(peek())}`);
      addPath(section('field'), t.text, text, t.at);
    }
  }
  return { sections, options };

  function parseOptions(): Map<string, string> {
    // after '[': K=V (',' K=V)* ']'
    const out = new Map<string, string>();
    for (;;) {
      const key = toks[k];
      if (key.kind === 'punct' && key.text === ']') {
        k++;
        return out;
      }
      if (key.kind === 'punct' && key.text === ',') {
        k++;
        continue;
      }
      if (key.kind !== 'name') throw new RequestError(`pvRequest: expected key=value or ']', found ${where(key)}`);
      k++;
      expect('=', `after option '${key.text}'`);
      const val = toks[k];
      if (val.kind !== 'name') throw new RequestError(`pvRequest: expected a value for option '${key.text}', found ${where(val)}`);
      k++;
      out.set(key.text, val.text);
    }
  }
}

/** Field-level options (pvAccessCPP's `field(value[k=v])`), keyed by the `_options` node. */
const fieldOptions = new WeakMap<FieldNode, Map<string, string>>();

const EMPTY_STRUCT = new Structure('', []);

function nodeType(n: FieldNode): Structure {
  if (n.children.size === 0) return EMPTY_STRUCT;
  const opts = fieldOptions.get(n);
  const members: Member[] = [];
  for (const [name, c] of n.children) {
    members.push({ name, type: opts ? scalar('string') : nodeType(c) });
  }
  return new Structure('', members);
}

function optionType(v: string | number | boolean | bigint): FieldDesc {
  switch (typeof v) {
    case 'boolean':
      return scalar('boolean');
    case 'number':
      return Number.isInteger(v) ? scalar('int') : scalar('double');
    case 'bigint':
      return scalar('long');
    default:
      return scalar('string');
  }
}

/** Options given to buildRequest: strings like the text form, or typed values as pvxs's API sends them. */
export type RequestOptionValue = string | number | boolean | bigint;

export interface RequestSpec {
  /** Dotted field paths for `field` (empty or absent: everything). */
  fields?: readonly string[];
  /** For put-get: the fields written and the fields read back. */
  putFields?: readonly string[];
  getFields?: readonly string[];
  /** record._options */
  options?: Record<string, RequestOptionValue>;
}

function build(sections: Map<Section, FieldNode>, options: Map<string, RequestOptionValue>): PVStructure {
  const members: Member[] = [];
  // pvxs always sends `field`, even when empty (= everything); put-get requests carry their own sections
  if (!sections.has('field') && !sections.has('putField') && !sections.has('getField')) sections.set('field', node());
  for (const s of SECTIONS) {
    const n = sections.get(s);
    if (n) members.push({ name: s, type: nodeType(n) });
  }
  // pvxs keeps options in a std::map, so they go out sorted by key
  const keys = [...options.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (keys.length) {
    const opts = new Structure('', keys.map((key) => ({ name: key, type: optionType(options.get(key)!) })));
    members.push({ name: 'record', type: new Structure('', [{ name: '_options', type: opts }]) });
  }
  const v = new PVStructure(new Structure('', members));
  for (const key of keys) v.set(`record._options.${key}`, options.get(key));
  // field-level options
  for (const s of SECTIONS) {
    const n = sections.get(s);
    if (n) setFieldOptions(v, n, s);
  }
  v.clearChanged();
  return v;
}

function setFieldOptions(v: PVStructure, n: FieldNode, path: string): void {
  const opts = fieldOptions.get(n);
  if (opts) {
    for (const [k, x] of opts) v.set(`${path}.${k}`, x);
    return;
  }
  for (const [name, c] of n.children) setFieldOptions(v, c, `${path}.${name}`);
}

/**
 * Parses request text into the pvRequest value pvxs's client would send for it.
 * `''` → `{field{}}` (everything); `field(value,alarm)`, `value,alarm`, `field(display.units)`,
 * `record[queueSize=4,pipeline=true]field(value)`, `putField(value)getField(value,alarm)`.
 * Throws RequestError on malformed text.
 */
export function parseRequest(text: string): PVStructure {
  const { sections, options } = parseText(text);
  return build(sections, options);
}

/** Builds a pvRequest value from field paths and options (typed option values keep their types). */
export function buildRequest(spec: RequestSpec = {}): PVStructure {
  const sections = new Map<Section, FieldNode>();
  const add = (s: Section, list: readonly string[] | undefined): void => {
    if (!list) return;
    const root = node();
    for (const p of list) addPath(root, p, p, 0);
    sections.set(s, root);
  };
  add('field', spec.fields);
  add('putField', spec.putFields);
  add('getField', spec.getFields);
  return build(sections, new Map(Object.entries(spec.options ?? {})));
}

/** The request in text form again (field list and record options). */
export function formatRequest(req: PVStructure): string {
  let out = '';
  for (const s of SECTIONS) {
    const t = req.type.field(s);
    if (!t || t.kind !== 'structure') continue;
    const paths: string[] = [];
    const walk = (st: Structure, prefix: string): void => {
      for (const m of st.fields) {
        if (m.name === '_options') continue;
        const p = prefix ? `${prefix}.${m.name}` : m.name;
        if (m.type.kind === 'structure' && m.type.fields.some((f) => f.name !== '_options')) walk(m.type, p);
        else paths.push(p);
      }
    };
    walk(t, '');
    out += `${s}(${paths.join(',')})`;
  }
  const opts = readOptions(req);
  const keys = Object.keys(opts);
  if (keys.length) out = `record[${keys.map((k) => `${k}=${String(opts[k])}`).join(',')}]` + out;
  return out;
}

// ---------------------------------------------------------------- request → mask and options

export interface RequestOptions {
  /** Monitor queue depth. */
  queueSize?: number;
  /** Monitor flow control (client acknowledges updates). */
  pipeline?: boolean;
  /** Put/get processing: true, false, or a word such as 'passive'. */
  process?: boolean | string;
  /** Put completes only once processing has finished. */
  block?: boolean;
  /** Monitor acknowledgement batching: a count, or a string such as '50%'. */
  ackAny?: number | string;
  /** Every record._options entry as received. */
  raw: Record<string, RequestOptionValue>;
}

export interface RequestMask {
  /** Selected fields of the target and all their descendants; bit 0 too when everything is selected. */
  mask: BitSet;
  options: RequestOptions;
  /** Requested paths that the target does not have (ignored when others matched, as pvxs does). */
  unknown: string[];
  /** True when the selection covers the whole target. */
  all: boolean;
}

function readOptions(req: PVStructure | undefined): Record<string, RequestOptionValue> {
  const out: Record<string, RequestOptionValue> = {};
  if (!req) return out;
  const base = req.type.offsetOf('record._options');
  if (base === undefined) return out;
  const L = req.type.layout;
  if (L[base].type.kind !== 'structure') return out;
  for (let i = base + 1; i < L[base].end; i = L[i].end) {
    const e = L[i];
    if (e.type.kind !== 'scalar') continue;
    out[e.name] = req.data[i] as RequestOptionValue;
  }
  return out;
}

function toBool(v: RequestOptionValue | undefined): boolean | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number' || typeof v === 'bigint') return v != 0;
  const s = v.trim().toLowerCase();
  if (s === 'true' || s === '1' || s === 'yes') return true;
  if (s === 'false' || s === '0' || s === 'no' || s === '') return false;
  return undefined;
}

function toInt(v: RequestOptionValue | undefined): number | undefined {
  if (v === undefined || typeof v === 'boolean') return undefined;
  const n = typeof v === 'string' ? (/^\s*[-+]?\d+\s*$/.test(v) ? Number(v) : NaN) : Number(v);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Interprets record._options, accepting strings (text requests) and numbers/booleans alike. */
export function requestOptions(req: PVStructure | undefined): RequestOptions {
  const raw = readOptions(req);
  const o: RequestOptions = { raw };
  const q = toInt(raw.queueSize);
  if (q !== undefined && q >= 0) o.queueSize = q;
  const p = toBool(raw.pipeline);
  if (p !== undefined) o.pipeline = p;
  if (raw.process !== undefined) {
    const b = toBool(raw.process);
    o.process = b ?? String(raw.process);
  }
  const bl = toBool(raw.block);
  if (bl !== undefined) o.block = bl;
  if (raw.ackAny !== undefined) {
    const n = toInt(raw.ackAny);
    o.ackAny = n ?? String(raw.ackAny);
  }
  return o;
}

/**
 * Turns a received pvRequest into a mask over `target`. `section` picks `putField`/`getField` for
 * put-get (falling back to `field`). No request, no `field`, or an empty `field` select everything.
 * Throws RequestError when the request names fields and none of them exist.
 */
export function requestToMask(
  req: PVStructure | undefined,
  target: Structure,
  section: Section = 'field',
): RequestMask {
  const options = requestOptions(req);
  const L = target.layout;
  const mask = new BitSet(L.length);
  const unknown: string[] = [];
  let sel: FieldDesc | undefined = req?.type.field(section);
  if (!sel && section !== 'field') sel = req?.type.field('field');
  const everything = (): RequestMask => {
    mask.setRange(0, L.length);
    return { mask, options, unknown, all: true };
  };
  if (!sel || sel.kind !== 'structure' || sel.fields.every((f) => f.name === '_options')) return everything();

  const walk = (r: Structure, prefix: string): void => {
    for (const m of r.fields) {
      if (m.name === '_options') continue;
      const path = prefix ? `${prefix}.${m.name}` : m.name;
      const o = target.offsetOf(path);
      if (o === undefined) {
        unknown.push(path);
        continue;
      }
      const sub = m.type.kind === 'structure' ? m.type.fields.filter((f) => f.name !== '_options') : [];
      if (sub.length && L[o].type.kind === 'structure') walk(m.type as Structure, path);
      else mask.setRange(o, L[o].end);
    }
  };
  walk(sel, '');
  if (mask.isEmpty()) {
    throw new RequestError(
      unknown.length ? `pvRequest selects no fields: no ${unknown.map((u) => `'${u}'`).join(', ')} in ${target.id || 'structure'}` : 'pvRequest selects no fields',
    );
  }
  // everything selected is the same as no selection
  if (mask.cardinality() === L.length - 1) return everything();
  return { mask, options, unknown, all: false };
}

/**
 * The bits to send for `changed` under a selection `mask` (as from requestToMask): a changed
 * structure bit whose subtree is only partly selected becomes the selected parts.
 */
export function maskChanges(type: Structure, changed: BitSet, mask: BitSet, out: BitSet = new BitSet(type.layout.length)): BitSet {
  out.clear();
  if (mask.get(0)) return out.copyFrom(changed);
  const L = type.layout;
  for (let c = changed.nextSetBit(0); c >= 0 && c < L.length; ) {
    const end = L[c].end;
    if (mask.get(c)) out.set(c);
    else if (L[c].type.kind === 'structure') {
      for (let b = mask.nextSetBit(c + 1); b >= 0 && b < end; b = mask.nextSetBit(L[b].end)) out.set(b);
    }
    c = changed.nextSetBit(end);
  }
  return out;
}

// ---------------------------------------------------------------- reduced types

/**
 * A selection of a structure as its own, smaller type (what pvAccessCPP's servers send; pvxs
 * sends the full type and masks the data instead). Offsets are precomputed so copying between
 * the full and the reduced value is one pass over the selected leaves.
 */
export class Selection {
  /** Reduced offset → full offset. */
  readonly map: Int32Array;
  /** Full offset → reduced offset, or -1. */
  readonly back: Int32Array;
  /** Reduced offsets of the leaves, and their full offsets. */
  private readonly leafR: Int32Array;
  private readonly leafF: Int32Array;
  /** Per reduced offset: does it hold the whole subtree of its full counterpart? */
  private readonly complete: Uint8Array;

  constructor(readonly full: Structure, readonly type: Structure, map: Int32Array) {
    this.map = map;
    this.back = new Int32Array(full.layout.length).fill(-1);
    const RL = type.layout;
    const FL = full.layout;
    const leafR: number[] = [];
    this.complete = new Uint8Array(RL.length);
    for (let i = 0; i < RL.length; i++) {
      this.back[map[i]] = i;
      if (RL[i].type.kind !== 'structure') leafR.push(i);
      const f = map[i];
      this.complete[i] = RL[i].end - i === FL[f].end - f ? 1 : 0;
    }
    this.leafR = Int32Array.from(leafR);
    this.leafF = Int32Array.from(leafR, (i) => map[i]);
  }

  /** Copies the selected fields of `src` (full type) into `dst` (reduced type); marks translate. */
  toReduced(src: PVStructure, dst: PVStructure = new PVStructure(this.type)): PVStructure {
    const { leafR, leafF } = this;
    for (let i = 0; i < leafR.length; i++) dst.data[leafR[i]] = src.data[leafF[i]];
    this.bitsToReduced(src.changed, dst.changed);
    return dst;
  }

  /** Copies a reduced value's marked fields back into a full value, marking them there. */
  fromReduced(src: PVStructure, dst: PVStructure, mask: BitSet = src.changed): PVStructure {
    const full = this.bitsToFull(mask);
    const RL = this.type.layout;
    for (let b = mask.nextSetBit(0); b >= 0 && b < RL.length; b = mask.nextSetBit(RL[b].end)) {
      for (let i = b; i < RL[b].end; i++) if (RL[i].type.kind !== 'structure') dst.data[this.map[i]] = src.data[i];
    }
    dst.changed.or(full);
    return dst;
  }

  /** Full-type bits → reduced-type bits (unselected fields drop out). */
  bitsToReduced(bits: BitSet, out: BitSet = new BitSet(this.type.layout.length)): BitSet {
    out.clear();
    const FL = this.full.layout;
    for (let b = bits.nextSetBit(0); b >= 0 && b < FL.length; b = bits.nextSetBit(b + 1)) {
      const r = this.back[b];
      if (r >= 0) out.set(r);
    }
    return out;
  }

  /** Reduced-type bits → full-type bits; a partly selected structure becomes its selected parts. */
  bitsToFull(bits: BitSet, out: BitSet = new BitSet(this.full.layout.length)): BitSet {
    out.clear();
    const RL = this.type.layout;
    const mark = (r: number): void => {
      if (this.complete[r]) {
        out.set(this.map[r]);
        return;
      }
      for (let c = r + 1; c < RL[r].end; c = RL[c].end) mark(c);
    };
    for (let b = bits.nextSetBit(0); b >= 0 && b < RL.length; b = bits.nextSetBit(RL[b].end)) mark(b);
    return out;
  }
}

const selections = new WeakMap<Structure, Map<string, Selection>>();

/**
 * The reduced type holding only the fields of `mask` (with their enclosing structures, which keep
 * their ids) and the offset maps between it and `target`. Cached per target and mask.
 */
export function selectType(target: Structure, mask: BitSet): Selection {
  let per = selections.get(target);
  if (!per) selections.set(target, (per = new Map()));
  const key = mask.get(0) ? '*' : mask.toString();
  let s = per.get(key);
  if (s) return s;
  const L = target.layout;
  if (mask.get(0)) {
    s = new Selection(target, target, Int32Array.from(L, (_, i) => i));
  } else {
    const map: number[] = [0];
    const build = (o: number): Structure | undefined => {
      // members of the structure at full offset o that are selected or hold selected fields
      const members: Member[] = [];
      for (let c = o + 1; c < L[o].end; c = L[c].end) {
        const e = L[c];
        const b = mask.nextSetBit(c);
        if (b < 0 || b >= e.end) continue;
        if (mask.get(c)) {
          members.push({ name: e.name, type: e.type });
        } else {
          const sub = build(c);
          if (sub) members.push({ name: e.name, type: sub });
        }
      }
      if (!members.length) return undefined;
      return new Structure(L[o].type.kind === 'structure' ? (L[o].type as Structure).id : '', members);
    };
    const type = build(0) ?? new Structure(target.id, []);
    // map by walking both layouts by path
    for (let i = 1; i < type.layout.length; i++) map.push(target.offsetOf(type.layout[i].path)!);
    s = new Selection(target, type, Int32Array.from(map));
  }
  per.set(key, s);
  return s;
}
