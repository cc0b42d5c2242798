// Type and value codec: round trips of every kind of field in both byte orders, the introspection
// cache, partial encoding by BitSet, Status, and hostile input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ANY,
  BitSet,
  PVStructure,
  Reader,
  SCALAR_TYPES,
  STATUS_OK,
  StatusType,
  Structure,
  Writer,
  decodeStatus,
  decodeStructureInto,
  decodeStructurePartial,
  decodeType,
  decodeValue,
  encodeStatus,
  encodeStructure,
  encodeStructurePartial,
  encodeType,
  encodeValue,
  formatType,
  scalar,
  scalarArray,
  statusError,
  struct,
  structArray,
  typeEquals,
  union,
  unionArray,
  type FieldDesc,
  type ScalarType,
  type TypeCache,
} from '../../src/pvdata/index.ts';
import { loadMessages } from './captures.ts';

const ORDERS = [true, false] as const;
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function roundTripType(t: FieldDesc, little: boolean): FieldDesc {
  const w = new Writer(little);
  encodeType(w, t);
  const r = new Reader(w.toBuffer(), little);
  const back = decodeType(r);
  assert.ok(r.ok, r.fault);
  assert.equal(r.remaining, 0);
  assert.ok(back);
  assert.ok(typeEquals(back, t), `type ${formatType(t)}`);
  return back;
}

function roundTripValue(t: FieldDesc, v: unknown, little: boolean): unknown {
  const w = new Writer(little, 8);
  encodeValue(w, t, v);
  const r = new Reader(w.toBuffer(), little);
  const back = decodeValue(r, t);
  assert.ok(r.ok, r.fault);
  assert.equal(r.remaining, 0, 'value consumed exactly');
  return back;
}

const SAMPLE: Record<ScalarType, unknown[]> = {
  boolean: [true, false],
  byte: [-128, 0, 127],
  short: [-32768, 32767],
  int: [-2147483648, 2147483647, 0],
  long: [-(1n << 63n), (1n << 63n) - 1n, 0n],
  ubyte: [0, 255],
  ushort: [0, 65535],
  uint: [0, 4294967295],
  ulong: [0n, (1n << 64n) - 1n],
  float: [1.5, -0.25, Infinity],
  double: [Math.PI, -1e308, 5e-324],
  string: ['', 'abc', 'Grüße 温度'],
};

const CODE: Record<ScalarType, number> = {
  boolean: 0x00, byte: 0x20, short: 0x21, int: 0x22, long: 0x23, ubyte: 0x24, ushort: 0x25, uint: 0x26,
  ulong: 0x27, float: 0x42, double: 0x43, string: 0x60,
};

test('every scalar type: type code and value round trip in both orders', () => {
  for (const t of SCALAR_TYPES) {
    for (const little of ORDERS) {
      const w = new Writer(little);
      encodeType(w, scalar(t));
      assert.deepEqual([...w.toBuffer()], [CODE[t]]);
      roundTripType(scalar(t), little);
      for (const v of SAMPLE[t]) assert.equal(roundTripValue(scalar(t), v, little), v, `${t} ${String(v)}`);
    }
  }
  // NaN survives too
  assert.ok(Number.isNaN(roundTripValue(scalar('double'), NaN, false) as number));
});

test('every scalar array type: type code and value round trip in both orders', () => {
  for (const t of SCALAR_TYPES) {
    for (const little of ORDERS) {
      const w = new Writer(little);
      encodeType(w, scalarArray(t));
      assert.deepEqual([...w.toBuffer()], [CODE[t] | 0x08]);
      roundTripType(scalarArray(t), little);
      const pv = new PVStructure(struct('', { a: `${t}[]` }), { a: SAMPLE[t] });
      const arr = pv.get('a');
      const back = roundTripValue(scalarArray(t), arr, little);
      assert.deepEqual(back, arr, `${t}[]`);
      // empty arrays
      const empty = new PVStructure(struct('', { a: `${t}[]` })).get('a');
      assert.deepEqual(roundTripValue(scalarArray(t), empty, little), empty);
    }
  }
});

test('big-endian double array bytes are byte-swapped element by element', () => {
  const w = new Writer(false);
  encodeValue(w, scalarArray('double'), Float64Array.of(1.5, 2.5));
  assert.equal(w.toBuffer().toString('hex'), '02' + '3ff8000000000000' + '4004000000000000');
  const l = new Writer(true);
  encodeValue(l, scalarArray('double'), Float64Array.of(1.5, 2.5));
  assert.equal(l.toBuffer().toString('hex'), '02' + '000000000000f83f' + '0000000000000440');
});

test('typeEquals tells fixed from bounded arrays', () => {
  const bounded: FieldDesc = { kind: 'scalarArray', type: 'int', bound: 4 };
  const decodedBounded: FieldDesc = { kind: 'scalarArray', type: 'int', bound: 4, fixed: false };
  const fixed: FieldDesc = { kind: 'scalarArray', type: 'int', bound: 4, fixed: true };
  assert.ok(typeEquals(bounded, decodedBounded));
  assert.ok(!typeEquals(bounded, fixed));
  assert.ok(!typeEquals(scalarArray('int'), bounded));
});

test('bounded string and bounded/fixed arrays: type round trip', () => {
  for (const little of ORDERS) {
    const bs: FieldDesc = { kind: 'scalar', type: 'string', bound: 16 };
    const w = new Writer(little);
    encodeType(w, bs);
    assert.equal(w.toBuffer().toString('hex'), '8310');
    roundTripType(bs, little);
    assert.equal(roundTripValue(bs, 'bounded', little), 'bounded');
    const bounded: FieldDesc = { kind: 'scalarArray', type: 'int', bound: 4 };
    roundTripType(bounded, little);
    assert.deepEqual(roundTripValue(bounded, Int32Array.of(1, 2), little), Int32Array.of(1, 2));
    const fixed: FieldDesc = { kind: 'scalarArray', type: 'short', bound: 3, fixed: true };
    const f = new Writer(little);
    encodeType(f, fixed);
    assert.equal(f.toBuffer().toString('hex'), '3903');
    roundTripType(fixed, little);
    // fixed arrays carry no count
    const fv = new Writer(little);
    encodeValue(fv, fixed, Int16Array.of(1, 2, 3));
    assert.equal(fv.toBuffer().length, 6);
    assert.deepEqual(roundTripValue(fixed, Int16Array.of(1, 2, 3), little), Int16Array.of(1, 2, 3));
    const fs: FieldDesc = { kind: 'scalarArray', type: 'string', bound: 2, fixed: true };
    assert.deepEqual(roundTripValue(fs, ['a', 'b'], little), ['a', 'b']);
  }
});

const inner = struct('inner_t', { x: 'int', label: 'string' });
const u = union('u_t', { i: 'int', s: 'string', st: inner });
const big = struct('test:big', {
  d: 'double',
  name: 'string',
  nested: inner,
  arr: 'double[]',
  u,
  v: ANY,
  sa: structArray(inner),
  ua: unionArray(u),
  flags: 'boolean[]',
});

function sampleBig(): PVStructure {
  const pv = new PVStructure(big);
  pv.set('d', 2.5);
  pv.set('name', 'näme');
  pv.set('nested.x', -7);
  pv.set('nested.label', 'L');
  pv.set('arr', [1, 2, 3]);
  pv.set('u', { selector: 2, value: { x: 1, label: 'in union' } });
  pv.set('v', { type: scalarArray('string'), value: ['p', 'q'] });
  pv.set('sa', [{ x: 1, label: 'a' }, null, { x: 3, label: 'c' }]);
  pv.set('ua', [{ selector: 0, value: 5 }, null, { selector: 1, value: 'str' }]);
  pv.set('flags', [true, false, true]);
  return pv;
}

test('structure with union, variant union, structure array (null elements), union array: round trip', () => {
  for (const little of ORDERS) {
    const t = roundTripType(big, little) as Structure;
    assert.equal(t.id, 'test:big');
    const pv = sampleBig();
    const w = new Writer(little);
    encodeStructure(w, pv);
    const r = new Reader(w.toBuffer(), little);
    const back = new PVStructure(t);
    decodeStructureInto(r, back);
    assert.ok(r.ok, r.fault);
    assert.equal(r.remaining, 0);
    const a = back.toJSON();
    const e = pv.toJSON();
    // 'any' carries a decoded type object: compare it structurally
    const av = a.v as { type: FieldDesc; value: unknown };
    const ev = e.v as { type: FieldDesc; value: unknown };
    assert.ok(typeEquals(av.type, ev.type));
    assert.deepEqual(av.value, ev.value);
    delete a.v;
    delete e.v;
    assert.deepEqual(a, e);
    const sa = back.get('sa') as (PVStructure | null)[];
    assert.equal(sa[1], null);
    assert.equal((back.get('ua') as unknown[])[1], null);
  }
});

test('variant union: null, scalar, structure; union: null selection', () => {
  for (const little of ORDERS) {
    const w = new Writer(little);
    encodeValue(w, ANY, null);
    assert.equal(w.toBuffer().toString('hex'), 'ff');
    assert.equal(roundTripValue(ANY, null, little), null);
    const d = roundTripValue(ANY, { type: scalar('double'), value: 1.25 }, little) as { type: FieldDesc; value: unknown };
    assert.ok(typeEquals(d.type, scalar('double')));
    assert.equal(d.value, 1.25);
    const sv = new PVStructure(inner, { x: 9, label: 'z' });
    const s = roundTripValue(ANY, { type: inner, value: sv }, little) as { type: FieldDesc; value: PVStructure };
    assert.deepEqual(s.value.toJSON(), { x: 9, label: 'z' });
    assert.equal(roundTripValue(u, null, little), null);
    const n = new Writer(little);
    encodeValue(n, u, null);
    assert.equal(n.toBuffer().toString('hex'), 'ff');
    assert.deepEqual(roundTripValue(u, { selector: 1, value: 'x' }, little), { selector: 1, value: 'x' });
  }
});

test('structure array wire form: count, then a presence byte per element', () => {
  const t = structArray(struct('p', { a: 'byte' }));
  const w = new Writer(true);
  encodeValue(w, t, [new PVStructure(t.element, { a: 1 }), null, new PVStructure(t.element, { a: -1 })]);
  assert.equal(w.toBuffer().toString('hex'), '03' + '0101' + '00' + '01ff');
});

test('type description bytes: structure, union, variant, arrays', () => {
  const t = struct('s', { a: 'int', u: union('', { x: 'double' }), v: ANY, sa: structArray(struct('', {})), ua: unionArray(union('', {})) });
  const w = new Writer(true);
  encodeType(w, t);
  assert.equal(
    w.toBuffer().toString('hex'),
    '80 0173 05 0161 22 0175 81 00 01 0178 43 0176 82 02 7361 88 80 00 00 02 7561 89 81 00 00'.replace(/ /g, ''),
  );
});

test('introspection cache: 0xFD defines, 0xFE refers back in a later message, unknown id faults', () => {
  const t = struct('cached_t', { a: 'double', b: 'string' });
  for (const little of ORDERS) {
    const body = new Writer(little);
    encodeType(body, t);
    const first = Buffer.concat([Buffer.from([0xfd]), little ? hex('3412') : hex('1234'), body.toBuffer()]);
    const cache: TypeCache = new Map();
    const r1 = new Reader(first, little);
    const t1 = decodeType(r1, cache);
    assert.ok(r1.ok && t1 && typeEquals(t1, t));
    assert.equal(r1.remaining, 0);
    assert.ok(cache.has(0x1234));
    const second = Buffer.concat([Buffer.from([0xfe]), little ? hex('3412') : hex('1234')]);
    const r2 = new Reader(second, little);
    assert.equal(decodeType(r2, cache), t1, 'the same description object comes back');
    assert.ok(r2.ok);
    // another connection's cache does not know the id
    const r3 = new Reader(second, little);
    assert.equal(decodeType(r3, new Map()), null);
    assert.match(r3.fault!, /unknown introspection id 4660/);
    // no cache at all
    const r4 = new Reader(second, little);
    decodeType(r4);
    assert.ok(!r4.ok);
  }
  // pvAccessCPP defines its put request type once and refers to it in the next operation
  const ops = loadMessages('pvacpp-put-ao.json').filter((m) => m.dir === 'c2s' && (m.command === 10 || m.command === 11) && m.payload[8] === 0x08);
  assert.deepEqual(ops.map((m) => m.payload.subarray(9).toString('hex')), ['fd0200800000', 'fe0200', 'fe0200']);
  const conn: TypeCache = new Map();
  const types = ops.map((m) => {
    const r = new Reader(m.payload, true, 9);
    const t = decodeType(r, conn);
    assert.ok(r.ok && r.remaining === 0);
    return t;
  });
  assert.ok(types[0] && types[0].kind === 'structure' && types[0].fields.length === 0);
  assert.equal(types[1], types[0]);
  assert.equal(types[2], types[0]);
  // pvAccessCPP's nested definitions in its request: fd 0200 { field: fd 0300 { value: fd 0400 {} } }
  const cache: TypeCache = new Map();
  const r = new Reader(hex('fd0200800001056669656c64fd03008000010576616c7565fd0400800000'), true);
  const req = decodeType(r, cache) as Structure;
  assert.ok(r.ok);
  assert.deepEqual(req.layout.map((e) => e.path), ['', 'field', 'field.value']);
  assert.deepEqual([...cache.keys()].sort(), [2, 3, 4]);
  const again = decodeType(new Reader(hex('fe0200'), true), cache);
  assert.equal(again, req);
});

test('partial encode/decode by BitSet: leaves, sub-structures, top bit', () => {
  const pv = sampleBig();
  const L = big.layout;
  const off = (p: string): number => big.offsetOf(p)!;
  for (const little of ORDERS) {
    for (const bits of [[off('d')], [off('nested')], [off('nested.label'), off('arr')], [off('u'), off('ua')], [0], []]) {
      const mask = BitSet.of(...bits);
      const w = new Writer(little);
      w.bitSet(mask);
      encodeStructurePartial(w, pv, mask);
      const r = new Reader(w.toBuffer(), little);
      const m2 = r.bitSet();
      const dst = new PVStructure(big);
      decodeStructurePartial(r, dst, m2);
      assert.ok(r.ok, r.fault);
      assert.equal(r.remaining, 0, `mask ${mask}`);
      assert.ok(dst.changed.equals(mask));
      // every covered leaf equals the source, every other leaf kept its default
      const fresh = new PVStructure(big);
      for (let i = 1; i < L.length; i++) {
        if (L[i].type.kind === 'structure' || L[i].type.kind === 'any') continue;
        const want = dst.isChanged(i) ? pv.data[i] : fresh.data[i];
        assert.deepEqual(
          JSON.stringify(dst.data[i], (_k, v) => (typeof v === 'bigint' ? String(v) : v instanceof PVStructure ? v.toJSON() : v)),
          JSON.stringify(want, (_k, v) => (typeof v === 'bigint' ? String(v) : v instanceof PVStructure ? v.toJSON() : v)),
          `${L[i].path} under ${mask}`,
        );
      }
    }
  }
  // a structure bit encodes its whole subtree once even when child bits are also set
  const w1 = new Writer(true);
  encodeStructurePartial(w1, pv, BitSet.of(off('nested'), off('nested.x')));
  const w2 = new Writer(true);
  encodeStructurePartial(w2, pv, BitSet.of(off('nested')));
  assert.deepEqual(w1.toBuffer(), w2.toBuffer());
});

test('Status: OK shortcut, each type, message and call tree, both orders', () => {
  for (const little of ORDERS) {
    const ok = new Writer(little);
    encodeStatus(ok, STATUS_OK);
    assert.equal(ok.toBuffer().toString('hex'), 'ff');
    assert.equal(decodeStatus(new Reader(ok.toBuffer(), little)), STATUS_OK);
    for (const type of [StatusType.OK, StatusType.WARNING, StatusType.ERROR, StatusType.FATAL]) {
      const s = { type, message: `msg ${type} µ`, callTree: type === StatusType.FATAL ? 'at a\nat b' : '' };
      const w = new Writer(little);
      encodeStatus(w, s);
      const b = w.toBuffer();
      assert.equal(b[0], type);
      const r = new Reader(b, little);
      assert.deepEqual(decodeStatus(r), s);
      assert.ok(r.ok);
      assert.equal(r.remaining, 0);
    }
  }
  const e = new Writer(true);
  encodeStatus(e, statusError('no such channel'));
  assert.equal(e.toBuffer().toString('hex'), '02' + '0f' + Buffer.from('no such channel').toString('hex') + '00');
  const bad = new Reader(hex('070000'), true);
  decodeStatus(bad);
  assert.match(bad.fault!, /bad status type 7/);
});

// ---- hostile input: faults, no throw, no huge allocation

function decodeTypeHex(h: string, cache?: TypeCache): Reader {
  const r = new Reader(hex(h), true);
  assert.doesNotThrow(() => decodeType(r, cache));
  return r;
}

test('bad type descriptions fault without throwing', () => {
  assert.match(decodeTypeHex('47').fault!, /unknown type code 0x47/);
  assert.match(decodeTypeHex('01').fault!, /unknown type code 0x1/);
  assert.match(decodeTypeHex('84').fault!, /unknown type code 0x84/);
  assert.match(decodeTypeHex('30').fault!, /need/); // bounded byte array without its bound
  assert.match(decodeTypeHex('80').fault!, /need/); // truncated id
  assert.match(decodeTypeHex('8000fe00000010').fault!, /exceeds/); // 1M fields in 0 bytes
  assert.match(decodeTypeHex('800002016122').fault!, /need|exceeds/); // second field missing
  assert.match(decodeTypeHex('80000101618000010162ff').fault!, /no type/);
  assert.match(decodeTypeHex('8822').fault!, /structure array of a non-structure/);
  assert.match(decodeTypeHex('8980000000').fault!, /union array of a non-union/);
  assert.match(decodeTypeHex('83ff').fault!, /null bound/);
  assert.match(decodeTypeHex('3aff').fault!, /null bound/);
  // over-deep nesting: 100 nested single-field structures
  const deep = '80000101' + '61'; // struct "" { a: ...
  assert.match(decodeTypeHex(`${(deep + '').repeat(100)}22`).fault!, /nested too deeply/);
  assert.match(decodeTypeHex('88'.repeat(200) + '800000').fault!, /nested too deeply/);
});

test('oversize counts in values fault before allocating', () => {
  const cases: [FieldDesc, string][] = [
    [scalarArray('double'), 'fe00000010' + '00'.repeat(16)],
    [scalarArray('string'), 'fe00000040'],
    [scalarArray('boolean'), 'fd0101'],
    [structArray(struct('', { a: 'int' })), 'feffffff7f'],
    [unionArray(union('', { a: 'int' })), 'fe00001000'],
    [{ kind: 'scalarArray', type: 'string', bound: 0x7fffffff, fixed: true }, '0000'],
    [{ kind: 'scalarArray', type: 'double', bound: 0x7fffffff, fixed: true }, '0000'],
    [scalar('string'), 'fe00ffffff'],
    [union('', { a: 'int' }), '05'],
  ];
  for (const [t, h] of cases) {
    const r = new Reader(hex(h), true);
    let v: unknown;
    assert.doesNotThrow(() => (v = decodeValue(r, t)));
    assert.ok(!r.ok, `${formatType(t)} ${h}`);
    if (Array.isArray(v) || ArrayBuffer.isView(v)) assert.ok((v as { length: number }).length <= 16);
  }
});

test('cached type references cannot multiply into a huge layout', () => {
  // level0 = struct{a,b:int}; levelN = struct{a,b: levelN-1} by 0xFE reference: 2^40 fields on paper
  const w = new Writer(true);
  const levels = 40;
  w.u8(0x80);
  w.string('');
  w.size(levels);
  for (let i = 0; i < levels; i++) {
    w.string(`l${i}`);
    w.u8(0xfd);
    w.u16(i);
    w.u8(0x80);
    w.string('');
    w.size(2);
    for (const n of ['a', 'b']) {
      w.string(n);
      if (i === 0) w.u8(0x22);
      else {
        w.u8(0xfe);
        w.u16(i - 1);
      }
    }
  }
  const r = new Reader(w.toBuffer(), true);
  const started = Date.now();
  assert.doesNotThrow(() => decodeType(r, new Map()));
  assert.ok(!r.ok);
  assert.match(r.fault!, /more structure than its size allows/);
  assert.ok(Date.now() - started < 2000);
});

test('structure arrays of field-heavy elements are bounded by the allowance', () => {
  // a 2000-field element type without data (empty structures) and a million one-byte elements
  const fields: Record<string, Structure> = {};
  for (let i = 0; i < 2000; i++) fields[`f${i}`] = struct('', {});
  const elem = struct('heavy', fields);
  const payload = Buffer.alloc(5 + 1_000_000, 1);
  payload.writeUInt8(0xfe, 0);
  payload.writeInt32LE(1_000_000, 1);
  const r = new Reader(payload, true);
  assert.doesNotThrow(() => decodeValue(r, structArray(elem)));
  assert.ok(!r.ok);
  assert.match(r.fault!, /more structure than its size allows/);
});
