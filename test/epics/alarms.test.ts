// Alarm transitions: values around each threshold, seen by a monitor as NT alarm fields.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Device, LocalVariable, Root } from '../../src/tree/index.ts';
import { serve } from './harness.ts';
import { collect } from './util.ts';

function buildRoot(): Root {
  const root = new Root({ name: 'R', pollEn: false });
  const d = new Device({ name: 'D' });
  root.add(d);
  d.add(new LocalVariable({ name: 'temp', typeStr: 'Float64', value: 20, lowAlarm: 0, lowWarning: 5, highWarning: 80, highAlarm: 90 }));
  d.add(new LocalVariable({ name: 'level', typeStr: 'Int32', value: 0, lowAlarm: -100, lowWarning: -10, highWarning: 10, highAlarm: 100 }));
  return root;
}

const alarm = (v: { get(p: string): unknown }) => [v.get('alarm.severity'), v.get('alarm.status'), v.get('alarm.message')];

for (const [name, steps] of [
  [
    'temp',
    [
      [85, 1, 3, 'HIGH'],
      [95, 2, 3, 'HIHI'],
      [80, 0, 0, ''], // limits are strict comparisons
      [50, 0, 0, ''],
      [3, 1, 3, 'LOW'],
      [-1, 2, 3, 'LOLO'],
      [5, 0, 0, ''],
      [90.5, 2, 3, 'HIHI'],
      [20, 0, 0, ''],
    ],
  ],
  [
    'level',
    [
      [11, 1, 3, 'HIGH'],
      [101, 2, 3, 'HIHI'],
      [100, 1, 3, 'HIGH'],
      [0, 0, 0, ''],
      [-11, 1, 3, 'LOW'],
      [-101, 2, 3, 'LOLO'],
      [-100, 1, 3, 'LOW'],
      [7, 0, 0, ''],
    ],
  ],
] as const) {
  test(`alarm transitions of ${name}: severity 0/1/2, status RECORD, messages HIHI/HIGH/LOW/LOLO, back to none`, async () => {
    const root = buildRoot();
    const s = await serve(root);
    const pv = `test:R:D:${name}`;
    const mon = collect(s.client, pv);
    try {
      const first = await mon.next();
      assert.deepEqual(alarm(first), [0, 0, '']);
      const node = root.getNode(`R.D.${name}`) as LocalVariable;
      for (const [value, sev, status, msg] of steps) {
        const from = mon.values.length;
        await node.set(value);
        const u = await mon.next((x) => x.get('value') === value, from);
        assert.deepEqual(alarm(u), [sev, status, msg], `${name} = ${value}`);
        // a get agrees with the monitor
        assert.deepEqual(alarm(await s.client.get(pv)), [sev, status, msg], `get of ${name} = ${value}`);
      }
    } finally {
      mon.close();
      await s.close();
    }
  });
}

test('a variable already in alarm when served starts with that alarm', async () => {
  const root = buildRoot();
  await (root.getNode('R.D.temp') as LocalVariable).set(-5);
  const s = await serve(root);
  const mon = collect(s.client, 'test:R:D:temp');
  try {
    assert.deepEqual(alarm(await mon.next()), [2, 3, 'LOLO']);
    assert.deepEqual(alarm(await s.client.get('test:R:D:temp')), [2, 3, 'LOLO']);
  } finally {
    mon.close();
    await s.close();
  }
});
