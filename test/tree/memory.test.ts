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
