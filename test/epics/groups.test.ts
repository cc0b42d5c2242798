// Which nodes are served: default NoServe exclusion, incGroups, custom excGroups, list(),
// and the explicit pvMap mode.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Device, LocalCommand, LocalVariable, Root } from '../../src/tree/index.ts';
import { EpicsPvServer } from '../../src/epics/index.ts';
import { memoryLogger } from '../../src/pva/server/index.ts';
import { serve } from './harness.ts';
import { rejectsMatching } from './util.ts';

function buildRoot(): Root {
  const root = new Root({ name: 'R', pollEn: false });
  const d = new Device({ name: 'D' });
  root.add(d);
  d.add(new LocalVariable({ name: 'plain', typeStr: 'Int32', value: 1 }));
  d.add(new LocalVariable({ name: 'secret', typeStr: 'Int32', value: 2, groups: 'NoServe' }));
  d.add(new LocalVariable({ name: 'hidden', typeStr: 'Int32', value: 3, hidden: true }));
  d.add(new LocalVariable({ name: 'ops', typeStr: 'Int32', value: 4, groups: ['Ops'] }));
  d.add(new LocalVariable({ name: 'opsSecret', typeStr: 'Int32', value: 5, groups: ['Ops', 'NoServe'] }));
  d.add(new LocalCommand({ name: 'go', function: () => undefined }));
  d.add(new LocalCommand({ name: 'opsGo', groups: 'Ops', function: () => undefined }));
  return root;
}

const names = (m: Record<string, string>) => Object.values(m).sort();
const paths = (m: Record<string, string>) => Object.keys(m).sort();
/** Served paths of the user's own nodes (every Root also carries PyRogue's built-ins, group Builtin). */
const userPaths = (root: Root, m: Record<string, string>) => paths(m).filter((p) => !root.getNode(p)!.inGroup('Builtin'));

test("by default everything but the 'NoServe' group is served", async () => {
  const s = await serve(buildRoot());
  try {
    const served = s.server.list();
    assert.deepEqual(userPaths(s.server.root, served), ['R.D.go', 'R.D.hidden', 'R.D.ops', 'R.D.opsGo', 'R.D.plain']);
    // PyRogue's built-ins are served like any node (hidden or not, as Rogue's epicsV4 does)
    for (const p of ['R.RogueVersion', 'R.PollEn', 'R.ReadAll', 'R.LoadConfig', 'R.enable', 'R.D.enable', 'R.D.ReadDevice', 'R.LoadConfigProcess.Start']) {
      assert.ok(p in served, `${p} served`);
    }
    assert.deepEqual(s.server.excGroups, ['NoServe']);
    // and the pvAccess server agrees
    const onWire = (await s.client.list()).filter((n) => n.startsWith('test:')).sort();
    assert.deepEqual(onWire, names(served));
    assert.equal((await s.client.get('test:R:D:plain')).get('value'), 1);
    await rejectsMatching(s.client.get('test:R:D:secret', { timeout: 0.3 }), /test:R:D:secret/);
  } finally {
    await s.close();
  }
});

test('incGroups keeps only nodes in one of the groups (NoServe still excluded)', async () => {
  const s = await serve(buildRoot(), { incGroups: ['Ops'] });
  try {
    assert.deepEqual(paths(s.server.list()), ['R.D.ops', 'R.D.opsGo']);
    const onWire = (await s.client.list()).filter((n) => n.startsWith('test:')).sort();
    assert.deepEqual(onWire, ['test:R:D:ops', 'test:R:D:opsGo']);
    await rejectsMatching(s.client.get('test:R:D:plain', { timeout: 0.3 }), /test:R:D:plain/);
  } finally {
    await s.close();
  }
});

test('incGroups as a single string', async () => {
  const s = await serve(buildRoot(), { incGroups: 'Ops' });
  try {
    assert.deepEqual(paths(s.server.list()), ['R.D.ops', 'R.D.opsGo']);
  } finally {
    await s.close();
  }
});

test('custom excGroups replace the default', async () => {
  const s = await serve(buildRoot(), { excGroups: ['Hidden', 'Ops'] });
  try {
    const served = s.server.list();
    assert.deepEqual(userPaths(s.server.root, served), ['R.D.go', 'R.D.plain', 'R.D.secret']);
    assert.ok('R.RogueVersion' in served && 'R.D.enable' in served, 'built-ins not hidden are served');
    assert.ok(!('R.ReadAll' in served) && !('R.D.ReadDevice' in served), 'hidden built-ins are not');
    assert.equal((await s.client.get('test:R:D:secret')).get('value'), 2, 'NoServe is served when not excluded');
  } finally {
    await s.close();
  }
});

test('empty excGroups serve everything', async () => {
  const s = await serve(buildRoot(), { excGroups: [] });
  try {
    const served = s.server.list();
    assert.equal(userPaths(s.server.root, served).length, 7);
    const root = s.server.root;
    assert.equal(Object.keys(served).length, root.variableList.length + root.commandList.length);
  } finally {
    await s.close();
  }
});

test('list() maps paths to <base>:<path with colons>, before and after start', async () => {
  const root = buildRoot();
  const log = memoryLogger();
  // only the user's own nodes: leave the built-ins out the way a user would
  const server = new EpicsPvServer({
    base: 'lab:x', root, protocols: ['pva'], logger: log, excGroups: ['NoServe', 'Builtin'],
    pva: { tcpPort: 0, udpPort: 0, interfaces: ['127.0.0.1'], beaconAddrs: [] },
  });
  const want = {
    'R.D.plain': 'lab:x:R:D:plain',
    'R.D.hidden': 'lab:x:R:D:hidden',
    'R.D.ops': 'lab:x:R:D:ops',
    'R.D.go': 'lab:x:R:D:go',
    'R.D.opsGo': 'lab:x:R:D:opsGo',
  };
  assert.deepEqual(server.list(), want, 'before start: what would be served');
  root.addProtocol(server);
  await root.start();
  try {
    assert.deepEqual(server.list(), want);
    for (const [path, name] of Object.entries(want)) assert.equal(server.holder(name)?.path, path);
  } finally {
    await root.stop();
  }
});

test('pvMap serves only the mapped paths, under the given names, ignoring group filters', async () => {
  const pvMap = { 'R.D.plain': 'X:PLAIN', 'R.D.secret': 'X:SECRET', 'R.D.go': 'X:GO' };
  const s = await serve(buildRoot(), { pvMap });
  try {
    assert.deepEqual(s.server.list(), pvMap);
    const onWire = (await s.client.list()).filter((n) => n.startsWith('X:') || n.startsWith('test:')).sort();
    assert.deepEqual(onWire, ['X:GO', 'X:PLAIN', 'X:SECRET']);
    assert.equal((await s.client.get('X:SECRET')).get('value'), 2);
    await s.client.put('X:PLAIN', 11);
    assert.equal((s.server.root.getNode('R.D.plain') as LocalVariable).value, 11);
  } finally {
    await s.close();
  }
});

test('pvMap: a missing path is logged by name and the rest is served', async () => {
  const pvMap = { 'R.D.plain': 'X:PLAIN', 'R.D.nothere': 'X:GONE', R: 'X:ROOT' };
  const s = await serve(buildRoot(), { pvMap });
  try {
    assert.deepEqual(s.server.list(), { 'R.D.plain': 'X:PLAIN' });
    const errs = s.log.lines.filter((l) => l.startsWith('error'));
    assert.ok(errs.some((l) => l.includes("'R.D.nothere'") && l.includes('X:GONE')), errs.join('\n'));
    assert.ok(errs.some((l) => l.includes("'R'")), 'a device is not a variable or command');
    assert.equal((await s.client.get('X:PLAIN')).get('value'), 1);
  } finally {
    await s.close();
  }
});

test('pvMap: two paths mapped to one PV name is logged, the first is served', async () => {
  const pvMap = { 'R.D.plain': 'X:SAME', 'R.D.ops': 'X:SAME' };
  const s = await serve(buildRoot(), { pvMap });
  try {
    assert.ok(s.log.lines.some((l) => l.startsWith('error') && l.includes('X:SAME') && l.includes('R.D.ops')), s.log.lines.join('\n'));
    assert.equal(s.server.holder('X:SAME')?.path, 'R.D.plain');
    assert.deepEqual(s.server.list(), { 'R.D.plain': 'X:SAME' }, 'list() shows only what is served');
    assert.equal((await s.client.get('X:SAME')).get('value'), 1);
  } finally {
    await s.close();
  }
});
