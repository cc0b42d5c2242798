import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Emulate, Hub, MemoryError, type Transaction, Root, Device, RemoteVariable } from '../../src/tree/index.ts';

const tran = (type: Transaction['type'], address: number, data: Uint8Array): Transaction => ({ type, address, size: data.length, data, timeout: 1 });

test('Emulate: sparse pages, zero until written, accesses across page boundaries', async () => {
  const m = new Emulate({ width: 8 });
  assert.equal(m.minAccess, 8);
  const buf = new Uint8Array(16);
  await m.doTransaction(tran('read', 0x123450, buf));
  assert.deepEqual([...buf], new Array(16).fill(0));
  const data = Uint8Array.from({ length: 10000 }, (_, i) => i & 0xff);
  await m.doTransaction(tran('write', 4090, data)); // spans 4 pages
  const back = new Uint8Array(10000);
  await m.doTransaction(tran('verify', 4090, back));
  assert.deepEqual(back, data);
  await m.doTransaction(tran('post', 2 ** 40, new Uint8Array([1, 2, 3, 4])));
  assert.deepEqual([...m.readBytes(2 ** 40, 4)], [1, 2, 3, 4]);
  assert.deepEqual(m.counts, { read: 1, write: 1, post: 1, verify: 1 });
});

test('Emulate errors set the transaction error and reject with MemoryError', async () => {
  const m = new Emulate({ size: 0x100, maxAccess: 64 });
  const t = tran('write', 0xfe, new Uint8Array(4));
  await assert.rejects(m.doTransaction(t), (e: Error) => e instanceof MemoryError && e.address === 0xfe && e.type === 'write');
  assert.equal(t.error, 'address out of range');
  await assert.rejects(m.doTransaction(tran('read', 0, new Uint8Array(65))), /maxAccess/);
});

test('Hub adds its offset and passes errors back', async () => {
  const m = new Emulate({ size: 0x2000 });
  const h = new Hub({ offset: 0x1000, memBase: m });
  const h2 = new Hub({ offset: 0x100, memBase: h });
  await h2.doTransaction(tran('write', 0x10, new Uint8Array([9])));
  assert.equal(m.readBytes(0x1110, 1)[0], 9);
  const t = tran('read', 0x1000, new Uint8Array(4));
  await assert.rejects(h2.doTransaction(t), MemoryError);
  assert.equal(t.error, 'address out of range');
  assert.equal(h2.minAccess, 4);
});

test('a custom async memory works behind a Root (transactions complete later)', async () => {
  const store = new Emulate();
  const slow = {
    minAccess: 4, maxAccess: 4096,
    doTransaction: (t: Transaction) => new Promise<void>((res, rej) => setTimeout(() => store.doTransaction(t).then(res, rej), 1)),
  };
  const root = new Root({ memBase: slow, pollEn: false });
  const d = new Device({ name: 'D' });
  const v = new RemoteVariable({ name: 'V', offset: 0, bitSize: 16 });
  const w = new RemoteVariable({ name: 'W', offset: 2, bitSize: 16 });
  d.add(v, w);
  root.add(d);
  await Promise.all([v.set(0x1234), w.set(0x5678)]);
  assert.deepEqual([...store.readBytes(0, 4)], [0x34, 0x12, 0x78, 0x56]);
  assert.equal(await v.get(), 0x1234);
});

test('set resolves only after the hardware write; errors reject and keep the old value', async () => {
  const store = new Emulate();
  let release: (() => void) | undefined;
  let fail = false;
  const gated = {
    minAccess: 4, maxAccess: 4096,
    doTransaction: (t: Transaction) => new Promise<void>((res, rej) => {
      release = () => (fail ? rej(new MemoryError('gate error', t.address, t.size, t.type)) : store.doTransaction(t).then(res, rej));
    }),
  };
  const root = new Root({ memBase: gated, pollEn: false });
  const d = new Device({ name: 'D' });
  const v = new RemoteVariable({ name: 'V', offset: 0, verify: false });
  d.add(v);
  root.add(d);
  let done = false;
  const p = v.set(7).then(() => { done = true; });
  await new Promise((r) => setImmediate(r));
  assert.equal(done, false);
  assert.equal(v.value, 0, 'value changes when the write completes');
  assert.equal(store.readBytes(0, 1)[0], 0);
  release!();
  await p;
  assert.equal(v.value, 7);
  assert.equal(store.readBytes(0, 1)[0], 7);
  fail = true;
  const q = v.set(9);
  await new Promise((r) => setImmediate(r));
  release!();
  await assert.rejects(q, /gate error/);
  assert.equal(v.value, 7);
  // and getVariableValue(true) reads hardware
  fail = false;
  store.writeBytes(0, new Uint8Array([42]));
  const vv = v.getVariableValue(true);
  await new Promise((r) => setImmediate(r));
  release!();
  assert.equal((await vv).value, 42);
  assert.equal((await vv).valueDisp, '0x2a');
});

test('posted writes', async () => {
  const mem = new Emulate();
  const root = new Root({ memBase: mem, pollEn: false });
  const d = new Device({ name: 'D' });
  const v = new RemoteVariable({ name: 'V', offset: 0, bitSize: 8 });
  d.add(v);
  root.add(d);
  await v.post(5);
  assert.equal(mem.counts.post, 1);
  assert.equal(mem.counts.verify, 0);
  assert.equal(mem.readBytes(0, 1)[0], 5);
});
