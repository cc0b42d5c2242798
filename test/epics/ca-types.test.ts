// Channel Access end to end (pyepics): caget of every native type; the DBR field types CA reports
// match the README's type table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Device, LocalCommand, LocalVariable, Root } from '../../src/tree/index.ts';
import { SKIP_PYEPICS, havePyepics, py, serveCa } from './ca-util.ts';

const LONG_STR = 'a string longer than forty characters, served as a char array';
const MANY = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [i, `State${i}`]));

function buildRoot(): Root {
  const root = new Root({ name: 'R', pollEn: false });
  const d = new Device({ name: 'D' });
  root.add(d);
  const lv = (name: string, typeStr: string, value: unknown) => d.add(new LocalVariable({ name, typeStr, value: value as never }));
  lv('u8', 'UInt8', 200);
  lv('u16', 'UInt16', 60000);
  lv('u32', 'UInt32', 4000000000);
  lv('u64', 'UInt64', 2 ** 40 + 3);
  lv('i8', 'Int8', -100);
  lv('i16', 'Int16', -30000);
  lv('i32', 'Int32', -2000000000);
  lv('i64', 'Int64', -(2 ** 45) - 7);
  lv('f32', 'Float32', 1.5);
  lv('f64', 'Float64', Math.PI);
  lv('b', 'Bool', true);
  lv('s', 'str', 'hello');
  lv('s39', 'str', 'x'.repeat(39));
  lv('slong', 'str', LONG_STR);
  d.add(new LocalVariable({ name: 'e', typeStr: 'UInt8', value: 5, enum: { 0: 'Off', 1: 'On', 5: 'Auto' } }));
  d.add(new LocalVariable({ name: 'ebig', typeStr: 'UInt8', value: 17, enum: MANY }));
  d.add(new LocalVariable({ name: 'af32', value: new Float32Array([1.5, 2.5, -3]) }));
  d.add(new LocalVariable({ name: 'ai16', value: new Int16Array([-1, 2, 300]) }));
  lv('au8', 'UInt8[8]', [1, 2, 3, 4, 5, 6, 7, 255]);
  lv('af64', 'Float64[4]', [0.5, 1.5, 2.5, 3.5]);
  lv('astr', 'str[3]', ['alpha', 'beta', 'gamma']);
  d.add(new LocalCommand<number, number>({ name: 'cmd', argType: 'Int32', function: ({ arg }) => arg ?? 0 }));
  d.add(new LocalCommand<number, number>({ name: 'cmdf', argType: 'Float64', function: ({ arg }) => arg ?? 0 }));
  d.add(new LocalCommand<string, string>({ name: 'cmds', argType: 'str', function: ({ arg }) => arg ?? '' }));
  return root;
}

// name → [README native DBR type, expected caget value]
const CASES: [string, string, unknown][] = [
  ['u8', 'char', 200],
  ['u16', 'long', 60000],
  ['u32', 'double', 4000000000],
  ['u64', 'double', 2 ** 40 + 3],
  ['i8', 'short', -100],
  ['i16', 'short', -30000],
  ['i32', 'long', -2000000000],
  ['i64', 'double', -(2 ** 45) - 7],
  ['f32', 'float', 1.5],
  ['f64', 'double', Math.PI],
  ['b', 'enum', 1],
  ['s', 'string', 'hello'],
  ['s39', 'string', 'x'.repeat(39)],
  ['e', 'enum', 2],
  ['ebig', 'string', 'State17'],
  ['af32', 'float', [1.5, 2.5, -3]],
  ['ai16', 'short', [-1, 2, 300]],
  ['au8', 'char', [1, 2, 3, 4, 5, 6, 7, 255]],
  ['af64', 'double', [0.5, 1.5, 2.5, 3.5]],
  ['astr', 'string', ['alpha', 'beta', 'gamma']],
  ['cmd', 'long', undefined],
  ['cmdf', 'double', undefined],
  ['cmds', 'string', undefined],
];

test('CA: caget of every native type, DBR field types and counts as in the README table', { timeout: 90000 }, async (t) => {
  if (!havePyepics) return t.skip(SKIP_PYEPICS);
  const s = await serveCa(buildRoot());
  try {
    const names = CASES.map((c) => c[0]);
    const { o } = await py(
      s.caPort,
      `
P = 'test:R:D:'
names = ${JSON.stringify(names)}
out = {'type': {}, 'value': {}, 'count': {}, 'pvtype': {}}
for n in names:
    out['type'][n] = ftype(P + n)
    out['value'][n] = g(P + n)
    pv = epics.PV(P + n)
    pv.wait_for_connection(5)
    out['count'][n] = pv.count
    out['pvtype'][n] = pv.type.replace('_int', '_short')
out['slong_str'] = g(P + 'slong', as_string=True)
out['slong_raw'] = g(P + 'slong')
out['e_str'] = g(P + 'e', as_string=True)
out['b_str'] = g(P + 'b', as_string=True)
out['ebig_str'] = g(P + 'ebig', as_string=True)
out['slong_type'] = ftype(P + 'slong')
e = epics.PV(P + 'e', form='ctrl'); e.wait_for_connection(5)
out['e_strs'] = j(e.get_ctrlvars(timeout=5).get('enum_strs'))
b = epics.PV(P + 'b', form='ctrl'); b.wait_for_connection(5)
out['b_strs'] = j(b.get_ctrlvars(timeout=5).get('enum_strs'))
print(json.dumps(out))
`,
      80000,
    );
    const types = o.type as Record<string, string>;
    const values = o.value as Record<string, unknown>;
    const counts = o.count as Record<string, number>;
    const pvtypes = o.pvtype as Record<string, string>;
    for (const [name, dbr, value] of CASES) {
      assert.equal(types[name], dbr, `${name}: field type`);
      assert.equal(pvtypes[name], `time_${dbr}`, `${name}: PV.type`);
      if (value === undefined) continue;
      if (Array.isArray(value)) {
        assert.equal(counts[name], value.length, `${name}: element count`);
        assert.deepEqual(values[name], value, `${name}: value`);
      } else {
        assert.equal(counts[name], 1, `${name}: scalar`);
        if (typeof value === 'number' && !Number.isInteger(value)) assert.ok(Math.abs((values[name] as number) - value) < 1e-12, `${name}: ${String(values[name])}`);
        else assert.equal(values[name], value, `${name}: value`);
      }
    }
    // strings of 40 characters or more: a NUL-terminated char array
    assert.equal(o.slong_type, 'char');
    assert.equal(o.slong_str, LONG_STR);
    const raw = o.slong_raw as number[];
    assert.ok(Array.isArray(raw), 'a char array without as_string');
    assert.equal(String.fromCharCode(...raw.slice(0, LONG_STR.length)), LONG_STR);
    // enums: DBR_ENUM with the choice names, Bool as False/True, many choices as strings
    assert.equal(o.e_str, 'Auto');
    assert.deepEqual(o.e_strs, ['Off', 'On', 'Auto']);
    assert.equal(o.b_str, 'True');
    assert.deepEqual(o.b_strs, ['False', 'True']);
    assert.equal(o.ebig_str, 'State17');
  } finally {
    await s.close();
  }
});
