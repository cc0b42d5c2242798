// The Root's PyRogue built-ins over pvAccess (pvtree's client): the namespace PyRogue's epicsV4
// server shows, ReadAll by RPC, PollEn stopping the counters, LoadConfig inside / outside the config
// directory, GetYamlConfig → SetYamlConfig, a disabled device (no memory transactions, DISABLE
// alarm), and register / device arrays by their bracketed PV names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Device, LocalVariable, RemoteVariable, Root } from '../../src/tree/index.ts';
import { SpyMemory } from '../tree/helpers.ts';
import { serve } from './harness.ts';
import { collect, rejectsMatching } from './util.ts';

/** Every PV a Root alone has under PyRogue's epicsV4 server (from _Root.py, _Device.py, _Process.py, _ConfigProcess.py). */
const ROGUE_ROOT_PVS = [
  'enable', 'ReadDevice', 'WriteDevice', 'RogueVersion', 'RogueDirectory', 'SystemLog', 'SystemLogLast', 'ForceWrite',
  'InitAfterConfig', 'Time', 'LocalTime', 'PollEn', 'WriteAll', 'ReadAll', 'SaveState', 'SaveConfig', 'LoadConfig',
  'RemoteVariableDump', 'RemoteConfigDump', 'Initialize', 'HardReset', 'CountReset', 'ClearLog', 'SetYamlConfig',
  'GetYamlConfig', 'GetYamlState',
  ...['LoadConfigProcess', 'SaveConfigProcess'].flatMap((p) => [
    'enable', 'ReadDevice', 'WriteDevice', 'Start', 'Stop', 'Running', 'Progress', 'Message', 'Step', 'TotalSteps', 'UpdatePeriod',
    ...(p === 'LoadConfigProcess' ? ['LoadMode', 'ConfigFile', 'YamlString'] : ['DataType', 'SaveMode', 'ConfigFile', 'YamlString']),
  ].map((n) => `${p}:${n}`)),
];

function board(mem: SpyMemory, configDir?: string) {
  const root = new Root({ name: 'R', memBase: mem, pollEn: false, configDir });
  const d = new Device({ name: 'D', offset: 0x1000 });
  const count = new RemoteVariable({ name: 'Count', offset: 0, mode: 'RO', pollInterval: 0.05 });
  const reg = new RemoteVariable({ name: 'Reg', offset: 4 });
  d.add(count, reg);
  d.addRemoteVariables({ name: 'Chan', offset: 0x10, number: 3, stride: 4, bitSize: 16 });
  d.addNodes((o: { name: string; offset?: number }) => {
    const s = new Device(o);
    s.add(new RemoteVariable({ name: 'Gain', offset: 0, bitSize: 8 }));
    return s;
  }, { name: 'Sub', offset: 0x100, number: 2, stride: 0x10 });
  root.add(d);
  return { root, d, count, reg };
}

const word = (mem: SpyMemory, addr: number, v: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v, true);
  mem.inner.writeBytes(addr, b);
};

test("a Root's EPICS namespace is PyRogue's: every built-in served under <base>:<root>:<name>", async () => {
  const s = await serve(new Root({ name: 'LocalRoot', pollEn: false }));
  try {
    const served = Object.values(s.server.list()).sort();
    assert.deepEqual(served, ROGUE_ROOT_PVS.map((n) => `test:LocalRoot:${n}`).sort());
    const onWire = (await s.client.list()).filter((n) => n.startsWith('test:')).sort();
    assert.deepEqual(onWire, served);
    assert.match(String((await s.client.get('test:LocalRoot:RogueVersion')).get('value')), /^v\d+\.\d+\.\d+-pvtree$/);
    const en = await s.client.get('test:LocalRoot:enable');
    assert.deepEqual(en.get('value.choices'), ['False', 'True', 'ParentFalse', 'ExtDepFalse']);
    assert.equal(en.get('value.index'), 1);
  } finally {
    await s.close();
  }
});

test('ReadAll over RPC reads hardware that changed behind the tree', async () => {
  const mem = new SpyMemory();
  const { root } = board(mem);
  const s = await serve(root);
  try {
    assert.equal((await s.client.get('test:R:D:Reg')).get('value'), 0);
    word(mem, 0x1004, 0xcafe);
    await s.client.rpc('test:R:ReadAll', {});
    assert.equal((await s.client.get('test:R:D:Reg')).get('value'), 0xcafe);
    // a device's own ReadDevice (argument: recurse)
    word(mem, 0x1100, 0x5a);
    await s.client.rpc('test:R:D:ReadDevice', { arg: 'False' });
    assert.equal((await s.client.get('test:R:D:Sub[0]:Gain')).get('value'), 0, 'not recursed');
    await s.client.rpc('test:R:D:ReadDevice', { arg: 'True' });
    assert.equal((await s.client.get('test:R:D:Sub[0]:Gain')).get('value'), 0x5a);
  } finally {
    await s.close();
  }
});

test('PollEn put False stops the counters; True starts them again', { timeout: 20000 }, async () => {
  const mem = new SpyMemory();
  const { root, count } = board(mem);
  // the "hardware" counter advances on every read
  let n = 0;
  const orig = mem.doTransaction.bind(mem);
  mem.doTransaction = async (t) => {
    if (t.type === 'read' && t.address === 0x1000) word(mem, 0x1000, ++n);
    await orig(t);
  };
  const s = await serve(root);
  const mon = collect(s.client, 'test:R:D:Count');
  const time = collect(s.client, 'test:R:Time');
  try {
    await s.client.put('test:R:PollEn', true);
    await mon.next((v) => Number(v.get('value')) >= 3);
    await s.client.put('test:R:PollEn', false);
    assert.equal(root.pollEn, false);
    assert.equal((await s.client.get('test:R:PollEn')).get('value'), false);
    const stopped = count.value as number;
    const cycles = root.pollCycles;
    // two heartbeats of Time (a positive event, about 2 s) without a single poll
    const t0 = time.values.length;
    await time.next(() => true, t0 + 1, 5000);
    await time.next(() => true, t0 + 2, 5000);
    assert.equal(root.pollCycles, cycles, 'no poll cycle ran');
    assert.ok(count.value === stopped || count.value === stopped + 1, 'at most the read in flight landed');
    const paused = count.value as number;
    await s.client.put('test:R:PollEn', true);
    await mon.next((v) => Number(v.get('value')) > paused + 1, 0, 5000);
  } finally {
    mon.close();
    time.close();
    await s.close();
  }
});

test('LoadConfig by RPC: a path inside the config directory loads, one outside is refused', async () => {
  const base = mkdtempSync(join(tmpdir(), 'pvtree-epics-cfg-'));
  const dir = join(base, 'cfg');
  const mem = new SpyMemory();
  mkdirSync(dir);
  writeFileSync(join(dir, 'good.yml'), 'R:\n  D:\n    Reg: 0x1234\n    Chan[*]: 0x7\n');
  writeFileSync(join(base, 'outside.yml'), 'R:\n  D:\n    Reg: 0x666\n');
  const { root, reg } = board(mem, dir);
  const s = await serve(root);
  try {
    const r = await s.client.rpc('test:R:LoadConfig', { arg: 'good.yml' });
    assert.equal(r.get('value'), '', 'no entries missing');
    assert.equal(reg.value, 0x1234);
    assert.equal((await s.client.get('test:R:D:Chan[2]')).get('value'), 7);
    for (const bad of ['../outside.yml', join(base, 'outside.yml')]) {
      await rejectsMatching(s.client.rpc('test:R:LoadConfig', { arg: bad }), /outside the config directory/);
    }
    assert.equal(reg.value, 0x1234, 'nothing from outside was applied');
    // a put of the path runs the command the same way
    await rejectsMatching(s.client.put('test:R:LoadConfig', '../outside.yml'), /outside the config directory/);
    // an entry that names nothing comes back in the reply
    writeFileSync(join(dir, 'partial.yml'), 'R:\n  D:\n    Nope: 1\n    Reg: 0x55\n');
    assert.equal((await s.client.rpc('test:R:LoadConfig', { arg: 'partial.yml' })).get('value'), 'Entry R.D.Nope not found');
    assert.equal(reg.value, 0x55);
  } finally {
    await s.close();
    rmSync(base, { recursive: true, force: true });
  }
});

test('GetYamlConfig over RPC returns YAML that SetYamlConfig accepts', async () => {
  const mem = new SpyMemory();
  const { root, reg } = board(mem);
  const s = await serve(root);
  try {
    await s.client.put('test:R:D:Reg', 0x42);
    await s.client.put('test:R:D:Chan[1]', 9);
    const yml = String((await s.client.rpc('test:R:GetYamlConfig', { arg: 'True' })).get('value'));
    assert.match(yml, /\n {2}D:\n {4}enable: True\n {4}Reg: 0x42\n {4}Chan\[0\]: 0x0\n {4}Chan\[1\]: 0x9\n/);
    await reg.set(0);
    await s.client.put('test:R:D:Chan[1]', 0);
    const reply = await s.client.rpc('test:R:SetYamlConfig', { arg: yml });
    assert.equal(reply.get('value'), '');
    assert.equal(reg.value, 0x42);
    assert.equal((await s.client.get('test:R:D:Chan[1]')).get('value'), 9);
    await rejectsMatching(s.client.rpc('test:R:SetYamlConfig', { arg: 'R:\n  D:\n    Reg: nonsense\n' }), /R\.D\.Reg/);
  } finally {
    await s.close();
  }
});

test("a disabled device's registers are not touched (counted transactions) and its PVs say DISABLE", async () => {
  const mem = new SpyMemory();
  const { root, reg } = board(mem);
  const s = await serve(root, { readOnGet: { maxAgeMs: 0 } });
  try {
    await s.client.put('test:R:D:enable', 'False');
    assert.equal(root.getNode('R.D')!.constructor.name, 'Device');
    assert.equal((root.getNode('R.D') as Device).enabled, false);
    mem.clear();
    const v = await s.client.get('test:R:D:Reg'); // read-on-get would read hardware
    assert.deepEqual([v.get('alarm.severity'), v.get('alarm.status'), v.get('alarm.message')], [3, 3, 'DISABLE']);
    await s.client.put('test:R:D:Reg', 0x77);
    assert.equal(reg.value, 0x77, 'the value is kept');
    await s.client.rpc('test:R:ReadAll', {});
    await s.client.rpc('test:R:WriteAll', {});
    await s.client.rpc('test:R:D:ReadDevice', { arg: 'True' });
    await s.client.get('test:R:D:Sub[1]:Gain');
    root.pollEn = true;
    await new Promise((r) => setTimeout(r, 200));
    root.pollEn = false;
    assert.deepEqual(mem.log.filter((x) => x.address >= 0x1000 && x.address < 0x2000), [], 'no transaction reached the device');
    const sub = await s.client.get('test:R:D:Sub[0]:enable');
    assert.equal(sub.get('value.index'), 2, 'ParentFalse');
    // enabled again: hardware access and a clear alarm
    await s.client.put('test:R:D:enable', 'True');
    const back = await s.client.get('test:R:D:Reg');
    assert.equal(back.get('alarm.severity'), 0);
    assert.ok(mem.log.some((x) => x.address === 0x1004 && x.type === 'read'));
  } finally {
    await s.close();
  }
});

test('register and device arrays: PV names keep the brackets (<base>:R:D:Chan[1], <base>:R:D:Sub[1]:Gain)', async () => {
  const mem = new SpyMemory();
  const { root } = board(mem);
  const s = await serve(root);
  try {
    const names = Object.values(s.server.list());
    for (const n of ['test:R:D:Chan[0]', 'test:R:D:Chan[2]', 'test:R:D:Sub[0]:Gain', 'test:R:D:Sub[1]:enable']) assert.ok(names.includes(n), n);
    await s.client.put('test:R:D:Chan[1]', 0x321);
    assert.equal((await s.client.get('test:R:D:Chan[1]')).get('value'), 0x321);
    assert.deepEqual([...mem.inner.readBytes(0x1014, 2)], [0x21, 0x03]);
    await s.client.put('test:R:D:Sub[1]:Gain', 9);
    assert.deepEqual([...mem.inner.readBytes(0x1110, 1)], [9]);
    assert.equal((root.getNode('R.D.Sub[1].Gain') as LocalVariable).value, 9);
  } finally {
    await s.close();
  }
});

test('LoadConfigProcess / SaveConfigProcess from a client: set ConfigFile, Start, watch Progress and Message', { timeout: 20000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvtree-epics-proc-'));
  writeFileSync(join(dir, 'big.yml'), 'R:\n  D:\n    Reg: 0xbeef\n    Chan[*]: 0x3\n');
  const mem = new SpyMemory();
  const { root, reg } = board(mem, dir);
  const s = await serve(root);
  const msg = collect(s.client, 'test:R:LoadConfigProcess:Message');
  const progress = collect(s.client, 'test:R:LoadConfigProcess:Progress');
  try {
    await s.client.put('test:R:LoadConfigProcess:ConfigFile', 'big.yml');
    await s.client.rpc('test:R:LoadConfigProcess:Start', {});
    await msg.next((v) => v.get('value') === 'Done');
    await progress.next((v) => v.get('value') === 1);
    assert.equal(reg.value, 0xbeef);
    assert.equal((await s.client.get('test:R:LoadConfigProcess:Running')).get('value'), false);
    // an escaping path ends in an error message, not a load
    await s.client.put('test:R:LoadConfigProcess:ConfigFile', '../big.yml');
    const from = msg.values.length;
    await s.client.put('test:R:LoadConfigProcess:Start', 1);
    const err = await msg.next((v) => String(v.get('value')).startsWith('Error:'), from);
    assert.match(String(err.get('value')), /outside the config directory/);
    // save to a string and read it back over pvAccess
    await s.client.put('test:R:SaveConfigProcess:SaveMode', 'String');
    const smsg = collect(s.client, 'test:R:SaveConfigProcess:Message');
    await s.client.rpc('test:R:SaveConfigProcess:Start', {});
    await smsg.next((v) => v.get('value') === 'Done');
    smsg.close();
    assert.match(String((await s.client.get('test:R:SaveConfigProcess:YamlString')).get('value')), /Reg: 0xbeef/);
    // RemoteVariableDump writes Rogue's dump inside the config directory
    const path = String((await s.client.rpc('test:R:RemoteVariableDump', { arg: 'regs.txt' })).get('value'));
    assert.equal(path, join(dir, 'regs.txt'));
    assert.match(readFileSync(path, 'utf8'), /^R\.D\.Count = \d+\nR\.D\.Reg = 48879\n/);
  } finally {
    msg.close();
    progress.close();
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
