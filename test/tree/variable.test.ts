import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Root, Device, LocalVariable, RemoteVariable, type VariableValue } from '../../src/tree/index.ts';

test('alarm state at and around each threshold (PyRogue order, strict comparisons)', () => {
  const v = new LocalVariable({ name: 'T', value: 0.0, typeStr: 'Float64', lowAlarm: 0, lowWarning: 10, highWarning: 90, highAlarm: 100 });
  const cases: [number, string, string][] = [
    [-0.1, 'AlarmLoLo', 'AlarmMajor'],
    [0, 'AlarmLow', 'AlarmMinor'],
    [0.1, 'AlarmLow', 'AlarmMinor'],
    [9.9, 'AlarmLow', 'AlarmMinor'],
    [10, 'Good', 'Good'],
    [50, 'Good', 'Good'],
    [90, 'Good', 'Good'],
    [90.1, 'AlarmHigh', 'AlarmMinor'],
    [100, 'AlarmHigh', 'AlarmMinor'],
    [100.1, 'AlarmHiHi', 'AlarmMajor'],
  ];
  for (const [x, st, sv] of cases) assert.deepEqual(v.alarmState(x), [st, sv], String(x));
  const none = new LocalVariable({ name: 'N', value: 5 });
  assert.deepEqual(none.alarmState(-1e9), ['Good', 'Good']);
  assert.equal(none.hasAlarm, false);
  // only some limits set
  const hi = new LocalVariable({ name: 'H', value: 0, highAlarm: 5 });
  assert.deepEqual(hi.alarmState(-100), ['Good', 'Good']);
  assert.deepEqual(hi.alarmState(6), ['AlarmHiHi', 'AlarmMajor']);
  // overlapping limits: the LoLo/HiHi checks come first
  const odd = new LocalVariable({ name: 'O', value: 0, lowAlarm: 50, highWarning: 10 });
  assert.deepEqual(odd.alarmState(20), ['AlarmLoLo', 'AlarmMajor']);
  const big = new LocalVariable({ name: 'B', value: 0, typeStr: 'UInt64', highWarning: 2 ** 60 });
  assert.deepEqual(big.alarmState(2n ** 61n), ['AlarmHigh', 'AlarmMinor']);
});

test('getVariableValue and listener payloads', async () => {
  const v = new LocalVariable({ name: 'V', value: 1.25, disp: '{:.1f}', highAlarm: 2 });
  const got: [string, VariableValue][] = [];
  const fn = (p: string, vv: VariableValue) => got.push([p, vv]);
  v.addListener(fn);
  v.addListener(fn); // no duplicates
  const before = Date.now();
  await v.set(3.5);
  assert.equal(got.length, 1);
  const [p, vv] = got[0];
  assert.equal(p, 'V');
  assert.equal(vv.value, 3.5);
  assert.equal(vv.valueDisp, '3.5');
  assert.equal(vv.status, 'AlarmHiHi');
  assert.equal(vv.severity, 'AlarmMajor');
  assert.ok(vv.updated >= before);
  assert.equal(v.lastUpdated, vv.updated);
  await v.set(3.5); // unchanged: no notification
  assert.equal(got.length, 1);
  v.delListener(fn);
  await v.set(1);
  assert.equal(got.length, 1);
  const sync = v.getVariableValue();
  assert.equal(sync.value, 1);
  assert.equal(sync.valueDisp, '1.0');
  const asy = await v.getVariableValue(true);
  assert.equal(asy.status, 'Good');
  assert.equal(await v.getDisp(), '1.0');
});

test('listeners fire once per changed variable per transaction', async () => {
  const root = new Root({ pollEn: false });
  const dev = new Device({ name: 'Dev' });
  const a = new LocalVariable({ name: 'A', value: 0 });
  const b = new LocalVariable({ name: 'B', value: 0 });
  const r1 = new RemoteVariable({ name: 'R1', offset: 0, bitSize: 8 });
  const r2 = new RemoteVariable({ name: 'R2', offset: 1, bitSize: 8 });
  dev.add(a, b, r1, r2);
  root.add(dev);
  const seen: string[] = [];
  for (const v of [a, b, r1, r2]) v.addListener((p, vv) => seen.push(`${p}=${String(vv.value)}`));
  await root.updateGroup(async () => {
    await a.set(1);
    await a.set(2);
    await a.set(3);
    await b.set(1);
    assert.deepEqual(seen, [], 'nothing fires inside the group');
  });
  assert.deepEqual(seen, ['Root.Dev.A=3', 'Root.Dev.B=1']);
  seen.length = 0;
  (root.memBase as import('../../src/tree/index.ts').Emulate).writeBytes(0, new Uint8Array([5, 6]));
  await root.readAll();
  assert.deepEqual(seen, ['Root.Dev.R1=5', 'Root.Dev.R2=6']);
  seen.length = 0;
  await root.readAll();
  assert.deepEqual(seen, [], 'unchanged values do not notify');
  // a throwing listener is reported, not propagated
  const errs: string[] = [];
  root.onError = (e, ctx) => errs.push(`${ctx}: ${e.message}`);
  a.addListener(() => { throw new Error('boom'); });
  await a.set(9);
  assert.deepEqual(errs, ['listener of Root.Dev.A: boom']);
});

test('LocalVariable localSet / localGet', async () => {
  let hw = 10;
  const calls: unknown[] = [];
  const v = new LocalVariable({
    name: 'L', value: 0,
    localSet: ({ value, changed, var: self }) => {
      calls.push([value, changed, self.value]);
      if (value === 13) throw new Error('unlucky');
      hw = value as number;
    },
    localGet: () => hw * 2,
  });
  await v.set(4);
  assert.deepEqual(calls, [[4, true, 4]]);
  assert.equal(hw, 4);
  assert.equal(await v.get(), 8);
  assert.equal(await v.get({ read: false }), 8);
  await assert.rejects(v.set(13), /unlucky/);
  assert.equal(v.value, 8, 'failed localSet leaves the value unchanged');
  const async = new LocalVariable({ name: 'AL', typeStr: 'Int32', localGet: async () => 7 });
  assert.equal(async.value, 0);
  assert.equal(await async.get(), 7);
  const ro = new LocalVariable({ name: 'RO', value: 1, mode: 'RO' });
  await assert.rejects(ro.set(2), /read-only/);
  await ro.set(2, { force: true });
  assert.equal(ro.value, 2);
  const wo = new LocalVariable({ name: 'WO', value: 1, mode: 'WO', localGet: () => { throw new Error('must not read'); } });
  await wo.set(5);
  assert.equal(await wo.get(), 5);
});

test('metadata a bridge reads', () => {
  const v = new LocalVariable({
    name: 'Gain', description: 'gain', mode: 'RW', value: 0, typeStr: 'Int32', units: 'dB', minimum: -5, maximum: 5,
    lowAlarm: -4, lowWarning: -3, highWarning: 3, highAlarm: 4, disp: '{:d}', pollInterval: 2, groups: ['NoServe'],
  });
  const meta = {
    path: v.path, name: v.name, description: v.description, mode: v.mode, typeStr: v.typeStr, nativeType: v.nativeType,
    enum: v.enum, units: v.units, minimum: v.minimum, maximum: v.maximum, lowAlarm: v.lowAlarm, lowWarning: v.lowWarning,
    highWarning: v.highWarning, highAlarm: v.highAlarm, disp: v.disp, pollInterval: v.pollInterval, groups: v.groups, hidden: v.hidden,
  };
  assert.deepEqual(meta, {
    path: 'Gain', name: 'Gain', description: 'gain', mode: 'RW', typeStr: 'Int32', nativeType: { kind: 'int', bits: 32, length: undefined },
    enum: undefined, units: 'dB', minimum: -5, maximum: 5, lowAlarm: -4, lowWarning: -3, highWarning: 3, highAlarm: 4,
    disp: '{:d}', pollInterval: 2, groups: ['NoServe'], hidden: false,
  });
});
