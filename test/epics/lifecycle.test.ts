// Lifecycle: the server starts only with a running Root, stops with it (port closed, clients
// disconnected) and serves again when the Root restarts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Device, LocalVariable, Root } from '../../src/tree/index.ts';
import { EpicsPvServer } from '../../src/epics/index.ts';
import { PvaClient } from '../../src/pva/client/index.ts';
import { memoryLogger } from '../../src/pva/server/index.ts';
import { serve } from './harness.ts';
import { collect, rejectsMatching, waitUntil } from './util.ts';

function buildRoot(): Root {
  const root = new Root({ name: 'R', pollEn: false });
  const d = new Device({ name: 'D' });
  root.add(d);
  d.add(new LocalVariable({ name: 'v', typeStr: 'Int32', value: 1 }));
  return root;
}

const pvaOpts = { tcpPort: 0, udpPort: 0, interfaces: ['127.0.0.1'], beaconAddrs: [] };

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    sock.once('connect', () => {
      sock.destroy();
      resolve(false);
    });
    sock.once('error', () => resolve(true));
  });
}

test('start() on a Root that is not running rejects with a clear error', async () => {
  const root = buildRoot();
  const server = new EpicsPvServer({ base: 'test', root, protocols: ['pva'], logger: memoryLogger(), pva: pvaOpts });
  await assert.rejects(server.start(), /Root is not running/);
  assert.equal(server.pvaServer, undefined, 'nothing was bound');
  assert.equal(server.holder('test:R:D:v'), undefined);
});

test('start() by a different Root rejects', async () => {
  const root = buildRoot();
  const other = new Root({ name: 'Other', pollEn: false });
  const server = new EpicsPvServer({ base: 'test', root, protocols: ['pva'], logger: memoryLogger(), pva: pvaOpts });
  await assert.rejects(server.start(other), /different Root/);
});

test('after root.stop() the port is closed, gets fail and monitors see a disconnect', async () => {
  const root = buildRoot();
  const s = await serve(root);
  const mon = collect(s.client, 'test:R:D:v');
  try {
    await mon.next();
    assert.equal((await s.client.get('test:R:D:v')).get('value'), 1);
    const port = s.server.pvaServer!.tcpPort;
    assert.equal(await refused(port), false, 'listening while running');

    await root.stop();
    assert.equal(root.running, false);
    assert.equal(s.server.pvaServer, undefined);
    assert.equal(s.server.holder('test:R:D:v'), undefined);
    assert.equal(await refused(port), true, 'port closed after stop');
    await waitUntil(() => mon.events.some((e) => e.type === 'disconnected'), 'a disconnected event');
    await rejectsMatching(s.client.get('test:R:D:v', { timeout: 0.3 }), /test:R:D:v/);

    // the tree keeps working without the server's listeners
    await (root.getNode('R.D.v') as LocalVariable).set(5);
  } finally {
    mon.close();
    s.client.close();
    if (root.running) await root.stop();
  }
});

test('a restarted Root serves again, with the current values', async () => {
  const root = buildRoot();
  const s = await serve(root);
  let client2: PvaClient | undefined;
  try {
    assert.equal((await s.client.get('test:R:D:v')).get('value'), 1);
    await root.stop();
    s.client.close();
    await (root.getNode('R.D.v') as LocalVariable).set(8);

    await root.start();
    assert.ok(s.server.pvaServer, 'the server started again with the Root');
    const udp = s.server.pvaServer!.udpPort;
    client2 = new PvaClient({ addrList: [`127.0.0.1:${udp}`], autoAddrList: false, nameServers: [], timeout: 3 });
    assert.equal((await client2.get('test:R:D:v')).get('value'), 8);
    const mon = collect(client2, 'test:R:D:v');
    try {
      await mon.next();
      const from = mon.values.length;
      await (root.getNode('R.D.v') as LocalVariable).set(9);
      assert.equal((await mon.next((v) => v.get('value') === 9, from)).get('value'), 9, 'tree updates reach the new server');
      await client2.put('test:R:D:v', 10);
      assert.equal((root.getNode('R.D.v') as LocalVariable).value, 10);
    } finally {
      mon.close();
    }
  } finally {
    client2?.close();
    if (root.running) await root.stop();
  }
});

test('stopping twice and stopping a never-started server are harmless: the server starts and serves afterwards', async () => {
  // never started, stopped: nothing bound, and the server still starts with its Root
  const root = buildRoot();
  const server = new EpicsPvServer({ base: 'test', root, protocols: ['pva'], logger: memoryLogger(), pva: pvaOpts });
  const bound = () => server.pvaServer; // read afresh each time (no narrowing across stops and starts)
  await server.stop();
  assert.equal(bound(), undefined);
  root.addProtocol(server);
  await root.start();
  let client: PvaClient | undefined;
  try {
    const first = bound();
    assert.ok(first, 'started after a stop that had nothing to stop');
    const udp = first.udpPort;
    client = new PvaClient({ addrList: [`127.0.0.1:${udp}`], autoAddrList: false, nameServers: [], timeout: 3 });
    assert.equal((await client.get('test:R:D:v')).get('value'), 1);
    client.close();

    // stopped twice: the port is closed once, the second stop changes nothing, a restart serves again
    const port = first.tcpPort;
    await root.stop();
    await server.stop();
    assert.equal(bound(), undefined);
    assert.equal(server.holder('test:R:D:v'), undefined);
    assert.equal(await refused(port), true, 'port closed');
    await root.start();
    const again = bound();
    assert.ok(again, 'started again after two stops');
    client = new PvaClient({ addrList: [`127.0.0.1:${again.udpPort}`], autoAddrList: false, nameServers: [], timeout: 3 });
    assert.equal((await client.get('test:R:D:v')).get('value'), 1);
  } finally {
    client?.close();
    if (root.running) await root.stop();
  }
});
