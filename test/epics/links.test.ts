// Link variables served as PVs: computed values follow their dependencies on the wire, and a
// put goes through linkedSet.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LinkVariable, LocalVariable, Root } from '../../src/tree/index.ts';
import { serve } from './harness.ts';
import { collect } from './util.ts';

function buildRoot(): Root {
  const root = new Root({ name: 'R', pollEn: false });
  const raw = new LocalVariable({ name: 'raw', typeStr: 'UInt16', value: 100 });
  root.add(raw);
  root.add(
    new LinkVariable<number>({
      name: 'volts',
      typeStr: 'Float64',
      units: 'V',
      disp: '{:.2f}',
      dependencies: [raw],
      linkedGet: () => (raw.value as number) / 100,
      linkedSet: async ({ value, write }) => raw.set(Math.round(value * 100), { write }),
    }),
  );
  return root;
}

test('a link variable on the wire follows its dependency', async () => {
  const root = buildRoot();
  const s = await serve(root);
  const mon = collect(s.client, 'test:R:volts');
  try {
    const first = await mon.next();
    assert.equal(first.get('value'), 1);
    assert.equal(first.get('display.units'), 'V');
    assert.equal(first.get('display.precision'), 2);
    const from = mon.values.length;
    await (root.getNode('R.raw') as LocalVariable).set(250);
    assert.equal((await mon.next((v) => v.get('value') === 2.5, from)).get('value'), 2.5);
    assert.equal((await s.client.get('test:R:volts')).get('value'), 2.5);
  } finally {
    mon.close();
    await s.close();
  }
});

test('a put to a link variable goes through linkedSet to the dependency', async () => {
  const root = buildRoot();
  const s = await serve(root);
  const mon = collect(s.client, 'test:R:raw');
  try {
    await mon.next();
    const from = mon.values.length;
    await s.client.put('test:R:volts', 3.3);
    assert.equal((root.getNode('R.raw') as LocalVariable).value, 330);
    assert.equal((await mon.next((v) => v.get('value') === 330, from)).get('value'), 330, 'the dependency PV updated');
    assert.equal((await s.client.get('test:R:volts')).get('value'), 3.3);
  } finally {
    mon.close();
    await s.close();
  }
});
