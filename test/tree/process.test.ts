// Process (PyRogue's long-running operation device) and the Root's LoadConfigProcess /
// SaveConfigProcess: Start runs in the background, Running / Progress / Message / Step report it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Device, LoadConfigProcess, LocalVariable, Process, RemoteVariable, Root, SaveConfigProcess, type BaseCommand,
} from '../../src/tree/index.ts';

const start = (p: Device) => (p.node('Start') as BaseCommand).call();

test('a Process with a function: Start returns at once, Running/Progress/Message/Step follow the work', async () => {
  const root = new Root({ name: 'R', pollEn: false });
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const arg = new LocalVariable({ name: 'Arg', value: 3 });
  const ret = new LocalVariable({ name: 'Ret', value: 0 });
  const p = new Process({
    name: 'Job', argVariable: arg, returnVariable: ret,
    function: async ({ dev, arg: a }) => {
      await dev.setTotalSteps(4);
      await dev.incrementSteps(2);
      await gate;
      return (a as number) * 2;
    },
  });
  root.add(p);
  await root.start();
  try {
    const messages: string[] = [];
    p.message.addListener((_path, vv) => messages.push(vv.value as string));
    await start(p);
    await new Promise((r) => setImmediate(r));
    assert.equal(p.running.value, true);
    assert.equal(p.progress.value, 0.5, '2 of 4 steps');
    assert.equal(p.step.value, 2);
    await start(p); // already running: a warning, nothing else
    assert.match((root.node('SystemLog') as LocalVariable<string>).value, /Process already running!/);
    release();
    await p.done();
    assert.equal(p.running.value, false);
    assert.equal(ret.value, 6, 'the result went to returnVariable');
    assert.equal(p.progress.value, 1);
    assert.deepEqual(messages, ['Running', 'Done']);
    assert.equal(p.progress.valueDisp, '1.00');
    assert.equal(p.progress.units, 'Pct');
  } finally {
    await root.stop();
  }
});

test('a failing process says so in Message and the SystemLog; Stop ends a loop that checks runEnable', async () => {
  class Loop extends Process {
    turns = 0;
    protected override async _process(): Promise<void> {
      while (this.runEnable) {
        this.turns++;
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  }
  const root = new Root({ name: 'R', pollEn: false });
  const bad = new Process({ name: 'Bad', function: () => { throw new Error('no luck'); } });
  const loop = new Loop({ name: 'Loop' });
  root.add(bad, loop);
  await root.start();
  try {
    await start(bad);
    await bad.done();
    assert.equal(bad.message.value, 'Stopped after error!');
    assert.match((root.node('SystemLog') as LocalVariable<string>).value, /no luck/);
    await start(loop);
    await new Promise((r) => setTimeout(r, 30));
    await (loop.node('Stop') as BaseCommand).call();
    assert.equal(loop.running.value, false);
    assert.ok(loop.turns > 0);
  } finally {
    await root.stop();
  }
});

test('LoadConfigProcess loads ConfigFile (inside configDir) or YamlString; errors go to Message', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvtree-proc-'));
  const root = new Root({ name: 'R', pollEn: false, configDir: dir });
  const d = new Device({ name: 'D' });
  const reg = new RemoteVariable({ name: 'Reg', offset: 0 });
  d.add(reg);
  root.add(d);
  const lp = root.node('LoadConfigProcess') as LoadConfigProcess;
  await root.start();
  try {
    writeFileSync(join(dir, 'c.yml'), 'R:\n  D:\n    Reg: 0x33\n');
    await lp.configFile.set('c.yml');
    await start(lp);
    await lp.done();
    assert.equal(lp.message.value, 'Done');
    assert.equal(lp.progress.value, 1);
    assert.equal(reg.value, 0x33);
    await lp.configFile.set('../escape.yml');
    await start(lp);
    await lp.done();
    assert.match(lp.message.value, /^Error: '\.\.\/escape\.yml' is outside the config directory/);
    await lp.loadMode.setDisp('String');
    await lp.yamlString.set('R:\n  D:\n    Reg: 0x44\n');
    await start(lp);
    await lp.done();
    assert.equal(reg.value, 0x44);
    await lp.yamlString.set('R:\n  D:\n    Reg: bad\n');
    await start(lp);
    await lp.done();
    assert.match(lp.message.value, /^Error: configuration rejected.*\n.*R\.D\.Reg/);
    await lp.yamlString.set('');
    await start(lp);
    await lp.done();
    assert.equal(lp.message.value, 'Error: YamlString is empty');
    await (lp.node('Stop') as BaseCommand).call();
    assert.match((root.node('SystemLog') as LocalVariable<string>).value, /Stop is not supported/);
  } finally {
    await root.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('SaveConfigProcess saves Config or Status to ConfigFile or YamlString', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvtree-proc-'));
  const root = new Root({ name: 'R', pollEn: false, configDir: dir });
  const d = new Device({ name: 'D' });
  const reg = new RemoteVariable({ name: 'Reg', offset: 0 });
  d.add(reg, new RemoteVariable({ name: 'Ro', offset: 4, mode: 'RO' }));
  root.add(d);
  const sp = root.node('SaveConfigProcess') as SaveConfigProcess;
  await root.start();
  try {
    await reg.set(0x12); // in hardware: saving reads first, as PyRogue
    await sp.configFile.set('out.yml');
    await start(sp);
    await sp.done();
    assert.equal(sp.message.value, 'Done');
    const text = readFileSync(join(dir, 'out.yml'), 'utf8');
    assert.match(text, /Reg: 0x12/);
    assert.doesNotMatch(text, /Ro:/);
    await sp.saveMode.setDisp('String');
    await sp.dataType.setDisp('Status');
    await start(sp);
    await sp.done();
    assert.match(sp.yamlString.value, /Ro: 0x0/);
    assert.equal(sp.yamlString.mode, 'RO');
  } finally {
    await root.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
