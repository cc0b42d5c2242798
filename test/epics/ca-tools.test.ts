// Extra checks with the EPICS base CA tools (caget, caput, camonitor, cainfo) against the bridge.
// Runs only when PVA_PEER_BIN names a folder holding them; otherwise skipped with a message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Device, LocalCommand, LocalVariable, Root } from '../../src/tree/index.ts';
import { caEnv, serveCa } from './ca-util.ts';
import { sleep } from './util.ts';

const BIN = process.env.PVA_PEER_BIN;
const SKIP = BIN && existsSync(join(BIN, 'caget')) ? false : 'set PVA_PEER_BIN to a folder with the CA tools (caget, caput, camonitor, cainfo) to run these checks';

const DEEP = 'test:R:' + ['AcquisitionSubsystem', 'ReadoutBoardNumberOne', 'AnalogFrontEnd'].join(':');

function buildRoot(calls: unknown[]): Root {
  const root = new Root({ name: 'R', pollEn: false });
  const d = new Device({ name: 'D' });
  root.add(d);
  d.add(new LocalVariable({ name: 'gain', typeStr: 'Float64', value: 3.25, units: 'V', disp: '{:.3f}', minimum: -10, maximum: 10, highAlarm: 9 }));
  d.add(new LocalVariable({ name: 'count', typeStr: 'Int32', value: 7, mode: 'RO' }));
  d.add(new LocalVariable({ name: 'mode', typeStr: 'UInt8', value: 1, enum: { 0: 'Zero', 1: 'One', 2: 'Two' } }));
  d.add(new LocalVariable({ name: 'text', typeStr: 'str', value: 'a string that is longer than forty characters' }));
  d.add(new LocalVariable({ name: 'wave', typeStr: 'Float32[4]', value: [1, 2, 3, 4] }));
  d.add(new LocalVariable({ name: 'u8', typeStr: 'UInt8', value: 1 }));
  d.add(new LocalVariable({ name: 'i16', typeStr: 'Int16', value: 1 }));
  d.add(new LocalCommand<number, number>({ name: 'cmd', argType: 'Int32', function: ({ arg }) => calls.push(arg) }));
  let dev = root as unknown as Device;
  for (const n of ['AcquisitionSubsystem', 'ReadoutBoardNumberOne', 'AnalogFrontEnd']) {
    const c = new Device({ name: n });
    dev.add(c);
    dev = c;
  }
  dev.add(new LocalVariable({ name: 'CalibrationCoefficient', typeStr: 'Float64', value: 0.5 }));
  return root;
}

function run(tool: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 8000): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(join(BIN!, tool), args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const t = setTimeout(() => child.kill('SIGINT'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, out, err });
    });
  });
}

test('EPICS base CA tools: caget/caput/cainfo/camonitor against the bridge', { skip: SKIP, timeout: 90000 }, async () => {
  const calls: unknown[] = [];
  const root = buildRoot(calls);
  const s = await serveCa(root);
  const env = { ...(await caEnv(s.caPort)), PATH: `${BIN}:${process.env.PATH ?? ''}` };
  const P = 'test:R:D';
  const val = (n: string) => (root.getNode(n) as LocalVariable).value;
  try {
    let r = await run('caget', [`${P}:gain`, `${P}:mode`, `${P}:count`], env);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, new RegExp(`${P}:gain\\s+3\\.25\\b`));
    assert.match(r.out, new RegExp(`${P}:mode\\s+One`));
    assert.match(r.out, new RegExp(`${P}:count\\s+7`));

    r = await run('caget', ['-d', 'DBR_CTRL_DOUBLE', `${P}:gain`], env);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /Units:\s+V/);
    assert.match(r.out, /Precision:\s+3/);
    assert.match(r.out, /Hi alarm limit:\s+9/);
    assert.match(r.out, /Hi ctrl limit:\s+10/);

    r = await run('caget', ['-S', `${P}:text`], env);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /a string that is longer than forty characters/);

    r = await run('caget', [`${P}:wave`], env);
    assert.match(r.out, new RegExp(`${P}:wave\\s+4\\s+1\\s+2\\s+3\\s+4`));

    r = await run('cainfo', [`${P}:count`], env);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /Native data type:\s+DBF_LONG/);
    assert.match(r.out, /Access:\s+read, no write/);

    r = await run('caput', ['-c', `${P}:gain`, '0.5'], env);
    assert.equal(r.code, 0, r.err);
    assert.equal(val('R.D.gain'), 0.5);
    r = await run('caput', ['-c', `${P}:mode`, 'Two'], env);
    assert.equal(r.code, 0, r.err);
    assert.equal(val('R.D.mode'), 2);
    r = await run('caput', ['-c', '-S', `${P}:text`, 'another string written with caput -S, over forty characters'], env);
    assert.equal(r.code, 0, r.err);
    assert.equal(val('R.D.text'), 'another string written with caput -S, over forty characters');
    r = await run('caput', ['-c', '-a', `${P}:wave`, '4', '9', '8', '7', '6'], env);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(Array.from(val('R.D.wave') as ArrayLike<number>), [9, 8, 7, 6]);
    r = await run('caput', ['-c', `${P}:count`, '9'], env);
    assert.notEqual(r.code, 0, 'caput to a read-only PV fails');
    assert.equal(val('R.D.count'), 7);
    r = await run('caput', ['-c', `${P}:gain`, '50'], env);
    assert.equal(val('R.D.gain'), 0.5, 'above maximum: refused');
    // out of the native integer range (caput sends strings; pyepics would wrap them itself)
    for (const [n, v] of [['u8', '300'], ['u8', '-1'], ['i16', '40000']]) {
      r = await run('caput', ['-c', `${P}:${n}`, v], env);
      assert.notEqual(r.code, 0, `caput ${n} ${v} fails`);
    }
    assert.equal(val('R.D.u8'), 1);
    assert.equal(val('R.D.i16'), 1);
    r = await run('caput', ['-c', `${P}:u8`, '255'], env);
    assert.equal(r.code, 0, r.err);
    assert.equal(val('R.D.u8'), 255);
    r = await run('caput', ['-c', `${P}:cmd`, '21'], env);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(calls, [21]);

    const deep = `${DEEP}:CalibrationCoefficient`;
    assert.ok(deep.length > 60);
    r = await run('caput', ['-c', deep, '0.75'], env);
    assert.equal(r.code, 0, r.err);
    r = await run('caget', [deep], env);
    assert.match(r.out, /0\.75/);

    const mon = run('camonitor', [`${P}:gain`], env, 3000);
    await sleep(1000);
    await (root.getNode('R.D.gain') as LocalVariable).set(1.25);
    await sleep(200);
    await (root.getNode('R.D.gain') as LocalVariable).set(9.5);
    const m = await mon;
    assert.match(m.out, /\b1\.25\b/);
    assert.match(m.out, /\b9\.5\s+HIHI\s+MAJOR/);
  } finally {
    await s.close();
  }
});
