// Run by multi-server.test.ts INSIDE a private network namespace (unshare -n, lo up): nothing sent
// here can leave the machine, so the default ports and the local multicast group are used as a real
// host would use them. Prints one JSON line with what each client found.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PvaClient } from '../../src/pva/client/index.ts';
import { decodeMessage, encodeMessage, ProtocolError } from '../../src/pva/messages.ts';
import { framesOfDatagram } from '../../src/pva/framer.ts';
import { PvaServer, SharedPV, memoryLogger } from '../../src/pva/server/index.ts';
import { ntScalar } from '../../src/pvdata/nt.ts';
import { PVStructure, Writer } from '../../src/pvdata/index.ts';
import { CaMemoryPv, CaServer, StaticCaSource, decodeDatagram, encodeMessage as encodeCa } from '../../src/ca/index.ts';

const UDP = 5076;
const N = 3;
const env = {
  EPICS_PVAS_INTF_ADDR_LIST: '127.0.0.1',
  EPICS_PVAS_BEACON_ADDR_LIST: '127.0.0.1',
  EPICS_PVAS_AUTO_BEACON_ADDR_LIST: 'NO',
  EPICS_PVA_ADDR_LIST: '127.0.0.1',
  EPICS_PVA_AUTO_ADDR_LIST: 'NO',
  EPICS_PVA_BROADCAST_PORT: String(UDP),
  EPICS_PVAS_BROADCAST_PORT: String(UDP),
};

const result: Record<string, unknown> = {};
const servers: PvaServer[] = [];
const logs: Array<ReturnType<typeof memoryLogger>> = [];
let ioc: ChildProcess | undefined;

async function main(): Promise<void> {
  for (let i = 0; i < N; i++) {
    const log = memoryLogger();
    const s = new PvaServer({ tcpPort: 0, udpPort: UDP, interfaces: ['127.0.0.1'], beaconAddrs: [], logger: log, env });
    const pv = new SharedPV();
    pv.open(new PVStructure(ntScalar('int'), { value: 100 + i }));
    s.addPV(`ms:${i}`, pv);
    await s.start();
    servers.push(s);
    logs.push(log);
  }
  result.udpPorts = servers.map((s) => s.udpPort);
  result.forwards = servers.map((s) => s.forwardsSearches);

  // 1. pvtree's client, searching by unicast only, finds every server (only the last bound got the datagram)
  const client = new PvaClient({ addrList: ['127.0.0.1'], autoAddrList: false, nameServers: [], broadcastPort: UDP, timeout: 5 });
  const got: Record<string, unknown> = {};
  for (let i = 0; i < N; i++) {
    try {
      got[`ms:${i}`] = (await client.get(`ms:${i}`)).get('value');
    } catch (e) {
      got[`ms:${i}`] = `error: ${(e as Error).message}`;
    }
  }
  result.client = got;

  // 2. a forward in pvxs's form sent to the group reaches every server, each answering the client in its body
  result.forwardedReplies = await sendForward(Array.from({ length: N }, (_, i) => `ms:${i}`));

  // 3. with a real pvxs IOC on the same search port: each side found by pvxget and by pvtree's client
  const bin = process.env.PVA_PEER_BIN;
  if (bin && existsSync(join(bin, 'softIocPVX')) && existsSync(join(bin, 'pvxget'))) {
    const db = fileURLToPath(new URL('../../../shared/peer.db', import.meta.url));
    ioc = spawn(join(bin, 'softIocPVX'), ['-S', '-d', db], {
      env: { ...process.env, ...env, EPICS_PVAS_SERVER_PORT: '15075', EPICS_CA_SERVER_PORT: '15064', EPICS_CAS_INTF_ADDR_LIST: '127.0.0.1', EPICS_CA_ADDR_LIST: '127.0.0.1', EPICS_CA_AUTO_ADDR_LIST: 'NO', EPICS_CAS_BEACON_ADDR_LIST: '127.0.0.1', EPICS_CAS_AUTO_BEACON_ADDR_LIST: 'NO' },
      stdio: 'ignore',
    });
    // asynchronously: the servers answering pvxget live in this process's event loop
    const pvxget = (name: string) =>
      new Promise<string>((res) => {
        execFile(join(bin, 'pvxget'), ['-w', '5', '-r', 'field(value)', name], { env: { ...process.env, ...env }, timeout: 15000 }, (e, out, err) =>
          res(e ? `exit ${e.code}: ${String(err).trim()}` : String(out).trim()),
        );
      });
    const deadline = Date.now() + 20000;
    let first = await pvxget('peer:ai');
    while (first.startsWith('exit') && Date.now() < deadline) first = await pvxget('peer:ai');
    const peer: Record<string, unknown> = { 'pvxget peer:ai': first };
    for (let i = 0; i < N; i++) peer[`pvxget ms:${i}`] = await pvxget(`ms:${i}`);
    if (existsSync(join(bin, 'pvget'))) {
      // pvAccessCPP's client (unicast search with the unicast flag, as pvxs's)
      for (let i = 0; i < N; i++) {
        peer[`pvget ms:${i}`] = await new Promise<string>((res) => {
          execFile(join(bin, 'pvget'), ['-w', '5', `ms:${i}`], { env: { ...process.env, ...env }, timeout: 15000 }, (e, out, err) =>
            res(e ? `exit ${e.code}: ${String(err).trim()}` : String(out).trim()),
          );
        });
      }
    }
    try {
      peer['pvtree peer:ai'] = (await client.get('peer:ai')).get('value');
    } catch (e) {
      peer['pvtree peer:ai'] = `error: ${(e as Error).message}`;
    }
    // the other direction: a unicast search to an address only the IOC listens on (a second address
    // on lo, added by the test inside the namespace) reaches pvxs alone; pvxs forwards it to us
    if (process.env.PVTREE_NS_EXTRA_ADDR) {
      const other = process.env.PVTREE_NS_EXTRA_ADDR;
      const viaPvxs = (name: string) =>
        new Promise<string>((res) => {
          execFile(join(bin, 'pvxget'), ['-w', '5', '-r', 'field(value)', name], { env: { ...process.env, ...env, EPICS_PVA_ADDR_LIST: other }, timeout: 15000 }, (e, out, err) =>
            res(e ? `exit ${e.code}: ${String(err).trim()}` : String(out).trim()),
          );
        });
      for (let i = 0; i < N; i++) peer[`pvxget via ${other} ms:${i}`] = await viaPvxs(`ms:${i}`);
      const c2 = new PvaClient({ addrList: [other], autoAddrList: false, nameServers: [], broadcastPort: UDP, timeout: 5 });
      try {
        peer[`pvtree via ${other} ms:0`] = (await c2.get('ms:0')).get('value');
      } catch (e) {
        peer[`pvtree via ${other} ms:0`] = `error: ${(e as Error).message}`;
      }
      c2.close();
    }
    result.peer = peer;
  } else {
    result.peer = null;
  }
  client.close();

  // 4. Channel Access has no forwarding: a unicast search reaches one server, a broadcast all of them
  result.ca = await caSearches();
}

/** Two CA servers on port 5064: which answer a search sent by unicast, and one sent to lo's broadcast address. */
async function caSearches(): Promise<Record<string, number[]>> {
  const cas: CaServer[] = [];
  for (let i = 0; i < 2; i++) {
    const src = new StaticCaSource({ [`ca:${i}`]: new CaMemoryPv({ type: 'long', value: i }) });
    const s = new CaServer({ source: src, port: 5064, interfaces: ['127.0.0.1'], beacons: false, autoBeaconAddresses: false, beaconAddresses: [], env: {}, log: () => {} });
    await s.start();
    cas.push(s);
  }
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  sock.setBroadcast(true);
  const found: number[] = [];
  sock.on('message', (msg) => {
    for (const r of decodeDatagram(msg, 's2c')) if (r.ok && r.message.kind === 'searchReply') found.push(r.message.cid);
  });
  const ask = async (host: string) => {
    found.length = 0;
    const req = Buffer.concat([
      encodeCa({ kind: 'version', priority: 0, minorVersion: 13, sequence: 1 }),
      encodeCa({ kind: 'search', name: 'ca:0', reply: 5, minorVersion: 13, cid: 100 }),
      encodeCa({ kind: 'search', name: 'ca:1', reply: 5, minorVersion: 13, cid: 101 }),
    ]);
    for (let i = 0; i < 3 && found.length < 2; i++) {
      sock.send(req, 5064, host);
      await new Promise((r) => setTimeout(r, 300));
    }
    return [...new Set(found)].sort();
  };
  const out = { unicast: await ask('127.0.0.1'), broadcast: await ask('127.255.255.255') };
  sock.close();
  for (const s of cas) await s.stop();
  return out;
}

/** Sends ORIGIN_TAG + SEARCH to 224.0.0.128 as pvxs forwards; returns the servers' replies (distinct GUIDs). */
async function sendForward(names: string[]): Promise<Array<{ guid: string; found: boolean; cids: number[] }>> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  s.setMulticastInterface('127.0.0.1');
  const replies = new Map<string, { guid: string; found: boolean; cids: number[] }>();
  s.on('message', (msg) => {
    for (const f of framesOfDatagram(msg)) {
      if (f instanceof ProtocolError) continue;
      const m = decodeMessage(f);
      if (!(m instanceof ProtocolError) && m.type === 'searchResponse') {
        replies.set(m.guid.toString('hex'), { guid: m.guid.toString('hex'), found: m.found, cids: m.cids });
      }
    }
  });
  const w = new Writer(false, 256);
  encodeMessage(w, { type: 'originTag', address: '127.0.0.1' });
  encodeMessage(w, {
    type: 'search',
    sequence: 42,
    flags: 0,
    address: '127.0.0.1',
    port: s.address().port,
    protocols: ['tcp'],
    channels: names.map((name, i) => ({ cid: i + 1, name })),
  });
  for (let i = 0; i < 3 && replies.size < N; i++) {
    s.send(w.bytes(), UDP, '224.0.0.128');
    await new Promise((r) => setTimeout(r, 500));
  }
  s.close();
  return [...replies.values()];
}

main()
  .catch((e) => {
    result.error = String((e as Error).stack ?? e);
  })
  .finally(async () => {
    ioc?.kill('SIGKILL');
    for (const s of servers) await s.stop();
    result.logs = logs.map((l) => l.lines.filter((x) => /warn|error/i.test(x)));
    process.stdout.write(`${JSON.stringify(result)}\n`);
    process.exit(0);
  });
