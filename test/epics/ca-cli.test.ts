// Channel Access end to end through the real CLI: `pvtree serve tree.yaml --loopback` in a child
// process (YAML tree in a temp dir, ports picked for this run), pyepics as the client. Full-length
// names (> 60 characters, a deep tree path) work over CA; pvAccess sees CA puts.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PvaClient } from '../../src/pva/client/index.ts';
import { SKIP_PYEPICS, caEnv, freeCaPort, freeTcpPort, freeUdpPort, havePyepics, lastJson, runPython, PY_PRELUDE } from './ca-util.ts';
import { waitUntil } from './util.ts';

const ROOT = new URL('../..', import.meta.url).pathname;

const TREE = `
root: { name: Cli, pollEn: false }
devices:
  - name: Detector
    devices:
      - name: ReadoutBoardNumberOne
        devices:
          - name: AnalogFrontEndSection
            variables:
              - { name: CalibrationGainCoefficient, typeStr: Float64, value: 1.5, units: V, disp: '{:.2f}', minimum: 0, maximum: 10 }
              - { name: OperatingMode, typeStr: UInt8, value: 1, enum: { 0: Idle, 1: Armed, 2: Running } }
              - { name: ChannelDescriptionText, typeStr: str, value: 'a description that is longer than forty characters' }
  - name: Dev
    variables:
      - { name: Temp, typeStr: Float64, value: 21.5, highAlarm: 30 }
      - { name: Status, typeStr: Int32, value: 3, mode: RO }
      - { name: Wave, typeStr: 'Float32[4]', value: [1, 2, 3, 4] }
`;

const DEEP = 'pvtree:Cli:Detector:ReadoutBoardNumberOne:AnalogFrontEndSection';
const GAIN = `${DEEP}:CalibrationGainCoefficient`;
const MODE = `${DEEP}:OperatingMode`;
const TEXT = `${DEEP}:ChannelDescriptionText`;

describe('pvtree serve (CLI, YAML tree) over Channel Access', { skip: !havePyepics && SKIP_PYEPICS }, () => {
  let dir = '';
  let server: ChildProcess | undefined;
  let out = '';
  let caPort = 0;
  let pvaUdp = 0;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pvtree-ca-'));
    const file = join(dir, 'tree.yaml');
    writeFileSync(file, TREE);
    const ca = await freeCaPort();
    const tcp = await freeTcpPort();
    const udp = await freeUdpPort();
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('EPICS_')) env[k] = v;
    server = spawn(process.execPath, ['bin/pvtree.mjs', 'serve', file, '--loopback'], {
      cwd: ROOT,
      env: {
        ...env,
        EPICS_CAS_SERVER_PORT: String(ca),
        EPICS_CAS_BEACON_PORT: String(await freeUdpPort()),
        EPICS_PVAS_SERVER_PORT: String(tcp),
        EPICS_PVAS_BROADCAST_PORT: String(udp),
        PVTREE_LOG: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    server.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    server.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    await waitUntil(() => /Channel Access port \d+/.test(out) || server!.exitCode !== null, 'pvtree serve to start', 30000);
    const m = /pvAccess TCP (\d+) UDP (\d+); Channel Access port (\d+)/.exec(out);
    assert.ok(m, `serve output: ${out}`);
    pvaUdp = Number(m[2]);
    caPort = Number(m[3]);
    assert.equal(caPort, ca, 'the CA server took EPICS_CAS_SERVER_PORT');
  });

  after(async () => {
    if (server && server.exitCode === null) {
      const done = new Promise((r) => server!.once('close', r));
      server.kill('SIGINT');
      await done;
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('caget / caput of full-length names (> 60 characters), types, metadata, RO refusal; pvAccess sees the CA puts', { timeout: 90000 }, async () => {
    assert.ok(GAIN.length > 60 && MODE.length > 60 && TEXT.length > 60, `long names (${GAIN.length})`);
    const r = await runPython(
      `${PY_PRELUDE}
out = {}
names = {'gain': ${JSON.stringify(GAIN)}, 'mode': ${JSON.stringify(MODE)}, 'text': ${JSON.stringify(TEXT)}}
for k, n in names.items():
    out[k + '_type'] = ftype(n)
out['gain'] = g(names['gain'])
out['mode'] = g(names['mode'], as_string=True)
out['text'] = g(names['text'], as_string=True)
pv = epics.PV(names['gain'], form='ctrl'); pv.wait_for_connection(5)
out['pvname'] = pv.pvname
cv = pv.get_ctrlvars(timeout=5)
out['units'] = cv['units']; out['precision'] = cv['precision']; out['hopr'] = cv['upper_ctrl_limit']
out['put_gain'] = p(names['gain'], 2.5)
out['put_gain_bad'] = p(names['gain'], 11)
out['gain_after'] = g(names['gain'])
out['put_mode'] = p(names['mode'], 'Running')
out['put_text'] = p(names['text'], 'written over channel access with a full-length name')
out['temp'] = g('pvtree:Cli:Dev:Temp')
out['temp_type'] = ftype('pvtree:Cli:Dev:Temp')
out['wave'] = g('pvtree:Cli:Dev:Wave')
out['wave_type'] = ftype('pvtree:Cli:Dev:Wave')
st = epics.PV('pvtree:Cli:Dev:Status'); st.wait_for_connection(5)
out['status_write_access'] = st.write_access
out['put_status'] = p('pvtree:Cli:Dev:Status', 9)
out['status'] = g('pvtree:Cli:Dev:Status')
out['missing'] = j(epics.caget('pvtree:Cli:Dev:NoSuchThing', timeout=1))
print(json.dumps(out))
`,
      await caEnv(caPort),
      60000,
    );
    const o = lastJson(r);
    assert.equal(o.gain_type, 'double');
    assert.equal(o.mode_type, 'enum');
    assert.equal(o.text_type, 'char');
    assert.equal(o.gain, 1.5);
    assert.equal(o.mode, 'Armed');
    assert.equal(o.text, 'a description that is longer than forty characters');
    assert.equal(o.pvname, GAIN, 'the name is not truncated');
    assert.equal(o.units, 'V');
    assert.equal(o.precision, 2);
    assert.equal(o.hopr, 10);
    assert.equal(o.put_gain, 1);
    assert.equal(o.gain_after, 2.5, 'in-range put applied, out-of-range (11 > maximum 10) refused');
    assert.equal(o.put_mode, 1);
    assert.equal(o.put_text, 1);
    assert.equal(o.temp, 21.5);
    assert.equal(o.temp_type, 'double');
    assert.deepEqual(o.wave, [1, 2, 3, 4]);
    assert.equal(o.wave_type, 'float');
    assert.equal(o.status_write_access, false);
    assert.notEqual(o.put_status, 1);
    assert.equal(o.status, 3);
    assert.equal(o.missing, null);

    // the same PVs over pvAccess, from the same server process
    const client = new PvaClient({ addrList: [`127.0.0.1:${pvaUdp}`], autoAddrList: false, nameServers: [], timeout: 5 });
    try {
      assert.equal((await client.get(GAIN)).get('value'), 2.5);
      assert.equal((await client.get(MODE)).get('value.index'), 2);
      assert.equal((await client.get(TEXT)).get('value'), 'written over channel access with a full-length name');
      // and a pvAccess put is read back over CA
      await client.put(GAIN, 7.75);
    } finally {
      client.close();
    }
    const r2 = await runPython(`${PY_PRELUDE}\nprint(json.dumps({'gain': g(${JSON.stringify(GAIN)})}))\n`, await caEnv(caPort), 30000);
    assert.equal(lastJson(r2).gain, 7.75);
  });
});
