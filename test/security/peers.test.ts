// Access security against the real EPICS tools, run as an allowed (root, in UAG ops) and a denied
// (nobody, in UAG guests) OS user: pvxs pvxput (and pvxget on a PV guests may not read),
// pvAccessCPP pvput, base caput and cainfo. Runs when PVA_PEER_BIN names the folder holding them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SKIP_OTHER_USER, runAs, serveSecured, type Secured } from './fixture.ts';

const BIN = process.env.PVA_PEER_BIN;
const have = (tool: string): boolean => !!BIN && existsSync(join(BIN, tool));
const SKIP = !have('pvxput') ? 'set PVA_PEER_BIN to a folder with the pvxs, pvAccessCPP and CA tools to run these' : SKIP_OTHER_USER;
const skipFor = (tool: string): string | false => SKIP || (have(tool) ? false : `${tool} not in PVA_PEER_BIN`);

let s: Secured;

before(async () => {
  if (SKIP) return;
  s = await serveSecured();
});

after(async () => {
  await s?.close();
});

function env(): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('EPICS_')) e[k] = v;
  const pva = s.server.pvaServer!;
  const ca = s.server.caServer!;
  return {
    ...e,
    EPICS_PVA_ADDR_LIST: '127.0.0.1',
    EPICS_PVA_AUTO_ADDR_LIST: 'NO',
    EPICS_PVA_BROADCAST_PORT: String(pva.udpPort),
    EPICS_PVA_SERVER_PORT: String(pva.tcpPort),
    EPICS_CA_ADDR_LIST: '127.0.0.1',
    EPICS_CA_AUTO_ADDR_LIST: 'NO',
    EPICS_CA_SERVER_PORT: String(ca.port),
    EPICS_CA_REPEATER_PORT: String(ca.port + 1),
  };
}

const tool = (user: string | undefined, name: string, args: string[], extra: NodeJS.ProcessEnv = {}) =>
  runAs(user, join(BIN!, name), args, { ...env(), ...extra }, 20000);

async function gain(): Promise<number> {
  return Number((await s.client('alice').get('sec:Root:Dev:Gain')).get('value'));
}

function lastAudit(): Record<string, unknown> {
  return JSON.parse(readFileSync(s.audit, 'utf8').trim().split('\n').at(-1)!) as Record<string, unknown>;
}

test('pvxs pvxput: allowed as root, refused as nobody', { skip: skipFor('pvxput') }, async (t) => {
  // pvxs from 781a96e (May 2026) on sends the "ca" method with an empty account ('ca' auth as @):
  // Context keeps its user in caMethod, but each connection sends caMethod.cloneEmpty(). Such a
  // client is anonymous to pvtree (and has no name in a pvxs IOC either).
  const probe = await tool(undefined, 'pvxget', ['-w', '5', 'sec:Root:Dev:Gain'], { PVXS_LOG: 'pvxs.client.io=INFO' });
  assert.equal(probe.code, 0, probe.stderr);
  const sendsAccount = !/'ca' auth as @/.test(probe.stdout + probe.stderr);
  const no = await tool('nobody', 'pvxput', ['-w', '5', 'sec:Root:Dev:Gain', '12.5']);
  assert.notEqual(no.code, 0);
  const before = await gain();
  if (sendsAccount) {
    assert.match(no.stdout + no.stderr, /write access denied to sec:Root:Dev:Gain for nobody@127\.0\.0\.1/);
    const ok = await tool(undefined, 'pvxput', ['-w', '5', 'sec:Root:Dev:Gain', '11.5']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(await gain(), 11.5);
    assert.deepEqual([lastAudit().user, lastAudit().result, lastAudit().new], ['root', 'ok', 11.5]);
  } else {
    t.diagnostic('this pvxs sends an empty "ca" account: its clients are anonymous, checked by host only');
    assert.match(no.stdout + no.stderr, /write access denied to sec:Root:Dev:Gain for anonymous@127\.0\.0\.1/);
    const asRoot = await tool(undefined, 'pvxput', ['-w', '5', 'sec:Root:Dev:Gain', '11.5']);
    assert.notEqual(asRoot.code, 0);
    assert.match(asRoot.stdout + asRoot.stderr, /write access denied to sec:Root:Dev:Gain for anonymous@127\.0\.0\.1/);
    assert.equal(await gain(), before);
    assert.deepEqual([lastAudit().user, lastAudit().result], ['anonymous', 'denied']);
    // a rule by host (HAG 127.0.0.1) lets either user write
    for (const [user, v] of [[undefined, '5'], ['nobody', '6']] as const) {
      const lab = await tool(user, 'pvxput', ['-w', '5', 'sec:Root:Lab', v]);
      assert.equal(lab.code, 0, lab.stderr);
      assert.equal(Number((await s.client('alice').get('sec:Root:Lab')).get('value')), Number(v));
    }
  }
  assert.equal(await gain(), before);
  // a PV guests may not read
  const get = await tool('nobody', 'pvxget', ['-w', '5', 'sec:Root:Secret']);
  assert.notEqual(get.code, 0);
  assert.match(get.stdout + get.stderr, /read access denied to sec:Root:Secret for (nobody|anonymous)@127\.0\.0\.1/);
});

test('pvAccessCPP pvput: allowed as root, refused as nobody', { skip: skipFor('pvput') }, async () => {
  const ok = await tool(undefined, 'pvput', ['-w', '5', 'sec:Root:Dev:Gain', '21.5']);
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  assert.equal(await gain(), 21.5);
  const no = await tool('nobody', 'pvput', ['-w', '5', 'sec:Root:Dev:Gain', '22.5']);
  assert.notEqual(no.code, 0, no.stdout);
  assert.match(no.stdout + no.stderr, /write access denied to sec:Root:Dev:Gain for nobody@127\.0\.0\.1/);
  assert.equal(await gain(), 21.5);
});

test('base caput and cainfo: allowed as root, refused as nobody, the rights shown', { skip: skipFor('caput') }, async () => {
  const ok = await tool(undefined, 'caput', ['-w', '5', 'sec:Root:Dev:Gain', '31.5']);
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, /New : sec:Root:Dev:Gain\s+31\.5/);
  assert.equal(await gain(), 31.5);
  assert.deepEqual([lastAudit().protocol, lastAudit().user, lastAudit().result], ['ca', 'root', 'ok']);
  const no = await tool('nobody', 'caput', ['-w', '5', 'sec:Root:Dev:Gain', '32.5']);
  assert.notEqual(no.code, 0, no.stdout);
  assert.match(no.stdout + no.stderr, /Write access denied/i);
  assert.equal(await gain(), 31.5);
  if (have('cainfo')) {
    const info = await tool('nobody', 'cainfo', ['sec:Root:Dev:Gain']);
    assert.match(info.stdout, /Access:\s+read, no write/);
    const rootInfo = await tool(undefined, 'cainfo', ['sec:Root:Dev:Gain']);
    assert.match(rootInfo.stdout, /Access:\s+read, write/);
    const secret = await tool('nobody', 'cainfo', ['sec:Root:Secret']);
    assert.match(secret.stdout, /Access:\s+no read, no write/);
  }
});
