// Put rules: modes, enums by index and choice, strings, arrays, range and type errors, and
// completion only after the tree set and the hardware write.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Device, type Emulate, LocalVariable, RemoteVariable, Root } from '../../src/tree/index.ts';
import type { EpicsPvHolder } from '../../src/epics/index.ts';
import { serve } from './harness.ts';
import { rejectsMatching, sleep } from './util.ts';

function buildRoot(): Root {
  const root = new Root({ name: 'R', pollEn: false });
  const d = new Device({ name: 'D' });
  root.add(d);
  d.add(new LocalVariable({ name: 'rw', typeStr: 'Int32', value: 1, mode: 'RW' }));
  d.add(new LocalVariable({ name: 'wo', typeStr: 'Int32', value: 1, mode: 'WO' }));
  d.add(new LocalVariable({ name: 'ro', typeStr: 'Int32', value: 7, mode: 'RO' }));
  d.add(new LocalVariable({ name: 'u8', typeStr: 'UInt8', value: 3 }));
  d.add(new LocalVariable({ name: 'lim', typeStr: 'Int32', value: 10, minimum: 0, maximum: 100 }));
  d.add(new LocalVariable({ name: 'u64', typeStr: 'UInt64', value: 0 }));
  d.add(new LocalVariable({ name: 'mode', typeStr: 'UInt8', value: 0, enum: { 0: 'Off', 1: 'On', 5: 'Auto' } }));
  d.add(new LocalVariable({ name: 'flag', typeStr: 'Bool', value: false, enum: { 0: 'No', 1: 'Yes' } }));
  d.add(new LocalVariable({ name: 'label', value: 'hello' }));
  d.add(new LocalVariable({ name: 'af32', value: new Float32Array([0, 0, 0]) }));
  d.add(new LocalVariable({ name: 'au8', typeStr: 'UInt8[4]', value: [0, 0, 0, 0] }));
  d.add(new LocalVariable({ name: 'wide', typeStr: 'UInt128', value: 0 }));
  d.add(new LocalVariable({ name: 'u12', typeStr: 'UInt12', value: 1 }));
  d.add(new RemoteVariable({ name: 'reg', offset: 0x10, bitSize: 32, bitOffset: 0, base: 'UInt', mode: 'RW' }));
  return root;
}

const val = (root: Root, path: string) => (root.getNode(`R.D.${path}`) as LocalVariable).value;

test('RW and WO variables accept puts', async () => {
  const root = buildRoot();
  const s = await serve(root);
  try {
    await s.client.put('test:R:D:rw', 42);
    assert.equal(val(root, 'rw'), 42);
    await s.client.put('test:R:D:wo', -5);
    assert.equal(val(root, 'wo'), -5);
  } finally {
    await s.close();
  }
});

test('a put to an RO variable is refused with an error naming the PV; the tree is unchanged', async () => {
  const root = buildRoot();
  const s = await serve(root);
  try {
    await rejectsMatching(s.client.put('test:R:D:ro', 99), /test:R:D:ro/, /read-only/);
    assert.equal(val(root, 'ro'), 7);
    assert.equal((await s.client.get('test:R:D:ro')).get('value'), 7);
  } finally {
    await s.close();
  }
});

test('enum put by index', async () => {
  const root = buildRoot();
  const s = await serve(root);
  try {
    await s.client.put('test:R:D:mode', { 'value.index': 2 });
    assert.equal(val(root, 'mode'), 5, 'index 2 is key 5 (Auto)');
    await s.client.put('test:R:D:mode', 1);
    assert.equal(val(root, 'mode'), 1);
    assert.equal((await s.client.get('test:R:D:mode')).get('value.index'), 1);
  } finally {
    await s.close();
  }
});

test('enum put by choice string', async () => {
  const root = buildRoot();
  const s = await serve(root);
  try {
    await s.client.put('test:R:D:mode', 'Auto');
    assert.equal(val(root, 'mode'), 5);
    await s.client.put('test:R:D:mode', 'Off');
    assert.equal(val(root, 'mode'), 0);
    await s.client.put('test:R:D:flag', 'Yes');
    assert.equal(val(root, 'flag'), true, 'a Bool enum gets a boolean');
    await rejectsMatching(s.client.put('test:R:D:mode', 'Sideways'), /Sideways/);
    assert.equal(val(root, 'mode'), 0);
  } finally {
    await s.close();
  }
});

test('enum put with an index out of range is refused', async () => {
  const root = buildRoot();
  const s = await serve(root);
  try {
    await rejectsMatching(s.client.put('test:R:D:mode', { 'value.index': 3 }), /test:R:D:mode/, /out of range/);
    assert.equal(val(root, 'mode'), 0);
  } finally {
    await s.close();
  }
});

test('string variable put', async () => {
  const root = buildRoot();
  const s = await serve(root);
  try {
    await s.client.put('test:R:D:label', 'world 42');
    assert.equal(val(root, 'label'), 'world 42');
    assert.equal((await s.client.get('test:R:D:label')).get('value'), 'world 42');
  } finally {
    await s.close();
  }
});

test('array puts', async () => {
  const root = buildRoot();
  const s = await serve(root);
  try {
    await s.client.put('test:R:D:af32', [1.5, -2, 3.25]);
    const a = val(root, 'af32');
    assert.ok(a instanceof Float32Array);
    assert.deepEqual(Array.from(a), [1.5, -2, 3.25]);
    await s.client.put('test:R:D:au8', new Uint8Array([9, 8, 7, 255]));
    assert.deepEqual(Array.from(val(root, 'au8') as Uint8Array), [9, 8, 7, 255]);
    assert.deepEqual(Array.from((await s.client.get('test:R:D:au8')).get('value') as Uint8Array), [9, 8, 7, 255]);
    // wrong length: the tree's check refuses it
    await rejectsMatching(s.client.put('test:R:D:au8', [1, 2]), /test:R:D:au8|R\.D\.au8/);
    assert.deepEqual(Array.from(val(root, 'au8') as Uint8Array), [9, 8, 7, 255]);
  } finally {
    await s.close();
  }
});

test('UInt64 put above 2^53 is exact', async () => {
  const root = buildRoot();
  const s = await serve(root);
  try {
    const big = 2n ** 63n + 5n;
    await s.client.put('test:R:D:u64', big);
    assert.equal(val(root, 'u64'), big);
    await s.client.put('test:R:D:u64', 12n);
    assert.equal(val(root, 'u64'), 12);
  } finally {
    await s.close();
  }
});

test('out-of-range puts return an error and leave the tree value unchanged', async () => {
  const root = buildRoot();
  const s = await serve(root);
  try {
    await rejectsMatching(s.client.put('test:R:D:u8', 300), /300|range/);
    assert.equal(val(root, 'u8'), 3);
    await rejectsMatching(s.client.put('test:R:D:lim', 101), /test:R:D:lim|R\.D\.lim/, /outside|range/);
    assert.equal(val(root, 'lim'), 10);
    await rejectsMatching(s.client.put('test:R:D:lim', -1), /outside|range/);
    assert.equal(val(root, 'lim'), 10);
    assert.equal((await s.client.get('test:R:D:lim')).get('value'), 10);
  } finally {
    await s.close();
  }
});

test('a value the wire type holds but the tree type does not (5000 into UInt12 on a ushort) is refused by the server', async () => {
  const root = buildRoot();
  const s = await serve(root);
  try {
    const t = await s.client.info('test:R:D:u12');
    assert.equal((t as { typeAt(p: string): { type?: string } }).typeAt('value')?.type, 'ushort');
    await rejectsMatching(s.client.put('test:R:D:u12', 5000), /test:R:D:u12|R\.D\.u12/, /range/);
    assert.equal(val(root, 'u12'), 1);
    await s.client.put('test:R:D:u12', 4095);
    assert.equal(val(root, 'u12'), 4095);
    assert.ok(s.log.lines.some((l) => /put to test:R:D:u12 failed/.test(l)), 'the refusal is logged');
  } finally {
    await s.close();
  }
});

test('text values (as Channel Access sends them) are parsed by the tree type; bad text is refused', async () => {
  const root = buildRoot();
  const s = await serve(root);
  try {
    const h = s.server.holder('test:R:D:rw') as EpicsPvHolder;
    await h.set(h.fromPvValue('0x10'));
    assert.equal(val(root, 'rw'), 16);
    assert.throws(() => h.fromPvValue('abc'), /abc/);
    await assert.rejects(h.set('abc'), /R\.D\.rw/);
    assert.equal(val(root, 'rw'), 16);
    const hu = s.server.holder('test:R:D:u8') as EpicsPvHolder;
    await assert.rejects(async () => hu.set(hu.fromPvValue('300')), /range/);
    assert.equal(val(root, 'u8'), 3);
    const he = s.server.holder('test:R:D:mode') as EpicsPvHolder;
    await he.set(he.fromPvValue('Auto'));
    assert.equal(val(root, 'mode'), 5);
  } finally {
    await s.close();
  }
});

test('a wrong-type put returns an error and leaves the tree value unchanged', async () => {
  const root = buildRoot();
  const s = await serve(root);
  try {
    await rejectsMatching(s.client.put('test:R:D:rw', 'abc'), /abc/);
    assert.equal(val(root, 'rw'), 1);
    await rejectsMatching(s.client.put('test:R:D:rw', 1.5), /1\.5|integer/);
    assert.equal(val(root, 'rw'), 1);
  } finally {
    await s.close();
  }
});

test('a put completes only after an async localSet finished', async () => {
  const root = new Root({ name: 'R', pollEn: false });
  let doneAt = 0;
  root.add(
    new LocalVariable({
      name: 'slow',
      typeStr: 'Int32',
      value: 0,
      localSet: async () => {
        await sleep(100);
        doneAt = performance.now();
      },
    }),
  );
  const s = await serve(root);
  try {
    const t0 = performance.now();
    await s.client.put('test:R:slow', 5);
    const t1 = performance.now();
    assert.ok(doneAt > 0, 'localSet ran');
    assert.ok(t1 >= doneAt, 'put resolved after localSet finished');
    assert.ok(t1 - t0 >= 95, `put took ${t1 - t0} ms`);
    assert.equal((root.getNode('R.slow') as LocalVariable).value, 5);
  } finally {
    await s.close();
  }
});

test('a failing localSet fails the put with its message and keeps the old value', async () => {
  const root = new Root({ name: 'R', pollEn: false });
  root.add(
    new LocalVariable({
      name: 'bad',
      typeStr: 'Int32',
      value: 4,
      localSet: async ({ value }) => {
        if (value === 13) throw new Error('unlucky value refused by hardware');
      },
    }),
  );
  const s = await serve(root);
  try {
    await rejectsMatching(s.client.put('test:R:bad', 13), /unlucky value refused/);
    assert.equal((root.getNode('R.bad') as LocalVariable).value, 4);
  } finally {
    await s.close();
  }
});

test("a RemoteVariable's value is in emulated memory when the put resolves", async () => {
  const root = buildRoot();
  const s = await serve(root);
  try {
    const mem = root.memBase as Emulate;
    await s.client.put('test:R:D:reg', 0xdeadbeef);
    const bytes = mem.readBytes(0x10, 4);
    assert.equal(new DataView(bytes.buffer).getUint32(0, true), 0xdeadbeef);
    await s.client.put('test:R:D:reg', 0x01020304);
    assert.deepEqual(Array.from(mem.readBytes(0x10, 4)), [4, 3, 2, 1]);
  } finally {
    await s.close();
  }
});

test("a put to a string-served ('other') variable is parsed by the tree type", async () => {
  const root = buildRoot();
  const s = await serve(root);
  try {
    const big = 2n ** 100n + 3n;
    await s.client.put('test:R:D:wide', String(big));
    assert.equal(val(root, 'wide'), big);
    assert.equal((await s.client.get('test:R:D:wide')).get('value'), String(big));
    await rejectsMatching(s.client.put('test:R:D:wide', 'lots'), /lots|R\.D\.wide/);
    assert.equal(val(root, 'wide'), big);
  } finally {
    await s.close();
  }
});
