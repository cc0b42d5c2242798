// Real EPICS tools against a Rogue-style tree: pvxs pvxget/pvxcall/pvxput on bracketed names and
// the Root's built-ins (GetYamlConfig, LoadConfig inside and outside the config directory, PollEn),
// EPICS base caput/caget on enable and the DISABLE alarm. Runs only when PVA_PEER_BIN names the
// folder holding the tools; otherwise skipped with a message.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EpicsPvServer } from '../../src/epics/index.ts';
import { memoryLogger } from '../../src/pva/server/index.ts';
import { Device, RemoteVariable, Root } from '../../src/tree/index.ts';

const BIN = process.env.PVA_PEER_BIN;
const have = (tool: string) => !!BIN && existsSync(join(BIN, tool));
const SKIP = have('pvxget') && have('pvxcall') ? false : 'set PVA_PEER_BIN to a folder with the pvxs tools (pvxget, pvxcall, pvxput) to run these checks';
const SKIP_CA = SKIP || (have('caget') && have('caput') ? false : 'set PVA_PEER_BIN to a folder with EPICS base caget and caput to run this check');

let root: Root;
let server: EpicsPvServer;
let dir: string;

function peerEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('EPICS_')) env[k] = v;
  const pva = server.pvaServer!;
  const ca = server.caServer!;
  return {
    ...env,
    EPICS_PVA_ADDR_LIST: '127.0.0.1', EPICS_PVA_AUTO_ADDR_LIST: 'NO',
    EPICS_PVA_BROADCAST_PORT: String(pva.udpPort), EPICS_PVA_SERVER_PORT: String(pva.tcpPort),
    EPICS_CA_ADDR_LIST: '127.0.0.1', EPICS_CA_AUTO_ADDR_LIST: 'NO',
    EPICS_CA_SERVER_PORT: String(ca.port), EPICS_CA_REPEATER_PORT: String(ca.port + 1),
  };
}

function run(tool: string, args: string[], timeoutMs = 8000): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(join(BIN!, tool), args, { env: peerEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
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

before(async () => {
  if (SKIP) return;
  dir = mkdtempSync(join(tmpdir(), 'pvtree-interop-cfg-'));
  root = new Root({ name: 'LocalRoot', pollEn: false, configDir: dir });
  const d = new Device({ name: 'SimpleDev', offset: 0x1000 });
  d.add(new RemoteVariable({ name: 'Reg', offset: 0 }));
  d.addRemoteVariables({ name: 'Chan', offset: 0x10, number: 4, stride: 4 });
  d.addNodes((o: { name: string; offset?: number }) => {
    const s = new Device(o);
    s.add(new RemoteVariable({ name: 'Gain', offset: 0, bitSize: 8 }));
    return s;
  }, { name: 'Sub', offset: 0x100, number: 2, stride: 0x10 });
  root.add(d);
  server = new EpicsPvServer({
    base: 'rg', root, logger: memoryLogger(),
    pva: { tcpPort: 0, udpPort: 0, interfaces: ['127.0.0.1'], beaconAddrs: [] },
    ca: { port: 0, interfaces: ['127.0.0.1'], beacons: false },
  });
  root.addProtocol(server);
  await root.start();
});

after(async () => {
  if (SKIP) return;
  await root.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('pvxs: bracketed names, GetYamlConfig, LoadConfig inside / outside the config directory, PollEn', { skip: SKIP, timeout: 60000 }, async () => {
  let r = await run('pvxput', ['-w', '5', 'rg:LocalRoot:SimpleDev:Chan[2]', '0x2a']);
  assert.equal(r.code, 0, r.err);
  r = await run('pvxget', ['-w', '5', '-r', 'field(value)', 'rg:LocalRoot:SimpleDev:Chan[2]', 'rg:LocalRoot:SimpleDev:Sub[1]:Gain']);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /rg:LocalRoot:SimpleDev:Chan\[2\]\n\s+value uint32_t = 42/);
  assert.match(r.out, /rg:LocalRoot:SimpleDev:Sub\[1\]:Gain\n\s+value uint8_t = 0/);
  r = await run('pvxcall', ['-w', '5', 'rg:LocalRoot:GetYamlConfig', 'arg=false']);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /Chan\[2\]: 0x2a/);
  writeFileSync(join(dir, 'in.yml'), 'LocalRoot:\n  SimpleDev:\n    Sub[*]:\n      Gain: 0x11\n');
  r = await run('pvxcall', ['-w', '5', 'rg:LocalRoot:LoadConfig', 'arg=in.yml']);
  assert.equal(r.code, 0, r.err);
  assert.equal((root.getNode('LocalRoot.SimpleDev.Sub[1].Gain') as RemoteVariable).value, 0x11);
  r = await run('pvxcall', ['-w', '5', 'rg:LocalRoot:LoadConfig', 'arg=../elsewhere.yml']);
  assert.notEqual(r.code, 0);
  assert.match(r.out + r.err, /'\.\.\/elsewhere\.yml' is outside the config directory/);
  r = await run('pvxput', ['-w', '5', 'rg:LocalRoot:PollEn', 'true']);
  assert.equal(r.code, 0, r.err);
  assert.equal(root.pollEn, true);
  root.pollEn = false;
});

test('EPICS base: caput enable False, caget -a shows DISABLE INVALID and ParentFalse', { skip: SKIP_CA, timeout: 60000 }, async () => {
  let r = await run('caput', ['-w', '5', 'rg:LocalRoot:SimpleDev:enable', 'False']);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /New : rg:LocalRoot:SimpleDev:enable\s+False/);
  r = await run('caget', ['-w', '5', '-a', 'rg:LocalRoot:SimpleDev:Reg', 'rg:LocalRoot:SimpleDev:Sub[0]:enable']);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /rg:LocalRoot:SimpleDev:Reg\s+\S+ \S+ 0 DISABLE INVALID/);
  assert.match(r.out, /rg:LocalRoot:SimpleDev:Sub\[0\]:enable\s+\S+ \S+ ParentFalse/);
  r = await run('caput', ['-w', '5', 'rg:LocalRoot:SimpleDev:enable', 'True']);
  assert.equal(r.code, 0, r.err);
  r = await run('caget', ['-w', '5', '-a', 'rg:LocalRoot:SimpleDev:Reg']);
  assert.doesNotMatch(r.out, /DISABLE/);
});
