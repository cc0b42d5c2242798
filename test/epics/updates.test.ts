// Partial updates: after the first, a monitor update carries only value and timeStamp,
// plus alarm when the alarm moved.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Device, LocalVariable, Root } from '../../src/tree/index.ts';
import { serve } from './harness.ts';
import { changedPaths, changedTop, collect } from './util.ts';

function buildRoot(): Root {
  const root = new Root({ name: 'R', pollEn: false });
  const d = new Device({ name: 'D' });
  root.add(d);
  d.add(new LocalVariable({ name: 'temp', typeStr: 'Float64', value: 20, units: 'K', highWarning: 80, highAlarm: 90 }));
  d.add(new LocalVariable({ name: 'mode', typeStr: 'UInt8', value: 0, enum: { 0: 'Off', 1: 'On', 5: 'Auto' } }));
  d.add(new LocalVariable({ name: 'arr', value: new Float32Array([1, 2, 3]) }));
  return root;
}

test('the first monitor update carries the whole structure', async () => {
  const s = await serve(buildRoot());
  const mon = collect(s.client, 'test:R:D:temp');
  try {
    const first = await mon.next();
    assert.deepEqual(changedTop(first), ['alarm', 'control', 'display', 'timeStamp', 'value', 'valueAlarm']);
    assert.equal(first.get('display.units'), 'K');
  } finally {
    mon.close();
    await s.close();
  }
});

test('later updates carry value and timeStamp only while the alarm stays', async () => {
  const root = buildRoot();
  const s = await serve(root);
  const mon = collect(s.client, 'test:R:D:temp');
  const temp = root.getNode('R.D.temp') as LocalVariable;
  try {
    await mon.next();
    for (const v of [21, 22.5, 30]) {
      const from = mon.values.length;
      await temp.set(v);
      const u = await mon.next((x) => x.get('value') === v, from);
      assert.deepEqual(changedTop(u), ['timeStamp', 'value'], `update to ${v}`);
      // the client's full copy still has the metadata from the first update
      assert.equal(u.get('display.units'), 'K');
    }
  } finally {
    mon.close();
    await s.close();
  }
});

test('an update that moves the alarm also carries alarm; the next one does not', async () => {
  const root = buildRoot();
  const s = await serve(root);
  const mon = collect(s.client, 'test:R:D:temp');
  const temp = root.getNode('R.D.temp') as LocalVariable;
  try {
    await mon.next();
    const steps: [number, string[]][] = [
      [85, ['alarm', 'timeStamp', 'value']], // into HIGH
      [86, ['timeStamp', 'value']], // still HIGH
      [95, ['alarm', 'timeStamp', 'value']], // HIHI
      [20, ['alarm', 'timeStamp', 'value']], // back to none
      [21, ['timeStamp', 'value']],
    ];
    for (const [v, want] of steps) {
      const from = mon.values.length;
      await temp.set(v);
      const u = await mon.next((x) => x.get('value') === v, from);
      assert.deepEqual(changedTop(u), want, `update to ${v}`);
    }
  } finally {
    mon.close();
    await s.close();
  }
});

test('enum and array updates are partial too', async () => {
  const root = buildRoot();
  const s = await serve(root);
  const me = collect(s.client, 'test:R:D:mode');
  const ma = collect(s.client, 'test:R:D:arr');
  try {
    await me.next();
    await ma.next();
    let from = me.values.length;
    await (root.getNode('R.D.mode') as LocalVariable).set(5);
    const ue = await me.next((x) => x.get('value.index') === 2, from);
    assert.deepEqual(changedPaths(ue).sort(), ['timeStamp', 'value.index'], 'an enum update carries the index, not the choices');
    assert.deepEqual(ue.get('value.choices'), ['Off', 'On', 'Auto'], 'choices kept from the first update');

    from = ma.values.length;
    await (root.getNode('R.D.arr') as LocalVariable).set(new Float32Array([4, 5, 6]));
    const ua = await ma.next((x) => (x.get('value') as Float32Array)[0] === 4, from);
    assert.deepEqual(changedTop(ua), ['timeStamp', 'value']);
  } finally {
    me.close();
    ma.close();
    await s.close();
  }
});

test('a polled variable pushes each new reading to monitors', async () => {
  const root = new Root({ name: 'R', pollEn: true });
  let n = 0;
  root.add(new LocalVariable({ name: 'tick', typeStr: 'Int32', value: 0, pollInterval: 0.02, localGet: () => ++n }));
  const s = await serve(root);
  const mon = collect(s.client, 'test:R:tick');
  try {
    await mon.next((v) => (v.get('value') as number) >= 3);
    const later = mon.values.slice(1);
    assert.ok(later.length >= 1);
    for (const u of later) assert.deepEqual(changedTop(u), ['timeStamp', 'value']);
  } finally {
    mon.close();
    await s.close();
  }
});
