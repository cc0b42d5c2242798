// Wire encoding of pvData: type descriptions (with the per-connection introspection cache on
// decode), full values, partial values selected by a BitSet, and Status.
import type { BitSet } from './bitset.ts';
import { Reader, Writer } from './buffer.ts';
import {
  CODE_SCALAR,
  SCALAR_CODE,
  Structure,
  UnionDesc,
  type FieldDesc,
  type Member,
  type ScalarType,
  ANY,
  scalar,
  scalarArray,
} from './types.ts';
import {
  ARRAY_CTOR,
  PVStructure,
  type AnyValue,
  type TypedNumberArray,
  type UnionValue,
} from './value.ts';

/** Type descriptions a peer defined with 0xFD, keyed by its 16-bit id (one cache per connection). */
export type TypeCache = Map<number, FieldDesc>;

const MAX_TYPE_DEPTH = 64;

/** Takes `n` structure fields from the reader's allowance; false (and a fault) when it runs out. */
function charge(r: Reader, n: number): boolean {
  r.budget -= n;
  if (r.budget >= 0) return true;
  r.fail('message describes more structure than its size allows');
  return false;
}

/** A bound or fixed size read from a type description (never negative). */
function readBound(r: Reader): number {
  const n = r.size();
  if (n < 0) {
    r.fail('null bound in a type description');
    return 0;
  }
  return n;
}

// ---------------------------------------------------------------- types

/** Encoded structure descriptions, big-endian [0] and little-endian [1] (sizes of 254 or more are byte-ordered). */
const encodedStructures = [new WeakMap<Structure, Buffer>(), new WeakMap<Structure, Buffer>()];

/** Writes a type description (null: the empty type). */
export function encodeType(w: Writer, t: FieldDesc | null): void {
  if (t === null) {
    w.u8(0xff);
    return;
  }
  if (t.kind === 'structure') {
    // a structure's description is the same bytes every time (servers send it with every INIT
    // reply): encoded once per byte order
    const memo = encodedStructures[w.littleEndian ? 1 : 0];
    const b = memo.get(t);
    if (b) return w.raw(b);
    const start = w.pos;
    encodeDesc(w, t);
    memo.set(t, Buffer.from(w.buf.subarray(start, w.pos)));
    return;
  }
  encodeDesc(w, t);
}

function encodeDesc(w: Writer, t: FieldDesc): void {
  switch (t.kind) {
    case 'scalar':
      if (t.bound !== undefined) {
        w.u8(0x83);
        w.size(t.bound);
      } else w.u8(SCALAR_CODE[t.type]);
      return;
    case 'scalarArray':
      if (t.bound !== undefined) {
        w.u8(SCALAR_CODE[t.type] | (t.fixed ? 0x18 : 0x10));
        w.size(t.bound);
      } else w.u8(SCALAR_CODE[t.type] | 0x08);
      return;
    case 'structure':
    case 'union':
      w.u8(t.kind === 'structure' ? 0x80 : 0x81);
      w.string(t.id);
      w.size(t.fields.length);
      for (const m of t.fields) {
        w.string(m.name);
        encodeType(w, m.type);
      }
      return;
    case 'any':
      w.u8(0x82);
      return;
    case 'structureArray':
      w.u8(0x88);
      encodeType(w, t.element);
      return;
    case 'unionArray':
      w.u8(0x89);
      encodeType(w, t.element);
      return;
  }
}

/**
 * Reads a type description, resolving and filling the connection's type cache; null for the empty
 * type.
 */
export function decodeType(r: Reader, cache?: TypeCache, depth = 0): FieldDesc | null {
  if (depth > MAX_TYPE_DEPTH) {
    r.fail('type description nested too deeply');
    return null;
  }
  const code = r.u8();
  if (!r.ok) return null;
  switch (code) {
    case 0xff:
      return null;
    case 0xfe: {
      const id = r.u16();
      const t = cache?.get(id);
      if (!t && r.ok) r.fail(`unknown introspection id ${id}`);
      return t ?? null;
    }
    case 0xfd:
    case 0xfc: {
      const id = r.u16();
      if (code === 0xfc) r.i32(); // tag, unused
      const t = decodeType(r, cache, depth + 1);
      if (t && cache) cache.set(id, t);
      return t;
    }
    case 0x80:
    case 0x81: {
      const id = r.string();
      const n = r.count(2);
      const fields: Member[] = [];
      for (let i = 0; i < n && r.ok; i++) {
        const name = r.string();
        const t = decodeType(r, cache, depth + 1);
        if (!t) {
          if (r.ok) r.fail(`field '${name}' has no type`);
          break;
        }
        fields.push({ name, type: t });
      }
      if (!r.ok) return null;
      if (code === 0x81) return new UnionDesc(id, fields);
      let entries = 1;
      for (const f of fields) entries += f.type.kind === 'structure' ? f.type.layout.length : 1;
      return charge(r, entries) ? new Structure(id, fields) : null;
    }
    case 0x82:
      return ANY;
    case 0x83:
      return { kind: 'scalar', type: 'string', bound: readBound(r) };
    case 0x88: {
      const e = decodeType(r, cache, depth + 1);
      if (r.ok && (!e || e.kind !== 'structure')) r.fail('structure array of a non-structure');
      return r.ok ? { kind: 'structureArray', element: e as Structure } : null;
    }
    case 0x89: {
      const e = decodeType(r, cache, depth + 1);
      if (r.ok && (!e || e.kind !== 'union')) r.fail('union array of a non-union');
      return r.ok ? { kind: 'unionArray', element: e as UnionDesc } : null;
    }
    default: {
      const base = CODE_SCALAR.get(code & ~0x18);
      if (base === undefined) {
        r.fail(`unknown type code 0x${code.toString(16)}`);
        return null;
      }
      switch (code & 0x18) {
        case 0:
          return scalar(base);
        case 0x08:
          return scalarArray(base);
        default:
          return { kind: 'scalarArray', type: base, bound: readBound(r), fixed: (code & 0x18) === 0x18 };
      }
    }
  }
}

// ---------------------------------------------------------------- values

function encodeScalar(w: Writer, t: ScalarType, v: unknown): void {
  switch (t) {
    case 'boolean':
      return w.u8(v ? 1 : 0);
    case 'byte':
      return w.i8(v as number);
    case 'ubyte':
      return w.u8(v as number);
    case 'short':
      return w.i16(v as number);
    case 'ushort':
      return w.u16(v as number);
    case 'int':
      return w.i32(v as number);
    case 'uint':
      return w.u32(v as number);
    case 'long':
      return w.i64(v as bigint);
    case 'ulong':
      return w.u64(v as bigint);
    case 'float':
      return w.f32(v as number);
    case 'double':
      return w.f64(v as number);
    case 'string':
      return w.string(v as string);
  }
}

function decodeScalar(r: Reader, t: ScalarType): unknown {
  switch (t) {
    case 'boolean':
      return r.u8() !== 0;
    case 'byte':
      return r.i8();
    case 'ubyte':
      return r.u8();
    case 'short':
      return r.i16();
    case 'ushort':
      return r.u16();
    case 'int':
      return r.i32();
    case 'uint':
      return r.u32();
    case 'long':
      return r.i64();
    case 'ulong':
      return r.u64();
    case 'float':
      return r.f32();
    case 'double':
      return r.f64();
    case 'string':
      return r.string();
  }
}

function encodeUnion(w: Writer, u: UnionDesc, v: UnionValue | null): void {
  if (!v) return w.size(-1);
  w.size(v.selector);
  encodeValue(w, u.fields[v.selector].type, v.value);
}

/** Encodes one field's value of type `t`. */
export function encodeValue(w: Writer, t: FieldDesc, v: unknown): void {
  switch (t.kind) {
    case 'scalar':
      return encodeScalar(w, t.type, v);
    case 'scalarArray': {
      const a = v as ArrayLike<unknown>;
      if (t.fixed) {
        // fixed arrays carry no count
      } else w.size(a.length);
      if (ARRAY_CTOR[t.type]) return w.typed(a as TypedNumberArray);
      if (t.type === 'boolean') {
        w.ensure(a.length);
        for (let i = 0; i < a.length; i++) w.buf[w.pos++] = a[i] ? 1 : 0;
      } else for (let i = 0; i < a.length; i++) w.string(a[i] as string);
      return;
    }
    case 'structure':
      return encodeStructure(w, v as PVStructure);
    case 'union':
      return encodeUnion(w, t, v as UnionValue | null);
    case 'any': {
      const av = v as AnyValue | null;
      if (!av) return w.u8(0xff);
      encodeType(w, av.type);
      return encodeValue(w, av.type, av.value);
    }
    case 'structureArray':
    case 'unionArray': {
      const a = v as ArrayLike<unknown>;
      w.size(a.length);
      for (let i = 0; i < a.length; i++) {
        const e = a[i];
        if (e === null || e === undefined) w.u8(0);
        else {
          w.u8(1);
          if (t.kind === 'structureArray') encodeStructure(w, e as PVStructure);
          else encodeUnion(w, t.element, e as UnionValue);
        }
      }
      return;
    }
  }
}

function decodeUnion(r: Reader, u: UnionDesc, cache: TypeCache | undefined): UnionValue | null {
  const sel = r.size();
  if (sel < 0) return null;
  if (sel >= u.fields.length) {
    r.fail(`union selector ${sel} out of range`);
    return null;
  }
  return { selector: sel, value: decodeValue(r, u.fields[sel].type, cache) };
}

/** A fixed array's element count, checked against the bytes left. */
function fixedCount(r: Reader, n: number, minWidth: number): number {
  if (n * minWidth <= r.remaining) return n;
  r.fail(`fixed array of ${n} exceeds the ${r.remaining} bytes left`);
  return 0;
}

const EMPTY = new Structure('', []);

/** Decodes one field's value of type `t`. */
export function decodeValue(r: Reader, t: FieldDesc, cache?: TypeCache): unknown {
  switch (t.kind) {
    case 'scalar':
      return decodeScalar(r, t.type);
    case 'scalarArray': {
      const C = ARRAY_CTOR[t.type];
      if (C) {
        const n = t.fixed ? fixedCount(r, t.bound!, C.BYTES_PER_ELEMENT) : r.count(C.BYTES_PER_ELEMENT);
        return r.typed(C, n);
      }
      const n = t.fixed ? fixedCount(r, t.bound!, 1) : r.count(1);
      const out: unknown[] = new Array(n);
      for (let i = 0; i < n && r.ok; i++) out[i] = decodeScalar(r, t.type);
      return r.ok ? out : [];
    }
    case 'structure': {
      if (!charge(r, t.layout.length)) return new PVStructure(EMPTY);
      const s = new PVStructure(t);
      decodeStructureInto(r, s, cache);
      return s;
    }
    case 'union':
      return decodeUnion(r, t, cache);
    case 'any': {
      const type = decodeType(r, cache);
      if (!type) return null;
      return { type, value: decodeValue(r, type, cache) } satisfies AnyValue;
    }
    case 'structureArray':
    case 'unionArray': {
      const n = r.count(1);
      const out: unknown[] = new Array(n);
      for (let i = 0; i < n && r.ok; i++) {
        if (r.u8() === 0) out[i] = null;
        else if (t.kind === 'structureArray') {
          if (!charge(r, t.element.layout.length)) break;
          const s = new PVStructure(t.element);
          decodeStructureInto(r, s, cache);
          out[i] = s;
        } else out[i] = decodeUnion(r, t.element, cache);
      }
      return r.ok ? out : [];
    }
  }
}

/** Encodes every field of a structure value. */
export function encodeStructure(w: Writer, s: PVStructure): void {
  const L = s.type.layout;
  const d = s.data;
  for (let i = 1; i < L.length; i++) {
    const t = L[i].type;
    if (t.kind !== 'structure') encodeValue(w, t, d[i]);
  }
}

/** Decodes every field of a structure value into `s`. */
export function decodeStructureInto(r: Reader, s: PVStructure, cache?: TypeCache): void {
  const L = s.type.layout;
  for (let i = 1; i < L.length && r.ok; i++) {
    const t = L[i].type;
    if (t.kind !== 'structure') s.data[i] = decodeValue(r, t, cache);
  }
}

/** Encodes the fields selected by `mask` (depth-first numbering; a structure's bit covers its children). */
export function encodeStructurePartial(w: Writer, s: PVStructure, mask: BitSet): void {
  if (mask.get(0)) return encodeStructure(w, s);
  const L = s.type.layout;
  const d = s.data;
  let i = mask.nextSetBit(1);
  while (i > 0 && i < L.length) {
    const e = L[i];
    for (let k = i; k < e.end; k++) {
      const t = L[k].type;
      if (t.kind !== 'structure') encodeValue(w, t, d[k]);
    }
    i = mask.nextSetBit(e.end);
  }
}

/** Decodes the fields selected by `mask` into `s`, marking them changed. */
export function decodeStructurePartial(r: Reader, s: PVStructure, mask: BitSet, cache?: TypeCache): void {
  const L = s.type.layout;
  if (mask.get(0)) {
    decodeStructureInto(r, s, cache);
    s.changed.set(0);
    return;
  }
  let i = mask.nextSetBit(1);
  while (i > 0 && i < L.length && r.ok) {
    const e = L[i];
    for (let k = i; k < e.end; k++) {
      const t = L[k].type;
      if (t.kind !== 'structure') s.data[k] = decodeValue(r, t, cache);
    }
    s.changed.set(i);
    i = mask.nextSetBit(e.end);
  }
}

/**
 * Recently decoded type descriptions, by their bytes. A server sends the same description with
 * every operation's INIT reply, and decoding it builds the whole Structure (layout, path maps)
 * again; a repeated description is answered from here. Descriptions that use the connection's type
 * cache (0xFC/0xFD/0xFE) are not remembered: the same bytes could mean another type later.
 */
export class TypeMemo {
  private readonly entries: Array<{ bytes: Buffer; type: FieldDesc }> = [];
  private next = 0;

  constructor(private readonly size = 16) {}

  /** decodeType, from the memo when the next bytes repeat a remembered description. */
  decode(r: Reader, cache?: TypeCache): FieldDesc | null {
    const start = r.pos;
    for (const e of this.entries) {
      const n = e.bytes.length;
      if (n <= r.end - start && r.buf.compare(e.bytes, 0, n, start, start + n) === 0) {
        // descriptions are prefix-free: these bytes are exactly that description
        r.pos = start + n;
        return e.type;
      }
    }
    const t = decodeType(r, cache);
    if (t && r.ok && r.pos - start >= 8) {
      const bytes = r.buf.subarray(start, r.pos);
      if (!bytes.includes(0xfc) && !bytes.includes(0xfd) && !bytes.includes(0xfe)) {
        this.entries[this.next] = { bytes: Buffer.from(bytes), type: t };
        this.next = (this.next + 1) % this.size;
      }
    }
    return t;
  }
}

// ---------------------------------------------------------------- status

/** Status of a pvAccess operation: OK, WARNING, ERROR or FATAL. */
export const enum StatusType {
  OK = 0,
  WARNING = 1,
  ERROR = 2,
  FATAL = 3,
}

/** A pvAccess status: its type, message and call tree. */
export interface Status {
  type: StatusType;
  message: string;
  callTree: string;
}

/** The OK status (encoded as the single byte 0xff). */
export const STATUS_OK: Status = Object.freeze({ type: StatusType.OK, message: '', callTree: '' });

/** An ERROR status with a message. */
export function statusError(message: string, callTree = ''): Status {
  return { type: StatusType.ERROR, message, callTree };
}

/** Whether a status is OK or a warning (the operation succeeded). */
export function isOk(s: Status): boolean {
  return s.type === StatusType.OK || s.type === StatusType.WARNING;
}

/** Writes a status (OK as the single byte 0xff). */
export function encodeStatus(w: Writer, s: Status): void {
  if (s.type === StatusType.OK && !s.message && !s.callTree) return w.u8(0xff);
  w.u8(s.type);
  w.string(s.message);
  w.string(s.callTree);
}

/** Reads a status. */
export function decodeStatus(r: Reader): Status {
  const t = r.u8();
  if (t === 0xff) return STATUS_OK;
  if (t > 3 && r.ok) r.fail(`bad status type ${t}`);
  return { type: t as StatusType, message: r.string(), callTree: r.string() };
}
