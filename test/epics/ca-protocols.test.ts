// `protocols`: ['pva'] serves no Channel Access, ['ca'] no pvAccess (checked with real clients on
// the ports the missing protocol would have used), and ['ca'] alone still serves everything over CA.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { createConnection } from 'node:net';
import { PvaClient } from '../../src/pva/client/index.ts';
import { Device, LocalVariable, Root } from '../../src/tree/index.ts';
import { SKIP_PYEPICS, freeCaPort, freeTcpPort, freeUdpPort, havePyepics, py, serveCa } from './ca-util.ts';
import { rejectsMatching } from './util.ts';

function buildRoot(): Root {
  const root = new Root({ name: 'R', pollEn: false });
  const d = new Device({ name: 'D' });
  root.add(d);
  d.add(new LocalVariable({ name: 'x', typeStr: 'Float64', value: 1.25 }));
  return root;
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Whether a UDP port on 127.0.0.1 is bound (binding it ourselves fails). */
async function udpBound(port: number): Promise<boolean> {
  const u = createSocket('udp4');
  const bound = await new Promise<boolean>((r) => {
    u.once('error', () => r(true));
    u.bind(port, '127.0.0.1', () => r(false));
  });
  await new Promise<void>((r) => {
    try {
      u.close(() => r());
    } catch {
      r();
    }
  });
  return bound;
}

test("protocols ['pva']: no Channel Access server, nothing on the CA port", { timeout: 60000 }, async (t) => {
  const caPort = await freeCaPort();
  const s = await serveCa(buildRoot(), { protocols: ['pva'], ca: { port: caPort, interfaces: ['127.0.0.1'], beacons: false } });
  try {
    assert.equal(s.server.caServer, undefined);
    assert.ok(s.server.pvaServer);
    assert.equal((await s.client!.get('test:R:D:x')).get('value'), 1.25, 'pvAccess serves');
    assert.equal(await tcpOpen(caPort), false, 'no CA TCP listener');
    assert.equal(await udpBound(caPort), false, 'no CA UDP responder');
    if (!havePyepics) return t.skip(SKIP_PYEPICS);
    const { o } = await py(caPort, `print(json.dumps({'x': j(epics.caget('test:R:D:x', timeout=1.5))}))`, 30000);
    assert.equal(o.x, null, 'a CA client finds nothing');
  } finally {
    await s.close();
  }
});

test("protocols ['ca']: no pvAccess server; CA serves", { timeout: 60000 }, async (t) => {
  const tcp = await freeTcpPort();
  const udp = await freeUdpPort();
  const s = await serveCa(buildRoot(), {
    protocols: ['ca'],
    pva: { tcpPort: tcp, udpPort: udp, interfaces: ['127.0.0.1'], beaconAddrs: [] },
  });
  const client = new PvaClient({ addrList: [`127.0.0.1:${udp}`], autoAddrList: false, nameServers: [], timeout: 1 });
  try {
    assert.equal(s.server.pvaServer, undefined);
    assert.equal(s.client, undefined);
    assert.ok(s.server.caServer);
    assert.equal(await tcpOpen(tcp), false, 'no pvAccess TCP listener');
    assert.equal(await udpBound(udp), false, 'no pvAccess UDP responder');
    await rejectsMatching(client.get('test:R:D:x', { timeout: 1 }), /test:R:D:x/);
    if (!havePyepics) return t.skip(SKIP_PYEPICS);
    const { o } = await py(s.caPort, `print(json.dumps({'x': g('test:R:D:x'), 'put': p('test:R:D:x', 4.5), 'after': g('test:R:D:x')}))`, 30000);
    assert.equal(o.x, 1.25);
    assert.equal(o.put, 1);
    assert.equal(o.after, 4.5);
  } finally {
    client.close();
    await s.close();
  }
});
