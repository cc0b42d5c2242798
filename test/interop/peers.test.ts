// Real EPICS clients against pvtree: pvxs tools (pvxget/pvxput/pvxmonitor/pvxcall/pvxinfo), and,
// when present in the same folder, pvAccessCPP (pvget/pvput/pvcall) and CA tools (caget/caput).
// Runs only when PVA_PEER_BIN names the folder holding them; otherwise skipped with a message.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { EpicsPvServer } from '../../src/epics/index.ts';
import { memoryLogger } from '../../src/pva/server/index.ts';
import { Device, LocalCommand, LocalVariable, RemoteVariable, Root } from '../../src/tree/index.ts';

const BIN = process.env.PVA_PEER_BIN;
const have = (tool: string) => !!BIN && existsSync(join(BIN, tool));
const SKIP = have('pvxget') ? false : 'set PVA_PEER_BIN to a folder with the pvxs tools (pvxget, pvxput, ...) to run interop tests';

let root: Root;
let server: EpicsPvServer;

function buildRoot(): Root {
  const r = new Root({ name: 'Peer', pollEn: false });
  const d = new Device({ name: 'Dev' });
  r.add(d);
  d.add(new LocalVariable({ name: 'Gain', value: 3.25, typeStr: 'Float64', units: 'V', disp: '{:.3f}', minimum: -10, maximum: 10, highAlarm: 9 }));
  d.add(new LocalVariable({ name: 'Count', value: 7, typeStr: 'Int32', mode: 'RO' }));
  d.add(new LocalVariable({ name: 'Mode', value: 1, typeStr: 'UInt8', enum: { 0: 'Zero', 1: 'One', 2: 'Two', 3: 'Three' } }));
  d.add(new LocalVariable({ name: 'Label', value: 'hello', typeStr: 'str' }));
  d.add(new LocalVariable({ name: 'Wave', value: Float64Array.of(1.5, 2.5, 3.5, 4.5), mode: 'RW' }));
  d.add(new RemoteVariable({ name: 'Reg', offset: 0, bitSize: 16, base: 'UInt', mode: 'RW' }));
  d.add(new LocalCommand<number, number>({ name: 'Double', argType: 'Int32', retType: 'Int32', function: ({ arg }) => (arg ?? 0) * 2 }));
  return r;
}

function peerEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('EPICS_')) env[k] = v;
  const pva = server.pvaServer!;
  const ca = server.caServer;
  return {
    ...env,
    EPICS_PVA_ADDR_LIST: '127.0.0.1',
    EPICS_PVA_AUTO_ADDR_LIST: 'NO',
    EPICS_PVA_BROADCAST_PORT: String(pva.udpPort),
    EPICS_PVA_SERVER_PORT: String(pva.tcpPort),
    EPICS_PVAS_INTF_ADDR_LIST: '127.0.0.1',
    EPICS_PVAS_AUTO_BEACON_ADDR_LIST: 'NO',
    EPICS_PVAS_BEACON_ADDR_LIST: '127.0.0.1',
    EPICS_CA_ADDR_LIST: '127.0.0.1',
    EPICS_CA_AUTO_ADDR_LIST: 'NO',
    EPICS_CA_SERVER_PORT: String(ca?.port ?? 5064),
    EPICS_CA_REPEATER_PORT: String((ca?.port ?? 5064) + 1),
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
  root = buildRoot();
  server = new EpicsPvServer({
    base: 'interop',
    root,
    logger: memoryLogger(),
    pva: { tcpPort: 0, udpPort: 0, interfaces: ['127.0.0.1'], beaconAddrs: [] },
    ca: { port: 0, interfaces: ['127.0.0.1'], beacons: false },
  });
  root.addProtocol(server);
  await root.start();
});

after(async () => {
  if (!SKIP) await root.stop();
});

const P = 'interop:Peer:Dev';

test('pvxget reads an NTScalar double with metadata', { skip: SKIP }, async () => {
  const r = await run('pvxget', [`${P}:Gain`]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /value double = 3\.25/);
  assert.match(r.out, /display\.units string = "V"/);
  assert.match(r.out, /display\.precision int32_t = 3/);
  assert.match(r.out, /valueAlarm\.highAlarmLimit double = 9/);
});

test('pvxget -r field(value) and enums, strings, arrays', { skip: SKIP }, async () => {
  const r = await run('pvxget', ['-r', 'field(value)', `${P}:Mode`, `${P}:Label`, `${P}:Wave`]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /value\.index int32_t = 1/);
  assert.match(r.out, /value string = "hello"/);
  assert.match(r.out, /value double\[\] = \{4\}\[1\.5, 2\.5, 3\.5, 4\.5\]/);
  assert.doesNotMatch(r.out, /alarm\.severity/);
});

test('pvxput writes through to the tree; enum by index; RO refused', { skip: SKIP }, async () => {
  let r = await run('pvxput', [`${P}:Gain`, '2.5']);
  assert.equal(r.code, 0, r.err);
  assert.equal((root.getNode('Peer.Dev.Gain') as LocalVariable).value, 2.5);
  r = await run('pvxput', [`${P}:Mode`, 'value.index=2']);
  assert.equal(r.code, 0, r.err);
  assert.equal((root.getNode('Peer.Dev.Mode') as LocalVariable).value, 2);
  r = await run('pvxput', [`${P}:Reg`, '4660']);
  assert.equal(r.code, 0, r.err);
  assert.equal(await (root.getNode('Peer.Dev.Reg') as RemoteVariable).get({ read: true }), 4660);
  r = await run('pvxput', [`${P}:Count`, '9']);
  assert.notEqual(r.code, 0);
  assert.match(r.err + r.out, /read-only/);
  assert.equal((root.getNode('Peer.Dev.Count') as LocalVariable).value, 7);
});

test('pvxmonitor sees tree updates', { skip: SKIP }, async () => {
  const gain = root.getNode('Peer.Dev.Gain') as LocalVariable;
  const p = run('pvxmonitor', [`${P}:Gain`], 2500);
  await new Promise((r) => setTimeout(r, 800));
  await gain.set(1.25);
  await new Promise((r) => setTimeout(r, 200));
  await gain.set(-4);
  const r = await p;
  assert.match(r.out, /1\.25/);
  assert.match(r.out, /-4/);
});

test('pvxcall runs a command with an argument', { skip: SKIP }, async () => {
  const r = await run('pvxcall', [`${P}:Double`, 'arg=21']);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /42/);
});

test('pvxinfo prints the type', { skip: SKIP }, async () => {
  const r = await run('pvxinfo', [`${P}:Gain`]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /epics:nt\/NTScalar:1\.0/);
});

test('pvAccessCPP pvget / pvput / pvcall', { skip: SKIP || (!have('pvget') && 'pvAccessCPP tools not in PVA_PEER_BIN') }, async () => {
  let r = await run('pvget', [`${P}:Label`]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /hello|\w/);
  r = await run('pvput', [`${P}:Label`, 'from pvput']);
  assert.equal(r.code, 0, r.err);
  assert.equal((root.getNode('Peer.Dev.Label') as LocalVariable).value, 'from pvput');
  r = await run('pvcall', [`${P}:Double`, 'arg=5']);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /10/);
});

test('Channel Access caget / caput', { skip: SKIP || (!have('caget') && 'CA tools not in PVA_PEER_BIN') }, async () => {
  let r = await run('caget', [`${P}:Gain`, `${P}:Mode`]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, new RegExp(`${P}:Mode\\s+\\w+`));
  r = await run('caput', ['-c', `${P}:Gain`, '0.5']);
  assert.equal(r.code, 0, r.err);
  assert.equal((root.getNode('Peer.Dev.Gain') as LocalVariable).value, 0.5);
});
