// Metadata: description, units, display/control limits, precision and form from disp,
// valueAlarm limits and active flag, timeStamp from the variable's lastUpdated.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Device, LocalVariable, Root } from '../../src/tree/index.ts';
import { timeToMs } from '../../src/pvdata/index.ts';
import { serve } from './harness.ts';

function buildRoot(): Root {
  const root = new Root({ name: 'R', pollEn: false });
  const d = new Device({ name: 'D' });
  root.add(d);
  d.add(
    new LocalVariable({
      name: 'temp',
      description: 'Temperature of the thing',
      units: 'degC',
      typeStr: 'Float64',
      value: 20,
      minimum: -10,
      maximum: 100,
      disp: '{:.3f}',
      lowAlarm: 0,
      lowWarning: 5,
      highWarning: 80,
      highAlarm: 90,
    }),
  );
  d.add(new LocalVariable({ name: 'reg', description: 'A register', typeStr: 'UInt32', value: 0x1f, disp: '{:#x}' }));
  d.add(new LocalVariable({ name: 'cnt', typeStr: 'Int16', value: 3, minimum: -5, maximum: 500, highAlarm: 400 }));
  d.add(new LocalVariable({ name: 'mode', description: 'Operating mode', typeStr: 'UInt8', value: 0, enum: { 0: 'Off', 1: 'On' } }));
  d.add(new LocalVariable({ name: 'label', description: 'Label text', units: 'none', value: 'abc' }));
  return root;
}

test('display: description, units, limits from minimum/maximum, precision from {:.3f}', async () => {
  const s = await serve(buildRoot());
  try {
    const v = await s.client.get('test:R:D:temp');
    assert.equal(v.get('display.description'), 'Temperature of the thing');
    assert.equal(v.get('display.units'), 'degC');
    assert.equal(v.get('display.limitLow'), -10);
    assert.equal(v.get('display.limitHigh'), 100);
    assert.equal(v.get('display.precision'), 3);
    assert.equal(v.get('display.form.index'), 0, "'{:.3f}' is the Default form");
  } finally {
    await s.close();
  }
});

test("display.form is Hex (index 4) for '{:#x}'", async () => {
  const s = await serve(buildRoot());
  try {
    const v = await s.client.get('test:R:D:reg');
    assert.equal(v.get('display.form.index'), 4);
    assert.equal((v.get('display.form.choices') as string[])[4], 'Hex');
    assert.equal(v.get('display.precision'), 0);
    assert.equal(v.get('display.description'), 'A register');
    assert.equal(v.get('display.units'), '');
  } finally {
    await s.close();
  }
});

test('control limits follow minimum/maximum', async () => {
  const s = await serve(buildRoot());
  try {
    const t = await s.client.get('test:R:D:temp');
    assert.equal(t.get('control.limitLow'), -10);
    assert.equal(t.get('control.limitHigh'), 100);
    const c = await s.client.get('test:R:D:cnt');
    assert.equal(c.get('control.limitLow'), -5);
    assert.equal(c.get('control.limitHigh'), 500);
    assert.equal(c.get('display.limitLow'), -5);
    assert.equal(c.get('display.limitHigh'), 500);
  } finally {
    await s.close();
  }
});

test('valueAlarm: limits, severities and the active flag', async () => {
  const s = await serve(buildRoot());
  try {
    const t = await s.client.get('test:R:D:temp');
    assert.equal(t.get('valueAlarm.active'), true);
    assert.equal(t.get('valueAlarm.lowAlarmLimit'), 0);
    assert.equal(t.get('valueAlarm.lowWarningLimit'), 5);
    assert.equal(t.get('valueAlarm.highWarningLimit'), 80);
    assert.equal(t.get('valueAlarm.highAlarmLimit'), 90);
    assert.equal(t.get('valueAlarm.lowAlarmSeverity'), 2);
    assert.equal(t.get('valueAlarm.lowWarningSeverity'), 1);
    assert.equal(t.get('valueAlarm.highWarningSeverity'), 1);
    assert.equal(t.get('valueAlarm.highAlarmSeverity'), 2);

    const c = await s.client.get('test:R:D:cnt');
    assert.equal(c.get('valueAlarm.active'), true, 'one limit is enough to be active');
    assert.equal(c.get('valueAlarm.highAlarmLimit'), 400);
    assert.equal(c.get('valueAlarm.highAlarmSeverity'), 2);
    assert.equal(c.get('valueAlarm.lowAlarmSeverity'), 0, 'unset limits have no severity');
    assert.equal(c.get('valueAlarm.highWarningSeverity'), 0);

    const r = await s.client.get('test:R:D:reg');
    assert.equal(r.get('valueAlarm.active'), false, 'no limits: inactive');
  } finally {
    await s.close();
  }
});

test('enum and string PVs carry their description (and units where the type has them)', async () => {
  const s = await serve(buildRoot());
  try {
    const e = await s.client.get('test:R:D:mode');
    assert.equal(e.get('display.description'), 'Operating mode');
    const l = await s.client.get('test:R:D:label');
    assert.equal(l.get('display.description'), 'Label text');
    assert.equal(l.get('display.units'), 'none');
  } finally {
    await s.close();
  }
});

test("timeStamp is the variable's lastUpdated", async () => {
  const root = buildRoot();
  const temp = root.getNode('R.D.temp') as LocalVariable;
  await temp.set(21.5);
  const before = temp.lastUpdated;
  assert.ok(before > 0);
  const s = await serve(root);
  try {
    const v = await s.client.get('test:R:D:temp');
    const ms = timeToMs(v.get('timeStamp') as { secondsPastEpoch: bigint; nanoseconds: number });
    assert.ok(Math.abs(ms - before) < 1, `initial timeStamp ${ms} vs lastUpdated ${before}`);

    await new Promise((r) => setTimeout(r, 20));
    await temp.set(22.5);
    const after = temp.lastUpdated;
    assert.ok(after > before);
    const v2 = await s.client.get('test:R:D:temp');
    const ms2 = timeToMs(v2.get('timeStamp') as { secondsPastEpoch: bigint; nanoseconds: number });
    assert.ok(Math.abs(ms2 - after) < 1, `updated timeStamp ${ms2} vs lastUpdated ${after}`);
    assert.equal(v2.get('value'), 22.5);
  } finally {
    await s.close();
  }
});

test('a limit the wire type cannot hold (minimum -1 on a UInt8) is not shown and does not stop the server', async () => {
  const root = new Root({ name: 'R', pollEn: false });
  root.add(new LocalVariable({ name: 'neg', typeStr: 'UInt8', value: 3, minimum: -1, maximum: 300, lowAlarm: -5, highAlarm: 250 }));
  root.add(new LocalVariable({ name: 'fine', typeStr: 'UInt8', value: 4 }));
  const s = await serve(root);
  try {
    const v = await s.client.get('test:R:neg');
    assert.equal(v.get('value'), 3);
    assert.equal(v.get('display.limitLow'), 0);
    assert.equal(v.get('display.limitHigh'), 0);
    assert.equal(v.get('valueAlarm.lowAlarmLimit'), 0);
    assert.equal(v.get('valueAlarm.highAlarmLimit'), 250);
    assert.equal((await s.client.get('test:R:fine')).get('value'), 4);
    const warns = s.log.lines.filter((l) => l.startsWith('warn') && l.includes('test:R:neg'));
    assert.ok(warns.some((l) => l.includes('minimum -1')), warns.join('\n'));
    assert.ok(warns.some((l) => l.includes('maximum 300')), warns.join('\n'));
  } finally {
    await s.close();
  }
});

test('display precision and form for the other format specs', async () => {
  const root = new Root({ name: 'R', pollEn: false });
  const specs: [string, string, string, number, number][] = [
    ['e', 'Float64', '{:.2e}', 2, 5],
    ['b', 'UInt8', '{:b}', 0, 2],
    ['d', 'Int32', '{:d}', 0, 3],
    ['plain', 'Float32', '{}', 0, 0],
    ['X', 'UInt16', '{:#06X}', 0, 4],
    ['g', 'Float64', '{:.4g}', 4, 0],
  ];
  for (const [name, typeStr, disp] of specs) root.add(new LocalVariable({ name, typeStr, value: 1, disp }));
  const s = await serve(root);
  try {
    for (const [name, , disp, precision, form] of specs) {
      const v = await s.client.get(`test:R:${name}`);
      assert.equal(v.get('display.precision'), precision, `${disp} precision`);
      assert.equal(v.get('display.form.index'), form, `${disp} form`);
    }
  } finally {
    await s.close();
  }
});
