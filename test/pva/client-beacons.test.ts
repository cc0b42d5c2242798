// Server beacons in the client: a restarted or new server is searched for at once, instead of after
// the search backoff. Loopback only: servers beacon to 127.255.255.255 (loopback's broadcast
// address), where the client listens on the search port without taking unicast searches from the
// servers that share it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BEACON_GAP_MS, BeaconTracker } from '../../src/pva/client/beacons.ts';
import type { MonitorEvent, PvaClient } from '../../src/pva/client/index.ts';
import { newClient, sleep, startServer, until, type Fixture } from '../cli/fixtures.ts';
import { freeUdpPort } from '../util/net.ts';

const LOOPBACK_BROADCAST = { host: '127.255.255.255', port: 0 }; // port 0: the server's own UDP port

describe('BeaconTracker', () => {
  const g1 = Buffer.alloc(12, 1);
  const g2 = Buffer.alloc(12, 2);

  it('new server, same server, restarted (new GUID), back after a silence', () => {
    const t = new BeaconTracker();
    assert.equal(t.heard('127.0.0.1:5075', g1, 1000), 'new');
    assert.equal(t.heard('127.0.0.1:5075', g1, 16_000), 'same');
    assert.equal(t.heard('127.0.0.1:5076', g1, 16_000), 'new'); // another server
    assert.equal(t.heard('127.0.0.1:5075', g2, 17_000), 'restarted');
    assert.equal(t.heard('127.0.0.1:5075', g2, 17_000 + BEACON_GAP_MS), 'same');
    assert.equal(t.heard('127.0.0.1:5075', g2, 17_001 + 2 * BEACON_GAP_MS), 'returned');
    assert.equal(t.size, 2);
  });

  it('remembers a bounded number of servers, forgetting the least recently heard', () => {
    const t = new BeaconTracker(BEACON_GAP_MS, 3);
    for (const s of ['a:1', 'b:1', 'c:1']) assert.equal(t.heard(s, g1, 0), 'new');
    assert.equal(t.heard('a:1', g1, 10), 'same'); // a is now the most recent
    assert.equal(t.heard('d:1', g1, 20), 'new'); // b, the least recent, goes
    assert.equal(t.size, 3);
    assert.equal(t.heard('a:1', g1, 30), 'same');
    assert.equal(t.heard('b:1', g1, 40), 'new');
  });
});

/**
 * Restarts the server a monitor is connected to and measures, from the restart, how long the
 * monitor takes to be connected again. The client searches with a long, fixed backoff.
 */
async function reconnectAfterRestart(opts: { beacons: boolean; backoffMs: number }): Promise<{ ms: number; client: PvaClient }> {
  const beaconAddrs = opts.beacons ? [LOOPBACK_BROADCAST] : [];
  // a named port: servers share it (SO_REUSEADDR) with others, such as the client's beacon listener
  let fx: Fixture = await startServer({ udpPort: await freeUdpPort(), beaconAddrs, beaconPeriodMs: 200 });
  const { tcpPort, udpPort } = fx.server;
  // the client listens for beacons on the servers' search port, as it does by default
  const client = newClient(udpPort, { searchInterval: opts.backoffMs, searchMaxInterval: opts.backoffMs, timeout: 5 });
  const events: Array<{ type: MonitorEvent['type']; at: number }> = [];
  const values: number[] = [];
  const sub = client.monitor('test:mon', (v) => void values.push(v.get('value') as number), {
    onEvent: (e) => events.push({ type: e.type, at: Date.now() }),
  });
  try {
    await until(() => values.length >= 1, 5000, 'first update');
    await fx.server.stop();
    await until(() => events.some((e) => e.type === 'disconnected'), 5000, 'disconnect');
    // the client searches once at once, then waits out its backoff; restart inside that wait
    await sleep(300);
    const restart = Date.now();
    fx = await startServer({ tcpPort, udpPort, beaconAddrs, beaconPeriodMs: 200, initial: 6.5 });
    await until(() => events.filter((e) => e.type === 'connected').length >= 2, opts.backoffMs + 10_000, 'reconnect');
    const ms = events.filter((e) => e.type === 'connected')[1].at - restart;
    // and it really is back: the new server's updates arrive
    fx.pvs.mon.post({ value: 12 });
    await until(() => values.includes(12), 5000, 'update from the restarted server');
    return { ms, client };
  } finally {
    sub.close();
    client.close();
    await fx.server.stop();
  }
}

describe('PvaClient and server beacons (loopback)', () => {
  const BACKOFF = 6000;

  it('listens for beacons on loopback broadcast only, on the search port', async () => {
    const fx = await startServer({ udpPort: await freeUdpPort() });
    const client = newClient(fx.server.udpPort);
    try {
      assert.equal((await client.get('test:ai')).get('value'), 3.25);
      await until(() => client.beaconListeners.length > 0, 3000, 'the beacon listener');
      assert.deepEqual(client.beaconListeners, [`127.255.255.255:${fx.server.udpPort}`]);
      // bound after the server on its port, it takes none of the unicast searches meant for it
      const other = newClient(fx.server.udpPort, { beacons: false });
      try {
        assert.equal((await other.get('test:str')).get('value'), 'hello');
      } finally {
        other.close();
      }
    } finally {
      client.close();
      await fx.server.stop();
    }
    const off = newClient(1, { beacons: false });
    off.close();
    assert.deepEqual(off.beaconListeners, []);
  });

  it(`a restarted server is reconnected at once with beacons, after the ${BACKOFF / 1000} s search backoff without`, { timeout: 60_000 }, async () => {
    const without = await reconnectAfterRestart({ beacons: false, backoffMs: BACKOFF });
    const withBeacons = await reconnectAfterRestart({ beacons: true, backoffMs: BACKOFF });
    // without: the next search comes a backoff after the one made on disconnect (300 ms before the
    // restart); timers never fire early, so this bound holds however loaded the machine is
    assert.ok(without.ms >= BACKOFF - 300 - 100, `without beacons: reconnected ${without.ms} ms after the restart`);
    // with: the restarted server's first beacon (sent as it starts) triggers the search
    assert.ok(withBeacons.ms < BACKOFF / 3, `with beacons: reconnected ${withBeacons.ms} ms after the restart`);
  });

  it('a server seen for the first time: a channel searched for before it started is found at once', { timeout: 60_000 }, async () => {
    const udpPort = await freeUdpPort();
    const client = newClient(udpPort, { searchInterval: BACKOFF, searchMaxInterval: BACKOFF, timeout: 5 });
    let fx: Fixture | undefined;
    try {
      const pending = client.get('test:ai', { timeout: BACKOFF / 1000 + 10 });
      // the first search goes out at once and finds nothing; the next is a backoff away
      await until(() => client.beaconListeners.length > 0, 3000, 'the beacon listener');
      await sleep(300);
      const start = Date.now();
      fx = await startServer({ udpPort, beaconAddrs: [LOOPBACK_BROADCAST], beaconPeriodMs: 200 });
      assert.equal((await pending).get('value'), 3.25);
      const ms = Date.now() - start;
      assert.ok(ms < BACKOFF / 3, `found ${ms} ms after the server started`);
    } finally {
      client.close();
      await fx?.server.stop();
    }
  });
});
