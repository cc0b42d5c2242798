// pvRequest: the text users type (`field(value,alarm)record[queueSize=4]`), the structure it
// becomes on the wire (as pvxs's client builds it), and on the server side the field mask and
// options a received request stands for. (Which bits of an update a mask lets through is the
// server's business: src/pva/server/mask.ts.)
import { BitSet } from './bitset.ts';
import { Structure, scalar, type FieldDesc, type Member } from './types.ts';
import { PVStructure } from './value.ts';

/** A pvRequest that cannot be parsed or does not fit the type it selects from. */
export class RequestError extends Error {
  override name = 'RequestError';
}

// ---------------------------------------------------------------- text → request structure

/**
 * A request field tree: each node is an (empty unless nested) structure in the request. A field's
 * options (pvAccessCPP's `field(value[k=v])`) are its `_options` child, a node whose `options`
 * hold the values (its children name the keys, in order).
 */
interface FieldNode {
  children: Map<string, FieldNode>;
  options?: Map<string, string>;
}

function node(): FieldNode {
  return { children: new Map() };
}

const SECTIONS = ['field', 'putField', 'getField'] as const;
type Section = (typeof SECTIONS)[number];
const isSection = (word: string): word is Section => (SECTIONS as readonly string[]).includes(word);

interface Parsed {
  sections: Map<Section, FieldNode>;
  options: Map<string, string>;
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

/** Adds a dotted path below `root` (creating nodes as needed); returns the node of its last name. */
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

/**
 * The request text's grammar, one method per rule (commas between items are optional and may
 * repeat; a bare path belongs to `field`):
 *
 *     request   := item*
 *     item      := ',' | section | record | path
 *     section   := ('field' | 'putField' | 'getField') '(' fieldList ')'
 *     fieldList := (',' | path options?)*
 *     record    := 'record' options
 *     options   := '[' (',' | name '=' name)* ']'
 */
class RequestParser {
  private readonly toks: Tok[];
  private k = 0;
  private readonly sections = new Map<Section, FieldNode>();
  private readonly options = new Map<string, string>();

  constructor(private readonly text: string) {
    this.toks = tokenize(text);
  }

  request(): Parsed {
    while (this.peek().kind !== 'eof') this.item();
    return { sections: this.sections, options: this.options };
  }

  private item(): void {
    const t = this.next();
    if (t.kind === 'punct') {
      if (t.text === ',') return; // `value,timeStamp` at top level
      throw new RequestError(`pvRequest: unexpected ${this.where(t)}`);
    }
    if (isSection(t.text) && this.peek().text === '(') return this.section(t.text);
    if (t.text === 'record' && this.peek().text === '[') return this.record();
    if (t.text === 'record' || isSection(t.text)) {
      throw new RequestError(`pvRequest: expected '${t.text === 'record' ? '[' : '('}' after '${t.text}', found ${this.where(this.peek())}`);
    }
    const after = this.peek();
    if (after.kind === 'punct' && after.text !== ',') throw new RequestError(`pvRequest: unexpected ${this.where(after)}`);
    addPath(this.sectionTree('field'), t.text, this.text, t.at);
  }

  /** After the section's name: '(' fieldList ')'. */
  private section(name: Section): void {
    this.k++; // '('
    this.fieldList(name, this.sectionTree(name));
  }

  private fieldList(name: Section, root: FieldNode): void {
    for (;;) {
      const f = this.peek();
      if (this.isPunct(f, ')')) {
        this.k++;
        return;
      }
      if (this.isPunct(f, ',')) {
        this.k++;
        continue;
      }
      if (f.kind !== 'name') throw new RequestError(`pvRequest: expected a field name or ')' in ${name}(...), found ${this.where(f)}`);
      this.k++;
      const leaf = addPath(root, f.text, this.text, f.at);
      if (this.peek().text === '[') this.fieldOptions(leaf);
    }
  }

  /** `path[k=v,…]`: the options become the field's `_options` node. */
  private fieldOptions(leaf: FieldNode): void {
    const opts = this.optionList();
    if (!opts.size) return;
    let o = leaf.children.get('_options');
    if (!o) leaf.children.set('_options', (o = node()));
    o.options ??= new Map();
    // options given to the same field twice add up (a later value for a key wins)
    for (const [key, v] of opts) {
      o.children.set(key, node());
      o.options.set(key, v);
    }
  }

  /** After 'record': its options are the request's record._options. */
  private record(): void {
    for (const [key, v] of this.optionList()) this.options.set(key, v);
  }

  /** '[' (',' | key '=' value)* ']' */
  private optionList(): Map<string, string> {
    this.k++; // '['
    const out = new Map<string, string>();
    for (;;) {
      const key = this.next();
      if (this.isPunct(key, ']')) return out;
      if (this.isPunct(key, ',')) continue;
      if (key.kind !== 'name') throw new RequestError(`pvRequest: expected key=value or ']', found ${this.where(key)}`);
      this.expect('=', `after option '${key.text}'`);
      const val = this.next();
      if (val.kind !== 'name') throw new RequestError(`pvRequest: expected a value for option '${key.text}', found ${this.where(val)}`);
      out.set(key.text, val.text);
    }
  }

  // ------------------------------------------------ tokens

  private peek(): Tok {
    return this.toks[this.k];
  }

  private next(): Tok {
    return this.toks[this.k++];
  }

  private isPunct(t: Tok, p: string): boolean {
    return t.kind === 'punct' && t.text === p;
  }

  private expect(p: string, ctx: string): void {
    const t = this.peek();
    if (!this.isPunct(t, p)) throw new RequestError(`pvRequest: expected '${p}' ${ctx}, found ${this.where(t)}`);
    this.k++;
  }

  private where(t: Tok): string {
    return t.kind === 'eof' ? `end of '${this.text}'` : `'${t.text}' at ${t.at} in '${this.text}'`;
  }

  /** The tree of a section, created on first mention. */
  private sectionTree(s: Section): FieldNode {
    let n = this.sections.get(s);
    if (!n) this.sections.set(s, (n = node()));
    return n;
  }
}

const EMPTY_STRUCT = new Structure('', []);

function nodeType(n: FieldNode): Structure {
  if (n.children.size === 0) return EMPTY_STRUCT;
  const members: Member[] = [];
  for (const [name, c] of n.children) {
    members.push({ name, type: n.options ? scalar('string') : nodeType(c) });
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

/** A pvRequest given as data instead of text: fields and record options. */
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
  if (n.options) {
    for (const [k, x] of n.options) v.set(`${path}.${k}`, x);
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
  const { sections, options } = new RequestParser(text).request();
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

/** The record options of a pvRequest (`record[queueSize=4,pipeline=true]` …). */
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

/** What a pvRequest selects of a type: the field mask, and the options. */
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
