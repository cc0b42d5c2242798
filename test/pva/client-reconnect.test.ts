// Client resilience on loopback: server restart on the same ports (channels searched again,
// monitors resubscribed), and several servers found by one client.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Socket } from 'node:net';
import { Writer, STATUS_OK } from '../../src/pvdata/index.ts';
import { encodeMessage } from '../../src/pva/messages.ts';
import { PvaClient, type MonitorEvent } from '../../src/pva/client/index.ts';
import type { PVStructure } from '../../src/pvdata/index.ts';
import { newClient, sleep, startServer, until } from '../cli/fixtures.ts';

describe('PvaClient reconnect', () => {
  it('monitors resubscribe and gets work again when the server restarts on the same ports', async () => {
    let fx = await startServer();
    const tcpPort = fx.server.tcpPort;
    const udpPort = fx.server.udpPort;
    const client = newClient(udpPort);
    const values: number[] = [];
    const events: string[] = [];
    const sub = client.monitor('test:mon', (v: PVStructure) => void values.push(v.get('value') as number), {
      onEvent: (e: MonitorEvent) => events.push(e.type),
    });
    try {
      await until(() => values.length >= 1, 3000, 'first update');
      fx.pvs.mon.post({ value: 11 });
      await until(() => values.includes(11), 3000, 'update 11');
      assert.equal((await client.get('test:ai')).get('value'), 3.25);

      await fx.server.stop();
      await until(() => events.includes('disconnected'), 3000, 'disconnect event');
      // while down: operations wait, then time out with "not found"
      await assert.rejects(client.get('test:ai', { timeout: 0.2 }), { message: 'test:ai: not found (timeout 0.2 s)' });

      fx = await startServer({ tcpPort, udpPort, initial: 6.5 });
      assert.equal(fx.server.tcpPort, tcpPort);
      await until(() => events.filter((e) => e === 'connected').length >= 2, 5000, 'reconnect');
      await until(() => values.length >= 3, 3000, 'first update after resubscribe');
      assert.equal(values[2], 3.25); // the new server's mon starts at 3.25 again
      fx.pvs.mon.post({ value: 12 });
      await until(() => values.includes(12), 3000, 'update 12 from the new server');
      assert.equal((await client.get('test:ai')).get('value'), 6.5);
      assert.deepEqual(events, ['connected', 'disconnected', 'connected']);
    } finally {
      sub.close();
      client.close();
      await fx.server.stop();
    }
  });

  it('an operation in flight when the connection drops fails with the PV name', async () => {
    const fx = await startServer();
    const client = newClient(fx.server.udpPort);
    try {
      await client.get('test:ai');
      // a put whose handler never completes, then the server goes away
      fx.pvs.ro.handlers.onPut = () => new Promise<void>(() => {});
      const p = client.put('test:ro', 1, { timeout: 3 });
      await sleep(50);
      await fx.server.stop();
      await assert.rejects(p, /^PvaClientError: test:ro: disconnected from 127\.0\.0\.1:\d+/);
    } finally {
      client.close();
      await fx.server.stop();
    }
  });
});

describe('PvaClient keep-alive', () => {
  it('idle circuits stay up through echoes', async () => {
    const fx = await startServer();
    const client = newClient(fx.server.udpPort, { echoInterval: 0.1 });
    try {
      await client.get('test:ai');
      await sleep(500);
      assert.equal(fx.server.connectionCount, 1);
      assert.equal((await client.get('test:ai')).get('value'), 3.25);
      assert.equal(fx.server.connectionCount, 1);
    } finally {
      client.close();
      await fx.server.stop();
    }
  });

  it('a client that only receives (a monitor) still sends echoes, so a server that drops silent clients keeps it', async () => {
    const fx = await startServer();
    // a proxy in between counts what the client sends
    let fromClient = 0;
    const pipes = new Set<Socket>();
    const proxy = createServer((c) => {
      const s = connect(fx.server.tcpPort, '127.0.0.1');
      pipes.add(c).add(s);
      c.on('data', (d) => {
        fromClient += d.length;
        s.write(d);
      });
      s.on('data', (d) => c.write(d));
      for (const x of [c, s]) x.on('error', () => {});
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
    const at = `127.0.0.1:${(proxy.address() as { port: number }).port}`;
    const client = new PvaClient({ addrList: [], autoAddrList: false, echoInterval: 0.2 });
    let n = 0;
    const ticker = setInterval(() => fx.pvs.ai.post({ value: ++n }), 10);
    try {
      let got = 0;
      const sub = client.monitor('test:ai', () => void got++, { server: at });
      await until(() => got > 5, 5000, 'updates flowing');
      // updates keep arriving, so the client never waits for the server; what it sends now are echoes
      const before = fromClient;
      const t0 = Date.now();
      await until(() => Date.now() - t0 > 600 && got > 20, 5000, 'more updates');
      assert.ok(fromClient > before, 'the client sent echoes while only receiving');
      assert.ok(fromClient - before <= 8 * 10, `a few 8-byte echoes, not more (${fromClient - before} bytes)`);
      sub.close();
    } finally {
      clearInterval(ticker);
      client.close();
      for (const p of pipes) p.destroy();
      await new Promise<void>((r) => proxy.close(() => r()));
      await fx.server.stop();
    }
  });

  it('a server that goes silent is dropped and reconnected to', async () => {
    let connections = 0;
    const sockets = new Set<Socket>();
    const silent = createServer((s) => {
      connections++;
      sockets.add(s);
      const w = new Writer(true);
      encodeMessage(w, { type: 'setByteOrder', bigEndian: false });
      encodeMessage(w, { type: 'validationRequest', bufferSize: 65536, registrySize: 0x7fff, methods: ['anonymous'] });
      s.write(w.toBuffer());
      let validated = false;
      s.on('data', () => {
        if (validated) return; // ignore everything after the handshake, echoes included
        validated = true;
        const v = new Writer(true);
        encodeMessage(v, { type: 'validated', status: STATUS_OK });
        s.write(v.toBuffer());
      });
      s.on('error', () => {});
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const port = (silent.address() as { port: number }).port;
    const client = new PvaClient({ addrList: [], autoAddrList: false, nameServers: [], echoInterval: 0.1 });
    try {
      await assert.rejects(client.get('x:y', { server: `127.0.0.1:${port}`, timeout: 2 }), {
        message: `x:y: not connected to 127.0.0.1:${port} (timeout 2 s)`,
      });
      assert.ok(connections >= 2, `${connections} connections`);
    } finally {
      client.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });
});

describe('PvaClient with two servers on one host', () => {
  it('finds PVs on both through UDP search (each server its own UDP port)', async () => {
    const a = await startServer({ prefix: 'a:' });
    const b = await startServer({ prefix: 'b:', initial: 7 });
    const client = newClient([a.server.udpPort, b.server.udpPort]);
    try {
      const [va, vb] = await Promise.all([client.get('a:ai'), client.get('b:ai')]);
      assert.equal(va.get('value'), 3.25);
      assert.equal(vb.get('value'), 7);
      assert.equal(client.peerOf('a:ai'), `127.0.0.1:${a.server.tcpPort}`);
      assert.equal(client.peerOf('b:ai'), `127.0.0.1:${b.server.tcpPort}`);
    } finally {
      client.close();
      await a.server.stop();
      await b.server.stop();
    }
  });

  it('finds PVs on both through name servers (TCP search)', async () => {
    const a = await startServer({ prefix: 'a:' });
    const b = await startServer({ prefix: 'b:', initial: 7 });
    const client = new PvaClient({
      addrList: [],
      autoAddrList: false,
      nameServers: [`127.0.0.1:${a.server.tcpPort}`, `127.0.0.1:${b.server.tcpPort}`],
      timeout: 3,
      searchInterval: 50,
      searchMaxInterval: 250,
    });
    try {
      const [va, vb] = await Promise.all([client.get('a:ai'), client.get('b:ai')]);
      assert.equal(va.get('value'), 3.25);
      assert.equal(vb.get('value'), 7);
      // each name-server circuit is reused for its own PVs: one connection per server
      assert.equal(a.server.connectionCount, 1);
      assert.equal(b.server.connectionCount, 1);
      await assert.rejects(client.get('c:ai', { timeout: 0.3 }), { message: 'c:ai: not found (timeout 0.3 s)' });
    } finally {
      client.close();
      await a.server.stop();
      await b.server.stop();
    }
  });

  it('a second server binds the same UDP search port (SO_REUSEADDR); with name servers the client finds both', async () => {
    // What this does not test: finding both through UDP search alone (a unicast search reaches one
    // socket of a shared port); test/pva/multi-server.test.ts covers that.
    const a = await startServer({ prefix: 'a:' });
    const b = await startServer({ prefix: 'b:', udpPort: a.server.udpPort, initial: 7 }).catch(async (e: unknown) => {
      await a.server.stop();
      throw e;
    });
    assert.equal(b.server.udpPort, a.server.udpPort, 'both servers listen on one UDP port');
    assert.notEqual(b.server.tcpPort, a.server.tcpPort);
    const client = newClient(a.server.udpPort, { nameServers: [`127.0.0.1:${a.server.tcpPort}`, `127.0.0.1:${b.server.tcpPort}`] });
    try {
      const [va, vb] = await Promise.all([client.get('a:ai'), client.get('b:ai')]);
      assert.equal(va.get('value'), 3.25);
      assert.equal(vb.get('value'), 7);
      assert.equal(client.peerOf('a:ai'), `127.0.0.1:${a.server.tcpPort}`);
      assert.equal(client.peerOf('b:ai'), `127.0.0.1:${b.server.tcpPort}`);
    } finally {
      client.close();
      await a.server.stop();
      await b.server.stop();
    }
  });
});
