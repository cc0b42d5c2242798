// Byte-level pvData primitives: Size, strings, scalars in both byte orders, typed arrays, BitSet.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BitSet, Reader, Writer, swapBytes } from '../../src/pvdata/index.ts';
import { loadMessages } from './captures.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const ORDERS = [true, false] as const;
const order = (le: boolean): string => (le ? 'little-endian' : 'big-endian');

test('Size: 1-byte form, 5-byte form in each byte order, null', () => {
  const cases: [number, string, string][] = [
    [0, '00', '00'],
    [1, '01', '01'],
    [253, 'fd', 'fd'],
    [254, 'fefe000000', 'fe000000fe'],
    [255, 'feff000000', 'fe000000ff'],
    [65536, 'fe00000100', 'fe00010000'],
    [0x7fffffff, 'feffffff7f', 'fe7fffffff'],
    [-1, 'ff', 'ff'],
  ];
  for (const [n, le, be] of cases) {
    for (const little of ORDERS) {
      const w = new Writer(little);
      w.size(n);
      assert.equal(w.toBuffer().toString('hex'), little ? le : be, `${n} ${order(little)}`);
      const r = new Reader(w.toBuffer(), little);
      assert.equal(r.size(), n);
      assert.ok(r.ok);
      assert.equal(r.remaining, 0);
    }
  }
});

test('Size: negative 5-byte form and truncated forms fault', () => {
  const r = new Reader(hex('feffffffff'), true);
  r.size();
  assert.ok(!r.ok);
  const t = new Reader(hex('fe0100'), true);
  t.size();
  assert.ok(!t.ok);
  assert.match(t.fault!, /need 4 bytes/);
});

test('strings: ASCII, UTF-8 (byte length counted), long strings, empty', () => {
  const samples = ['', 'a', 'hello', 'Grüße', 'µA', '温度', '🚀 emoji', 'x'.repeat(253), 'y'.repeat(254), 'é'.repeat(200)];
  for (const s of samples) {
    for (const little of ORDERS) {
      const w = new Writer(little, 4);
      w.string(s);
      const bytes = w.toBuffer();
      const n = Buffer.byteLength(s, 'utf8');
      assert.equal(bytes.length, (n < 254 ? 1 : 5) + n, s.slice(0, 10));
      const r = new Reader(bytes, little);
      assert.equal(r.string(), s);
      assert.ok(r.ok);
      assert.equal(r.remaining, 0);
    }
  }
  const w = new Writer();
  w.string('µ');
  assert.equal(w.toBuffer().toString('hex'), '02c2b5');
});

test('string longer than the buffer faults without allocating', () => {
  const r = new Reader(hex('fe00000010 6162'), true);
  assert.equal(r.string(), '');
  assert.ok(!r.ok);
  assert.match(r.fault!, /exceeds/);
});

test('scalars in both byte orders, including extremes', () => {
  for (const little of ORDERS) {
    const w = new Writer(little, 1);
    w.u8(255);
    w.i8(-128);
    w.u16(0xbeef);
    w.i16(-32768);
    w.u32(0xdeadbeef);
    w.i32(-2147483648);
    w.i64(-(1n << 63n));
    w.u64((1n << 64n) - 1n);
    w.f32(1.5);
    w.f64(-Math.PI);
    const b = w.toBuffer();
    assert.equal(b.length, 1 + 1 + 2 + 2 + 4 + 4 + 8 + 8 + 4 + 8);
    // spot-check the byte order of the u16 and u32
    assert.equal(b.subarray(2, 4).toString('hex'), little ? 'efbe' : 'beef');
    assert.equal(b.subarray(6, 10).toString('hex'), little ? 'efbeadde' : 'deadbeef');
    const r = new Reader(b, little);
    assert.equal(r.u8(), 255);
    assert.equal(r.i8(), -128);
    assert.equal(r.u16(), 0xbeef);
    assert.equal(r.i16(), -32768);
    assert.equal(r.u32(), 0xdeadbeef);
    assert.equal(r.i32(), -2147483648);
    assert.equal(r.i64(), -(1n << 63n));
    assert.equal(r.u64(), (1n << 64n) - 1n);
    assert.equal(r.f32(), 1.5);
    assert.equal(r.f64(), -Math.PI);
    assert.ok(r.ok);
    assert.equal(r.remaining, 0);
  }
});

test('reader after a fault returns zero values and keeps the first fault', () => {
  const r = new Reader(hex('01'), true);
  assert.equal(r.u32(), 0);
  const first = r.fault;
  assert.equal(r.u8(), 0);
  assert.equal(r.f64(), 0);
  assert.equal(r.i64(), 0n);
  assert.equal(r.string(), '');
  assert.equal(r.fault, first);
});

test('typed arrays: bulk copy with byte swap for the other order', () => {
  const arrays = [
    Int8Array.of(-1, 2, -128),
    Uint8Array.of(0, 255),
    Int16Array.of(-2, 0x1234),
    Uint16Array.of(0xfffe, 1),
    Int32Array.of(-5, 0x12345678),
    Uint32Array.of(0xffffffff),
    BigInt64Array.of(-3n, 0x0102030405060708n),
    BigUint64Array.of((1n << 64n) - 1n),
    Float32Array.of(1.25, -0),
    Float64Array.of(Math.E, -Infinity, NaN),
  ];
  for (const a of arrays) {
    for (const little of ORDERS) {
      const w = new Writer(little, 1);
      w.u8(0xaa); // misalign the payload on purpose
      w.typed(a);
      const b = w.toBuffer();
      // compare with a DataView encoding element by element
      const width = a.BYTES_PER_ELEMENT;
      const ref = Buffer.alloc(a.length * width);
      const dv = new DataView(ref.buffer, ref.byteOffset, ref.byteLength);
      for (let i = 0; i < a.length; i++) {
        const v = (a as unknown as ArrayLike<number | bigint>)[i];
        switch (a.constructor) {
          case Int8Array: dv.setInt8(i, v as number); break;
          case Uint8Array: dv.setUint8(i, v as number); break;
          case Int16Array: dv.setInt16(i * 2, v as number, little); break;
          case Uint16Array: dv.setUint16(i * 2, v as number, little); break;
          case Int32Array: dv.setInt32(i * 4, v as number, little); break;
          case Uint32Array: dv.setUint32(i * 4, v as number, little); break;
          case BigInt64Array: dv.setBigInt64(i * 8, v as bigint, little); break;
          case BigUint64Array: dv.setBigUint64(i * 8, v as bigint, little); break;
          case Float32Array: dv.setFloat32(i * 4, v as number, little); break;
          case Float64Array: dv.setFloat64(i * 8, v as number, little); break;
        }
      }
      assert.deepEqual(b.subarray(1), ref, `${a.constructor.name} ${order(little)}`);
      const r = new Reader(b, little, 1);
      const C = a.constructor as unknown as { new (n: number): typeof a; BYTES_PER_ELEMENT: number };
      const back = r.typed(C, a.length);
      assert.deepEqual(back, a);
      assert.ok(r.ok);
    }
  }
  // the source array is never modified by a swapping write
  const src = Float64Array.of(1, 2, 3);
  new Writer(false).typed(src);
  assert.deepEqual(src, Float64Array.of(1, 2, 3));
});

test('large typed arrays (unpooled decode path) in both orders', () => {
  const a = new Float64Array(100_000).map((_, i) => i * 0.5 - 7);
  const i16 = new Int16Array(70_000).map((_, i) => i - 35_000);
  for (const little of ORDERS) {
    for (const arr of [a, i16]) {
      const w = new Writer(little);
      w.u8(1);
      w.typed(arr);
      const r = new Reader(w.toBuffer(), little, 1);
      const back = r.typed(arr.constructor as unknown as { new (n: number): typeof arr; BYTES_PER_ELEMENT: number }, arr.length);
      assert.deepEqual(back, arr);
      assert.equal(r.remaining, 0);
      // the result owns its memory: later changes to the input do not show through
      w.buf.fill(0);
      assert.deepEqual(back, arr);
    }
  }
  const dv = new DataView(new Writer(false).buf.buffer);
  assert.ok(dv);
  const w = new Writer(false);
  w.typed(Float64Array.of(1));
  assert.equal(w.toBuffer().toString('hex'), '3ff0000000000000');
});

test('swapBytes: native and fallback widths', () => {
  const b = Buffer.from('0102030405060708', 'hex');
  swapBytes(b, 0, 8, 8);
  assert.equal(b.toString('hex'), '0807060504030201');
  swapBytes(b, 0, 8, 4);
  assert.equal(b.toString('hex'), '0506070801020304');
  swapBytes(b, 2, 6, 3);
  assert.equal(b.toString('hex'), '0506010807040302');
});

test('typed read beyond the buffer faults without allocating', () => {
  const r = new Reader(hex('0000'), true);
  const a = r.typed(Float64Array, 1 << 28);
  assert.equal(a.length, 0);
  assert.ok(!r.ok);
});

// ---- BitSet wire form

function bitsWire(bits: number[], little: boolean): string {
  const w = new Writer(little);
  w.bitSet(BitSet.of(...bits));
  return w.toBuffer().toString('hex');
}

test('BitSet wire form: hand-computed bytes in both orders', () => {
  // empty set: zero length
  assert.equal(bitsWire([], true), '00');
  assert.equal(bitsWire([], false), '00');
  // fewer than 8 bytes: bytes least significant first in either order
  assert.equal(bitsWire([0], true), '0101');
  assert.equal(bitsWire([1, 7, 8, 9], true), '028203');
  assert.equal(bitsWire([1, 7, 8, 9], false), '028203');
  assert.equal(bitsWire([31], false), '0400000080');
  // exactly one full word: a 64-bit integer in the stream's order
  assert.equal(bitsWire([0, 63], true), '080100000000000080');
  assert.equal(bitsWire([0, 63], false), '088000000000000001');
  // one full word and a trailing byte
  assert.equal(bitsWire([0, 65], true), '09010000000000000002');
  assert.equal(bitsWire([0, 65], false), '09000000000000000102');
  // two full words and two trailing bytes, big-endian
  assert.equal(bitsWire([8, 64 + 16, 128, 128 + 9], false), '12' + '0000000000000100' + '0000000000010000' + '0102');
  for (const little of ORDERS) {
    for (const bits of [[], [0], [5, 70], [0, 63], [0, 64, 127], [1, 200, 333], [64 * 3 - 1]]) {
      const r = new Reader(hex(bitsWire(bits, little)), little);
      assert.deepEqual(r.bitSet().toArray(), bits);
      assert.ok(r.ok);
      assert.equal(r.remaining, 0);
    }
  }
});

test('BitSet wire form: masks in the captured replies', () => {
  // pvxs GET of peer:ai: the data reply's mask marks every valid leaf of the NTScalar
  const get = loadMessages('pvxs-get-ai.json').filter((m) => m.dir === 's2c' && m.command === 10);
  const data = get[get.length - 1].payload;
  const r = new Reader(data, true, 4 + 1 + 1); // ioid, subcommand, status OK
  const mask = r.bitSet();
  assert.deepEqual(Buffer.from(data.subarray(6, 11)).toString('hex'), '04bafb361e');
  assert.deepEqual(mask.toArray(), [1, 3, 4, 5, 7, 8, 9, 11, 12, 13, 14, 15, 17, 18, 20, 21, 25, 26, 27, 28]);
  const w = new Writer(true);
  w.bitSet(mask);
  assert.equal(w.toBuffer().toString('hex'), '04bafb361e');
  // monitor updates of peer:count: value and timeStamp's three leaves
  const mon = loadMessages('pvxs-monitor-count.json').filter((m) => m.dir === 's2c' && m.command === 13);
  const upd = new Reader(mon[mon.length - 1].payload, true, 5);
  assert.deepEqual(upd.bitSet().toArray(), [1, 7, 8, 9]);
});

test('BitSet: set operations', () => {
  const a = BitSet.of(1, 5, 64, 100);
  assert.equal(a.cardinality(), 4);
  assert.equal(a.nextSetBit(6), 64);
  assert.equal(a.nextSetBit(101), -1);
  assert.equal(a.byteLength(), 13);
  const b = a.clone().and(BitSet.of(5, 100, 7));
  assert.deepEqual(b.toArray(), [5, 100]);
  assert.ok(!a.equals(b));
  assert.ok(b.or(BitSet.of(1, 64)).equals(a));
  assert.deepEqual(new BitSet().setRange(3, 6).toArray(), [3, 4, 5]);
  assert.ok(new BitSet(1000).isEmpty());
});
