// PvaServer over real loopback sockets: slow and vanishing clients, port fallback, env config,
// beacons, the built-in `server` PV, dynamic sources.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { connect, createServer, type Socket } from 'node:net';
import { Framer, framesOfDatagram } from '../../src/pva/framer.ts';
import { ProtocolError, decodeMessage, encodeMessage, encodeOpRequest, type PvaMessage } from '../../src/pva/messages.ts';
import { Cmd } from '../../src/pva/protocol.ts';
import { BitSet, PVStructure, Writer, parseRequest, type Structure, type TypeCache } from '../../src/pvdata/index.ts';
import { ntScalar, ntScalarArray } from '../../src/pvdata/nt.ts';
import {
  DynamicSource,
  PvaServer,
  SharedPV,
  memoryLogger,
  serverConfig,
  type PvaServerOptions,
  type ServerConnection,
} from '../../src/pva/server/index.ts';
import { PvaClient } from '../../src/pva/client/index.ts';
import { until } from '../cli/fixtures.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const LOOPBACK_ENV = {
  EPICS_PVAS_INTF_ADDR_LIST: '127.0.0.1',
  EPICS_PVAS_AUTO_BEACON_ADDR_LIST: 'NO',
  EPICS_PVA_AUTO_ADDR_LIST: 'NO',
};

async function startServer(opts: PvaServerOptions = {}): Promise<{ server: PvaServer; log: ReturnType<typeof memoryLogger> }> {
  const log = memoryLogger();
  const server = new PvaServer({ tcpPort: 0, udpPort: 0, interfaces: ['127.0.0.1'], beaconAddrs: [], logger: log, env: LOOPBACK_ENV, ...opts });
  await server.start();
  return { server, log };
}

function clientFor(server: PvaServer): PvaClient {
  return new PvaClient({ addrList: [`127.0.0.1:${server.udpPort}`], autoAddrList: false, broadcastPort: server.udpPort, nameServers: [], timeout: 3 });
}

const connsOf = (server: PvaServer) => (server as unknown as { conns: Set<ServerConnection> }).conns;
const queuedOf = (c: ServerConnection) => (c as unknown as { sink: { bufferedBytes(): number } }).sink.bufferedBytes();

/** A hand-driven client on a raw socket, so a test can stop reading or vanish. */
class RawClient {
  readonly sock: Socket;
  readonly msgs: PvaMessage[] = [];
  private readonly framer = new Framer();
  private readonly cache: TypeCache = new Map();
  private readonly types = new Map<number, Structure>();
  bytes = 0;

  constructor(port: number) {
    this.sock = connect(port, '127.0.0.1');
    this.sock.on('error', () => {});
    this.sock.on('data', (d) => {
      this.bytes += d.length;
      for (const f of this.framer.push(d)) {
        if (f instanceof ProtocolError) throw new Error(String(f));
        const m = decodeMessage(f, { cache: this.cache, opTypes: (i) => (this.types.has(i) ? { get: this.types.get(i) } : undefined) });
        if (m instanceof ProtocolError) throw new Error(String(m));
        if (m.type === 'opResponse' && m.subcmd & 0x08 && m.fieldType) this.types.set(m.ioid, m.fieldType);
        this.msgs.push(m);
      }
    });
  }

  send(fn: (w: Writer) => void): void {
    const w = new Writer(true, 256);
    fn(w);
    this.sock.write(w.toBuffer());
  }

  async until<T extends PvaMessage>(pred: (m: PvaMessage) => m is T, ms = 2000): Promise<T> {
    const end = Date.now() + ms;
    for (;;) {
      const m = this.msgs.find(pred);
      if (m) return m;
      if (Date.now() > end) throw new Error('timed out waiting for a message');
      await sleep(5);
    }
  }

  /** Handshake, channel, monitor started; resolves once the first update arrived. */
  async monitor(name: string, ioid = 1): Promise<void> {
    await new Promise<void>((res, rej) => this.sock.once('connect', res).once('error', rej));
    this.send((w) => encodeMessage(w, { type: 'validationReply', bufferSize: 0x10000, registrySize: 0x7fff, qos: 0, method: 'anonymous', data: null }));
    this.send((w) => encodeMessage(w, { type: 'createChannel', channels: [{ cid: 1, name }] }));
    const cr = await this.until((m): m is Extract<PvaMessage, { type: 'createChannelResponse' }> => m.type === 'createChannelResponse');
    assert.equal(cr.status.type, 0);
    this.send((w) => encodeOpRequest(w, { command: Cmd.MONITOR, sid: cr.sid, ioid, subcmd: 0x08, pvRequest: parseRequest('') }));
    this.send((w) => encodeOpRequest(w, { command: Cmd.MONITOR, sid: cr.sid, ioid, subcmd: 0x44 }));
    await this.until((m): m is PvaMessage => m.type === 'opResponse' && m.command === Cmd.MONITOR && !!m.value);
  }
}

test('a stalled client does not hold up another; its queued bytes stay bounded', async () => {
  // Properties only, no rates (those are in bench/pva.ts `stalled`): while one client has stopped
  // reading, every update still reaches the other one, and the server's queue for the stalled one
  // stays below its limit plus one update.
  const LIMIT = 512 * 1024;
  const { server } = await startServer({ sendQueueLimit: LIMIT });
  const N = 32 * 1024; // 256 KB per update
  const pv = new SharedPV();
  pv.open(new PVStructure(ntScalarArray('double'), { value: new Float64Array(N) }));
  server.addPV('fast', pv);

  const stalled = new RawClient(server.tcpPort);
  await stalled.monitor('fast');
  const client = clientFor(server);
  let lastSeen = -1;
  const sub = client.monitor('fast', (v) => {
    lastSeen = (v.get('value') as Float64Array)[0];
  }, { server: `127.0.0.1:${server.tcpPort}` });
  await until(() => lastSeen >= 0, 5000, 'the fast client’s first update');
  stalled.sock.pause();
  const stalledConn = [...connsOf(server)].find((c) => c.peer.endsWith(`:${stalled.sock.localPort}`));
  assert.ok(stalledConn, 'found the stalled connection');

  let posted = 0;
  let maxQueued = 0;
  const arr = new Float64Array(N);
  const post = () => {
    arr[0] = ++posted;
    pv.post({ value: arr });
  };
  const watchQueue = () => {
    if (!stalledConn.isClosed) maxQueued = Math.max(maxQueued, queuedOf(stalledConn));
  };
  // post until the server holds bytes of its own for the stalled client (the kernel buffers are full)
  const deadline = Date.now() + 20000;
  while (queuedOf(stalledConn) === 0) {
    assert.ok(Date.now() < deadline, 'the stalled client never fell behind');
    post();
    await new Promise((r) => setImmediate(r));
    watchQueue();
  }
  // now in lock step: every update reaches the fast client while the other stays stalled
  for (let k = 0; k < 30; k++) {
    post();
    const want = posted;
    await until(() => {
      watchQueue();
      return lastSeen === want;
    }, 5000, `the fast client to see update ${want}`);
  }
  assert.equal(stalledConn.isClosed, false, 'squashing keeps the stalled client below the hard limit');
  assert.ok(maxQueued > 0, 'the stalled client did fall behind');
  // bounded: the soft limit plus what one tick can add (one update)
  assert.ok(maxQueued < LIMIT + 2 * N * 8 + 4096, `stalled queue ${maxQueued} bytes`);
  // the stalled client resumes and catches up to the latest value
  const before = stalled.msgs.length;
  stalled.sock.resume();
  const end = Date.now() + 10000;
  for (;;) {
    const ups = stalled.msgs.slice(before).filter((m) => m.type === 'opResponse' && m.value);
    const last = ups.at(-1);
    if (last && last.type === 'opResponse' && (last.value!.get('value') as Float64Array)[0] === posted) {
      assert.ok(last.overrun && !last.overrun.isEmpty(), 'squashed update carries overrun bits');
      break;
    }
    assert.ok(Date.now() < end, 'stalled client catches up');
    await sleep(10);
  }
  sub.close();
  client.close();
  stalled.sock.destroy();
  await server.stop();
});

test('a small send queue limit (below the socket high-water mark) still resumes a stalled client', async () => {
  const LIMIT = 4096;
  const { server } = await startServer({ sendQueueLimit: LIMIT });
  const pv = new SharedPV();
  const N = 1024; // 8 KB updates: above the limit, below the socket's 16 KB high-water mark
  pv.open(new PVStructure(ntScalarArray('double'), { value: new Float64Array(N) }));
  server.addPV('small', pv);
  const raw = new RawClient(server.tcpPort);
  await raw.monitor('small');
  raw.sock.pause();
  const arr = new Float64Array(N);
  let posted = 0;
  let conn: ServerConnection | undefined;
  // fill the kernel buffers until the server holds bytes of its own, then post a little more
  const end = Date.now() + 5000;
  let extra = 0;
  while (Date.now() < end && extra < 20) {
    arr[0] = ++posted;
    pv.post({ value: arr });
    await new Promise((r) => setImmediate(r));
    conn ??= [...connsOf(server)][0];
    if (conn && queuedOf(conn) > 0) extra++;
  }
  assert.ok(extra >= 20, 'the stalled client fell behind');
  raw.sock.resume();
  const until = Date.now() + 3000;
  for (;;) {
    const last = raw.msgs.filter((m) => m.type === 'opResponse' && m.value).at(-1);
    if (last && last.type === 'opResponse' && (last.value!.get('value') as Float64Array)[0] === posted) break;
    assert.ok(Date.now() < until, `stalled client never got the latest value (${posted})`);
    await sleep(10);
  }
  raw.sock.destroy();
  await server.stop();
});

test('a client past the hard limit is closed with a log line', async () => {
  const LIMIT = 16 * 1024;
  const { server, log } = await startServer({ sendQueueLimit: LIMIT });
  const pv = new SharedPV();
  pv.open(new PVStructure(ntScalarArray('double'), { value: new Float64Array(64 * 1024) }));
  server.addPV('big', pv);
  const raw = new RawClient(server.tcpPort);
  await raw.monitor('big');
  raw.sock.pause();
  // GET replies are not squashed: keep asking without reading until the server gives up
  const cr = raw.msgs.find((m) => m.type === 'createChannelResponse') as { sid: number };
  raw.send((w) => encodeOpRequest(w, { command: Cmd.GET, sid: cr.sid, ioid: 7, subcmd: 0x08, pvRequest: parseRequest('') }));
  const end = Date.now() + 5000;
  while (connsOf(server).size > 0 && Date.now() < end) {
    raw.send((w) => encodeOpRequest(w, { command: Cmd.GET, sid: cr.sid, ioid: 7, subcmd: 0x00 }));
    await sleep(2);
  }
  assert.equal(connsOf(server).size, 0, 'connection closed');
  assert.ok(log.lines.some((l) => /not reading/.test(l)), log.lines.join('\n'));
  raw.sock.destroy();
  await server.stop();
});

test('a client vanishing mid-operation does not disturb others', async () => {
  const { server } = await startServer();
  const pv = new SharedPV({ onPut: async (p, put) => { await sleep(50); p.post(put.value, put.changed); } });
  pv.open(new PVStructure(ntScalar('int'), { value: 0 }));
  server.addPV('cnt', pv);
  const client = clientFor(server);
  const seen: number[] = [];
  const sub = client.monitor('cnt', (v) => void seen.push(v.get('value') as number), { server: `127.0.0.1:${server.tcpPort}` });
  const doomed = new RawClient(server.tcpPort);
  await doomed.monitor('cnt');
  while (!seen.length) await sleep(5);
  assert.equal(pv.subscriberCount, 2);
  // start a slow put, then vanish before it completes
  const cr = doomed.msgs.find((m) => m.type === 'createChannelResponse') as { sid: number };
  doomed.send((w) => encodeOpRequest(w, { command: Cmd.PUT, sid: cr.sid, ioid: 2, subcmd: 0x08, pvRequest: parseRequest('') }));
  await sleep(20);
  doomed.send((w) => encodeOpRequest(w, { command: Cmd.PUT, sid: cr.sid, ioid: 2, subcmd: 0x00, value: new PVStructure(pv.type!, { value: 99 }), changed: BitSet.of(1) }));
  // and a half-sent message
  doomed.sock.write(Buffer.from([0xca, 0x02, 0x00, 0x0a, 100, 0, 0, 0, 1, 2]));
  await sleep(5);
  doomed.sock.destroy();
  for (let i = 1; i <= 5; i++) {
    pv.post({ value: i });
    await sleep(20);
  }
  await until(() => seen.includes(5), 5000, `the other client to keep receiving (${seen})`);
  await until(() => server.connectionCount === 1, 5000, 'the server to notice the vanished client');
  assert.equal(pv.subscriberCount, 1, 'the vanished client’s subscription is gone');
  assert.equal(pv.channelCount, 1);
  assert.equal(server.connectionCount, 1);
  assert.equal(await client.get('cnt', { server: `127.0.0.1:${server.tcpPort}` }).then((v) => v.get('value')), pv.current.get('value'));
  sub.close();
  client.close();
  await server.stop();
});

test('TCP port taken: falls back to an ephemeral port and reports it', async () => {
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  const taken = (blocker.address() as { port: number }).port;
  const { server, log } = await startServer({ tcpPort: taken });
  try {
    assert.notEqual(server.tcpPort, taken);
    assert.ok(server.tcpPort > 0);
    assert.ok(log.lines.some((l) => l.includes(`${taken} in use`)), log.lines.join('\n'));
    assert.ok(log.lines.some((l) => l.includes(`TCP ${server.tcpPort}`)), 'the bound port is reported');
    // and it serves there
    const client = clientFor(server);
    const v = await client.rpc('server', { op: 'info' }, { server: `127.0.0.1:${server.tcpPort}` });
    assert.equal(v.get('implLang'), 'typescript');
    client.close();
  } finally {
    await server.stop();
    blocker.close();
  }
});

test('env config: ports, interfaces and beacon lists resolve as documented', () => {
  const c = serverConfig({}, {
    EPICS_PVAS_SERVER_PORT: '15075',
    EPICS_PVAS_BROADCAST_PORT: '15076',
    EPICS_PVAS_INTF_ADDR_LIST: '127.0.0.1',
    EPICS_PVAS_BEACON_ADDR_LIST: '127.0.0.1 127.0.0.2:9999',
    EPICS_PVAS_AUTO_BEACON_ADDR_LIST: 'NO',
    EPICS_PVAS_BEACON_PERIOD: '3',
    EPICS_PVAS_IGNORE_ADDR_LIST: '10.0.0.1:5076',
  });
  assert.equal(c.tcpPort, 15075);
  assert.equal(c.udpPort, 15076);
  assert.deepEqual(c.interfaces, ['127.0.0.1']);
  assert.deepEqual(c.beaconAddrs, [{ host: '127.0.0.1', port: 15076 }, { host: '127.0.0.2', port: 9999 }]);
  assert.equal(c.beaconPeriodMs, 3000);
  assert.deepEqual(c.ignoreAddrs, ['10.0.0.1']);
  // EPICS_PVA_* fallbacks, defaults
  const d = serverConfig({}, { EPICS_PVA_SERVER_PORT: '25075', EPICS_PVA_BROADCAST_PORT: '25076', EPICS_PVA_ADDR_LIST: '127.0.0.3', EPICS_PVA_AUTO_ADDR_LIST: 'NO' });
  assert.equal(d.tcpPort, 25075);
  assert.equal(d.udpPort, 25076);
  assert.deepEqual(d.interfaces, ['0.0.0.0']);
  assert.deepEqual(d.beaconAddrs, [{ host: '127.0.0.3', port: 25076 }]);
  const e = serverConfig({}, {});
  assert.equal(e.tcpPort, 5075);
  assert.equal(e.udpPort, 5076);
  // explicit options win over the environment
  const o = serverConfig({ tcpPort: 0, beaconAddrs: [] }, { EPICS_PVAS_SERVER_PORT: '15075', EPICS_PVAS_BEACON_ADDR_LIST: '1.2.3.4' });
  assert.equal(o.tcpPort, 0);
  assert.deepEqual(o.beaconAddrs, []);
});

test('env config passed to PvaServer is used to bind', async () => {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const free = (probe.address() as { port: number }).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const log = memoryLogger();
  const server = new PvaServer({
    logger: log,
    env: {
      EPICS_PVAS_SERVER_PORT: String(free),
      EPICS_PVAS_BROADCAST_PORT: '0',
      EPICS_PVAS_INTF_ADDR_LIST: '127.0.0.1',
      EPICS_PVAS_BEACON_ADDR_LIST: '',
      EPICS_PVAS_AUTO_BEACON_ADDR_LIST: 'NO',
    },
  });
  assert.deepEqual(server.config.beaconAddrs, []);
  await server.start();
  try {
    assert.equal(server.tcpPort, free);
    assert.ok(server.udpPort > 0);
    assert.deepEqual(server.config.interfaces, ['127.0.0.1']);
  } finally {
    await server.stop();
  }
});

test('beacons arrive at a 127.0.0.1 UDP listener', async () => {
  const rx = createSocket('udp4');
  await new Promise<void>((r) => rx.bind(0, '127.0.0.1', r));
  const port = rx.address().port;
  const beacons: PvaMessage[] = [];
  rx.on('message', (msg) => {
    for (const f of framesOfDatagram(msg)) {
      if (f instanceof ProtocolError) continue;
      const m = decodeMessage(f);
      if (!(m instanceof ProtocolError)) beacons.push(m);
    }
  });
  const { server } = await startServer({ beaconAddrs: [{ host: '127.0.0.1', port }], beaconPeriodMs: 100 });
  try {
    const end = Date.now() + 2000;
    while (beacons.length < 2 && Date.now() < end) await sleep(10);
    assert.ok(beacons.length >= 2, `beacons: ${beacons.length}`);
    const b = beacons[0];
    assert.ok(b.type === 'beacon');
    assert.ok(b.guid.equals(server.guid));
    assert.equal(b.port, server.tcpPort);
    assert.equal(b.protocol, 'tcp');
    const b2 = beacons[1];
    assert.ok(b2.type === 'beacon');
    assert.equal(b2.sequence, (b.sequence + 1) & 0xff, 'sequence counts up');
  } finally {
    await server.stop();
    rx.close();
  }
});

test('the built-in server PV answers op=channels and op=info', async () => {
  const { server } = await startServer();
  const pv = new SharedPV();
  pv.open(new PVStructure(ntScalar('double'), { value: 1 }));
  server.addPV('b:two', pv).addPV('a:one', pv);
  const client = clientFor(server);
  try {
    const at = `127.0.0.1:${server.tcpPort}`;
    assert.deepEqual(await client.list(at), ['a:one', 'b:two']);
    const info = await client.rpc('server', { op: 'info' }, { server: at });
    assert.equal(info.get('implLang'), 'typescript');
    assert.equal(info.get('process'), String(process.pid));
    assert.match(String(info.get('version')), /pvtree/);
    await assert.rejects(client.rpc('server', { op: 'bogus' }, { server: at }), /unknown op/);
    // found by search too
    assert.deepEqual(await client.list(), ['a:one', 'b:two']);
  } finally {
    client.close();
    await server.stop();
  }
});

test('DynamicSource claims names on search and builds PVs on connect', async () => {
  const { server } = await startServer();
  const claimed: string[] = [];
  const created: string[] = [];
  const src = new DynamicSource(
    (name) => {
      claimed.push(name);
      return name.startsWith('dyn:');
    },
    (name) => {
      created.push(name);
      const pv = new SharedPV();
      pv.open(new PVStructure(ntScalar('string'), { value: `I am ${name}` }));
      return pv;
    },
  );
  server.addSource(src);
  // a UDP search straight at the server
  const rx = createSocket('udp4');
  await new Promise<void>((r) => rx.bind(0, '127.0.0.1', r));
  const replies: PvaMessage[] = [];
  rx.on('message', (msg) => {
    for (const f of framesOfDatagram(msg)) if (!(f instanceof ProtocolError)) {
      const m = decodeMessage(f);
      if (!(m instanceof ProtocolError)) replies.push(m);
    }
  });
  const w = new Writer(true, 128);
  encodeMessage(w, { type: 'search', sequence: 77, flags: 0x80, address: '127.0.0.1', port: rx.address().port, protocols: ['tcp'], channels: [{ cid: 5, name: 'dyn:a' }, { cid: 6, name: 'other:b' }] });
  rx.send(w.toBuffer(), server.udpPort, '127.0.0.1');
  const w2 = new Writer(true, 128);
  encodeMessage(w2, { type: 'search', sequence: 78, flags: 0x80, address: '127.0.0.1', port: rx.address().port, protocols: ['tcp'], channels: [{ cid: 7, name: 'other:c' }] });
  rx.send(w2.toBuffer(), server.udpPort, '127.0.0.1');
  // a third, answered search after the unanswered one: once its reply is here, a reply to 78 would be too
  const w3 = new Writer(true, 128);
  encodeMessage(w3, { type: 'search', sequence: 79, flags: 0x80, address: '127.0.0.1', port: rx.address().port, protocols: ['tcp'], channels: [{ cid: 8, name: 'dyn:z' }] });
  rx.send(w3.toBuffer(), server.udpPort, '127.0.0.1');
  await until(() => replies.some((m) => m.type === 'searchResponse' && m.sequence === 79), 5000, 'the reply to search 79');
  assert.deepEqual(
    replies.map((m) => (m.type === 'searchResponse' ? m.sequence : m.type)),
    [77, 79],
    'only the searches with a claimed name are answered',
  );
  const r = replies[0];
  assert.ok(r.type === 'searchResponse');
  assert.equal(r.sequence, 77);
  assert.equal(r.found, true);
  assert.deepEqual(r.cids, [5]);
  assert.equal(r.port, server.tcpPort);
  assert.ok(claimed.includes('dyn:a') && claimed.includes('other:b'));
  assert.deepEqual(created, [], 'searching builds nothing');
  rx.close();
  // a client finds and reads it
  const client = clientFor(server);
  try {
    const v = await client.get('dyn:xyz');
    assert.equal(v.get('value'), 'I am dyn:xyz');
    assert.deepEqual(created, ['dyn:xyz']);
    await assert.rejects(client.get('nodyn:xyz', { timeout: 0.5 }), /not found|timeout/);
    assert.ok([...src.names()].includes('dyn:xyz'));
  } finally {
    client.close();
    await server.stop();
  }
});
