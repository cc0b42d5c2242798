// Rogue's own EPICS V4 test scenario, rebuilt: local and remote ints (RW and WO), an RW float,
// a reset command and a set-with-argument command called over RPC; automatic and pvMap modes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Device, LocalCommand, LocalVariable, RemoteVariable, Root } from '../../src/tree/index.ts';
import { serve } from './harness.ts';

function buildRoot(): Root {
  const root = new Root({ name: 'LocalRoot', pollEn: false });
  const dev = new Device({ name: 'myDevice', description: 'My device' });
  root.add(dev);
  dev.add(new LocalVariable({ name: 'var', value: 0, typeStr: 'Int32', mode: 'RW' }));
  dev.add(new LocalVariable({ name: 'var_wo', value: 0, typeStr: 'Int32', mode: 'WO' }));
  dev.add(new LocalVariable({ name: 'var_float', value: 0.0, typeStr: 'Float64', mode: 'RW' }));
  dev.add(new RemoteVariable({ name: 'var_remote', offset: 0x0, bitSize: 32, bitOffset: 0, base: 'UInt', mode: 'RW' }));
  dev.add(new RemoteVariable({ name: 'var_remote_wo', offset: 0x4, bitSize: 32, bitOffset: 0, base: 'UInt', mode: 'WO' }));
  dev.add(
    new LocalCommand({
      name: 'cmd_reset',
      function: ({ dev: d }) => {
        void (d!.node('var') as LocalVariable).set(0);
      },
    }),
  );
  dev.add(
    new LocalCommand<number, number>({
      name: 'cmd_set',
      argType: 'Int32',
      retType: 'Int32',
      function: async ({ dev: d, arg }) => {
        await (d!.node('var') as LocalVariable).set(arg!);
        return arg! * 2;
      },
    }),
  );
  return root;
}

async function scenario(pvMap?: Record<string, string>) {
  const root = buildRoot();
  const s = await serve(root, { base: 'test', pvMap });
  const name = (path: string) => (pvMap ? pvMap[path] : `test:${path.replace(/\./g, ':')}`);
  try {
    for (const [path, values] of [
      ['LocalRoot.myDevice.var', [1, 5, -7]],
      ['LocalRoot.myDevice.var_wo', [3, 9]],
      ['LocalRoot.myDevice.var_float', [1.5, -0.25]],
      ['LocalRoot.myDevice.var_remote', [0xdead, 12]],
      ['LocalRoot.myDevice.var_remote_wo', [77, 78]],
    ] as const) {
      for (const v of values) {
        await s.client.put(name(path), v);
        const node = root.getNode(path) as LocalVariable;
        assert.equal(Number(node.value), v, `${path} set to ${v} in the tree`);
        const got = await s.client.get(name(path));
        assert.equal(Number(got.get('value')), v, `${path} reads back ${v}`);
      }
    }
    // remote variables really went to the emulated memory
    const remote = root.getNode('LocalRoot.myDevice.var_remote') as RemoteVariable;
    assert.equal(await remote.get({ read: true }), 12);

    // RPC with an argument runs the command and returns its result
    const r = await s.client.rpc(name('LocalRoot.myDevice.cmd_set'), { arg: '21' });
    assert.equal(r.get('value'), 42);
    assert.equal((root.getNode('LocalRoot.myDevice.var') as LocalVariable).value, 21);
    assert.equal((await s.client.get(name('LocalRoot.myDevice.var'))).get('value'), 21);
    // RPC without argument
    await s.client.rpc(name('LocalRoot.myDevice.cmd_reset'), {});
    assert.equal((root.getNode('LocalRoot.myDevice.var') as LocalVariable).value, 0);
  } finally {
    await s.close();
  }
}

test('Rogue epicsV4 scenario, automatic names', async () => {
  await scenario();
});

test('Rogue epicsV4 scenario, explicit pvMap', async () => {
  await scenario({
    'LocalRoot.myDevice.var': 'test:var',
    'LocalRoot.myDevice.var_wo': 'test:var_wo',
    'LocalRoot.myDevice.var_float': 'test:var_float',
    'LocalRoot.myDevice.var_remote': 'test:var_remote',
    'LocalRoot.myDevice.var_remote_wo': 'test:var_remote_wo',
    'LocalRoot.myDevice.cmd_reset': 'test:cmd_reset',
    'LocalRoot.myDevice.cmd_set': 'test:cmd_set',
  });
});
