// `pvtree put` (Old/New lines) and PvaClient.putGet with real EPICS programs: pvAccessCPP's pvput
// prints what pvtree put prints, against pvtree's server and against pvxs's softIocPVX; pvtree put
// writes to softIocPVX; softIocPVX (pvxs) does not implement PUT_GET, so putGet runs into its
// timeout there and writes nothing. Runs only when PVA_PEER_BIN names the folder holding the tools.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '../../src/cli/main.ts';
import type { CliIO } from '../../src/cli/client-commands.ts';
import { PvaClient } from '../../src/pva/client/index.ts';
import { startServer, until, type Fixture } from '../cli/fixtures.ts';
import { freeTcpPort, freeUdpPort } from '../util/net.ts';

const BIN = process.env.PVA_PEER_BIN;
const have = (tool: string): boolean => !!BIN && existsSync(join(BIN, tool));
const PEER_DB = new URL('../../../shared/peer.db', import.meta.url).pathname;
const SKIP_IOC = have('softIocPVX') && existsSync(PEER_DB) ? false : 'set PVA_PEER_BIN to a folder with pvxs softIocPVX (and ../shared/peer.db) to run';
const SKIP_PVPUT = have('pvput') ? false : 'set PVA_PEER_BIN to a folder with pvAccessCPP pvput to run';

/** Environment for clients (ours and the EPICS tools) that search only 127.0.0.1:udpPort. */
function clientEnv(udpPort: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('EPICS_')) env[k] = v;
  return { ...env, EPICS_PVA_ADDR_LIST: '127.0.0.1', EPICS_PVA_AUTO_ADDR_LIST: 'NO', EPICS_PVA_BROADCAST_PORT: String(udpPort) };
}

function runTool(tool: string, args: string[], udpPort: number): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(join(BIN!, tool), args, { env: clientEnv(udpPort), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const t = setTimeout(() => child.kill('SIGKILL'), 20000);
    child.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, out, err });
    });
  });
}

/** `pvtree put ARGS` in-process, searching 127.0.0.1:udpPort. */
async function pvtreePut(args: string[], udpPort: number): Promise<{ code: number; out: string; err: string }> {
  const r = { code: 0, out: '', err: '' };
  const io: CliIO = { out: (s) => void (r.out += s), err: (s) => void (r.err += s), env: clientEnv(udpPort) };
  r.code = await main(['put', ...args], io);
  return r;
}

/** pvput's and pvtree's lines with the times taken out: 'Old : <time>  value ' → 'Old : T  value '. */
const untimed = (s: string): string => s.replace(/^(Old : |New : |)(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}|<undefined> {12})/gm, '$1T');

/** Puts `to` with pvput and with pvtree put, each starting from `from`; returns both outputs untimed. */
async function bothPut(pv: string, from: string, to: string, udpPort: number): Promise<{ pvput: string; pvtree: string }> {
  const reset = async (): Promise<void> => {
    const r = await pvtreePut(['-q', pv, from], udpPort);
    assert.equal(r.code, 0, r.err);
  };
  await reset();
  const a = await runTool('pvput', [pv, to], udpPort);
  assert.equal(a.code, 0, a.err);
  await reset();
  const b = await pvtreePut([pv, to], udpPort);
  assert.equal(b.code, 0, b.err);
  return { pvput: untimed(a.out), pvtree: untimed(b.out) };
}

describe('pvtree put and pvput against pvtree’s server', { skip: SKIP_PVPUT }, () => {
  let fx: Fixture;
  before(async () => {
    fx = await startServer({ udpPort: await freeUdpPort() });
  });
  after(async () => {
    await fx?.server.stop();
  });

  for (const [pv, from, to] of [
    ['test:ai', '1.5', '2.5'],
    ['test:long', '42', '-7'],
    ['test:enum', '1', '2'],
    ['test:str', 'reset', 'hello pva'],
  ] as const) {
    it(`${pv}: ${from} → ${to} prints the same Old/New lines`, async () => {
      const { pvput, pvtree } = await bothPut(pv, from, to, fx.server.udpPort);
      assert.match(pvput, /^Old : T {2}.+\nNew : T {2}.+\n$/);
      assert.equal(pvtree, pvput);
    });
  }
});

describe('pvtree put and putGet against pvxs softIocPVX', { skip: SKIP_IOC }, () => {
  let ioc: ChildProcess;
  let udpPort = 0;
  let log = '';

  before(async () => {
    udpPort = await freeUdpPort();
    const caPort = await freeTcpPort();
    const env: NodeJS.ProcessEnv = {
      ...clientEnv(udpPort),
      EPICS_PVAS_INTF_ADDR_LIST: '127.0.0.1',
      EPICS_PVAS_BEACON_ADDR_LIST: '127.0.0.1',
      EPICS_PVAS_AUTO_BEACON_ADDR_LIST: 'NO',
      EPICS_PVAS_BROADCAST_PORT: String(udpPort),
      EPICS_PVAS_SERVER_PORT: String(await freeTcpPort()),
      EPICS_CA_ADDR_LIST: '127.0.0.1',
      EPICS_CA_AUTO_ADDR_LIST: 'NO',
      EPICS_CAS_INTF_ADDR_LIST: '127.0.0.1',
      EPICS_CAS_BEACON_ADDR_LIST: '127.0.0.1',
      EPICS_CAS_AUTO_BEACON_ADDR_LIST: 'NO',
      EPICS_CA_SERVER_PORT: String(caPort),
      EPICS_CA_REPEATER_PORT: String(await freeUdpPort()),
    };
    // its own process group, stopped as a whole in after()
    ioc = spawn(join(BIN!, 'softIocPVX'), ['-S', '-d', PEER_DB], { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    ioc.stdout!.on('data', (d) => (log += d));
    ioc.stderr!.on('data', (d) => (log += d));
    const client = new PvaClient({ addrList: [`127.0.0.1:${udpPort}`], autoAddrList: false, nameServers: [], timeout: 1, beacons: false });
    try {
      let up = false;
      const end = Date.now() + 20000;
      while (!up && Date.now() < end && ioc.exitCode === null) {
        up = await client.get('peer:ao').then(
          () => true,
          () => false,
        );
      }
      assert.ok(up, `softIocPVX did not come up:\n${log}`);
    } finally {
      client.close();
    }
  });

  after(async () => {
    if (!ioc || ioc.exitCode !== null) return;
    const closed = new Promise((r) => ioc.once('close', r));
    process.kill(-ioc.pid!, 'SIGTERM');
    await closed;
  });

  it('pvtree put prints Old/New and writes (read, put, read: all pvxs answers)', async () => {
    let r = await pvtreePut(['-q', 'peer:ao', '1.5'], udpPort);
    assert.equal(r.code, 0, r.err);
    r = await pvtreePut(['peer:ao', '4.5'], udpPort);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^Old : \S+ \S+ {2}1\.5 \nNew : \S+ \S+ {2}4\.5 \n$/);
    r = await pvtreePut(['peer:mbbo', 'Two'], udpPort);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /\nNew : \S+ \S+ {2}\(2\) Two\n$/);
  });

  it('pvput and pvtree put print the same lines', { skip: SKIP_PVPUT }, async () => {
    for (const [pv, from, to] of [
      ['peer:ao', '1.5', '2.5'],
      ['peer:long', '42', '-7'],
      ['peer:mbbo', '1', '3'],
      ['peer:str', 'hello', 'hello pva'],
    ] as const) {
      const { pvput, pvtree } = await bothPut(pv, from, to, udpPort);
      assert.match(pvput, /^Old : T {2}.+\nNew : T {2}.+\n$/, pv);
      assert.equal(pvtree, pvput, pv);
    }
  });

  it('putGet: softIocPVX never answers PUT_GET (pvxs does not implement it): timeout, nothing written', async () => {
    const client = new PvaClient({ addrList: [`127.0.0.1:${udpPort}`], autoAddrList: false, nameServers: [], timeout: 5, beacons: false });
    try {
      await client.put('peer:ao', 1.25);
      await assert.rejects(client.putGet('peer:ao', 7.5, { timeout: 1.5 }), { message: 'peer:ao: timeout (1.5 s)' });
      // the channel works, and the value is unchanged
      assert.equal((await client.get('peer:ao')).get('value'), 1.25);
    } finally {
      client.close();
    }
  });
});
