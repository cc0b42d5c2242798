// Read-on-get: a client get reads hardware first when the cached value is older than maxAgeMs;
// per-path overrides; without it a get serves the last pushed value.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type Emulate, LocalVariable, RemoteVariable, Root } from '../../src/tree/index.ts';
import { timeToMs } from '../../src/pvdata/index.ts';
import { serve } from './harness.ts';
import { collect, sleep } from './util.ts';

interface Counter {
  calls: number;
}

function buildRoot(c: Counter): Root {
  const root = new Root({ name: 'R', pollEn: false });
  root.add(new LocalVariable({ name: 'cnt', typeStr: 'Int32', value: 0, localGet: () => ++c.calls }));
  root.add(new LocalVariable({ name: 'other', typeStr: 'Int32', value: 0, localGet: () => ++c.calls + 1000 }));
  root.add(new LocalVariable({ name: 'wo', typeStr: 'Int32', value: 0, mode: 'WO', localGet: () => ++c.calls + 2000 }));
  return root;
}

const get = async (s: Awaited<ReturnType<typeof serve>>, name: string) => (await s.client.get(name)).get('value');

test('with readOnGet, gets farther apart than maxAgeMs read the hardware each time', async () => {
  const c = { calls: 0 };
  const s = await serve(buildRoot(c), { readOnGet: { maxAgeMs: 50 } });
  try {
    const a = await get(s, 'test:R:cnt');
    assert.equal(c.calls, 1, 'the first get read (never updated before)');
    assert.equal(a, 1);
    await sleep(100);
    const b = await get(s, 'test:R:cnt');
    assert.equal(c.calls, 2);
    assert.equal(b, 2);
    assert.notEqual(a, b);
  } finally {
    await s.close();
  }
});

test('within maxAgeMs the cached value is served without calling localGet', async () => {
  const c = { calls: 0 };
  const s = await serve(buildRoot(c), { readOnGet: { maxAgeMs: 50 } });
  try {
    const a = await get(s, 'test:R:cnt');
    const n = c.calls;
    const b = await get(s, 'test:R:cnt');
    assert.equal(c.calls, n, 'localGet not called again');
    assert.equal(b, a);
  } finally {
    await s.close();
  }
});

test('a read that returns the same value still moves the timeStamp', async () => {
  const c = { calls: 0 };
  const root = new Root({ name: 'R', pollEn: false });
  root.add(new LocalVariable({ name: 'k', typeStr: 'Int32', value: 1, localGet: () => (++c.calls, 1) }));
  const s = await serve(root, { readOnGet: { maxAgeMs: 50 } });
  try {
    const v1 = await s.client.get('test:R:k');
    await sleep(100);
    const v2 = await s.client.get('test:R:k');
    assert.equal(c.calls, 2);
    assert.equal(v2.get('value'), 1);
    const t1 = timeToMs(v1.get('timeStamp') as { secondsPastEpoch: bigint; nanoseconds: number });
    const t2 = timeToMs(v2.get('timeStamp') as { secondsPastEpoch: bigint; nanoseconds: number });
    assert.ok(t2 - t1 >= 90, `timeStamp moved by ${t2 - t1} ms`);
    assert.ok(Math.abs(t2 - (root.getNode('R.k') as LocalVariable).lastUpdated) < 1);
  } finally {
    await s.close();
  }
});

test('readOnGetByPath null disables read-on-get for that path only', async () => {
  const c = { calls: 0 };
  const s = await serve(buildRoot(c), { readOnGet: { maxAgeMs: 50 }, readOnGetByPath: { 'R.cnt': null } });
  try {
    assert.equal(await get(s, 'test:R:cnt'), 0);
    await sleep(80);
    assert.equal(await get(s, 'test:R:cnt'), 0);
    assert.equal(c.calls, 0, 'localGet of R.cnt never called');
    assert.equal(await get(s, 'test:R:other'), 1001, 'the other path still reads');
    assert.equal(c.calls, 1);
  } finally {
    await s.close();
  }
});

test('readOnGetByPath can give one path its own maxAgeMs', async () => {
  const c = { calls: 0 };
  const s = await serve(buildRoot(c), { readOnGetByPath: { 'R.cnt': { maxAgeMs: 10 } } });
  try {
    assert.equal(await get(s, 'test:R:cnt'), 1);
    await sleep(30);
    assert.equal(await get(s, 'test:R:cnt'), 2);
    assert.equal(await get(s, 'test:R:other'), 0, 'no global readOnGet: other is not read');
    assert.equal(c.calls, 2);
  } finally {
    await s.close();
  }
});

test('write-only variables are never read on get', async () => {
  const c = { calls: 0 };
  const s = await serve(buildRoot(c), { readOnGet: { maxAgeMs: 0 } });
  try {
    await get(s, 'test:R:wo');
    assert.equal(c.calls, 0);
  } finally {
    await s.close();
  }
});

test('without readOnGet a get serves the last pushed value', async () => {
  const c = { calls: 0 };
  const root = buildRoot(c);
  const s = await serve(root);
  try {
    assert.equal(await get(s, 'test:R:cnt'), 0);
    await sleep(60);
    assert.equal(await get(s, 'test:R:cnt'), 0);
    assert.equal(c.calls, 0, 'no hardware read');
    await (root.getNode('R.cnt') as LocalVariable).set(17);
    assert.equal(await get(s, 'test:R:cnt'), 17);
    await (root.getNode('R.cnt') as LocalVariable).get(); // a read in the tree pushes its value
    assert.equal(c.calls, 1);
    assert.equal(await get(s, 'test:R:cnt'), 1);
  } finally {
    await s.close();
  }
});

test('a failing hardware read makes the get fail with its message', async () => {
  const root = new Root({ name: 'R', pollEn: false });
  root.add(
    new LocalVariable({
      name: 'bad',
      typeStr: 'Int32',
      value: 3,
      localGet: () => {
        throw new Error('bus error at 0x10');
      },
    }),
  );
  const s = await serve(root, { readOnGet: { maxAgeMs: 0 } });
  try {
    await assert.rejects(s.client.get('test:R:bad'), /test:R:bad.*bus error at 0x10/);
    assert.equal((root.getNode('R.bad') as LocalVariable).value, 3);
  } finally {
    await s.close();
  }
});

test('read-on-get of a RemoteVariable sees a register changed in hardware, and monitors get the new value', async () => {
  const root = new Root({ name: 'R', pollEn: false });
  root.add(new RemoteVariable({ name: 'status', offset: 0x20, bitSize: 32, bitOffset: 0, base: 'UInt', mode: 'RO' }));
  const s = await serve(root, { readOnGet: { maxAgeMs: 0 } });
  const mon = collect(s.client, 'test:R:status');
  try {
    assert.equal(await get(s, 'test:R:status'), 0);
    await mon.next();
    (root.memBase as Emulate).writeBytes(0x20, new Uint8Array([0x78, 0x56, 0x34, 0x12]));
    const from = mon.values.length;
    assert.equal(await get(s, 'test:R:status'), 0x12345678);
    assert.equal((await mon.next((v) => v.get('value') === 0x12345678, from)).get('value'), 0x12345678);
  } finally {
    mon.close();
    await s.close();
  }
});
