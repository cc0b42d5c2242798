// Several servers sharing one search port on one host, found by a client that searches by unicast
// (EPICS_PVA_ADDR_LIST=127.0.0.1), through the local multicast fan-out (224.0.0.128 on loopback).
// The servers and clients run in a private network namespace made for this test (unshare -n, lo up),
// so no datagram can leave the machine; without the privilege to make one, the test is skipped.
// With PVA_PEER_BIN set, a pvxs softIocPVX joins on the same port: pvxget finds pvtree's PVs and
// pvtree's client finds the IOC's. Two CA servers on one port show what CA can and cannot do there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const probe = spawnSync('unshare', ['-n', 'sh', '-c', 'ip link set lo up'], { encoding: 'utf8' });
const SKIP =
  probe.status === 0
    ? false
    : `cannot make a private network namespace here (unshare -n: ${(probe.error?.message ?? probe.stderr).trim() || `exit ${probe.status}`}); multicast tests need one`;

const EXTRA = '10.99.0.1';
const child = fileURLToPath(new URL('./multi-server-child.ts', import.meta.url));

function runInNamespace(): Record<string, any> {
  // 10.99.0.1 is a second address on the namespace's own lo, which only the IOC listens on
  const r = spawnSync('unshare', ['-n', 'sh', '-c', `ip link set lo up && ip addr add ${EXTRA}/32 dev lo && exec "$0" --import tsx "$1"`, process.execPath, child], {
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, PVTREE_NS_EXTRA_ADDR: EXTRA },
  });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  assert.ok(line.startsWith('{'), `child output: ${r.stdout}\n${r.stderr}`);
  const out = JSON.parse(line);
  assert.equal(out.error, undefined, out.error);
  return out;
}

test('three pvtree servers on one search port are all found by unicast search, and each answers a pvxs-style forward', { skip: SKIP, timeout: 150_000 }, () => {
  const out = runInNamespace();
  assert.deepEqual(out.udpPorts, [5076, 5076, 5076], 'all bound the same search port');
  assert.deepEqual(out.forwards, [true, true, true], 'all joined the local multicast group');
  assert.deepEqual(out.client, { 'ms:0': 100, 'ms:1': 101, 'ms:2': 102 }, 'the unicast-searching client reached every server');
  assert.equal(out.forwardedReplies.length, 3, `replies from three servers: ${JSON.stringify(out.forwardedReplies)}`);
  assert.deepEqual(out.forwardedReplies.map((r: { cids: number[] }) => r.cids[0]).sort(), [1, 2, 3]);
  assert.ok(out.forwardedReplies.every((r: { found: boolean }) => r.found));
  assert.deepEqual(out.logs, [[], [], []], 'no warnings');
  // Channel Access (documented in the README): no forwarding exists in CA, so a unicast search
  // reaches only the server bound last; a search to lo's broadcast address reaches both.
  assert.deepEqual(out.ca.unicast, [101], 'CA unicast: the last-bound server only');
  assert.deepEqual(out.ca.broadcast, [100, 101], 'CA broadcast: every server (each listens on its interface broadcast address)');
  if (out.peer === null) return;
  // a real pvxs IOC on the same port (PVA_PEER_BIN)
  assert.match(out.peer['pvxget peer:ai'], /peer:ai/, 'pvxget finds the IOC');
  for (let i = 0; i < 3; i++) assert.match(out.peer[`pvxget ms:${i}`], new RegExp(`ms:${i}[\\s\\S]*= ${100 + i}`), `pvxget finds pvtree server ${i}`);
  assert.equal(typeof out.peer['pvtree peer:ai'], 'number', `pvtree's client finds the IOC: ${out.peer['pvtree peer:ai']}`);
  // pvxs receiving the unicast (sent to an address only it listens on) forwards it to pvtree's servers
  for (let i = 0; i < 3; i++) {
    assert.match(out.peer[`pvxget via ${EXTRA} ms:${i}`], new RegExp(`ms:${i}[\\s\\S]*= ${100 + i}`), `forwarded by pvxs to pvtree server ${i}`);
  }
  assert.equal(out.peer[`pvtree via ${EXTRA} ms:0`], 100, "pvtree's client through pvxs's forward");
  if ('pvget ms:0' in out.peer) {
    for (let i = 0; i < 3; i++) assert.match(out.peer[`pvget ms:${i}`], new RegExp(`ms:${i} .* ${100 + i}$`, 'm'), `pvAccessCPP pvget finds pvtree server ${i}`);
  }
});
