import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Root, Device, LocalVariable, RemoteVariable, LocalCommand, RemoteCommand, LinkVariable,
  loadTreeFromYaml, loadTreeFromFile, TreeYamlError,
} from '../../src/tree/index.ts';

function configTree() {
  const root = new Root({ name: 'Top', pollEn: false });
  const dev = new Device({ name: 'Dev', offset: 0x100 });
  const sub = new Device({ name: 'Sub', offset: 0x10 });
  dev.add(
    new LocalVariable({ name: 'Gain', value: 1.5, disp: '{:.1f}' }),
    new LocalVariable({ name: 'Mode', value: 0, enum: { 0: 'Off', 1: 'On', 2: 'Auto' } }),
    new LocalVariable({ name: 'Name', value: 'abc' }),
    new LocalVariable({ name: 'On', value: false }),
    new LocalVariable({ name: 'Wave', value: [1, 2, 3] }),
    new LocalVariable({ name: 'Status', value: 0, mode: 'RO' }),
    new LocalVariable({ name: 'Secret', value: 7, groups: ['NoConfig'] }),
    new RemoteVariable({ name: 'Reg', offset: 0, bitSize: 16 }),
    new RemoteVariable({ name: 'Big', offset: 8, bitSize: 64 }),
    sub,
  );
  sub.add(new RemoteVariable({ name: 'Field', offset: 0, bitOffset: 3, bitSize: 5, base: 'Int' }));
  root.add(dev);
  return { root, dev, sub };
}

test('YAML config round trip (values by path, RW/WO only, NoConfig excluded)', async () => {
  const a = configTree();
  const v = (p: string) => a.root.getNode(p) as LocalVariable;
  await v('Dev.Gain').set(2.25);
  await v('Dev.Mode').set(2);
  await v('Dev.Name').set('hello: world');
  await v('Dev.On').set(true);
  await v('Dev.Wave').set([0.5, -1, 1e-9]);
  await v('Dev.Reg').set(0xbeef);
  await v('Dev.Big').set(2n ** 63n + 5n);
  await v('Dev.Sub.Field').set(-7);
  const yml = await a.root.getYaml();
  // PyRogue's layout: each device's variables (enable first) then its sub-devices; values are
  // display strings ('{:.1f}' of 2.25 is 2.2, as Python rounds), registers in hex, arrays as text
  const dev = yml.slice(yml.indexOf('  Dev:\n'));
  assert.equal(dev, [
    '  Dev:', '    enable: True', '    Gain: 2.2', '    Mode: Auto', "    Name: 'hello: world'", "    'On': True",
    "    Wave: '[0.5, -1.0, 1e-09]'", '    Reg: 0xbeef', '    Big: 0x8000000000000005', '    Sub:', '      enable: True', '      Field: -7', '',
  ].join('\n'));
  assert.match(yml, /^Top:\n {2}enable: True\n {2}ForceWrite: False\n/);
  assert.doesNotMatch(yml, /Status|Secret/);

  const b = configTree();
  const writes: string[] = [];
  const seen: string[] = [];
  for (const x of b.root.variableList) x.addListener((p) => seen.push(p));
  const mem = b.root.memBase as import('../../src/tree/index.ts').Emulate;
  const orig = mem.doTransaction.bind(mem);
  mem.doTransaction = async (t) => { writes.push(`${t.type}@${t.address.toString(16)}`); return orig(t); };
  await b.root.setYaml(yml);
  assert.equal((b.root.getNode('Dev.Gain') as LocalVariable).value, 2.2, 'the display value is what was saved');
  for (const p of ['Dev.Mode', 'Dev.Name', 'Dev.On', 'Dev.Reg', 'Dev.Big', 'Dev.Sub.Field']) {
    assert.deepEqual((b.root.getNode(p) as LocalVariable).value, v(p).value, p);
  }
  assert.deepEqual([...(b.root.getNode('Dev.Wave') as LocalVariable).value as Float64Array], [0.5, -1, 1e-9]);
  assert.equal(await b.root.getYaml(), yml);
  // touched blocks written once each, at the end
  assert.deepEqual(writes.filter((w) => w.startsWith('write')).sort(), ['write@100', 'write@108', 'write@110']);
  assert.equal(new Set(seen).size, seen.length, 'one notification per variable');
});

test('setYaml accepts display strings; unknown keys are skipped and reported; a bad value rejects the whole load', async () => {
  const { root } = configTree();
  await root.setYaml('Top:\n  Dev:\n    Reg: "0x10"\n    Mode: On\n    On: "True"\n    Wave: "[4, 5, 6]"\n');
  assert.equal((root.getNode('Dev.Reg') as RemoteVariable).value, 16);
  assert.equal((root.getNode('Dev.Mode') as LocalVariable).value, 1);
  assert.equal((root.getNode('Dev.On') as LocalVariable).value, true);
  // dotted keys and a relative top-level key
  await root.setYaml('Dev.Sub:\n  Field: 3\n');
  assert.equal((root.getNode('Dev.Sub.Field') as RemoteVariable).value, 3);
  // an unknown key is reported with its path (PyRogue's "Entry X not found") and skipped
  const r = await root.setYaml('Top:\n  Dev:\n    Nope: 1\n    Gain: 9.5\nElsewhere: 3\n');
  assert.deepEqual(r.notFound, ['Top.Dev.Nope', 'Elsewhere']);
  assert.equal(r.applied, 1);
  assert.equal((root.getNode('Dev.Gain') as LocalVariable).value, 9.5, 'the rest applied');
  // a bad value rejects everything, naming each bad entry
  await assert.rejects(
    root.setYaml('Top:\n  Dev:\n    Gain: 3.5\n    Reg: 70000\n    Mode: Sideways\n'),
    (e: Error) => e.name === 'ConfigError' && /Top\.Dev\.Reg: .*out of range/.test(e.message) && /Top\.Dev\.Mode: 'Sideways' is not one of/.test(e.message),
  );
  assert.equal((root.getNode('Dev.Gain') as LocalVariable).value, 9.5, 'nothing applied');
  assert.equal((root.getNode('Dev.Reg') as RemoteVariable).value, 16);
  await root.setYaml('Top:\n  Dev:\n    Status: 5\n'); // RO entries are skipped silently
  assert.equal((root.getNode('Dev.Status') as LocalVariable).value, 0);
  await assert.rejects(root.setYaml('[1, 2'), /invalid YAML/);
});

test('saveConfig / loadConfig files', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvtree-'));
  try {
    const a = configTree();
    await (a.root.getNode('Dev.Gain') as LocalVariable).set(4);
    await a.root.saveConfig(join(dir, 'c.yml'));
    writeFileSync(join(dir, 'd.yml'), 'Top:\n  Dev:\n    Mode: Auto\n');
    const b = configTree();
    await b.root.loadConfig([join(dir, 'c.yml'), join(dir, 'd.yml')]);
    assert.equal((b.root.getNode('Dev.Gain') as LocalVariable).value, 4);
    assert.equal((b.root.getNode('Dev.Mode') as LocalVariable).value, 2);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

const DEMO = `
root: { name: Demo, description: demo tree, pollEn: false }
variables:
  - { name: Top, value: 1 }
devices:
  - name: Dev
    offset: 0x1000
    variables:
      - { name: Counter, kind: remote, offset: 0x0, bitSize: 32, base: UInt, mode: RO, pollInterval: 1 }
      - { name: Gain, kind: local, value: 1.5, typeStr: Float64, units: dB, minimum: 0, maximum: 10, lowAlarm: 0.5, highWarning: 8, disp: '{:.2f}' }
      - { name: Mode, kind: local, value: 0, enum: {0: Off, 1: On, 2: Auto} }
      - { name: Mode2, value: Auto, enum: {0: Off, 1: On, 2: Auto} }
      - { name: Wave, kind: local, value: [1,2,3,4], typeStr: 'Float64[4]' }
      - { name: Hidden, kind: local, value: 1, groups: [NoServe], hidden: true }
      - { name: GainAlias, kind: link, variable: Dev.Gain }
      - { name: Huge, value: 0xffffffffffffffff, typeStr: UInt64 }
    commands:
      - { name: Reset, kind: remote, offset: 0x10, bitSize: 1, base: UInt, function: toggle }
      - { name: SetGain, argType: Float64, action: set, target: Dev.Gain }
      - { name: Bump, action: increment, target: Demo.Dev.Mode }
      - { name: Echo, argType: Int32, retType: Int32, action: echo }
      - { name: Defaults, action: reset }
    devices:
      - name: Sub
        offset: 0x100
        variables:
          - { name: R, offset: 4, bitSize: 16, base: Int, value: -3 }
`;

test('declarative tree from YAML', async () => {
  const root = loadTreeFromYaml(DEMO);
  assert.equal(root.name, 'Demo');
  assert.equal(root.description, 'demo tree');
  assert.equal(root.pollEn, false);
  const n = <T>(p: string) => root.getNode(p) as T;
  const counter = n<RemoteVariable>('Dev.Counter');
  assert.equal(counter.mode, 'RO');
  assert.equal(counter.pollInterval, 1);
  assert.equal(counter.address, 0x1000);
  const gain = n<LocalVariable>('Dev.Gain');
  assert.deepEqual([gain.units, gain.minimum, gain.maximum, gain.lowAlarm, gain.highWarning, gain.disp], ['dB', 0, 10, 0.5, 8, '{:.2f}']);
  assert.equal(n<LocalVariable>('Dev.Mode').nativeType.kind, 'enum');
  assert.equal(n<LocalVariable>('Dev.Wave').typeStr, 'Float64[4]');
  assert.equal(n<LocalVariable>('Dev.Mode2').value, 2);
  assert.ok(n<LocalVariable>('Dev.Hidden').hidden && n<LocalVariable>('Dev.Hidden').inGroup('NoServe'));
  assert.ok(n<LinkVariable>('Dev.GainAlias') instanceof LinkVariable);
  assert.equal(n<LocalVariable>('Dev.Huge').value, 2n ** 64n - 1n);
  assert.equal(n<RemoteVariable>('Dev.Sub.R').address, 0x1104);
  assert.ok(n<RemoteCommand>('Dev.Reset') instanceof RemoteCommand);
  await root.start();
  assert.equal(n<RemoteVariable>('Dev.Sub.R').value, -3);
  await n<LocalCommand>('Dev.SetGain').call(3.5);
  assert.equal(gain.value, 3.5);
  assert.equal(n<LinkVariable>('Dev.GainAlias').value, 3.5);
  assert.equal(await n<LocalCommand>('Dev.Bump').call(), 1);
  assert.equal(await n<LocalCommand>('Dev.Echo').call(7), 7);
  await assert.rejects(n<LocalCommand>('Dev.Echo').call(2 ** 40), /bad argument/);
  await n<RemoteVariable>('Dev.Sub.R').set(100);
  await n<LocalCommand>('Dev.Defaults').call();
  assert.equal(gain.value, 1.5);
  assert.equal(n<LocalVariable>('Dev.Mode').value, 0);
  assert.equal(n<RemoteVariable>('Dev.Sub.R').value, -3);
  await n<RemoteCommand>('Dev.Reset').call();
  await root.stop();
});

test('every built-in action of a declared local command', async () => {
  const root = loadTreeFromYaml(`
root: { name: Acts, pollEn: false }
variables:
  - { name: Top, value: 5, typeStr: Int32 }
devices:
  - name: Dev
    offset: 0x2000
    variables:
      - { name: N, value: 10, typeStr: Int32 }
      - { name: Big, value: 10, typeStr: UInt64 }
      - { name: On, value: false, typeStr: Bool }
      - { name: R, offset: 0, bitSize: 16, base: UInt, value: 7 }
      - { name: Ro, value: 3, typeStr: Int32, mode: RO }
    commands:
      - { name: GetN, retType: Int32, action: get, target: Dev.N }
      - { name: Down, argType: Int32, action: decrement, target: Dev.N }
      - { name: BigUp, action: increment, target: Dev.Big }
      - { name: Flip, action: toggle, target: Dev.On }
      - { name: ResetDev, action: reset, target: Dev }
      - { name: ReadAll, action: readAll }
      - { name: WriteAll, action: writeAll }
`);
  const n = <T>(p: string) => root.getNode(p) as T;
  await root.start();
  try {
    assert.equal(await n<LocalCommand>('Dev.GetN').call(), 10);
    assert.equal(await n<LocalCommand>('Dev.Down').call(3), 7);
    assert.equal(await n<LocalCommand>('Dev.Down').call(), 6, 'the step defaults to 1');
    assert.equal(await n<LocalCommand>('Dev.BigUp').call(), 11);
    assert.equal(await n<LocalCommand>('Dev.Flip').call(), true);
    assert.equal(await n<LocalCommand>('Dev.Flip').call(), false);
    await n<LocalVariable>('Top').set(9);
    await n<RemoteVariable>('Dev.R').set(99);
    await n<LocalVariable>('Dev.On').set(true);
    await n<LocalVariable>('Dev.Ro').set(4, { force: true });
    assert.equal(await n<LocalCommand>('Dev.ResetDev').call(), undefined);
    // the device's writable local and remote variables go back; the root's and read-only ones stay
    assert.deepEqual(
      ['Dev.N', 'Dev.Big', 'Dev.On', 'Dev.R', 'Dev.Ro', 'Top'].map((p) => n<LocalVariable>(p).value),
      [10, 10, false, 7, 4, 9],
    );
    // readAll / writeAll reach the hardware: the remote variable's block is read and written
    await n<RemoteVariable>('Dev.R').set(42);
    assert.equal(await n<LocalCommand>('Dev.WriteAll').call(), undefined);
    await n<RemoteVariable>('Dev.R').set(5, { write: false });
    assert.equal(await n<LocalCommand>('Dev.ReadAll').call(), undefined);
    assert.equal(n<RemoteVariable>('Dev.R').value, 42, 'readAll brought back what writeAll wrote');
  } finally {
    await root.stop();
  }
});

test('YAML tree errors name the bad entry', () => {
  const bad: [string, RegExp][] = [
    ['devices:\n  - name: D\n    variables:\n      - { name: X, kind: remote, bitSize: 8 }\n', /devices\[0\] \(D\)\.variables\[0\] \(X\): 'offset' is required/],
    ['devices:\n  - name: D\n    variables:\n      - { name: X, valu: 3 }\n', /variables\[0\] \(X\): unknown key 'valu'/],
    ['devices:\n  - name: D\n    variables:\n      - { name: X, value: 300, typeStr: Int8 }\n', /\(X\): .*out of range/],
    ['devices:\n  - name: D\n    commands:\n      - { name: C, expr: "1+1" }\n', /\(C\): unknown key 'expr'/],
    ['devices:\n  - name: D\n    commands:\n      - { name: C }\n', /\(C\): a local command needs 'action'/],
    ['devices:\n  - name: D\n    commands:\n      - { name: C, action: set, target: D.Nope }\n', /\(C\): target D\.Nope is not a variable/],
    ['devices:\n  - name: D\n    variables:\n      - { name: L, kind: link, variable: Nope }\n', /\(L\): 'variable' Nope/],
    ['devices:\n  - { name: D, offset: zero }\n', /devices\[0\] \(D\): 'offset' must be a number/],
    ['devices:\n  - { name: D }\n  - { name: D }\n', /devices\[1\] \(D\): .*already has a child/],
    ['root: { nam: X }\n', /root: unknown key 'nam'/],
    ['devices:\n  - name: D\n    variables:\n      - { name: M, value: 0, enum: {a: Off} }\n', /enum key 'a'/],
    ['- 1\n', /expected a mapping/],
    ['variables:\n  - { name: M, value: Maybe, enum: {0: Off} }\n', /variables\[0\] \(M\): value 'Maybe' is not one of Off/],
  ];
  for (const [text, re] of bad) {
    assert.throws(() => loadTreeFromYaml(text), (e: Error) => e instanceof TreeYamlError && re.test(e.message), text);
  }
  assert.throws(() => loadTreeFromFile('/nonexistent/tree.yaml'), TreeYamlError);
});

test('setYaml through a link variable writes the remote block it staged', async () => {
  const root = new Root({ name: 'R', pollEn: false });
  const dev = new Device({ name: 'D' });
  const reg = new RemoteVariable({ name: 'Reg', offset: 0, bitSize: 16, groups: ['NoConfig'] });
  const volts = new LinkVariable({
    name: 'Volts', dependencies: [reg], linkedGet: () => (reg.value as number) / 100,
    linkedSet: async ({ value, write }) => { await reg.set(Math.round((value as number) * 100), { write }); },
  });
  dev.add(reg, volts);
  root.add(dev);
  await root.setYaml('R:\n  D:\n    Volts: 1.5\n');
  const mem = root.memBase as import('../../src/tree/index.ts').Emulate;
  assert.deepEqual([...mem.readBytes(0, 2)], [150, 0]);
  assert.equal(volts.value, 1.5);
  assert.match(await root.getYaml(), /\n {2}D:\n {4}enable: True\n {4}Volts: 1.5\n$/);
});
