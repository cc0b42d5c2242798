// Type mapping: each tree type's wire type (from GET_FIELD) and the value a get returns.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Device, LocalCommand, LocalVariable, Root } from '../../src/tree/index.ts';
import type { Structure } from '../../src/pvdata/index.ts';
import { serve } from './harness.ts';
import { fieldType } from './util.ts';

const BIG = 2n ** 60n + 12345n; // above 2^53: only exact as a bigint

function buildRoot(): Root {
  const root = new Root({ name: 'R', pollEn: false });
  const d = new Device({ name: 'D' });
  root.add(d);
  const lv = (name: string, typeStr: string, value: unknown) => d.add(new LocalVariable({ name, typeStr, value: value as never }));
  lv('u8', 'UInt8', 200);
  lv('u16', 'UInt16', 60000);
  lv('u32', 'UInt32', 4000000000);
  lv('u64', 'UInt64', BIG);
  lv('i8', 'Int8', -100);
  lv('i16', 'Int16', -30000);
  lv('i32', 'Int32', -2000000000);
  lv('i64', 'Int64', -BIG);
  lv('f32', 'Float32', 1.5);
  lv('f64', 'Float64', Math.PI);
  lv('b', 'Bool', true);
  lv('s', 'str', 'hello');
  d.add(new LocalVariable({ name: 'e', typeStr: 'UInt8', value: 5, enum: { 0: 'Off', 1: 'On', 5: 'Auto' } }));
  d.add(new LocalVariable({ name: 'af32', value: new Float32Array([1.5, 2.5, -3]) }));
  d.add(new LocalVariable({ name: 'ai16', value: new Int16Array([-1, 2, 300]) }));
  lv('au8', 'UInt8[8]', [1, 2, 3, 4, 5, 6, 7, 255]);
  lv('wide', 'UInt128', 2n ** 100n + 7n);
  d.add(new LocalCommand<number, number>({ name: 'cmd', argType: 'Int32', retType: 'Int32', function: ({ arg }) => arg ?? 0 }));
  d.add(new LocalCommand<number, number>({ name: 'cmdf', argType: 'Float32', function: ({ arg }) => arg ?? 0 }));
  return root;
}

test('scalar types map to their pvData scalar types as epics:nt/NTScalar:1.0', async () => {
  const s = await serve(buildRoot());
  try {
    const cases: [string, string, unknown][] = [
      ['u8', 'ubyte', 200],
      ['u16', 'ushort', 60000],
      ['u32', 'uint', 4000000000],
      ['u64', 'ulong', BIG],
      ['i8', 'byte', -100],
      ['i16', 'short', -30000],
      ['i32', 'int', -2000000000],
      ['i64', 'long', -BIG],
      ['f32', 'float', 1.5],
      ['f64', 'double', Math.PI],
      ['b', 'boolean', true],
      ['s', 'string', 'hello'],
    ];
    for (const [name, wire, value] of cases) {
      const pv = `test:R:D:${name}`;
      const t = (await s.client.info(pv)) as Structure;
      assert.equal(t.id, 'epics:nt/NTScalar:1.0', `${name} id`);
      assert.equal(fieldType(t), wire, `${name} wire type`);
      const got = (await s.client.get(pv)).get('value');
      if (typeof value === 'bigint') {
        assert.equal(typeof got, 'bigint', `${name} above 2^53 arrives as a bigint`);
        assert.equal(got, value, `${name} exact`);
      } else assert.equal(Number(got) === Number(value) || got === value, true, `${name}: got ${String(got)}, want ${String(value)}`);
    }
  } finally {
    await s.close();
  }
});

test('an enum variable is an NTEnum with index and choices (non-contiguous keys)', async () => {
  const s = await serve(buildRoot());
  try {
    const t = (await s.client.info('test:R:D:e')) as Structure;
    assert.equal(t.id, 'epics:nt/NTEnum:1.0');
    assert.equal(fieldType(t, 'value.index'), 'int');
    assert.equal(fieldType(t, 'value.choices'), 'string[]');
    const v = await s.client.get('test:R:D:e');
    assert.deepEqual(v.get('value.choices'), ['Off', 'On', 'Auto']);
    assert.equal(v.get('value.index'), 2, 'key 5 is the third choice');
  } finally {
    await s.close();
  }
});

test('arrays are NTScalarArray of their element type, not forced to double', async () => {
  const s = await serve(buildRoot());
  try {
    const cases: [string, string, number[]][] = [
      ['af32', 'float[]', [1.5, 2.5, -3]],
      ['ai16', 'short[]', [-1, 2, 300]],
      ['au8', 'ubyte[]', [1, 2, 3, 4, 5, 6, 7, 255]],
    ];
    for (const [name, wire, values] of cases) {
      const pv = `test:R:D:${name}`;
      const t = (await s.client.info(pv)) as Structure;
      assert.equal(t.id, 'epics:nt/NTScalarArray:1.0', `${name} id`);
      assert.equal(fieldType(t), wire, `${name} wire type`);
      const got = (await s.client.get(pv)).get('value') as ArrayLike<number>;
      assert.deepEqual(Array.from(got, Number), values, `${name} values`);
    }
  } finally {
    await s.close();
  }
});

test("a type the tree reports as 'other' (UInt128) is served as the string of its display value", async () => {
  const root = buildRoot();
  const wide = root.getNode('R.D.wide') as LocalVariable;
  assert.equal(wide.nativeType.kind, 'other');
  const s = await serve(root);
  try {
    const t = (await s.client.info('test:R:D:wide')) as Structure;
    assert.equal(t.id, 'epics:nt/NTScalar:1.0');
    assert.equal(fieldType(t), 'string');
    const got = (await s.client.get('test:R:D:wide')).get('value');
    assert.equal(got, wide.valueDisp);
    assert.equal(got, String(2n ** 100n + 7n));
  } finally {
    await s.close();
  }
});

test('a command PV is typed by its argType', async () => {
  const s = await serve(buildRoot());
  try {
    const t = (await s.client.info('test:R:D:cmd')) as Structure;
    assert.equal(fieldType(t), 'int');
    const tf = (await s.client.info('test:R:D:cmdf')) as Structure;
    assert.equal(fieldType(tf), 'float');
  } finally {
    await s.close();
  }
});

test('bit fields round up to the next wire width; bool, string and 64-bit arrays keep their element type', async () => {
  const root = new Root({ name: 'R', pollEn: false });
  root.add(new LocalVariable({ name: 'u1', typeStr: 'UInt1', value: 1 }));
  root.add(new LocalVariable({ name: 'u12', typeStr: 'UInt12', value: 4095 }));
  root.add(new LocalVariable({ name: 'i24', typeStr: 'Int24', value: -8388608 }));
  root.add(new LocalVariable({ name: 'u48', typeStr: 'UInt48', value: 2 ** 48 - 1 }));
  root.add(new LocalVariable({ name: 'ab', value: [true, false, true] }));
  root.add(new LocalVariable({ name: 'as', value: ['x', 'yz'] }));
  root.add(new LocalVariable({ name: 'ai64', value: new BigInt64Array([-(2n ** 62n), 5n]) }));
  root.add(new LocalVariable({ name: 'be', typeStr: 'Bool', value: true, enum: { 0: 'Closed', 1: 'Open' } }));
  const s = await serve(root);
  try {
    const cases: [string, string, unknown][] = [
      ['u1', 'ubyte', 1],
      ['u12', 'ushort', 4095],
      ['i24', 'int', -8388608],
      ['u48', 'ulong', 2 ** 48 - 1],
      ['ab', 'boolean[]', [true, false, true]],
      ['as', 'string[]', ['x', 'yz']],
      ['ai64', 'long[]', [-(2n ** 62n), 5n]],
    ];
    for (const [name, wire, value] of cases) {
      const pv = `test:R:${name}`;
      assert.equal(fieldType((await s.client.info(pv)) as Structure), wire, `${name} wire type`);
      const got = (await s.client.get(pv)).get('value');
      if (Array.isArray(value)) assert.deepEqual(Array.from(got as ArrayLike<unknown>), value, `${name} value`);
      else assert.equal(Number(got), value, `${name} value`);
    }
    const be = (await s.client.info('test:R:be')) as Structure;
    assert.equal(be.id, 'epics:nt/NTEnum:1.0', 'a Bool with an enum is an NTEnum');
    const v = await s.client.get('test:R:be');
    assert.equal(v.get('value.index'), 1);
    assert.deepEqual(v.get('value.choices'), ['Closed', 'Open']);
  } finally {
    await s.close();
  }
});
