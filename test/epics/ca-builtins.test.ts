// The Root's PyRogue built-ins over Channel Access with a real client (pyepics): ReadAll by caput,
// PollEn caput 0 stops the counter, LoadConfig with a path inside / outside the config directory,
// SetYamlConfig with text, a disabled device (no transactions, DISABLE alarm, ParentFalse), and
// bracketed PV names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Device, RemoteVariable, Root } from '../../src/tree/index.ts';
import { SpyMemory } from '../tree/helpers.ts';
import { SKIP_PYEPICS, havePyepics, py, serveCa } from './ca-util.ts';

function board(mem: SpyMemory, configDir: string) {
  const root = new Root({ name: 'R', memBase: mem, pollEn: false, configDir });
  const d = new Device({ name: 'D', offset: 0x1000 });
  const count = new RemoteVariable({ name: 'Count', offset: 0, mode: 'RO', pollInterval: 0.05 });
  const reg = new RemoteVariable({ name: 'Reg', offset: 4 });
  d.add(count, reg);
  d.addRemoteVariables({ name: 'Chan', offset: 0x10, number: 3, stride: 4, bitSize: 16 });
  const sub = new Device({ name: 'Sub[0]', offset: 0x100 });
  sub.add(new RemoteVariable({ name: 'Gain', offset: 0, bitSize: 8 }));
  d.add(sub);
  root.add(d);
  return { root, d, count, reg };
}

test('CA (pyepics): ReadAll, PollEn, LoadConfig inside/outside --config-dir, SetYamlConfig, disabled device, brackets', { timeout: 120000 }, async (t) => {
  if (!havePyepics) return t.skip(SKIP_PYEPICS);
  const base = mkdtempSync(join(tmpdir(), 'pvtree-ca-cfg-'));
  const dir = join(base, 'cfg');
  mkdirSync(dir);
  writeFileSync(join(dir, 'good.yml'), 'R:\n  D:\n    Chan[1:3]: 0x21\n');
  writeFileSync(join(base, 'outside.yml'), 'R:\n  D:\n    Reg: 0x666\n');
  const mem = new SpyMemory();
  const { root, d, count, reg } = board(mem, dir);
  let n = 0;
  const orig = mem.doTransaction.bind(mem);
  mem.doTransaction = async (tr) => {
    if (tr.type === 'read' && tr.address === 0x1000) mem.inner.writeBytes(0x1000, new Uint8Array([++n & 0xff, 0, 0, 0]));
    await orig(tr);
  };
  let disabledAt = -1; // memory log length when the device was switched off
  d.enable.addListener(() => { if (!d.enabled && disabledAt < 0) disabledAt = mem.log.length; });
  const s = await serveCa(root, { protocols: ['ca'] });
  try {
    mem.inner.writeBytes(0x1004, new Uint8Array([0xfe, 0xca, 0, 0])); // hardware changed behind the tree
    const { o, r } = await py(
      s.caPort,
      `
P = 'test:R:'
out = {}
out['version'] = g(P + 'RogueVersion')
out['reg_before'] = g(P + 'D:Reg')
out['readall'] = p(P + 'ReadAll', 1)
out['reg_after'] = g(P + 'D:Reg')
# PollEn: counter moves while True, stands still while False
out['pollen_on'] = p(P + 'PollEn', 1)
time.sleep(0.5)
c1 = g(P + 'D:Count')
out['counting'] = c1 > 0
out['pollen_off'] = p(P + 'PollEn', 0)
out['pollen_now'] = g(P + 'PollEn', as_string=True)
# LoadConfig: a string put runs the command with the path
out['load_good'] = p(P + 'LoadConfig', 'good.yml')
out['chan2'] = g(P + 'D:Chan[2]')
out['chan0'] = g(P + 'D:Chan[0]')
# refused: pyepics does not report a failed put's status, the SystemLog shows it
p(P + 'LoadConfig', '../outside.yml')
out['log_outside'] = json.loads(g(P + 'SystemLogLast.$', as_string=True))['message']
p(P + 'LoadConfig', '${join(base, 'outside.yml')}')
out['log_abs'] = json.loads(g(P + 'SystemLogLast.$', as_string=True))['message']
# SetYamlConfig with YAML text (long string: the .$ char-array view carries it whole)
yml = 'R:\\n  D:\\n    Chan[0]: 0x5\\n    Sub[0]:\\n      Gain: 0x9\\n'
out['set_yaml'] = p(P + 'SetYamlConfig.$', yml)
out['chan0_after'] = g(P + 'D:Chan[0]')
out['gain'] = g(P + 'D:Sub[0]:Gain')
# the enable PV: an enum with PyRogue's choices
en = epics.PV(P + 'D:Sub[0]:enable'); en.wait_for_connection(5)
out['enum_strs'] = j(en.get_ctrlvars(timeout=5)['enum_strs'])
out['disable'] = p(P + 'D:enable', 'False')
out['sub_enable'] = g(P + 'D:Sub[0]:enable', as_string=True)
reg = epics.PV(P + 'D:Reg', form='ctrl'); reg.wait_for_connection(5)
v = reg.get_with_metadata(form='ctrl', timeout=5)
out['alarm'] = [v['severity'], v['status']]
out['put_disabled'] = p(P + 'D:Reg', 0x77)
out['readall_disabled'] = p(P + 'ReadAll', 1)
print(json.dumps(out))
`,
      90000,
    );
    const ctx = `\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
    assert.match(String(o.version), /^v\d+\.\d+\.\d+-pvtree$/, ctx);
    assert.equal(o.reg_before, 0);
    assert.equal(o.readall, 1, ctx);
    assert.equal(o.reg_after, 0xcafe, 'ReadAll read the changed register');
    assert.equal(o.pollen_on, 1);
    assert.equal(o.counting, true, ctx);
    assert.equal(o.pollen_off, 1);
    assert.equal(o.pollen_now, 'False');
    assert.equal(root.pollEn, false);
    assert.equal(o.load_good, 1, ctx);
    assert.deepEqual([o.chan0, o.chan2], [0, 0x21]);
    assert.match(String(o.log_outside), /^'\.\.\/outside\.yml' is outside the config directory/, ctx);
    assert.match(String(o.log_abs), /outside\.yml' is outside the config directory/, ctx);
    assert.notEqual(reg.value, 0x666, 'nothing from outside was applied');
    assert.equal(o.set_yaml, 1, ctx);
    assert.deepEqual([o.chan0_after, o.gain], [5, 9]);
    assert.deepEqual(o.enum_strs, ['False', 'True', 'ParentFalse', 'ExtDepFalse']);
    assert.equal(o.disable, 1);
    assert.equal(o.sub_enable, 'ParentFalse');
    assert.deepEqual(o.alarm, [3, 18], 'INVALID severity, DISABLE status');
    assert.equal(o.put_disabled, 1, 'the put is accepted (the value is staged)');
    assert.equal(reg.value, 0x77);
    assert.equal(d.enabled, false);
    // after the disable (a caput to Reg, ReadAll), no transaction touched the device
    assert.ok(disabledAt > 0);
    assert.deepEqual(mem.log.slice(disabledAt).filter((x) => x.address >= 0x1000 && x.address < 0x2000), []);
    assert.ok(mem.log.slice(0, disabledAt).some((x) => x.address === 0x1100 && x.type === 'write'), 'SetYamlConfig wrote Sub[0].Gain before');
    assert.ok(count.value !== undefined);
    assert.ok(s.log.lines.some((l) => /outside the config directory/.test(l)), `the refusal is logged: ${s.log.lines.join('\n')}`);
  } finally {
    await s.close();
    rmSync(base, { recursive: true, force: true });
  }
});

test('CA (pyepics): an operator runs LoadConfigProcess and watches Running / Progress / Message', { timeout: 90000 }, async (t) => {
  if (!havePyepics) return t.skip(SKIP_PYEPICS);
  const dir = mkdtempSync(join(tmpdir(), 'pvtree-ca-proc-'));
  writeFileSync(join(dir, 'c.yml'), 'R:\n  D:\n    Reg: 0x1234\n');
  const mem = new SpyMemory();
  const { root, reg } = board(mem, dir);
  const s = await serveCa(root, { protocols: ['ca'] });
  try {
    const { o, r } = await py(
      s.caPort,
      `
P = 'test:R:LoadConfigProcess:'
seen = []
msg = epics.PV(P + 'Message', callback=lambda value=None, **kw: seen.append(value))
msg.wait_for_connection(5)
out = {'file': p(P + 'ConfigFile', 'c.yml'), 'start': p(P + 'Start', 1)}
t0 = time.time()
while 'Done' not in seen and time.time() - t0 < 20:
    time.sleep(0.05)
out['seen'] = seen
out['progress'] = g(P + 'Progress')
out['running'] = g(P + 'Running', as_string=True)
out['mode'] = g(P + 'LoadMode', as_string=True)
print(json.dumps(out))
`,
      60000,
    );
    assert.equal(o.file, 1, r.stderr);
    assert.equal(o.start, 1);
    assert.ok((o.seen as string[]).includes('Running') && (o.seen as string[]).at(-1) === 'Done', JSON.stringify(o.seen));
    assert.equal(o.progress, 1);
    assert.equal(o.running, 'False');
    assert.equal(o.mode, 'File');
    assert.equal(reg.value, 0x1234);
  } finally {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
