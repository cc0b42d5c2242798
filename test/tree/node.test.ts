import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Root, Device, LocalVariable, LocalCommand, Node } from '../../src/tree/index.ts';

function tree() {
  const root = new Root({ name: 'Root' });
  const dev = new Device({ name: 'Dev', description: 'a device' });
  const sub = new Device({ name: 'Sub' });
  const a = new LocalVariable({ name: 'A', value: 1 });
  const b = new LocalVariable({ name: 'B', value: 2, hidden: true });
  const c = new LocalVariable({ name: 'C', value: 3, groups: ['NoConfig'] });
  const cmd = new LocalCommand({ name: 'Go', function: () => 1 });
  sub.add(c);
  dev.add(a, sub, b, cmd);
  root.add(dev);
  return { root, dev, sub, a, b, c, cmd };
}

test('paths, lookup and tree-order lists', () => {
  const { root, dev, sub, a, b, c, cmd } = tree();
  assert.equal(c.path, 'Root.Dev.Sub.C');
  assert.equal(dev.description, 'a device');
  assert.equal(root.getNode('Root.Dev.Sub.C'), c);
  assert.equal(root.getNode('Dev.Sub.C'), c);
  assert.equal(dev.getNode('Sub.C'), c);
  assert.equal(root.getNode('Root'), root);
  assert.equal(root.getNode('Dev.Nope'), undefined);
  // every device starts with PyRogue's enable / ReadDevice / WriteDevice (group Builtin); the Root
  // also carries its built-ins and the two config processes
  const user = <T extends Node>(l: T[]): T[] => l.filter((n) => !n.inGroup('Builtin'));
  assert.deepEqual([...dev.nodes.keys()], ['enable', 'ReadDevice', 'WriteDevice', 'A', 'Sub', 'B', 'Go']);
  assert.deepEqual(user(root.variableList), [a, c, b]);
  assert.deepEqual(user(root.commandList), [cmd]);
  assert.deepEqual(user(root.deviceList), [dev, sub]);
  assert.deepEqual(root.deviceList.map((d) => d.name), ['LoadConfigProcess', 'SaveConfigProcess', 'Dev', 'Sub']);
  assert.deepEqual(dev.variables, [dev.enable, a, b]);
  assert.deepEqual(dev.devices, [sub]);
  assert.equal(a.root, root);
});

test('names are validated and unique per parent', () => {
  assert.throws(() => new LocalVariable({ name: 'bad name', value: 1 }), { name: 'NodeError', message: /invalid node name "bad name"/ });
  assert.throws(() => new Device({ name: '1x' }), { name: 'NodeError', message: /invalid node name "1x"/ });
  new Device({ name: 'Arr[3]' });
  const d = new Device({ name: 'D' });
  d.add(new LocalVariable({ name: 'X', value: 1 }));
  assert.throws(() => d.add(new LocalVariable({ name: 'X', value: 2 })), /already has a child/);
});

test('hidden is the Hidden group; addToGroup propagates to children', () => {
  const { dev, sub, a, b, c } = tree();
  assert.equal(b.hidden, true);
  assert.equal(a.hidden, false);
  dev.addToGroup('Expert');
  for (const n of [dev, sub, a, b, c]) assert.ok(n.inGroup('Expert'), n.path);
  dev.removeFromGroup('Expert');
  assert.ok(!c.inGroup('Expert'));
  assert.ok(c.inGroup(['X', 'NoConfig']));
  assert.ok(!c.inGroup([]));
  a.hidden = true;
  assert.deepEqual(a.groups, ['Hidden']);
});

test('filterByGroup follows PyRogue truth table', () => {
  const n = new Node({ name: 'N', groups: ['A', 'B'] });
  const none = new Node({ name: 'M' });
  const cases: [unknown, unknown, boolean, boolean][] = [
    // inc, exc, result for N (groups A,B), result for M (no groups)
    [undefined, undefined, true, true],
    [null, null, true, true],
    [[], [], true, true],
    [['A'], undefined, true, false],
    ['A', undefined, true, false],
    [['C'], undefined, false, false],
    [['C', 'B'], undefined, true, false],
    [undefined, ['A'], false, true],
    [undefined, 'C', true, true],
    [[], ['B'], false, true],
    [['A'], ['B'], false, false],
    [['A'], ['C'], true, false],
    [['C'], ['A'], false, false],
  ];
  for (const [inc, exc, rn, rm] of cases) {
    assert.equal(n.filterByGroup(inc as never, exc as never), rn, `N inc=${String(inc)} exc=${String(exc)}`);
    assert.equal(none.filterByGroup(inc as never, exc as never), rm, `M inc=${String(inc)} exc=${String(exc)}`);
  }
});

test('cannot add to a running tree', async () => {
  const { root, dev } = tree();
  await root.start();
  assert.throws(() => dev.add(new LocalVariable({ name: 'Late', value: 1 })), /running/);
  await root.stop();
});
