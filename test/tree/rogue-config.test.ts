// Configuration files a PyRogue user already has: PyRogue 6.15's saved layout loads, pvtree
// writes it back byte for byte, Rogue's array keys ([n], [*], [a:b], [::k], [-1]) select register
// and device arrays, unknown keys are reported, and a bad value rejects the whole load.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Device, LocalVariable, RemoteVariable, Root, ConfigError } from '../../src/tree/index.ts';
import { PYTHON } from '../util/python.ts';

/** What PyRogue 6.15 saves for this tree (from the issue). */
const ROGUE_SAVED = `LocalRoot:
  enable: True
  ForceWrite: False
  InitAfterConfig: False
  PollEn: False
  LoadConfigProcess:
    enable: True
    UpdatePeriod: 1.0
    LoadMode: File
    ConfigFile: ''
    YamlString: ''
  SaveConfigProcess:
    enable: True
    UpdatePeriod: 1.0
    DataType: Config
    SaveMode: File
    ConfigFile: ''
  SimpleDev:
    enable: True
    LocalRwInt: 5
    LocalRwFloat: 2.25
    Label: hello world
    Mode: Auto
    RemoteRwInt: 0x1234
    Chan[0]: 0xa
    Chan[1]: 0xb
    Chan[2]: 0xc
    Chan[3]: 0xd
    Sub[0]:
      enable: True
      Reg: 0xaa
      Gain: 1.5
    Sub[1]:
      enable: True
      Reg: 0xbb
      Gain: 3.5
`;

class Sub extends Device {
  constructor(opts: { name: string; offset?: number }) {
    super(opts);
    this.add(new RemoteVariable({ name: 'Reg', offset: 0, bitSize: 32 }), new LocalVariable({ name: 'Gain', value: 1, typeStr: 'Float64' }));
  }
}

/** The small tree of the issue, with values other than the file's. */
function simpleTree(pollEn = false) {
  const root = new Root({ name: 'LocalRoot', pollEn });
  const dev = new Device({ name: 'SimpleDev', offset: 0x1000 });
  root.add(dev);
  dev.add(
    new LocalVariable({ name: 'LocalRwInt', value: 0 }),
    new LocalVariable({ name: 'LocalRwFloat', value: 0.5 }),
    new LocalVariable({ name: 'Label', value: '' }),
    new LocalVariable({ name: 'Mode', value: 0, enum: { 0: 'Off', 1: 'On', 2: 'Auto' } }),
    new RemoteVariable({ name: 'RemoteRwInt', offset: 0, bitSize: 32 }),
  );
  dev.addRemoteVariables({ name: 'Chan', offset: 0x10, number: 4, stride: 4, bitSize: 32 });
  dev.addNodes((o: { name: string; offset?: number }) => new Sub(o), { name: 'Sub', offset: 0x100, number: 2, stride: 0x10 });
  const mem = root.memBase as import('../../src/tree/index.ts').Emulate;
  const v = <T = unknown>(p: string) => root.getNode(`LocalRoot.SimpleDev.${p}`) as LocalVariable<T>;
  const word = (addr: number) => new DataView(mem.readBytes(addr, 4).buffer).getUint32(0, true);
  return { root, dev, mem, v, word };
}

test("PyRogue 6.15's saved file loads, reaches the hardware, and pvtree saves it back byte for byte", async () => {
  const t = simpleTree();
  const r = await t.root.setYaml(ROGUE_SAVED);
  assert.deepEqual(r.notFound, []);
  assert.equal(t.v('LocalRwInt').value, 5);
  assert.equal(t.v('LocalRwFloat').value, 2.25);
  assert.equal(t.v('Label').value, 'hello world');
  assert.equal(t.v('Mode').value, 2);
  assert.equal(t.v('RemoteRwInt').value, 0x1234);
  assert.deepEqual([0, 1, 2, 3].map((i) => t.v(`Chan[${i}]`).value), [0xa, 0xb, 0xc, 0xd]);
  assert.equal(t.v('Sub[1].Gain').value, 3.5);
  // the registers were written (one load, then the blocks holding new values)
  assert.equal(t.word(0x1000), 0x1234);
  assert.deepEqual([0x1010, 0x1014, 0x1018, 0x101c, 0x1100, 0x1110].map(t.word), [0xa, 0xb, 0xc, 0xd, 0xaa, 0xbb]);
  assert.equal(await t.root.getYaml(), ROGUE_SAVED);
});

test("hand-written files with Rogue's array keys: [*], [a:b], [::k], [-1], [n] on register and device arrays", async () => {
  const t = simpleTree();
  await t.root.setYaml('LocalRoot:\n  SimpleDev:\n    Chan[*]: 0x5\n    Sub[0:2]: {Gain: 2.5}\n');
  assert.deepEqual([0, 1, 2, 3].map((i) => t.v(`Chan[${i}]`).value), [5, 5, 5, 5]);
  assert.deepEqual([t.v('Sub[0].Gain').value, t.v('Sub[1].Gain').value], [2.5, 2.5]);
  await t.root.setYaml('LocalRoot:\n  SimpleDev:\n    Chan[1:3]: 7\n    Chan[-1]: 9\n    Sub[1]:\n      Reg: 0x44\n');
  assert.deepEqual([0, 1, 2, 3].map((i) => t.v(`Chan[${i}]`).value), [5, 7, 7, 9]);
  assert.equal(t.v('Sub[0].Reg').value, 0);
  assert.equal(t.v('Sub[1].Reg').value, 0x44);
  await t.root.setYaml('LocalRoot:\n  SimpleDev:\n    Chan[::2]: 1\n    Chan[:]: {}\n');
  assert.deepEqual([0, 1, 2, 3].map((i) => t.v(`Chan[${i}]`).value), [1, 7, 1, 9]);
  assert.deepEqual([0x1010, 0x1014, 0x1018, 0x101c].map(t.word), [1, 7, 1, 9], 'in hardware too');
  // an array key that selects nothing is a key not found
  const r = await t.root.setYaml('LocalRoot:\n  SimpleDev:\n    Chan[7]: 1\n    Nope[0]: 1\n');
  assert.deepEqual(r.notFound, ['LocalRoot.SimpleDev.Chan[7]', 'LocalRoot.SimpleDev.Nope[0]']);
  // dotted absolute keys at the top level (PyRogue's root-level getNode)
  await t.root.setYaml('LocalRoot.SimpleDev.Sub[0]:\n  Gain: 0.25\n');
  assert.equal(t.v('Sub[0].Gain').value, 0.25);
});

test('element keys on an array variable: Wave[2], Wave[*], Wave[1:3] and a mapping of indices', async () => {
  const root = new Root({ name: 'R', pollEn: false });
  const d = new Device({ name: 'D' });
  root.add(d);
  const wave = new LocalVariable({ name: 'Wave', value: [0, 0, 0, 0] });
  const regs = new RemoteVariable({ name: 'Regs', offset: 0, base: 'UInt', bitSize: 8, numValues: 4, valueBits: 8, valueStride: 8 });
  d.add(wave, regs);
  await root.setYaml('R:\n  D:\n    Wave[2]: 5\n    Regs[*]: 0x11\n');
  assert.deepEqual([...wave.value], [0, 0, 5, 0]);
  assert.deepEqual([...regs.value as Uint8Array], [0x11, 0x11, 0x11, 0x11]);
  await root.setYaml("R:\n  D:\n    Wave[1:3]: [1.5, 2.5]\n    Regs[0:2]: '[1, 2]'\n    Regs: {3: 0x7}\n");
  assert.deepEqual([...wave.value], [0, 1.5, 2.5, 0]);
  assert.deepEqual([...regs.value as Uint8Array], [1, 2, 0x11, 7]);
  await assert.rejects(root.setYaml('R:\n  D:\n    Regs[1]: 300\n'), /R\.D\.Regs: .*300/);
});

test('unknown keys are reported with their path (and in SystemLog) and skipped; the rest applies', async () => {
  const t = simpleTree();
  await t.root.start();
  try {
    const r = await t.root.setYaml('LocalRoot:\n  SimpleDev:\n    LocalRwInt: 3\n    NoSuch: 1\n    Sub[0]:\n      Missing: 2\n  Ghost: {}\n');
    assert.deepEqual(r.notFound, ['LocalRoot.SimpleDev.NoSuch', 'LocalRoot.SimpleDev.Sub[0].Missing', 'LocalRoot.Ghost']);
    assert.equal(t.v('LocalRwInt').value, 3);
    const log = JSON.parse((t.root.getNode('SystemLog') as LocalVariable<string>).value) as { message: string; levelName: string }[];
    assert.deepEqual(log.map((e) => e.message), r.notFound.map((p) => `Entry ${p} not found`));
    assert.ok(log.every((e) => e.levelName === 'ERROR'));
  } finally {
    await t.root.stop();
  }
});

test('a bad value rejects the whole load with its path; nothing is applied or written', async () => {
  const t = simpleTree();
  await t.root.setYaml(ROGUE_SAVED);
  const writes = t.mem.counts.write;
  const bad = ROGUE_SAVED.replace('LocalRwInt: 5', 'LocalRwInt: 6').replace('Chan[2]: 0xc', 'Chan[2]: 0x1ffffffff').replace('Mode: Auto', 'Mode: Turbo');
  const err = await t.root.setYaml(bad).then(() => undefined, (e: Error) => e);
  assert.ok(err instanceof ConfigError, String(err));
  assert.match(err.message, /LocalRoot\.SimpleDev\.Chan\[2\]: .*out of range/);
  assert.match(err.message, /LocalRoot\.SimpleDev\.Mode: 'Turbo' is not one of Off, On, Auto/);
  assert.equal(err.problems.length, 2);
  assert.equal(t.v('LocalRwInt').value, 5, 'the good entry before the bad ones was not applied');
  assert.equal(t.mem.counts.write, writes, 'nothing written');
  // a file that does not parse
  await assert.rejects(t.root.setYaml('LocalRoot: [1, 2'), /invalid YAML/);
});

test('loadConfig of several files is one load: a bad value in the second leaves the first unapplied', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvtree-cfg-'));
  try {
    writeFileSync(join(dir, 'a.yml'), 'LocalRoot:\n  SimpleDev:\n    LocalRwInt: 11\n');
    writeFileSync(join(dir, 'b.yml'), 'LocalRoot:\n  SimpleDev:\n    LocalRwFloat: oops\n');
    writeFileSync(join(dir, 'c.yml'), 'LocalRoot:\n  SimpleDev:\n    LocalRwFloat: 1.25\n');
    const t = simpleTree();
    await assert.rejects(t.root.loadConfig([join(dir, 'a.yml'), join(dir, 'b.yml')]), /b\.yml|LocalRwFloat/);
    assert.equal(t.v('LocalRwInt').value, 0);
    const r = await t.root.loadConfig([join(dir, 'a.yml'), join(dir, 'c.yml')]);
    assert.equal(r.applied, 2);
    assert.deepEqual([t.v('LocalRwInt').value, t.v('LocalRwFloat').value], [11, 1.25]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('enable in a config: a device disabled by the file is not written, and saves as False / ParentFalse', async () => {
  const t = simpleTree();
  const before = t.mem.counts.write;
  await t.root.setYaml('LocalRoot:\n  SimpleDev:\n    Sub[1]:\n      enable: False\n      Reg: 0x77\n    Chan[0]: 0x3\n');
  assert.equal(t.v('Sub[1].Reg').value, 0x77, 'the value is kept');
  assert.equal(t.word(0x1110), 0, 'but the disabled device was not written');
  assert.equal(t.word(0x1010), 3);
  assert.ok(t.mem.counts.write > before);
  const yml = await t.root.getYaml();
  assert.match(yml, /\n {4}Sub\[1\]:\n {6}enable: False\n/);
  await t.root.setYaml('LocalRoot:\n  SimpleDev:\n    enable: False\n');
  assert.match(await t.root.getYaml(), /\n {4}Sub\[0\]:\n {6}enable: ParentFalse\n/);
  // loading ParentFalse back changes nothing (a report, not a setting), as in PyRogue
  const again = await t.root.getYaml();
  await t.root.setYaml(again);
  assert.equal((t.root.getNode('LocalRoot.SimpleDev.Sub[0]') as Device).enable.own, true);
  assert.equal(t.dev.enable.value, false);
});

test('YAML 1.1 details: keys are their text, y/n stay strings, enum names win over booleans', async () => {
  const root = new Root({ name: 'R', pollEn: false });
  const d = new Device({ name: 'D' });
  root.add(d);
  d.add(
    new LocalVariable({ name: 'On', value: 0, enum: { 0: 'Off', 1: 'On' } }),
    new LocalVariable({ name: 'Text', value: '' }),
    new LocalVariable({ name: 'Octal', value: '' }),
    new LocalVariable({ name: 'Flag', value: false }),
  );
  await root.setYaml('R:\n  D:\n    On: On\n    Text: n\n    Octal: 017\n    Flag: yes\n');
  assert.equal((d.node('On') as LocalVariable).value, 1);
  assert.equal((d.node('Text') as LocalVariable).value, 'n');
  assert.equal((d.node('Octal') as LocalVariable).value, '017');
  assert.equal((d.node('Flag') as LocalVariable).value, true);
});

const havePyYaml = spawnSync(PYTHON, ['-c', 'import yaml'], { stdio: 'ignore', timeout: 20000 }).status === 0;

test('PyYAML (what PyRogue reads with) reads pvtree\'s output with the intended types', { skip: havePyYaml ? false : 'PyYAML not installed for /usr/bin/python3 (apt-get install python3-yaml)' }, async () => {
  const root = new Root({ name: 'R', pollEn: false });
  const d = new Device({ name: 'D' });
  root.add(d);
  d.add(
    new LocalVariable({ name: 'S1', value: 'On' }),
    new LocalVariable({ name: 'S2', value: 'yes' }),
    new LocalVariable({ name: 'S3', value: '017' }),
    new LocalVariable({ name: 'S4', value: '' }),
    new LocalVariable({ name: 'S5', value: 'a: b # c' }),
    new LocalVariable({ name: 'S6', value: 'two\nlines' }),
    new LocalVariable({ name: 'S7', value: '2024-01-02' }),
    new LocalVariable({ name: 'F1', value: 2, typeStr: 'Float64', disp: '{:.0f}' }),
    new LocalVariable({ name: 'F2', value: NaN }),
    new LocalVariable({ name: 'F3', value: 1e-9 }),
    new LocalVariable({ name: 'E', value: 1, enum: { 0: 'Off', 1: 'On' } }),
    new LocalVariable({ name: 'B', value: true }),
    new RemoteVariable({ name: 'H', offset: 0, value: 0xbeef }),
    new LocalVariable({ name: 'A', value: [1, 2.5] }),
  );
  const yml = await root.getYaml();
  const py = spawnSync(PYTHON, ['-c', `
import sys, json, math, yaml
d = yaml.load(sys.stdin.read(), Loader=yaml.Loader)['R']['D']
out = {k: [type(v).__name__, ('nan' if isinstance(v, float) and math.isnan(v) else v)] for k, v in d.items()}
print(json.dumps(out))`], { input: yml, encoding: 'utf8', timeout: 20000 });
  assert.equal(py.status, 0, py.stderr);
  const got = JSON.parse(py.stdout) as Record<string, [string, unknown]>;
  assert.deepEqual(got, {
    enable: ['bool', true],
    S1: ['str', 'On'], S2: ['str', 'yes'], S3: ['str', '017'], S4: ['str', ''], S5: ['str', 'a: b # c'],
    S6: ['str', 'two\nlines'], S7: ['str', '2024-01-02'],
    F1: ['float', 2], F2: ['float', 'nan'], F3: ['float', 1e-9],
    E: ['str', 'On'], B: ['bool', true], H: ['int', 0xbeef], A: ['str', '[1.0, 2.5]'],
  });
  // and pvtree reads its own output back to the same values
  const before = d.variables.map((v) => v.valueDisp);
  await root.setYaml(yml);
  assert.deepEqual(d.variables.map((v) => v.valueDisp), before);
});

test('a load writes the blocks it changed (and ones holding an unwritten initial value), not the rest', async () => {
  const t = simpleTree();
  const withDefault = new RemoteVariable({ name: 'Preset', offset: 0x40, value: 0x99 });
  t.dev.add(withDefault);
  const mem = t.mem;
  const writes: number[] = [];
  const orig = mem.doTransaction.bind(mem);
  mem.doTransaction = async (tr) => { if (tr.type === 'write') writes.push(tr.address); return orig(tr); };
  mem.writeBytes(0x1014, new Uint8Array([0x55, 0, 0, 0])); // Chan[1] holds something in hardware
  await t.root.setYaml('LocalRoot:\n  SimpleDev:\n    Chan[0]: 0x1\n');
  assert.deepEqual(writes.sort(), [0x1010, 0x1040], 'Chan[0] and the preset; no zeros over Chan[1]');
  assert.equal(t.word(0x1014), 0x55);
  writes.length = 0;
  await t.root.setYaml('LocalRoot:\n  SimpleDev:\n    Chan[0]: 0x2\n');
  assert.deepEqual(writes, [0x1010]);
  writes.length = 0;
  await (t.root.node('ForceWrite') as LocalVariable<boolean>).set(true);
  await t.root.setYaml('LocalRoot:\n  SimpleDev:\n    Chan[0]: 0x3\n');
  assert.ok(writes.includes(0x1014) && writes.length > 5, 'ForceWrite: every block');
});
