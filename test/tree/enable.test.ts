// Device enable (PyRogue's EnableVariable): a disabled device, or one under a disabled parent or
// with a false dependency, does no hardware access — reads, writes, polls, commands and local
// hooks are skipped — and its variables say so; enabling resumes.
import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import {
  Device, DeviceDisabledError, LocalCommand, LocalVariable, RemoteCommand, RemoteVariable, Root, type VariableValue,
} from '../../src/tree/index.ts';
import { SpyMemory, flush } from './helpers.ts';

function tree() {
  const mem = new SpyMemory();
  const root = new Root({ name: 'R', memBase: mem, pollEn: false });
  const top = new Device({ name: 'Top', offset: 0x1000 });
  const sub = new Device({ name: 'Sub', offset: 0x100 });
  const reg = new RemoteVariable({ name: 'Reg', offset: 0, bitSize: 32 });
  const status = new RemoteVariable({ name: 'Status', offset: 4, bitSize: 32, mode: 'RO', pollInterval: 1 });
  const subReg = new RemoteVariable({ name: 'SubReg', offset: 0, bitSize: 16 });
  const pulse = new RemoteCommand({ name: 'Pulse', offset: 8, bitSize: 1, function: RemoteCommand.toggle });
  let hookCalls = 0;
  const local = new LocalVariable({ name: 'Local', value: 0, localSet: () => { hookCalls++; }, localGet: () => { hookCalls++; return 42; } });
  let ran = 0;
  const cmd = new LocalCommand({ name: 'Go', function: () => { ran++; return 'ran'; } });
  top.add(reg, status, pulse, local, cmd, sub);
  sub.add(subReg);
  root.add(top);
  return { mem, root, top, sub, reg, status, subReg, pulse, local, cmd, hooks: () => hookCalls, ran: () => ran };
}

test('enable is the first node of every device: RW, group Enable, enum False/True/ParentFalse/ExtDepFalse', () => {
  const { top, root } = tree();
  assert.equal([...top.nodes.keys()][0], 'enable');
  assert.equal(top.enable, top.node('enable'));
  assert.equal(top.enable.mode, 'RW');
  assert.ok(top.enable.inGroup('Enable'));
  assert.deepEqual(Object.values(top.enable.enum!), ['False', 'True', 'ParentFalse', 'ExtDepFalse']);
  assert.equal(top.enable.typeStr, 'bool');
  assert.equal(top.enable.value, true);
  assert.equal(root.enable.valueDisp, 'True');
  assert.deepEqual([...top.nodes.keys()].slice(1, 3), ['ReadDevice', 'WriteDevice']);
});

test('a disabled device: reads, writes and commands issue no memory transaction; values are still staged', async () => {
  const t = tree();
  await t.root.start();
  try {
    await t.reg.set(5);
    assert.equal(t.mem.count(), 2, 'write + verify while enabled');
    t.mem.clear();
    await t.top.enable.set(false);
    assert.equal(t.top.enabled, false);
    assert.equal(t.sub.enabled, false, 'children follow');
    await t.reg.set(6);
    assert.equal(t.reg.value, 6, 'the value is kept');
    assert.equal(await t.reg.get(), 6);
    await t.subReg.get();
    await t.top.readAll();
    await t.top.writeAll();
    await t.root.readAll();
    await t.root.writeAll();
    assert.equal(await t.pulse.call(), undefined);
    assert.equal(await t.cmd.call(), undefined, 'a command of a disabled device does not run');
    assert.equal(t.ran(), 0);
    assert.equal(await (t.top.node('ReadDevice') as LocalCommand).call(true), undefined);
    assert.equal(t.mem.log.filter((x) => x.address >= 0x1000).length, 0, 'no transaction touched the device');
    // enabling resumes hardware access
    await t.top.enable.set(true);
    await t.reg.set(7);
    assert.equal(t.mem.count('write'), 1);
    assert.equal(await t.cmd.call(), 'ran');
  } finally {
    await t.root.stop();
  }
});

test('a disabled device is skipped by polling (counted transactions)', async (tt) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  tt.after(() => mock.timers.reset());
  const t = tree();
  t.root.pollEn = true;
  await t.root.start();
  try {
    const tick = async (): Promise<void> => { mock.timers.tick(1000); for (let i = 0; i < 10; i++) await flush(); };
    await tick();
    assert.equal(t.mem.count('read'), 1, 'Status polled while enabled');
    await t.top.enable.set(false);
    t.mem.clear();
    const cycles = t.root.pollCycles;
    await tick();
    await tick();
    assert.equal(t.root.pollCycles, cycles + 2, 'the poll cycles ran');
    assert.equal(t.mem.count(), 0, 'but read nothing of the disabled device');
    await t.top.enable.set(true);
    await tick();
    assert.equal(t.mem.count('read'), 1);
  } finally {
    await t.root.stop();
  }
});

test('local hooks of a disabled device do not run (PyRogue LocalBlock)', async () => {
  const t = tree();
  await t.top.enable.set(false);
  await t.local.set(3);
  assert.equal(await t.local.get(), 3);
  assert.equal(t.hooks(), 0);
  await t.top.enable.set(true);
  assert.equal(await t.local.get(), 42);
  assert.equal(t.hooks(), 1);
});

test('parent state: a child reads ParentFalse, keeps its own flag, and the variables carry DeviceDisabled', async () => {
  const t = tree();
  const seen: VariableValue<unknown>[] = [];
  const enables: unknown[] = [];
  t.subReg.addListener((_p, vv) => seen.push(vv));
  t.sub.enable.addListener((_p, vv) => enables.push(vv.value));
  await t.top.enable.set(false);
  assert.equal(t.sub.enable.value, 'parent');
  assert.equal(t.sub.enable.valueDisp, 'ParentFalse');
  assert.equal(t.sub.enable.own, true);
  const vv = t.subReg.getVariableValue();
  assert.equal(vv.disabled, true);
  assert.ok(vv.error instanceof DeviceDisabledError);
  assert.match(vv.error!.message, /R\.Top\.Sub is disabled/);
  assert.equal(t.top.enable.getVariableValue().disabled, undefined, 'an enable variable itself is never disabled');
  assert.equal(seen.at(-1)?.disabled, true, 'listeners hear the change');
  assert.deepEqual(enables, ['parent']);
  // setting ParentFalse is a report, ignored
  await t.sub.enable.set('ParentFalse');
  assert.equal(t.sub.enable.own, true);
  await t.sub.enable.set(false);
  await t.top.enable.set(true);
  assert.equal(t.sub.enabled, false, 'own flag still off');
  assert.equal(t.sub.enable.value, false);
  await t.sub.enable.set(1); // the EPICS enum index for True
  assert.equal(t.sub.enabled, true);
  assert.equal(seen.at(-1)?.disabled, undefined);
  assert.equal(seen.at(-1)?.error, undefined);
});

test('enableChanged hook and enableDeps (ExtDepFalse)', async () => {
  const calls: boolean[] = [];
  class Dev extends Device {
    override enableChanged(v: boolean): void { calls.push(v); }
  }
  const root = new Root({ name: 'R', pollEn: false });
  const power = new LocalVariable({ name: 'Power', value: false });
  root.add(power);
  const d = new Dev({ name: 'D', enableDeps: [power] });
  root.add(d);
  assert.equal(d.enable.value, 'deps');
  assert.equal(d.enable.valueDisp, 'ExtDepFalse');
  assert.equal(d.enabled, false);
  await power.set(true);
  assert.equal(d.enabled, true);
  assert.equal(d.enable.value, true);
  await d.enable.set(false);
  await d.enable.set(true);
  assert.deepEqual(calls, [true, false, true]);
  const off = new Device({ name: 'Off', enabled: false });
  root.add(off);
  assert.equal(off.enabled, false);
  assert.equal(off.enable.value, false);
});
