// PyRogue's node arrays: addRemoteVariables (number/stride), addNodes device arrays, lookups by
// bracketed path, Rogue's array keys (Python slice rules), pack, and declarative number/stride.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Device, LinkVariable, RemoteVariable, Root, loadTreeFromYaml, selectIndices, splitArrayKey, type Emulate } from '../../src/tree/index.ts';

test('addRemoteVariables: Name[0] … Name[n-1], stride bytes apart, each a RemoteVariable with the shared options', async () => {
  const root = new Root({ name: 'R', pollEn: false });
  const d = new Device({ name: 'D', offset: 0x100 });
  root.add(d);
  d.addRemoteVariables({ name: 'Chan', offset: 0x10, number: 4, stride: 8, bitSize: 16, mode: 'RW', units: 'mV', description: 'a channel' });
  const chans = [0, 1, 2, 3].map((i) => d.node(`Chan[${i}]`) as RemoteVariable);
  assert.ok(chans.every((c) => c instanceof RemoteVariable));
  assert.deepEqual(chans.map((c) => c.address), [0x110, 0x118, 0x120, 0x128]);
  assert.deepEqual(chans.map((c) => c.units), ['mV', 'mV', 'mV', 'mV']);
  assert.equal(root.getNode('R.D.Chan[2]'), chans[2], 'addressed by path with brackets');
  assert.equal(chans[2].path, 'R.D.Chan[2]');
  await root.start();
  try {
    await chans[3].set(0xbeef);
    assert.deepEqual([...(root.memBase as Emulate).readBytes(0x128, 2)], [0xef, 0xbe]);
  } finally {
    await root.stop();
  }
});

test('addNodes: device arrays Sub[0], Sub[1] with their own registers; nested arrays by path', async () => {
  class Sub extends Device {
    constructor(o: { name: string; offset?: number }) {
      super(o);
      this.addRemoteVariables({ name: 'Reg', offset: 0, number: 2, stride: 4 });
    }
  }
  const root = new Root({ name: 'R', pollEn: false });
  const d = new Device({ name: 'D', offset: 0x1000 });
  root.add(d);
  d.addNodes((o: { name: string; offset?: number }) => new Sub(o), { name: 'Sub', offset: 0x100, number: 3, stride: 0x40 });
  assert.deepEqual(d.devices.map((x) => x.name), ['Sub[0]', 'Sub[1]', 'Sub[2]']);
  const reg = root.getNode('R.D.Sub[2].Reg[1]') as RemoteVariable;
  assert.equal(reg.address, 0x1000 + 0x100 + 2 * 0x40 + 4);
  assert.throws(() => d.addNodes((o: { name: string }) => new Device(o), { name: 'Bad', offset: 0, number: -1, stride: 4 }), /number must be/);
});

test('nodeMatch: exact names, [n], [*], [:], [a:b], [::k], negative indices, two dimensions', () => {
  const d = new Device({ name: 'D' });
  d.addRemoteVariables({ name: 'C', offset: 0, number: 6, stride: 4 });
  for (const i of [0, 1]) for (const j of [0, 1, 2]) d.add(new Device({ name: `M[${i}][${j}]` }));
  const names = (k: string) => d.nodeMatch(k).nodes.map((n) => n.name);
  assert.deepEqual(names('C[2]'), ['C[2]']);
  assert.deepEqual(names('C[*]'), ['C[0]', 'C[1]', 'C[2]', 'C[3]', 'C[4]', 'C[5]']);
  assert.deepEqual(names('C[:]').length, 6);
  assert.deepEqual(names('C[1:3]'), ['C[1]', 'C[2]']);
  assert.deepEqual(names('C[::2]'), ['C[0]', 'C[2]', 'C[4]']);
  assert.deepEqual(names('C[-1]'), ['C[5]']);
  assert.deepEqual(names('C[-2:]'), ['C[4]', 'C[5]']);
  assert.deepEqual(names('C[4:1:-1]'), ['C[4]', 'C[3]', 'C[2]']);
  assert.deepEqual(names('C[9]'), []);
  assert.deepEqual(names('C[x]'), []);
  assert.deepEqual(names('M[1][*]'), ['M[1][0]', 'M[1][1]', 'M[1][2]']);
  assert.deepEqual(names('M[*][2]'), ['M[0][2]', 'M[1][2]']);
  assert.deepEqual(names('M[1]'), [], 'fewer keys than dimensions selects nothing (as PyRogue)');
  assert.deepEqual(d.nodeMatch('enable').nodes, [d.enable]);
  assert.deepEqual(splitArrayKey('A[1][ 2 ]'), { base: 'A', keys: ['1', '2'] });
  assert.equal(splitArrayKey('A[1]x'), undefined);
  assert.deepEqual(selectIndices('1:10:3', 8), [1, 4, 7]);
  assert.deepEqual(selectIndices('::-1', 3), [2, 1, 0]);
  assert.equal(selectIndices('1:2:0', 3), undefined);
});

test('pack: Name_All joins the (hidden) elements last first with _, and splits on set', async () => {
  const root = new Root({ name: 'R', pollEn: false });
  const d = new Device({ name: 'D' });
  root.add(d);
  d.addRemoteVariables({ name: 'F', offset: 0, number: 3, stride: 4, bitSize: 8, pack: true });
  const all = d.node('F_All') as LinkVariable<string>;
  assert.ok(all instanceof LinkVariable);
  assert.ok((d.node('F[0]') as RemoteVariable).hidden);
  await root.start();
  try {
    await all.set('0x1_0x2_0x3');
    assert.deepEqual([0, 1, 2].map((i) => (d.node(`F[${i}]`) as RemoteVariable).value), [3, 2, 1]);
    assert.equal(all.value, '0x1_0x2_0x3');
  } finally {
    await root.stop();
  }
});

test('declarative trees: number/stride on remote variables and devices', async () => {
  const root = loadTreeFromYaml(`
root: { name: Board, pollEn: false }
devices:
  - name: Adc
    offset: 0x1000
    variables:
      - { name: Chan, offset: 0x10, number: 4, stride: 4, bitSize: 16, base: UIntBE }
    devices:
      - name: Lane
        offset: 0x100
        number: 2
        stride: 0x20
        enabled: false
        variables:
          - { name: Gain, offset: 0, bitSize: 8, retryCount: 1 }
`);
  const chans = [0, 1, 2, 3].map((i) => root.getNode(`Board.Adc.Chan[${i}]`) as RemoteVariable);
  assert.deepEqual(chans.map((c) => c.address), [0x1010, 0x1014, 0x1018, 0x101c]);
  assert.ok(chans[0].bigEndian);
  const lanes = [0, 1].map((i) => root.getNode(`Board.Adc.Lane[${i}]`) as Device);
  assert.deepEqual(lanes.map((l) => (l.node('Gain') as RemoteVariable).address), [0x1100, 0x1120]);
  assert.deepEqual(lanes.map((l) => l.enabled), [false, false]);
  assert.equal((lanes[1].node('Gain') as RemoteVariable).retryCount, 1);
  assert.throws(() => loadTreeFromYaml('devices:\n  - { name: X, number: 2 }\n'), /'number' and 'stride' go together/);
  // and such a tree's config uses the bracketed names
  await root.setYaml('Board:\n  Adc:\n    Chan[1:3]: 0x7\n    Lane[*]:\n      enable: True\n');
  assert.deepEqual(chans.map((c) => c.value), [0, 7, 7, 0]);
  assert.deepEqual(lanes.map((l) => l.enabled), [true, true]);
});
