// Block and register features from Rogue: blocks beyond the memory's maxAccess split into several
// transactions, retryCount, overlapping bits only with overlapEn, big-endian values, string arrays.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BlockError, Device, Emulate, RemoteVariable, Root, type Memory, type Transaction } from '../../src/tree/index.ts';
import { SpyMemory } from './helpers.ts';

/** Emulate with a small maxAccess that records every transaction. */
class Small implements Memory {
  readonly inner: Emulate;
  readonly log: { type: string; address: number; size: number }[] = [];
  constructor(maxAccess: number) { this.inner = new Emulate({ width: 4, maxAccess }); }
  get minAccess(): number { return this.inner.minAccess; }
  get maxAccess(): number { return this.inner.maxAccess; }
  async doTransaction(t: Transaction): Promise<void> {
    this.log.push({ type: t.type, address: t.address, size: t.size });
    await this.inner.doTransaction(t);
  }
}

test('a block larger than maxAccess is read, written and verified in maxAccess pieces', async () => {
  const mem = new Small(16);
  const root = new Root({ name: 'R', memBase: mem, pollEn: false });
  const d = new Device({ name: 'D', offset: 0x100 });
  const wave = new RemoteVariable({ name: 'Wave', offset: 0, base: 'UInt', bitSize: 32, numValues: 10, valueBits: 32, valueStride: 32 });
  d.add(wave);
  root.add(d);
  await root.start();
  try {
    const vals = Array.from({ length: 10 }, (_, i) => 0x1000 + i);
    await wave.set(vals);
    const pieces = (type: string) => mem.log.filter((x) => x.type === type).map((x) => [x.address, x.size]);
    assert.deepEqual(pieces('write'), [[0x100, 16], [0x110, 16], [0x120, 8]]);
    assert.deepEqual(pieces('verify'), [[0x100, 16], [0x110, 16], [0x120, 8]]);
    mem.log.length = 0;
    mem.inner.writeBytes(0x124, new Uint8Array([0xef, 0xbe, 0, 0]));
    await wave.get();
    assert.deepEqual(pieces('read'), [[0x100, 16], [0x110, 16], [0x120, 8]]);
    assert.deepEqual([...wave.value as Uint32Array], [...vals.slice(0, 9), 0xbeef]);
  } finally {
    await root.stop();
  }
});

test('retryCount: a failed transaction is tried again (and reported as a warning); past the count it fails', async () => {
  const mem = new SpyMemory();
  const root = new Root({ name: 'R', memBase: mem, pollEn: false });
  const d = new Device({ name: 'D' });
  const reg = new RemoteVariable({ name: 'Reg', offset: 0, retryCount: 2 });
  const plain = new RemoteVariable({ name: 'Plain', offset: 4 });
  d.add(reg, plain);
  root.add(d);
  await root.start();
  try {
    let failures = 2;
    mem.failWhen = (t) => (t.address === 0 && failures-- > 0 ? 'timeout' : undefined);
    await reg.set(5);
    assert.equal(mem.count('write'), 3, 'two failures, then success');
    assert.equal(reg.block.retryCount, 2);
    const log = JSON.parse((root.node('SystemLog') as RemoteVariable<string>).value as string) as { levelName: string; message: string }[];
    assert.equal(log.length, 2);
    assert.ok(log.every((e) => e.levelName === 'WARNING' && /try \d of 3 failed: timeout/.test(e.message)), JSON.stringify(log));
    mem.clear();
    failures = 5;
    await assert.rejects(reg.get(), /timeout/);
    assert.equal(mem.count('read'), 3, 'first try + 2 retries');
    mem.clear();
    mem.failWhen = (t) => (t.address === 4 ? 'timeout' : undefined);
    await assert.rejects(plain.get(), /timeout/);
    assert.equal(mem.count('read'), 1, 'no retries by default');
    // a verify mismatch is retried too
    mem.failWhen = undefined;
    mem.clear();
    let stuck = 1;
    const orig = mem.doTransaction.bind(mem);
    mem.doTransaction = async (t) => {
      await orig(t);
      if (t.type === 'verify' && stuck-- > 0) t.data[0] ^= 1;
    };
    await reg.set(6);
    assert.equal(mem.count('write'), 2);
  } finally {
    await root.stop();
  }
});

test('overlapping bits are an error unless every variable on them sets overlapEn', () => {
  const build = (a: object, b: object) => {
    const root = new Root({ name: 'R', pollEn: false });
    const d = new Device({ name: 'D' });
    d.add(new RemoteVariable({ name: 'A', offset: 0, bitSize: 8, ...a }), new RemoteVariable({ name: 'B', offset: 0, bitOffset: 4, bitSize: 8, ...b }));
    root.add(d);
    return () => d.blocks;
  };
  assert.throws(build({}, {}), (e: Error) => e instanceof BlockError && /R\.D: bits of R\.D\.B overlap another variable/.test(e.message));
  assert.throws(build({ overlapEn: true }, {}), BlockError);
  assert.throws(build({}, { overlapEn: true }), BlockError);
  assert.equal(build({ overlapEn: true }, { overlapEn: true })().length, 1);
});

test('overlapEn variables share bits: a write of one is seen by the other after a read', async () => {
  const root = new Root({ name: 'R', pollEn: false });
  const d = new Device({ name: 'D' });
  const word = new RemoteVariable({ name: 'Word', offset: 0, bitSize: 16, overlapEn: true });
  const hi = new RemoteVariable({ name: 'Hi', offset: 0, bitOffset: 8, bitSize: 8, overlapEn: true });
  d.add(word, hi);
  root.add(d);
  await root.start();
  try {
    await word.set(0xab12);
    await hi.get();
    assert.equal(hi.value, 0xab);
    await hi.set(0x34);
    await word.get();
    assert.equal(word.value, 0x3412);
  } finally {
    await root.stop();
  }
});

test('big-endian registers (UIntBE, IntBE, FloatBE, bigEndian: true) store the most significant byte first', async () => {
  const root = new Root({ name: 'R', pollEn: false });
  const mem = root.memBase as Emulate;
  const d = new Device({ name: 'D' });
  const u32 = new RemoteVariable({ name: 'U32', offset: 0, base: 'UIntBE', bitSize: 32 });
  const i16 = new RemoteVariable({ name: 'I16', offset: 4, base: 'IntBE', bitSize: 16 });
  const odd = new RemoteVariable({ name: 'Odd', offset: 6, bitOffset: 4, bitSize: 16, bigEndian: true }); // unaligned: slow path
  const f32 = new RemoteVariable({ name: 'F32', offset: 12, base: 'FloatBE', bitSize: 32 });
  const arr = new RemoteVariable({ name: 'Arr', offset: 16, base: 'UIntBE', bitSize: 16, numValues: 2, valueBits: 16, valueStride: 16 });
  d.add(u32, i16, odd, f32, arr);
  root.add(d);
  await root.start();
  try {
    await u32.set(0x11223344);
    await i16.set(-2);
    await odd.set(0xabcd);
    await f32.set(1.5);
    await arr.set([0x0102, 0x0304]);
    assert.deepEqual([...mem.readBytes(0, 4)], [0x11, 0x22, 0x33, 0x44]);
    assert.deepEqual([...mem.readBytes(4, 2)], [0xff, 0xfe]);
    assert.deepEqual([...mem.readBytes(6, 3)], [0xb0, 0xda, 0x0c], '0xabcd as ab cd, placed from bit 4');
    assert.deepEqual([...mem.readBytes(12, 4)], [0x3f, 0xc0, 0, 0]);
    assert.deepEqual([...mem.readBytes(16, 4)], [1, 2, 3, 4]);
    mem.writeBytes(0, new Uint8Array([0xde, 0xad, 0xbe, 0xef]));
    mem.writeBytes(6, new Uint8Array([0x10, 0x32, 0x04]));
    await root.readAll();
    assert.equal(u32.value, 0xdeadbeef);
    assert.equal(odd.value, 0x2143, 'bytes 10 32 04 hold 0x4321 from bit 4: big-endian 0x2143');
    assert.equal(u32.bigEndian, true);
    assert.equal(u32.base, 'UInt');
  } finally {
    await root.stop();
  }
  assert.throws(() => new RemoteVariable({ name: 'X', offset: 0, base: 'UIntBE', bitSize: 12 }), /whole number of bytes/);
});

test('string arrays in remote variables', async () => {
  const root = new Root({ name: 'R', pollEn: false });
  const mem = root.memBase as Emulate;
  const d = new Device({ name: 'D' });
  const names = new RemoteVariable({ name: 'Names', offset: 0, base: 'String', bitSize: 64, numValues: 3, valueBits: 64, valueStride: 64 });
  d.add(names);
  root.add(d);
  await root.start();
  try {
    assert.equal(names.typeStr, 'str[3]');
    assert.deepEqual(names.value, ['', '', '']);
    await names.set(['ab', 'cdefgh', '']);
    assert.deepEqual([...mem.readBytes(0, 10)], [0x61, 0x62, 0, 0, 0, 0, 0, 0, 0x63, 0x64]);
    mem.writeBytes(16, new TextEncoder().encode('xyz'));
    await names.get();
    assert.deepEqual(names.value, ['ab', 'cdefgh', 'xyz']);
    assert.equal(names.valueDisp, '[ab, cdefgh, xyz]');
    await assert.rejects(names.set(['123456789', '', '']), /does not fit/);
  } finally {
    await root.stop();
  }
});
