// The Root's PyRogue built-ins through the tree API: names, order, modes, groups and hidden flags
// as PyRogue's _Root.py; what each command and variable does; file arguments kept inside configDir.
import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ConfigPathError, Device, LocalCommand, LocalVariable, LinkVariable, RemoteVariable, Root, PVTREE_VERSION, loadTreeFromYaml, type BaseCommand,
} from '../../src/tree/index.ts';
import { SpyMemory, flush } from './helpers.ts';

const ROOT_NODES = [
  'enable', 'ReadDevice', 'WriteDevice',
  'RogueVersion', 'RogueDirectory', 'SystemLog', 'SystemLogLast', 'ForceWrite', 'InitAfterConfig', 'Time', 'LocalTime', 'PollEn',
  'WriteAll', 'ReadAll', 'SaveState', 'SaveConfig', 'LoadConfig', 'RemoteVariableDump', 'RemoteConfigDump',
  'Initialize', 'HardReset', 'CountReset', 'ClearLog', 'SetYamlConfig', 'GetYamlConfig', 'GetYamlState',
  'LoadConfigProcess', 'SaveConfigProcess',
];

function call<R = unknown>(root: Root, name: string, arg?: unknown): Promise<R> {
  return (root.node(name) as BaseCommand<unknown, R>).call(arg);
}

test("a Root's nodes are PyRogue's, in PyRogue's order, with its modes, groups and hidden flags", () => {
  const root = new Root({ name: 'R' });
  assert.deepEqual([...root.nodes.keys()], ROOT_NODES);
  const v = (n: string) => root.node(n) as LocalVariable;
  const shape = (n: string) => [v(n).mode, v(n).hidden, v(n).groups.filter((g) => g !== 'Builtin' && g !== 'Hidden')];
  assert.deepEqual(shape('RogueVersion'), ['RO', false, []]);
  assert.deepEqual(shape('SystemLog'), ['RO', true, ['NoStream', 'NoSql', 'NoState']]);
  assert.deepEqual(shape('SystemLogLast'), ['RO', true, ['NoStream', 'NoState']]);
  assert.deepEqual(shape('ForceWrite'), ['RW', true, []]);
  assert.deepEqual(shape('InitAfterConfig'), ['RW', true, []]);
  assert.deepEqual(shape('Time'), ['RO', true, ['NoSql']]);
  assert.deepEqual(shape('LocalTime'), ['RO', false, ['NoStream', 'NoSql', 'NoState']]);
  assert.deepEqual(shape('PollEn'), ['RW', false, ['NoStream', 'NoSql', 'NoState']]);
  for (const c of ROOT_NODES.slice(12, 26)) assert.equal(root.node(c)!.hidden, true, `${c} hidden`);
  assert.ok(root.node('LocalTime') instanceof LinkVariable);
  assert.equal(v('RogueVersion').value, PVTREE_VERSION);
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  assert.equal(PVTREE_VERSION, `v${pkg.version}-pvtree`);
  // every framework-made node is in group Builtin (a server leaves them out with --exc-groups NoServe,Builtin)
  for (const n of [...root.nodes.values()]) assert.ok(n.inGroup('Builtin'), n.name);
  const p = root.node('LoadConfigProcess') as Device;
  assert.deepEqual([...p.nodes.keys()], [
    'enable', 'ReadDevice', 'WriteDevice', 'Start', 'Stop', 'Running', 'Progress', 'Message', 'Step', 'TotalSteps', 'UpdatePeriod',
    'LoadMode', 'ConfigFile', 'YamlString',
  ]);
  assert.deepEqual([...(root.node('SaveConfigProcess') as Device).nodes.keys()].slice(11), ['DataType', 'SaveMode', 'ConfigFile', 'YamlString']);
});

test('builtins: false leaves them out (opting out in code)', async () => {
  const root = new Root({ name: 'R', builtins: false });
  assert.deepEqual([...root.nodes.keys()], ['enable', 'ReadDevice', 'WriteDevice']);
  await root.start();
  root.pollEn = false;
  assert.equal(root.pollEn, false);
  await root.stop();
});

test('PollEn turns polling off and on at run time (and follows root.pollEn)', async (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  const root = new Root({ name: 'R', pollEn: true });
  const d = new Device({ name: 'D' });
  d.add(new RemoteVariable({ name: 'Count', offset: 0, mode: 'RO', pollInterval: 1 }));
  root.add(d);
  const pollEn = root.node('PollEn') as LocalVariable<boolean>;
  assert.equal(pollEn.value, true);
  await root.start();
  try {
    const tick = async (): Promise<void> => { mock.timers.tick(1000); for (let i = 0; i < 10; i++) await flush(); };
    await tick();
    assert.equal(root.pollCycles, 1);
    await pollEn.set(false);
    assert.equal(root.pollEn, false);
    await tick();
    await tick();
    assert.equal(root.pollCycles, 1, 'no polling while PollEn is False');
    await pollEn.set(true);
    await tick();
    assert.equal(root.pollCycles, 2);
    root.pollEn = false;
    await flush();
    assert.equal(pollEn.value, false, 'PollEn shows root.pollEn');
    assert.equal(await pollEn.get(), false);
  } finally {
    await root.stop();
  }
});

test('ReadAll reads hardware that changed behind the tree; WriteAll writes unwritten values, everything with ForceWrite', async () => {
  const mem = new SpyMemory();
  const root = new Root({ name: 'R', memBase: mem, pollEn: false });
  const d = new Device({ name: 'D' });
  const a = new RemoteVariable({ name: 'A', offset: 0 });
  const b = new RemoteVariable({ name: 'B', offset: 4 });
  d.add(a, b);
  root.add(d);
  await root.start();
  try {
    mem.inner.writeBytes(0, new Uint8Array([0x34, 0x12, 0, 0]));
    await call(root, 'ReadAll');
    assert.equal(a.value, 0x1234);
    await call(root, 'WriteAll');
    mem.clear();
    await call(root, 'WriteAll');
    assert.equal(mem.count('write'), 0, 'nothing unwritten: nothing written');
    await a.set(7, { write: false });
    await call(root, 'WriteAll');
    assert.deepEqual(mem.log.filter((x) => x.type === 'write').map((x) => x.address), [0], 'only the staged block');
    mem.clear();
    await (root.node('ForceWrite') as LocalVariable<boolean>).set(true);
    await call(root, 'WriteAll');
    assert.deepEqual(mem.log.filter((x) => x.type === 'write').map((x) => x.address).sort(), [0, 4], 'ForceWrite: every block');
  } finally {
    await root.stop();
  }
});

test('Initialize / HardReset / CountReset call each device hook; overrides choose parent-first or children-first', async () => {
  const order: string[] = [];
  class Parent extends Device {
    override async initialize(): Promise<void> { order.push(`init ${this.name}`); await super.initialize(); }
    override async countReset(): Promise<void> { await super.countReset(); order.push(`count ${this.name}`); }
  }
  class Leaf extends Device {
    override async initialize(): Promise<void> { order.push(`init ${this.name}`); }
    override async hardReset(): Promise<void> { order.push(`hard ${this.name}`); }
    override async countReset(): Promise<void> { order.push(`count ${this.name}`); }
  }
  const root = new Root({ name: 'R', pollEn: false });
  const p = new Parent({ name: 'P' });
  p.add(new Leaf({ name: 'L1' }), new Leaf({ name: 'L2' }));
  root.add(p, new Leaf({ name: 'L3' }));
  await root.start();
  try {
    await call(root, 'Initialize');
    await call(root, 'CountReset');
    await call(root, 'HardReset');
    assert.deepEqual(order, [
      'init P', 'init L1', 'init L2', 'init L3',
      'count L1', 'count L2', 'count P', 'count L3',
      'hard L1', 'hard L2', 'hard L3',
    ]);
  } finally {
    await root.stop();
  }
});

test('SystemLog: errors the tree reports, as PyRogue JSON entries, bounded; ClearLog and HardReset empty it', async () => {
  const mem = new SpyMemory();
  const errors: string[] = [];
  const root = new Root({ name: 'R', memBase: mem, pollEn: false, maxLog: 3, onError: (e) => errors.push(e.message) });
  const d = new Device({ name: 'D' });
  d.add(new LocalCommand({ name: 'Fail', function: () => { throw new Error('boom'); } }));
  root.add(d);
  const log = root.node('SystemLog') as LocalVariable<string>;
  const last = root.node('SystemLogLast') as LocalVariable<string>;
  await root.start();
  try {
    for (let i = 0; i < 4; i++) await assert.rejects((d.node('Fail') as BaseCommand).call(), /boom/);
    await flush();
    const entries = JSON.parse(log.value) as Record<string, unknown>[];
    assert.equal(entries.length, 3, 'maxLog bounds the list');
    assert.deepEqual(Object.keys(entries[0]).sort(), ['created', 'exception', 'levelName', 'levelNumber', 'message', 'name', 'traceBack']);
    assert.deepEqual([entries[2].message, entries[2].name, entries[2].levelName, entries[2].levelNumber, entries[2].exception], ['boom', 'R.D.Fail', 'ERROR', 40, 'Error']);
    assert.ok(Math.abs((entries[2].created as number) - Date.now() / 1000) < 5);
    assert.deepEqual(JSON.parse(last.value), entries[2]);
    root._reportError(new Error('poll failed'), 'poll');
    await flush();
    assert.deepEqual(errors, ['poll failed'], 'onError still hears unawaited errors');
    assert.equal((JSON.parse(log.value) as { message: string }[]).at(-1)!.message, 'poll failed');
    await call(root, 'ClearLog');
    assert.equal(log.value, '[]');
    assert.equal(last.value, '');
    root._reportWarning('careful', 'R.D');
    await flush();
    assert.equal((JSON.parse(log.value) as { levelName: string }[])[0].levelName, 'WARNING');
    await call(root, 'HardReset');
    assert.equal(log.value, '[]');
  } finally {
    await root.stop();
  }
});

test('GetYamlConfig returns YAML that SetYamlConfig accepts; GetYamlState adds RO values; InitAfterConfig runs initialize()', async () => {
  let inits = 0;
  class Dev extends Device {
    override async initialize(): Promise<void> { inits++; }
  }
  const make = () => {
    const root = new Root({ name: 'R', pollEn: false });
    const d = new Dev({ name: 'D' });
    d.add(new RemoteVariable({ name: 'Reg', offset: 0 }), new RemoteVariable({ name: 'Ro', offset: 4, mode: 'RO' }), new LocalVariable({ name: 'Gain', value: 1.5 }));
    root.add(d);
    return root;
  };
  const a = make();
  const b = make();
  await a.start();
  await b.start();
  try {
    await (a.getNode('D.Reg') as RemoteVariable).set(0xabc);
    await (a.getNode('D.Gain') as LocalVariable).set(4.5);
    const yml = await call<string>(a, 'GetYamlConfig', true);
    assert.match(yml, /\n {2}D:\n {4}enable: True\n {4}Reg: 0xabc\n {4}Gain: 4.5\n$/);
    assert.doesNotMatch(yml, /Ro:/);
    const state = await call<string>(a, 'GetYamlState');
    assert.match(state, /Ro: 0x0/);
    assert.match(state, /RogueVersion: /);
    assert.doesNotMatch(state, /SystemLog|LocalTime|PollEn/, 'NoState left out');
    // the config carries InitAfterConfig itself (False here would switch it off before the check, as in PyRogue)
    await (a.node('InitAfterConfig') as LocalVariable<boolean>).set(true);
    assert.equal(await call(b, 'SetYamlConfig', await call<string>(a, 'GetYamlConfig', false)), '');
    assert.equal((b.getNode('D.Reg') as RemoteVariable).value, 0xabc);
    assert.equal(inits, 1, 'initialize() after the config');
    assert.equal(await call(b, 'SetYamlConfig', 'R:\n  D:\n    Nope: 1\n'), 'Entry R.D.Nope not found');
  } finally {
    await a.stop();
    await b.stop();
  }
});

test('SaveConfig / SaveState / LoadConfig / RemoteVariableDump resolve inside configDir and refuse paths that escape it', async () => {
  const base = mkdtempSync(join(tmpdir(), 'pvtree-cfgdir-'));
  const dir = join(base, 'cfg');
  mkdirSync(dir);
  mkdirSync(join(dir, 'set'));
  symlinkSync(base, join(dir, 'up'));
  const root = new Root({ name: 'R', pollEn: false, configDir: dir });
  const d = new Device({ name: 'D' });
  d.add(new RemoteVariable({ name: 'Reg', offset: 0 }), new RemoteVariable({ name: 'Arr', offset: 8, bitSize: 8, numValues: 2, valueBits: 8, valueStride: 8 }));
  root.add(d);
  await root.start();
  try {
    await (d.node('Reg') as RemoteVariable).set(0x42);
    assert.equal(await call(root, 'SaveConfig', 'a.yml'), join(dir, 'a.yml'));
    assert.match(readFileSync(join(dir, 'a.yml'), 'utf8'), /Reg: 0x42/);
    const auto = await call<string>(root, 'SaveConfig', '');
    assert.match(auto, /\/cfg\/config_\d{8}_\d{6}\.yml$/);
    assert.match(await call<string>(root, 'SaveState', ''), /\/cfg\/state_\d{8}_\d{6}\.yml$/);
    await assert.rejects(call(root, 'SaveState', 's.yml.zip'), /zip files are not supported/);
    for (const bad of ['../x.yml', '/tmp/x.yml', 'up/x.yml', 'set/../../x.yml']) {
      await assert.rejects(call(root, 'SaveConfig', bad), (e: Error) => e instanceof ConfigPathError && /outside the config directory/.test(e.message), bad);
      await assert.rejects(call(root, 'LoadConfig', bad), ConfigPathError, bad);
      await assert.rejects(call(root, 'RemoteVariableDump', bad.replace('.yml', '.txt')), ConfigPathError, bad);
    }
    assert.deepEqual(readdirSync(base).sort(), ['cfg'], 'nothing written outside');
    // LoadConfig: a file, a comma list, a directory (its .yml files, sorted)
    await (d.node('Reg') as RemoteVariable).set(0);
    await call(root, 'LoadConfig', 'a.yml');
    assert.equal((d.node('Reg') as RemoteVariable).value, 0x42);
    writeFileSync(join(dir, 'set', '2.yml'), 'R:\n  D:\n    Reg: 0x2\n');
    writeFileSync(join(dir, 'set', '1.yaml'), 'R:\n  D:\n    Reg: 0x1\n');
    writeFileSync(join(dir, 'set', 'notes.txt'), 'not config');
    await call(root, 'LoadConfig', 'set');
    assert.equal((d.node('Reg') as RemoteVariable).value, 2, '1.yaml then 2.yml');
    await call(root, 'LoadConfig', 'set/2.yml, set/1.yaml');
    assert.equal((d.node('Reg') as RemoteVariable).value, 1);
    await assert.rejects(call(root, 'LoadConfig', 'set/notes.txt'), /must be a directory or end in .yml or .yaml/);
    await assert.rejects(call(root, 'LoadConfig', ''), /no configuration file given/);
    // the dump, in Rogue's `path = value` format
    await (d.node('Arr') as RemoteVariable).set([3, 4]);
    const dump = await call<string>(root, 'RemoteVariableDump', 'regs.txt');
    assert.equal(readFileSync(dump, 'utf8'), 'R.D.Reg = 1\nR.D.Arr = 3 4\n');
  } finally {
    await root.stop();
    rmSync(base, { recursive: true, force: true });
  }
});

test('configDir defaults to the current directory', () => {
  const root = new Root({ name: 'R', pollEn: false });
  assert.equal(root.resolveConfigPath('x.yml'), join(process.cwd(), 'x.yml'));
  assert.throws(() => root.resolveConfigPath('../x.yml'), ConfigPathError);
});

test('Time counts seconds while running; LocalTime shows it as local time', { timeout: 10000 }, async () => {
  const root = new Root({ name: 'R', pollEn: false });
  const time = root.node('Time') as LocalVariable<number>;
  const local = root.node('LocalTime') as LinkVariable<string>;
  await root.start();
  const keepAlive = setTimeout(() => undefined, 9000); // the heartbeat itself does not hold the process open
  try {
    const t0 = time.value;
    const changed = new Promise<number>((r) => time.addListener((_p, vv) => r(vv.value as number)));
    const t1 = await changed;
    assert.ok(t1 > t0 && Math.abs(t1 - Date.now() / 1000) < 2, `${t0} → ${t1}`);
    assert.match(local.value, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d( \S+)?$/);
  } finally {
    clearTimeout(keepAlive);
    await root.stop();
  }
});

test("a declarative tree's reset action restores the user's variables, not the built-ins", async () => {
  const root = loadTreeFromYaml(`
root: { name: B, pollEn: false }
devices:
  - name: S
    variables: [ { name: Gain, value: 1.5 } ]
    commands: [ { name: Defaults, action: reset } ]
`);
  await (root.getNode('S.Gain') as LocalVariable).set(3);
  await (root.node('ForceWrite') as LocalVariable<boolean>).set(true);
  await (root.getNode('LoadConfigProcess.ConfigFile') as LocalVariable<string>).set('x.yml');
  await (root.getNode('S.Defaults') as BaseCommand).call();
  assert.equal((root.getNode('S.Gain') as LocalVariable).value, 1.5);
  assert.equal((root.node('ForceWrite') as LocalVariable).value, true);
  assert.equal((root.getNode('LoadConfigProcess.ConfigFile') as LocalVariable).value, 'x.yml');
});

test('SystemLog is bounded in size too: the oldest entries go first', async () => {
  const root = new Root({ name: 'R', pollEn: false, maxLogBytes: 2000 });
  await root.start();
  try {
    for (let i = 0; i < 50; i++) root._reportWarning(`warning number ${i} ${'x'.repeat(50)}`, 'R');
    await flush();
    const text = (root.node('SystemLog') as LocalVariable<string>).value;
    assert.ok(text.length <= 2000, `${text.length} characters`);
    const entries = JSON.parse(text) as { message: string }[];
    assert.ok(entries.length > 5 && entries.length < 50);
    assert.match(entries.at(-1)!.message, /^warning number 49 /);
    assert.equal(root.systemLog.size, entries.length);
  } finally {
    await root.stop();
  }
});
