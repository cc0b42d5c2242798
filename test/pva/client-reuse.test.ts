// The client keeps initialized GET and PUT operations on a channel and executes them again: the
// second get or put with the same request is one round trip. Checked on the wire (a proxy between
// the client and pvtree's server decodes what the client sends), with concurrent calls, a PV whose
// type changes on the server, timeouts, disconnects and a reply that does not decode.
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { PvaClient, PvaClientError } from '../../src/pva/client/index.ts';
import { MAX_IDLE_OPS } from '../../src/pva/client/reuse.ts';
import { Framer } from '../../src/pva/framer.ts';
import { ProtocolError, encodeMessage, encodeOpResponse, isBigEndian, type PvaMessage } from '../../src/pva/messages.ts';
import { Cmd, SUB_INIT } from '../../src/pva/protocol.ts';
import { PvaServer, SharedPV, memoryLogger } from '../../src/pva/server/index.ts';
import { PVStructure, STATUS_OK, Writer, ntEnum, ntScalar } from '../../src/pvdata/index.ts';
import { sleep, until } from '../cli/fixtures.ts';
import { onClientMessages } from './scripted-server.ts';

/** What the client sent for an operation, as the proxy saw it. */
interface WireOp {
  conn: number;
  kind: 'get' | 'put' | 'destroy';
  sid: number;
  ioid: number;
  subcmd: number;
}

/** A TCP proxy in front of a server that records the client's GET, PUT and DESTROY_REQUEST messages. */
class Proxy {
  readonly ops: WireOp[] = [];
  connections = 0;
  private readonly pipes = new Set<Socket>();
  private server!: Server;
  port = 0;

  constructor(private readonly target: number) {}

  async start(): Promise<void> {
    this.server = createServer((c) => {
      const conn = ++this.connections;
      const s = connect(this.target, '127.0.0.1');
      this.pipes.add(c).add(s);
      // no Nagle delay in either direction (it would hold small messages back for a delayed ACK)
      c.setNoDelay(true);
      s.setNoDelay(true);
      const framer = new Framer();
      c.on('data', (d) => {
        for (const f of framer.push(d)) {
          if (f instanceof ProtocolError || f.payload.length < 8) continue;
          const be = isBigEndian(f);
          const u32 = (o: number) => (be ? f.payload.readUInt32BE(o) : f.payload.readUInt32LE(o));
          const kind = f.command === Cmd.GET ? 'get' : f.command === Cmd.PUT ? 'put' : f.command === Cmd.DESTROY_REQUEST ? 'destroy' : undefined;
          if (kind) this.ops.push({ conn, kind, sid: u32(0), ioid: u32(4), subcmd: kind === 'destroy' ? 0 : f.payload[8] });
        }
        s.write(d);
      });
      s.on('data', (d) => c.write(d));
      const end = () => {
        c.destroy();
        s.destroy();
      };
      for (const x of [c, s]) {
        x.on('error', () => {});
        x.on('close', end);
      }
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    this.port = (this.server.address() as { port: number }).port;
  }

  /** INITs of `kind` seen so far. */
  inits(kind: 'get' | 'put'): WireOp[] {
    return this.ops.filter((o) => o.kind === kind && o.subcmd & SUB_INIT);
  }

  /** Executes (requests other than INIT) of `kind` seen so far. */
  executes(kind: 'get' | 'put'): WireOp[] {
    return this.ops.filter((o) => o.kind === kind && !(o.subcmd & SUB_INIT));
  }

  destroys(): WireOp[] {
    return this.ops.filter((o) => o.kind === 'destroy');
  }

  /** Operations the client initialized and has not destroyed, on connection `conn`. */
  open(conn = this.connections): number {
    const mine = this.ops.filter((o) => o.conn === conn);
    const inits = new Set(mine.filter((o) => o.kind !== 'destroy' && o.subcmd & SUB_INIT).map((o) => o.ioid));
    for (const o of mine) if (o.kind === 'destroy') inits.delete(o.ioid);
    return inits.size;
  }

  clear(): void {
    this.ops.length = 0;
  }

  /** Drops every connection (the client sees its circuit close). */
  cut(): void {
    for (const p of this.pipes) p.destroy();
    this.pipes.clear();
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

describe('PvaClient keeps GET/PUT operations for the next call', () => {
  let server: PvaServer;
  let proxy: Proxy;
  let client: PvaClient;
  let at: string;
  let gets = 0;
  /** Puts r:limited refused. */
  let refused = 0;
  /** Proxy connections before the test. */
  let conns0 = 0;
  /** While set, gets of r:slow wait until it resolves (`release`). */
  let hold: Promise<void> | undefined;
  let release: () => void = () => {};
  const dbl = () => new PVStructure(ntScalar('double', { display: true }), { value: 1.5, display: { units: 'V' } });
  const pvs = {
    ai: SharedPV.mailbox({
      onGet: (pv) => {
        gets++;
        pv.post({ value: gets });
      },
    }).open(dbl()),
    enum: SharedPV.mailbox().open(new PVStructure(ntEnum(), { value: { index: 1, choices: ['Zero', 'One', 'Two'] } })),
    chg: SharedPV.mailbox().open(dbl()),
    slow: SharedPV.mailbox({
      onGet: async () => {
        if (hold) await hold;
      },
    }).open(dbl()),
    limited: new SharedPV({
      onPut: (pv, put) => {
        const v = put.value.get('value') as number;
        if (v > 10) {
          refused++;
          throw new Error(`${v} is over 10`);
        }
        pv.post(put.value, put.changed);
      },
    }).open(dbl()),
  };
  const opts = (extra: { request?: string; timeout?: number } = {}) => ({ server: at, ...extra });

  before(async () => {
    server = new PvaServer({ interfaces: ['127.0.0.1'], tcpPort: 0, udpPort: 0, beaconAddrs: [], logger: memoryLogger() });
    for (const [k, pv] of Object.entries(pvs)) server.addPV(`r:${k}`, pv);
    await server.start();
    proxy = new Proxy(server.tcpPort);
    await proxy.start();
    at = `127.0.0.1:${proxy.port}`;
  });
  after(async () => {
    await proxy.stop();
    await server.stop();
  });
  beforeEach(() => {
    client = new PvaClient({ addrList: [], autoAddrList: false, nameServers: [], timeout: 3 });
    proxy.clear();
    conns0 = proxy.connections;
  });
  afterEach(() => client.close());

  it('a second get or put with the same request sends no INIT, only the execute on the same ioid', async () => {
    const g0 = gets;
    for (let i = 1; i <= 3; i++) assert.equal((await client.get('r:ai', opts())).get('value'), g0 + i);
    assert.equal(proxy.inits('get').length, 1);
    assert.equal(proxy.executes('get').length, 3);
    assert.deepEqual(new Set(proxy.executes('get').map((o) => o.ioid)), new Set([proxy.inits('get')[0].ioid]));
    for (let i = 1; i <= 3; i++) await client.put('r:enum', i % 3, opts());
    assert.equal(proxy.inits('put').length, 1);
    assert.equal(proxy.executes('put').length, 3);
    // an enum choice by name: the choices fetched (PUT 0x40) and the put, on the kept operation
    await client.put('r:enum', 'Two', opts());
    assert.equal(proxy.inits('put').length, 1);
    assert.deepEqual(proxy.executes('put').slice(-2).map((o) => o.subcmd), [0x40, 0]);
    assert.equal((await client.get('r:enum', opts())).get('value.index'), 2);
    // another request text is another operation
    assert.equal(formatValueOnly(await client.get('r:ai', opts({ request: 'field(value)' }))), `value=${g0 + 4}`);
    assert.equal(proxy.inits('get').length, 3); // r:ai twice, r:enum once
    assert.equal(proxy.destroys().length, 0);
    assert.equal(proxy.connections - conns0, 1);
  });

  it('read-on-get (SharedPV onGet) runs for every execute, not only the INIT', async () => {
    const g0 = gets;
    const values: number[] = [];
    for (let i = 0; i < 5; i++) values.push((await client.get('r:ai', opts())).get('value') as number);
    assert.equal(gets - g0, 5);
    assert.deepEqual(values, [g0 + 1, g0 + 2, g0 + 3, g0 + 4, g0 + 5]);
    assert.equal(proxy.inits('get').length, 1);
  });

  it(`keeps at most ${MAX_IDLE_OPS} operations per channel, the least recently used ending first`, async () => {
    const requests = ['field(value)', 'field(alarm)', 'field(timeStamp)', 'field(display)', 'field(value,alarm)', 'field(value,display)'];
    for (const request of requests) await client.get('r:chg', opts({ request }));
    await until(() => proxy.destroys().length === 2, 2000, 'two DESTROY_REQUESTs');
    const byRequest = proxy.inits('get').map((o) => o.ioid);
    assert.deepEqual(proxy.destroys().map((o) => o.ioid), byRequest.slice(0, 2), 'the two used longest ago');
    assert.equal(proxy.open(), MAX_IDLE_OPS);
    // the most recent ones run again without INIT; an ended one is initialized again
    await client.get('r:chg', opts({ request: 'field(value,display)' }));
    assert.equal(proxy.inits('get').length, 6);
    await client.get('r:chg', opts({ request: 'field(value)' }));
    assert.equal(proxy.inits('get').length, 7);
    await until(() => proxy.destroys().length === 3, 2000, 'a third DESTROY_REQUEST');
    assert.equal(proxy.destroys()[2].ioid, byRequest[2]);
    assert.equal(proxy.open(), MAX_IDLE_OPS);
  });

  it('64 gets and 64 puts in flight all succeed: a busy operation is not shared, and at most a few stay open', async () => {
    await client.get('r:chg', opts());
    await client.put('r:chg', 0, opts());
    const mark = proxy.ops.length;
    const values = Array.from({ length: 64 }, (_, i) => i + 100);
    const [got, put] = await Promise.all([
      Promise.all(values.map(() => client.get('r:chg', opts()))),
      Promise.all(values.map((v) => client.put('r:chg', v, opts()))),
    ]);
    assert.equal(got.length, 64);
    assert.equal(put.length, 64);
    for (const v of got) assert.equal(typeof v.get('value'), 'number');
    // all 128 calls started before any reply: one of each kind took the kept operation, the
    // others initialized their own; no operation carried two calls
    const burst = proxy.ops.slice(mark);
    for (const kind of ['get', 'put'] as const) {
      assert.equal(burst.filter((o) => o.kind === kind && o.subcmd & SUB_INIT).length, 63, `${kind} INITs`);
      const ioids = burst.filter((o) => o.kind === kind && !(o.subcmd & SUB_INIT)).map((o) => o.ioid);
      assert.equal(ioids.length, 64);
      assert.equal(new Set(ioids).size, 64, `one ${kind} execute per operation`);
    }
    assert.equal((await client.get('r:chg', opts())).get('value'), 163, 'puts applied in the order sent');
    await until(() => proxy.open() <= MAX_IDLE_OPS, 2000, `at most ${MAX_IDLE_OPS} operations left open (${proxy.open()})`);
    // one at a time again: kept operations, no INIT
    const before = proxy.inits('get').length + proxy.inits('put').length;
    await client.get('r:chg', opts());
    await client.put('r:chg', 1, opts());
    assert.equal(proxy.inits('get').length + proxy.inits('put').length, before);
  });

  it('executes leave in the order the calls were made: a kept operation does not overtake a call still waiting for its INIT reply', async () => {
    await client.get('r:chg', opts());
    await client.put('r:chg', 0, opts());
    const mark = proxy.ops.length;
    // a put on a fresh operation (another request), then a get and a put on kept ones
    const calls = [client.put('r:chg', 41, opts({ request: 'field(value)' })), client.get('r:chg', opts()), client.put('r:chg', 42, opts())];
    const [, got] = await Promise.all(calls);
    assert.equal((got as PVStructure).get('value'), 41, 'the get sees the put made before it');
    assert.equal((await client.get('r:chg', opts())).get('value'), 42, 'the puts were applied in the order made');
    const shape = proxy.ops.slice(mark, mark + 4).map((o) => `${o.kind}:${o.subcmd}`);
    assert.deepEqual(shape, ['put:8', 'put:0', 'get:0', 'put:0']);
  });

  it('a PV closed and opened with another type: the kept operations are dropped and the call initializes afresh, on the same circuit', async () => {
    const pv = SharedPV.mailbox().open(dbl());
    server.addPV('r:morph', pv);
    try {
      assert.equal((await client.get('r:morph', opts())).get('value'), 1.5);
      await client.put('r:morph', 2.5, opts());
      assert.equal((await client.get('r:morph', opts())).get('value'), 2.5);
      const [getOp] = proxy.inits('get');
      const [putOp] = proxy.inits('put');
      pv.close();
      pv.open(new PVStructure(ntEnum(), { value: { index: 1, choices: ['a', 'b', 'c'] } }));
      const v = await client.get('r:morph', opts());
      assert.equal(v.type.id, 'epics:nt/NTEnum:1.0');
      assert.equal(v.get('value.index'), 1);
      // the reused GET failed on the server ("type changed"): it and the idle PUT were destroyed
      const destroyed = proxy.destroys().map((o) => o.ioid);
      assert.ok(destroyed.includes(getOp.ioid) && destroyed.includes(putOp.ioid), `destroyed ${destroyed}`);
      assert.equal(proxy.inits('get').length, 2);
      // the put builds its value from the new type (an enum choice by name)
      await client.put('r:morph', 'c', opts());
      assert.equal((await client.get('r:morph', opts())).get('value.index'), 2);
      assert.equal(proxy.inits('put').length, 2);
      assert.equal(proxy.inits('get').length, 2);
      // and back to a double: a put first this time (its value is built from the stale type and
      // refused by the server, then sent again on a fresh operation with the new type)
      pv.close();
      pv.open(dbl());
      await client.put('r:morph', 7, opts());
      assert.equal((await client.get('r:morph', opts())).get('value'), 7);
      assert.equal(proxy.connections - conns0, 1, 'the circuit stayed up');
    } finally {
      server.removePV('r:morph');
    }
  });

  it('a PV closed and opened again later: a get on a kept operation waits for the open', async () => {
    const pv = new SharedPV().open(dbl());
    server.addPV('r:reopen', pv);
    try {
      assert.equal((await client.get('r:reopen', opts())).get('value'), 1.5);
      pv.close();
      const pending = client.get('r:reopen', opts());
      await sleep(100);
      pv.open(new PVStructure(ntScalar('string'), { value: 'back' }));
      assert.equal((await pending).get('value'), 'back');
      assert.equal(proxy.inits('get').length, 2);
    } finally {
      server.removePV('r:reopen');
    }
  });

  it("a put the server refuses on a kept operation fails with the server's message, once; the next put works", async () => {
    await client.put('r:limited', 5, opts());
    const r0 = refused;
    const inits0 = proxy.inits('put').length;
    await assert.rejects(client.put('r:limited', 50, opts()), (e: unknown) => e instanceof PvaClientError && /r:limited: 50 is over 10/.test(e.message));
    // refused, not stale: not sent again (the PV's put handler saw it once) and the operation is kept
    assert.equal(refused - r0, 1);
    await client.put('r:limited', 6, opts());
    assert.equal(proxy.inits('put').length, inits0, 'the kept operation served the next put too');
    assert.equal((await client.get('r:limited', opts())).get('value'), 6);
  });

  it('a timeout on a kept operation destroys it (not left busy); the next get initializes a fresh one', async () => {
    await client.get('r:slow', opts());
    const [first] = proxy.inits('get');
    hold = new Promise<void>((r) => (release = r));
    await assert.rejects(client.get('r:slow', opts({ timeout: 0.2 })), /r:slow: timeout \(0\.2 s\)/);
    await until(() => proxy.destroys().length === 1, 2000, 'DESTROY_REQUEST');
    assert.equal(proxy.destroys()[0].ioid, first.ioid);
    hold = undefined;
    release();
    await client.get('r:slow', opts());
    await client.get('r:slow', opts());
    const inits = proxy.inits('get');
    assert.equal(inits.length, 2);
    assert.notEqual(inits[1].ioid, first.ioid);
  });

  it('a disconnect forgets the kept operations: after the reconnect the call initializes on the new circuit', async () => {
    await client.get('r:chg', opts());
    await client.put('r:chg', 3, opts());
    proxy.cut();
    await until(() => client.peerOf('r:chg', at) === undefined, 2000, 'the client to see the disconnect');
    // the direct channel reconnects after a pause; the calls wait for it
    assert.equal((await client.get('r:chg', opts())).get('value'), 3);
    await client.put('r:chg', 4, opts());
    const last = proxy.connections;
    assert.equal(proxy.inits('get').filter((o) => o.conn === last).length, 1);
    assert.equal(proxy.inits('put').filter((o) => o.conn === last).length, 1);
    assert.equal(proxy.destroys().length, 0);
  });

  it('a channel the server destroys forgets its kept operations', async () => {
    const pv = SharedPV.mailbox().open(dbl());
    server.addPV('r:gone', pv);
    await client.get('r:gone', opts());
    server.removePV('r:gone');
    server.addPV('r:gone', pv);
    await until(() => client.peerOf('r:gone', at) === undefined, 2000, 'the client to see the channel destroyed');
    try {
      assert.equal((await client.get('r:gone', opts())).get('value'), 1.5);
      const inits = proxy.inits('get');
      assert.equal(inits.length, 2);
      assert.notEqual(inits[1].sid, inits[0].sid, 'on the channel created again');
    } finally {
      server.removePV('r:gone');
    }
  });
});

function formatValueOnly(v: PVStructure): string {
  const parts: string[] = [];
  const L = v.type.layout;
  for (let i = 1; i < L.length; i++) if (v.isChanged(i) && L[i].type.kind !== 'structure') parts.push(`${L[i].path}=${String(v.getAt(i))}`);
  return parts.join(' ');
}

// ---------------------------------------------------------------- a reply that does not decode

describe('a GET reply on a kept operation that does not decode', () => {
  it('fails that operation only: the client destroys it and initializes again on the same circuit', async () => {
    const type = ntScalar('double');
    const received: PvaMessage[] = [];
    let connections = 0;
    let executes = 0;
    const bytes = (fn: (w: Writer) => void): Buffer => {
      const w = new Writer(true);
      fn(w);
      return w.toBuffer();
    };
    const srv = createServer((s) => {
      connections++;
      s.on('error', () => {});
      s.write(
        bytes((w) => {
          encodeMessage(w, { type: 'setByteOrder', bigEndian: false });
          encodeMessage(w, { type: 'validationRequest', bufferSize: 65536, registrySize: 0x7fff, methods: ['anonymous'] });
        }),
      );
      onClientMessages(s, (m) => {
        received.push(m);
        if (m.type === 'validationReply') s.write(bytes((w) => encodeMessage(w, { type: 'validated', status: STATUS_OK })));
        else if (m.type === 'createChannel') {
          s.write(bytes((w) => encodeMessage(w, { type: 'createChannelResponse', cid: m.channels[0].cid, sid: 7, status: STATUS_OK })));
        } else if (m.type === 'opRequest' && m.command === Cmd.GET) {
          if (m.subcmd & SUB_INIT) {
            s.write(bytes((w) => encodeOpResponse(w, { command: Cmd.GET, ioid: m.ioid, subcmd: m.subcmd, status: STATUS_OK, fieldType: type })));
            return;
          }
          const value = new PVStructure(type, { value: ++executes });
          let reply = bytes((w) => encodeOpResponse(w, { command: Cmd.GET, ioid: m.ioid, subcmd: m.subcmd, status: STATUS_OK, value, changed: value.changed }));
          if (executes === 2) {
            // the second reply is cut short: its double is missing (the header's size says so)
            reply = Buffer.from(reply.subarray(0, reply.length - 8));
            reply.writeUInt32LE(reply.length - 8, 4);
          }
          s.write(reply);
        }
      });
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const server = `127.0.0.1:${(srv.address() as { port: number }).port}`;
    const client = new PvaClient({ addrList: [], autoAddrList: false, nameServers: [], timeout: 3 });
    try {
      assert.equal((await client.get('x:y', { server })).get('value'), 1);
      // the reply to this one does not decode: retried on a fresh operation, which gets the third
      assert.equal((await client.get('x:y', { server })).get('value'), 3);
      assert.equal(connections, 1);
      const shape = received
        .filter((m) => m.type === 'opRequest' || m.type === 'destroyRequest')
        .map((m) => (m.type === 'opRequest' ? `get:${m.subcmd}@${m.ioid}` : m.type === 'destroyRequest' ? `destroy@${m.ioid}` : ''));
      const a = (received.find((m) => m.type === 'opRequest') as { ioid: number }).ioid;
      const b = (received.filter((m) => m.type === 'opRequest').at(-1) as { ioid: number }).ioid;
      assert.notEqual(a, b);
      assert.deepEqual(shape, [`get:8@${a}`, `get:0@${a}`, `get:0@${a}`, `destroy@${a}`, `get:8@${b}`, `get:0@${b}`]);
    } finally {
      client.close();
      await new Promise<void>((r) => srv.close(() => r()));
    }
  });
});
