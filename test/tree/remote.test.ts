import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Root, Device, RemoteVariable, Emulate, MemoryError, VariableError } from '../../src/tree/index.ts';
import { SpyMemory } from './helpers.ts';

function setup(mem = new SpyMemory()) {
  const root = new Root({ name: 'Root', memBase: mem, pollEn: false });
  const dev = new Device({ name: 'Dev', offset: 0x100 });
  root.add(dev);
  return { root, dev, mem };
}

test('bit fields across byte boundaries, unsigned and signed', async () => {
  const { dev, mem } = setup();
  const u = new RemoteVariable({ name: 'U', offset: 0, bitOffset: 5, bitSize: 11 }); // bits 5..15
  const s = new RemoteVariable({ name: 'S', offset: 0, bitOffset: 20, bitSize: 7, base: 'Int' }); // bits 20..26
  const b = new RemoteVariable({ name: 'B', offset: 0, bitOffset: 31, bitSize: 1, base: 'Bool' });
  dev.add(u, s, b);
  await u.set(0x7ff);
  await s.set(-64);
  await b.set(true);
  const raw = mem.inner.readBytes(0x100, 4);
  const word = new DataView(raw.buffer).getUint32(0, true);
  assert.equal((word >>> 5) & 0x7ff, 0x7ff);
  assert.equal((word >>> 20) & 0x7f, 0x40); // -64 in 7-bit two's complement
  assert.equal(word >>> 31, 1);
  assert.equal(word & 0x1f, 0, 'neighbouring bits untouched');
  // hardware changes: read back through the block
  mem.inner.writeBytes(0x100, new Uint8Array([0xe0, 0xff, 0xf0, 0x03]));
  assert.equal(await s.get(), 0x3f); // bits 20..26 = 0b0111111
  assert.equal(u.value, 0x7ff);
  assert.equal(b.value, false);
  mem.inner.writeBytes(0x100, new Uint8Array([0, 0, 0x70, 0x04])); // bits 20..26 = 0b1000111 → -57
  assert.equal(await s.get(), -57);
  await assert.rejects(s.set(64), /out of range/);
  await assert.rejects(u.set(2048), /out of range/);
  await assert.rejects(u.set(-1), /out of range/);
});

test('several bit ranges make one value (first range = low bits)', async () => {
  const { dev, mem } = setup();
  const v = new RemoteVariable({ name: 'Split', offset: 0, bitOffset: [4, 16], bitSize: [4, 8], base: 'Int' });
  dev.add(v);
  assert.equal(v.typeStr, 'Int12');
  await v.set(-2); // 0xffe: low nibble 0xe at bits 4..7, high byte 0xff at bits 16..23
  assert.deepEqual([...mem.inner.readBytes(0x100, 4)], [0xe0, 0x00, 0xff, 0x00]);
  mem.inner.writeBytes(0x100, new Uint8Array([0x30, 0, 0x12, 0]));
  assert.equal(await v.get(), 0x123);
});

test('types: 8..64-bit ints, bigint beyond 2^53, floats, strings, arrays', async () => {
  const { dev, mem } = setup();
  const u64 = new RemoteVariable({ name: 'U64', offset: 0, bitSize: 64 });
  const i64 = new RemoteVariable({ name: 'I64', offset: 8, bitSize: 64, base: 'Int' });
  const u48 = new RemoteVariable({ name: 'U48', offset: 16, bitOffset: 4, bitSize: 48 });
  const f32 = new RemoteVariable({ name: 'F32', offset: 24, bitSize: 32, base: 'Float' });
  const f64 = new RemoteVariable({ name: 'F64', offset: 32, bitSize: 64, base: 'Float' });
  const str = new RemoteVariable({ name: 'Str', offset: 40, bitSize: 64, base: 'String' });
  const arr = new RemoteVariable({ name: 'Arr', offset: 48, bitSize: 8, numValues: 8, base: 'UInt' });
  const arr12 = new RemoteVariable({ name: 'Arr12', offset: 56, numValues: 4, valueBits: 12, valueStride: 16, base: 'Int' });
  dev.add(u64, i64, u48, f32, f64, str, arr, arr12);
  assert.equal(u64.typeStr, 'UInt64');
  assert.equal(arr.typeStr, 'UInt8[8]');
  assert.deepEqual(arr.nativeType, { kind: 'uint', bits: 8, length: 8 });
  assert.equal(u64.disp, '{:#x}');
  assert.equal(f32.disp, '{:f}');
  await u64.set(2n ** 64n - 1n);
  assert.equal(await u64.get(), 2n ** 64n - 1n);
  await u64.set(5);
  assert.equal(await u64.get(), 5);
  assert.equal(typeof u64.value, 'number');
  await i64.set(-(2n ** 63n));
  assert.equal(await i64.get(), -(2n ** 63n));
  await u48.set(2 ** 48 - 1);
  assert.equal(await u48.get(), 2 ** 48 - 1);
  assert.equal(mem.inner.readBytes(0x100 + 16, 1)[0], 0xf0);
  await f32.set(1.1);
  assert.equal(await f32.get(), Math.fround(1.1));
  await f64.set(-2.5e300);
  assert.equal(await f64.get(), -2.5e300);
  await str.set('héllo');
  assert.equal(await str.get(), 'héllo');
  await assert.rejects(str.set('way too long'), /does not fit/);
  await arr.set([1, 2, 3, 4, 5, 6, 7, 255]);
  assert.deepEqual([...(await arr.get()) as Uint8Array], [1, 2, 3, 4, 5, 6, 7, 255]);
  await assert.rejects(arr.set([1, 2, 3, 4, 5, 6, 7, 256]), /element 7/);
  await arr12.set([-2048, 2047, -1, 0]);
  assert.deepEqual([...(await arr12.get()) as Int16Array], [-2048, 2047, -1, 0]);
  assert.equal(arr12.typeStr, 'Int12[4]');
});

test('variables sharing a word form one block: one transaction per read or write', async () => {
  const { dev, mem } = setup();
  const a = new RemoteVariable({ name: 'A', offset: 0, bitSize: 8 });
  const b = new RemoteVariable({ name: 'B', offset: 1, bitSize: 8 });
  const c = new RemoteVariable({ name: 'C', offset: 2, bitOffset: 3, bitSize: 12 });
  const d = new RemoteVariable({ name: 'D', offset: 8, bitSize: 32 });
  dev.add(a, b, c, d);
  assert.equal(dev.blocks.length, 2);
  assert.deepEqual(dev.blocks.map((x) => [x.offset, x.size]), [[0, 4], [8, 4]]);
  await dev.readBlocks();
  assert.equal(mem.count('read'), 2);
  mem.clear();
  await a.set(1, { verify: false });
  assert.deepEqual(mem.log, [{ type: 'write', address: 0x100, size: 4 }]);
  mem.clear();
  mem.inner.writeBytes(0x100, new Uint8Array([9, 8, 0, 0]));
  const seen: string[] = [];
  for (const v of [a, b, c]) v.addListener((p) => seen.push(p));
  await b.get();
  assert.equal(mem.count('read'), 1);
  assert.deepEqual([a.value, b.value], [9, 8]);
  assert.deepEqual(seen, ['Root.Dev.A', 'Root.Dev.B']); // C did not change
});

test('verify after write catches a register that does not keep bits', async () => {
  const { dev, mem } = setup();
  const v = new RemoteVariable({ name: 'V', offset: 0, bitSize: 8 });
  const nv = new RemoteVariable({ name: 'NV', offset: 4, bitSize: 8, verify: false });
  dev.add(v, nv);
  await v.set(3);
  assert.deepEqual(mem.log.map((x) => x.type), ['write', 'verify']);
  mem.stuckBits = { address: 0x100, mask: 0x80 };
  await assert.rejects(v.set(0x81), (e: Error) => e instanceof MemoryError && /verify error/.test(e.message));
  assert.equal(v.value, 3, 'value unchanged after a failed verify');
  mem.clear();
  await nv.set(1);
  assert.deepEqual(mem.log.map((x) => x.type), ['write']);
});

test('memory errors surface on the variables involved and corrupt nothing else', async () => {
  const { root, dev, mem } = setup();
  const a = new RemoteVariable({ name: 'A', offset: 0, bitSize: 16 });
  const b = new RemoteVariable({ name: 'B', offset: 2, bitSize: 16 });
  const c = new RemoteVariable({ name: 'C', offset: 4, bitSize: 32 });
  dev.add(a, b, c);
  await a.set(0x1111);
  await b.set(0x2222);
  await c.set(0x3333);
  mem.failWhen = (t) => (t.type === 'write' && t.address === 0x100 ? 'bus error' : undefined);
  await assert.rejects(a.set(0x4444), (e: Error) => e instanceof MemoryError && /bus error/.test(e.message) && (e as MemoryError).address === 0x100);
  assert.equal(a.value, 0x1111);
  assert.equal(b.value, 0x2222);
  mem.failWhen = undefined;
  await b.set(0x5555); // the block rewrite must carry A's old value, not the failed one
  assert.deepEqual([...mem.inner.readBytes(0x100, 4)], [0x11, 0x11, 0x55, 0x55]);
  mem.inner.writeBytes(0x100, new Uint8Array([1, 0, 2, 0, 3, 0, 0, 0]));
  mem.failWhen = (t) => (t.type === 'read' && t.address === 0x100 ? 'timeout' : undefined);
  await assert.rejects(a.get(), /timeout/);
  assert.equal(a.value, 0x1111, 'failed read leaves old value');
  await assert.rejects(root.readAll(), /timeout/);
  assert.equal(c.value, 3, 'the other block was still read');
  assert.equal(a.value, 0x1111);
  // Emulate's own range error
  const small = new Root({ memBase: new Emulate({ size: 0x10 }) });
  const far = new RemoteVariable({ name: 'Far', offset: 0x20 });
  small.add(far);
  await assert.rejects(far.set(1), (e: Error) => e instanceof MemoryError && /out of range/.test(e.message));
  await assert.rejects(far.get(), MemoryError);
});

test('modes: set on RO throws, get on WO returns the last written value without a read', async () => {
  const { dev, mem } = setup();
  const ro = new RemoteVariable({ name: 'RO', offset: 0, mode: 'RO' });
  const wo = new RemoteVariable({ name: 'WO', offset: 4, mode: 'WO', bitSize: 8 });
  const wo2 = new RemoteVariable({ name: 'WO2', offset: 5, bitSize: 8 }); // shares WO's block
  dev.add(ro, wo, wo2);
  await assert.rejects(ro.set(1), VariableError);
  await assert.rejects(ro.set(1), /read-only/);
  await wo.set(42);
  mem.clear();
  assert.equal(await wo.get(), 42);
  assert.equal(mem.count(), 0);
  mem.inner.writeBytes(0x104, new Uint8Array([7, 9]));
  await wo2.get(); // a block read must not clobber the WO bits
  assert.equal(wo2.value, 9);
  assert.equal(wo.value, 42);
  await wo2.set(1);
  assert.deepEqual([...mem.inner.readBytes(0x104, 2)], [42, 1]);
  await ro.set(5, { force: true, write: false }); // device code may update its status shadow
  assert.equal(ro.value, 5);
});

test('device offsets, memBase and Hub compose addresses', async () => {
  const { Hub } = await import('../../src/tree/index.ts');
  const mem = new Emulate();
  const root = new Root({ memBase: mem });
  const outer = new Device({ name: 'Outer', offset: 0x1000 });
  const inner = new Device({ name: 'Inner', offset: 0x20 });
  const hubbed = new Device({ name: 'Hubbed', offset: 0x4, memBase: new Hub({ offset: 0x8000, memBase: mem }) });
  outer.add(inner);
  root.add(outer, hubbed);
  const v = new RemoteVariable({ name: 'V', offset: 0x8, bitSize: 8 });
  const h = new RemoteVariable({ name: 'H', offset: 0, bitSize: 8 });
  inner.add(v);
  hubbed.add(h);
  await v.set(0xaa);
  await h.set(0xbb);
  assert.equal(v.address, 0x1028);
  assert.equal(mem.readBytes(0x1028, 1)[0], 0xaa);
  assert.equal(mem.readBytes(0x8004, 1)[0], 0xbb);
});
