// ServerConnection without sockets: a fake sink collects the server's bytes, a small fake client
// encodes requests with the protocol encoders and decodes every reply.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Framer } from '../../src/pva/framer.ts';
import {
  ProtocolError,
  decodeMessage,
  encodeMessage,
  encodeOpRequest,
  type OpRequestMsg,
  type OpResponseMsg,
  type PvaMessage,
} from '../../src/pva/messages.ts';
import { Cmd } from '../../src/pva/protocol.ts';
import { BitSet, PVStructure, Writer, parseRequest, struct, type Structure, type TypeCache } from '../../src/pvdata/index.ts';
import { ntScalar } from '../../src/pvdata/nt.ts';
import {
  ServerConnection,
  SharedPV,
  StaticProvider,
  memoryLogger,
  type ConnectionSink,
  type ServerContext,
} from '../../src/pva/server/index.ts';

const tick = () => new Promise<void>((r) => setImmediate(r));

class FakeSink implements ConnectionSink {
  writes: Buffer[] = [];
  buffered = 0;
  closed = false;
  write(data: Buffer): void {
    this.writes.push(Buffer.from(data));
  }
  bufferedBytes(): number {
    return this.buffered;
  }
  close(): void {
    this.closed = true;
  }
}

interface Harness {
  conn: ServerConnection;
  sink: FakeSink;
  log: ReturnType<typeof memoryLogger>;
  provider: StaticProvider;
  /** Every message the server sent so far, decoded. */
  received: PvaMessage[];
  /** Decodes what the sink got since the last call. */
  drain(): PvaMessage[];
  send(fn: (w: Writer) => void): void;
  /** Validated handshake and a channel: returns the sid. */
  channel(name: string): Promise<number>;
}

function harness(opts: { sendQueueLimit?: number; maxMessageSize?: number } = {}): Harness {
  const sink = new FakeSink();
  const log = memoryLogger();
  const provider = new StaticProvider();
  const ctx: ServerContext = {
    guid: Buffer.alloc(12, 7),
    tcpPort: 5075,
    log,
    maxMessageSize: opts.maxMessageSize ?? 1 << 20,
    sendQueueLimit: opts.sendQueueLimit ?? 1 << 20,
    has: (n) => provider.has(n),
    lookup: (n) => provider.get(n),
  };
  const conn = new ServerConnection(ctx, sink, 'fake:1');
  const framer = new Framer();
  const cache: TypeCache = new Map();
  const types = new Map<number, Structure>();
  const received: PvaMessage[] = [];
  let seen = 0;
  const h: Harness = {
    conn,
    sink,
    log,
    provider,
    received,
    drain() {
      const out: PvaMessage[] = [];
      for (; seen < sink.writes.length; seen++) {
        for (const f of framer.push(sink.writes[seen])) {
          assert.ok(!(f instanceof ProtocolError), String(f));
          const m = decodeMessage(f, { cache, opTypes: (ioid) => (types.has(ioid) ? { get: types.get(ioid), put: types.get(ioid) } : undefined) });
          assert.ok(!(m instanceof ProtocolError), String(m));
          if (m.type === 'opResponse' && m.subcmd & 0x08 && m.fieldType) types.set(m.ioid, m.fieldType);
          out.push(m);
          received.push(m);
        }
      }
      return out;
    },
    send(fn) {
      const w = new Writer(true, 256);
      fn(w);
      conn.receive(w.toBuffer());
    },
    async channel(name) {
      conn.start();
      await tick();
      h.send((w) => encodeMessage(w, { type: 'validationReply', bufferSize: 0x10000, registrySize: 0x7fff, qos: 0, method: 'anonymous', data: null }));
      h.send((w) => encodeMessage(w, { type: 'createChannel', channels: [{ cid: 42, name }] }));
      await tick();
      const r = h.drain().find((m) => m.type === 'createChannelResponse');
      assert.ok(r && r.type === 'createChannelResponse');
      assert.equal(r.status.type, 0, r.status.message);
      return r.sid;
    },
  };
  return h;
}

const op = (h: Harness, m: Omit<OpRequestMsg, 'type'>) => h.send((w) => encodeOpRequest(w, m));
const responses = (ms: PvaMessage[], ioid?: number) =>
  ms.filter((m): m is OpResponseMsg => m.type === 'opResponse' && (ioid === undefined || m.ioid === ioid));
const updates = (ms: PvaMessage[], ioid: number) => responses(ms, ioid).filter((m) => m.command === Cmd.MONITOR && !(m.subcmd & 0x18) && m.value);

function scalarPv(init = 1.5): SharedPV {
  const pv = SharedPV.mailbox();
  pv.open(new PVStructure(ntScalar('double', { display: true }), { value: init, display: { units: 'V' } }));
  return pv;
}

/** Opens a monitor with the given pvRequest (and pipeline window when `ack` is set). */
async function monitor(h: Harness, sid: number, ioid: number, request: string, ack?: number): Promise<OpResponseMsg> {
  op(h, { command: Cmd.MONITOR, sid, ioid, subcmd: 0x08 | (ack !== undefined ? 0x80 : 0), pvRequest: parseRequest(request), ack });
  await tick();
  const init = responses(h.drain(), ioid).find((m) => m.subcmd & 0x08);
  assert.ok(init, 'monitor INIT reply');
  return init;
}

test('handshake: SET_BYTE_ORDER then validation request; a validation reply gets VALIDATED', async () => {
  const h = harness();
  h.conn.start();
  await tick();
  assert.equal(h.sink.writes.length, 1, 'the opening leaves in one write');
  const b = h.sink.writes[0];
  // control message: magic, version, flags (control|server), command SET_BYTE_ORDER
  assert.deepEqual([...b.subarray(0, 4)], [0xca, 2, 0x41, 2]);
  const ms = h.drain();
  assert.equal(ms[0].type, 'setByteOrder');
  const v = ms[1];
  assert.ok(v.type === 'validationRequest');
  assert.ok(v.methods.includes('anonymous') && v.methods.includes('ca'));
  assert.ok(v.registrySize > 0);
  h.send((w) => encodeMessage(w, { type: 'validationReply', bufferSize: 0x10000, registrySize: 0x7fff, qos: 0, method: 'anonymous', data: null }));
  await tick();
  const [ok] = h.drain();
  assert.ok(ok.type === 'validated');
  assert.equal(ok.status.type, 0);
});

test('validation reply with ca credentials records user and host', async () => {
  const h = harness();
  h.conn.start();
  const t = struct('', { user: 'string', host: 'string' });
  const data = new PVStructure(t, { user: 'alice', host: 'ws1' });
  h.send((w) => encodeMessage(w, { type: 'validationReply', bufferSize: 0x10000, registrySize: 0x7fff, qos: 0, method: 'ca', data: { type: t, value: data } }));
  await tick();
  assert.equal(h.conn.method, 'ca');
  assert.equal(h.conn.user, 'alice');
  assert.equal(h.conn.host, 'ws1');
});

test('create channel: unknown name gets an error status, known name a sid', async () => {
  const h = harness();
  h.provider.add('known', scalarPv());
  h.conn.start();
  h.send((w) => encodeMessage(w, { type: 'createChannel', channels: [{ cid: 1, name: 'nope' }] }));
  h.send((w) => encodeMessage(w, { type: 'createChannel', channels: [{ cid: 2, name: 'known' }] }));
  await tick();
  const rs = h.drain().filter((m) => m.type === 'createChannelResponse');
  assert.equal(rs.length, 2);
  const [bad, good] = rs as Array<Extract<PvaMessage, { type: 'createChannelResponse' }>>;
  assert.equal(bad.cid, 1);
  assert.ok(bad.status.type >= 2);
  assert.match(bad.status.message, /nope/);
  assert.equal(good.cid, 2);
  assert.equal(good.status.type, 0);
  assert.ok(good.sid > 0);
  assert.ok(h.log.lines.some((l) => l.includes("'nope' refused")));
  assert.equal(h.provider.get('known')!.channelCount, 1);
  h.send((w) => encodeMessage(w, { type: 'destroyChannel', fromServer: false, sid: good.sid, cid: 2 }));
  await tick();
  assert.ok(h.drain().some((m) => m.type === 'destroyChannel' && m.sid === good.sid));
  assert.equal(h.provider.get('known')!.channelCount, 0);
});

test('GET: INIT returns the type, execute returns the value; field(value) selects only bit 1', async () => {
  const h = harness();
  h.provider.add('pv', scalarPv(3.25));
  const sid = await h.channel('pv');
  op(h, { command: Cmd.GET, sid, ioid: 1, subcmd: 0x08, pvRequest: parseRequest('') });
  op(h, { command: Cmd.GET, sid, ioid: 2, subcmd: 0x08, pvRequest: parseRequest('field(value)') });
  await tick();
  const inits = responses(h.drain());
  assert.equal(inits.length, 2);
  assert.equal(inits[0].fieldType!.id, 'epics:nt/NTScalar:1.0');
  op(h, { command: Cmd.GET, sid, ioid: 1, subcmd: 0x00 });
  op(h, { command: Cmd.GET, sid, ioid: 2, subcmd: 0x10 });
  await tick();
  const [all, sel] = responses(h.drain());
  assert.deepEqual(all.changed!.toArray(), [0]);
  assert.equal(all.value!.get('value'), 3.25);
  assert.equal(all.value!.get('display.units'), 'V');
  assert.equal(sel.ioid, 2);
  assert.deepEqual(sel.changed!.toArray(), [1]);
  assert.equal(sel.value!.get('value'), 3.25);
  assert.equal(sel.value!.get('display.units'), '', 'unselected fields are not sent');
  // ioid 2 was executed with DESTROY: it is gone
  assert.equal(h.conn.ops.has(2), false);
  assert.equal(h.conn.ops.has(1), true);
});

test('PUT: execute with a value reaches onPut and the value changes; put-get of the current value', async () => {
  const h = harness();
  const pv = scalarPv(1);
  h.provider.add('pv', pv);
  const sid = await h.channel('pv');
  op(h, { command: Cmd.PUT, sid, ioid: 5, subcmd: 0x08, pvRequest: parseRequest('field(value)') });
  await tick();
  const [init] = responses(h.drain());
  assert.equal(init.status!.type, 0);
  const v = new PVStructure(pv.type!, { value: 7.5 });
  op(h, { command: Cmd.PUT, sid, ioid: 5, subcmd: 0x00, value: v, changed: BitSet.of(1) });
  await tick();
  const [done] = responses(h.drain());
  assert.equal(done.status!.type, 0, done.status!.message);
  assert.equal(pv.current.get('value'), 7.5);
  op(h, { command: Cmd.PUT, sid, ioid: 5, subcmd: 0x40 });
  await tick();
  const [cur] = responses(h.drain());
  assert.equal(cur.value!.get('value'), 7.5);
});

test('PUT to a read-only PV gets an error status', async () => {
  const h = harness();
  const pv = new SharedPV();
  pv.open(new PVStructure(ntScalar('double'), { value: 1 }));
  h.provider.add('ro', pv);
  const sid = await h.channel('ro');
  op(h, { command: Cmd.PUT, sid, ioid: 1, subcmd: 0x08, pvRequest: parseRequest('') });
  await tick();
  h.drain();
  op(h, { command: Cmd.PUT, sid, ioid: 1, subcmd: 0x00, value: new PVStructure(pv.type!, { value: 2 }), changed: BitSet.of(1) });
  await tick();
  const [r] = responses(h.drain());
  assert.ok(r.status!.type >= 2);
  assert.match(r.status!.message, /not supported/);
  assert.equal(pv.current.get('value'), 1);
});

test('RPC: argument reaches onRpc, result comes back; a PV without onRpc refuses at INIT', async () => {
  const h = harness();
  const argT = struct('', { a: 'double', b: 'double' });
  const resT = struct('', { value: 'double' });
  const rpc = new SharedPV({
    onRpc: (_pv, arg) => {
      const s = arg!.value as PVStructure;
      return new PVStructure(resT, { value: (s.get('a') as number) + (s.get('b') as number) });
    },
  });
  rpc.open(new PVStructure(struct('', { value: 'double' })));
  h.provider.add('add', rpc);
  h.provider.add('plain', scalarPv());
  const sid = await h.channel('add');
  op(h, { command: Cmd.RPC, sid, ioid: 9, subcmd: 0x08, pvRequest: parseRequest('') });
  await tick();
  assert.equal(responses(h.drain())[0].status!.type, 0);
  const arg = new PVStructure(argT, { a: 1.25, b: 2 });
  op(h, { command: Cmd.RPC, sid, ioid: 9, subcmd: 0x00, argument: { type: argT, value: arg } });
  await tick();
  const [r] = responses(h.drain());
  assert.equal(r.status!.type, 0, r.status!.message);
  assert.equal((r.result!.value as PVStructure).get('value'), 3.25);

  h.send((w) => encodeMessage(w, { type: 'createChannel', channels: [{ cid: 43, name: 'plain' }] }));
  await tick();
  const cr = h.drain().find((m) => m.type === 'createChannelResponse');
  assert.ok(cr && cr.type === 'createChannelResponse');
  op(h, { command: Cmd.RPC, sid: cr.sid, ioid: 10, subcmd: 0x08, pvRequest: parseRequest('') });
  await tick();
  const [refused] = responses(h.drain());
  assert.ok(refused.status!.type >= 2);
  assert.equal(h.conn.ops.has(10), false);
});

test('GET_FIELD: whole type, a sub-field, and an unknown sub-field', async () => {
  const h = harness();
  h.provider.add('pv', scalarPv());
  const sid = await h.channel('pv');
  h.send((w) => encodeMessage(w, { type: 'getField', sid, ioid: 1, subField: '' }));
  h.send((w) => encodeMessage(w, { type: 'getField', sid, ioid: 2, subField: 'display' }));
  h.send((w) => encodeMessage(w, { type: 'getField', sid, ioid: 3, subField: 'nosuch' }));
  h.send((w) => encodeMessage(w, { type: 'getField', sid: 999, ioid: 4, subField: '' }));
  await tick();
  const rs = h.drain().filter((m): m is Extract<PvaMessage, { type: 'getFieldResponse' }> => m.type === 'getFieldResponse');
  const by = new Map(rs.map((r) => [r.ioid, r]));
  assert.equal((by.get(1)!.fieldType as Structure).id, 'epics:nt/NTScalar:1.0');
  assert.equal(by.get(2)!.status.type, 0);
  assert.ok((by.get(2)!.fieldType as Structure).kind === 'structure');
  assert.ok(by.get(3)!.status.type >= 2);
  assert.ok(by.get(4)!.status.type >= 2);
});

test('pvRequest naming only unknown fields: INIT error status, operation not kept', async () => {
  const h = harness();
  h.provider.add('pv', scalarPv());
  const sid = await h.channel('pv');
  op(h, { command: Cmd.GET, sid, ioid: 1, subcmd: 0x08, pvRequest: parseRequest('field(nosuch)') });
  const init = await monitor(h, sid, 2, 'field(bogus,other)');
  await tick();
  const [get] = responses(h.received, 1);
  assert.ok(get.status!.type >= 2, 'get INIT fails');
  assert.ok(init.status!.type >= 2, 'monitor INIT fails');
  assert.equal(h.conn.ops.size, 0);
});

test('MONITOR: start sends the full value, posts send deltas; field(value) sends only bit 1', async () => {
  const h = harness();
  const pv = scalarPv(1);
  h.provider.add('pv', pv);
  const sid = await h.channel('pv');
  await monitor(h, sid, 1, '');
  await monitor(h, sid, 2, 'field(value)');
  op(h, { command: Cmd.MONITOR, sid, ioid: 1, subcmd: 0x44 });
  op(h, { command: Cmd.MONITOR, sid, ioid: 2, subcmd: 0x44 });
  await tick();
  let ms = h.drain();
  const [full] = updates(ms, 1);
  assert.deepEqual(full.changed!.toArray(), [0]);
  assert.equal(full.value!.get('display.units'), 'V');
  const [sel] = updates(ms, 2);
  assert.deepEqual(sel.changed!.toArray(), [1]);
  pv.post({ value: 2, display: { units: 'mV' } });
  await tick();
  ms = h.drain();
  const [d1] = updates(ms, 1);
  const [d2] = updates(ms, 2);
  assert.equal(d1.value!.get('value'), 2);
  assert.equal(d1.value!.get('display.units'), 'mV');
  assert.ok(d1.changed!.get(1));
  assert.deepEqual(d2.changed!.toArray(), [1]);
  assert.equal(d2.value!.get('value'), 2);
  // a change only to unselected fields reaches the full subscriber only
  pv.post({ display: { units: 'kV' } });
  await tick();
  ms = h.drain();
  assert.equal(updates(ms, 1).length, 1);
  assert.equal(updates(ms, 2).length, 0);
});

test('MONITOR pipeline: no more updates than the window until an ack, then resumes', async () => {
  const h = harness();
  const pv = scalarPv(0);
  h.provider.add('pv', pv);
  const sid = await h.channel('pv');
  const init = await monitor(h, sid, 1, 'record[pipeline=true]', 3);
  assert.equal(init.status!.type, 0);
  op(h, { command: Cmd.MONITOR, sid, ioid: 1, subcmd: 0x44 });
  await tick();
  assert.equal(updates(h.drain(), 1).length, 1, 'the initial value uses one slot of the window');
  for (let i = 1; i <= 5; i++) {
    pv.post({ value: i });
    await tick();
  }
  let got = updates(h.drain(), 1);
  assert.equal(got.length, 2, 'window of 3: initial + 2 updates');
  assert.deepEqual(got.map((m) => m.value!.get('value')), [1, 2]);
  // ack 2: the held-back changes (3, 4, 5 squashed) go out as one update, then one slot remains
  op(h, { command: Cmd.MONITOR, sid, ioid: 1, subcmd: 0x80, ack: 2 });
  await tick();
  got = updates(h.drain(), 1);
  assert.equal(got.length, 1);
  assert.equal(got[0].value!.get('value'), 5);
  assert.ok(got[0].overrun!.get(1), 'value overrun while the window was shut');
  pv.post({ value: 6 });
  await tick();
  assert.deepEqual(updates(h.drain(), 1).map((m) => m.value!.get('value')), [6]);
  pv.post({ value: 7 });
  await tick();
  assert.equal(updates(h.drain(), 1).length, 0, 'window exhausted again');
  op(h, { command: Cmd.MONITOR, sid, ioid: 1, subcmd: 0x80, ack: 10 });
  await tick();
  const last = updates(h.drain(), 1);
  assert.deepEqual(last.map((m) => m.value!.get('value')), [7]);
  assert.equal(last[0].overrun!.isEmpty(), true, 'changed once: no overrun');
});

test('MONITOR squashing: while the sink is congested posts collapse into one update with overrun bits, sent on drained()', async () => {
  const h = harness({ sendQueueLimit: 1000 });
  const pv = scalarPv(0);
  h.provider.add('pv', pv);
  const sid = await h.channel('pv');
  await monitor(h, sid, 1, '');
  op(h, { command: Cmd.MONITOR, sid, ioid: 1, subcmd: 0x44 });
  await tick();
  h.drain();
  h.sink.buffered = 5000; // above the limit, below the hard limit (8×)
  pv.post({ value: 1 });
  await tick();
  pv.post({ value: 2, display: { units: 'A' } });
  await tick();
  pv.post({ value: 3 });
  await tick();
  assert.equal(updates(h.drain(), 1).length, 0, 'nothing sent while congested');
  assert.equal(h.sink.closed, false);
  h.conn.drained(); // still congested: nothing moves
  await tick();
  assert.equal(updates(h.drain(), 1).length, 0);
  h.sink.buffered = 0;
  h.conn.drained();
  await tick();
  const got = updates(h.drain(), 1);
  assert.equal(got.length, 1, 'one squashed update');
  const u = got[0];
  assert.equal(u.value!.get('value'), 3);
  assert.equal(u.value!.get('display.units'), 'A');
  const valueBit = 1;
  const unitsBit = pv.type!.layout.findIndex((f) => f.path === 'display.units');
  assert.ok(unitsBit > 0);
  assert.ok(u.changed!.get(valueBit) && u.changed!.get(unitsBit));
  assert.deepEqual(u.overrun!.toArray(), [valueBit], 'only the field changed more than once is overrun');
});

test('MONITOR stop (0x04) holds updates; start (0x44) sends the full value again', async () => {
  const h = harness();
  const pv = scalarPv(0);
  h.provider.add('pv', pv);
  const sid = await h.channel('pv');
  await monitor(h, sid, 1, '');
  op(h, { command: Cmd.MONITOR, sid, ioid: 1, subcmd: 0x44 });
  await tick();
  assert.equal(updates(h.drain(), 1).length, 1);
  op(h, { command: Cmd.MONITOR, sid, ioid: 1, subcmd: 0x04 });
  await tick();
  pv.post({ value: 1 });
  await tick();
  pv.post({ value: 2 });
  await tick();
  assert.equal(updates(h.drain(), 1).length, 0, 'stopped: nothing sent');
  op(h, { command: Cmd.MONITOR, sid, ioid: 1, subcmd: 0x44 });
  await tick();
  const got = updates(h.drain(), 1);
  assert.equal(got.length, 1);
  assert.ok(got[0].changed!.get(0), 'the complete value');
  assert.equal(got[0].value!.get('value'), 2);
  assert.equal(got[0].value!.get('display.units'), 'V');
  assert.equal(got[0].overrun!.isEmpty(), true, 'changes made while stopped are not overruns');
});

test('DESTROY_REQUEST ends a monitor; CANCEL stops it; destroying the channel ends its operations', async () => {
  const h = harness();
  const pv = scalarPv(0);
  h.provider.add('pv', pv);
  const sid = await h.channel('pv');
  await monitor(h, sid, 1, '');
  await monitor(h, sid, 2, '');
  await monitor(h, sid, 3, '');
  for (const ioid of [1, 2, 3]) op(h, { command: Cmd.MONITOR, sid, ioid, subcmd: 0x44 });
  await tick();
  h.drain();
  assert.equal(pv.subscriberCount, 3);
  h.send((w) => encodeMessage(w, { type: 'destroyRequest', sid, ioid: 1 }));
  h.send((w) => encodeMessage(w, { type: 'cancelRequest', sid, ioid: 2 }));
  await tick();
  assert.equal(h.conn.ops.has(1), false);
  assert.equal(h.conn.ops.has(2), true, 'cancel keeps the operation');
  assert.equal(pv.subscriberCount, 2);
  pv.post({ value: 1 });
  await tick();
  const ms = h.drain();
  assert.equal(updates(ms, 1).length, 0);
  assert.equal(updates(ms, 2).length, 0);
  assert.equal(updates(ms, 3).length, 1);
  h.send((w) => encodeMessage(w, { type: 'destroyChannel', fromServer: false, sid, cid: 42 }));
  await tick();
  assert.equal(h.conn.ops.size, 0);
  assert.equal(pv.subscriberCount, 0);
  assert.equal(pv.channelCount, 0);
});

test('posts to many PVs in one tick leave in one sink write', async () => {
  const h = harness();
  const pvs = Array.from({ length: 10 }, (_, i) => scalarPv(i));
  pvs.forEach((pv, i) => h.provider.add(`pv${i}`, pv));
  h.conn.start();
  h.send((w) => encodeMessage(w, { type: 'createChannel', channels: pvs.map((_, i) => ({ cid: i, name: `pv${i}` })) }));
  await tick();
  const sids = h.drain().filter((m) => m.type === 'createChannelResponse').map((m) => (m as { sid: number }).sid);
  assert.equal(sids.length, 10);
  for (let i = 0; i < 10; i++) {
    h.send((w) => encodeOpRequest(w, { command: Cmd.MONITOR, sid: sids[i], ioid: 100 + i, subcmd: 0x08, pvRequest: parseRequest('') }));
    h.send((w) => encodeOpRequest(w, { command: Cmd.MONITOR, sid: sids[i], ioid: 100 + i, subcmd: 0x44 }));
  }
  await tick();
  h.drain();
  const before = h.sink.writes.length;
  for (const [i, pv] of pvs.entries()) pv.post({ value: 100 + i });
  await tick();
  assert.equal(h.sink.writes.length - before, 1, 'one write for ten updates');
  const ms = h.drain();
  assert.equal(ms.filter((m) => m.type === 'opResponse' && m.command === Cmd.MONITOR).length, 10);
});

test('malformed input: bad magic closes the connection with a log line', async () => {
  const h = harness();
  h.conn.start();
  h.conn.receive(Buffer.from([0x00, 0x02, 0x00, 0x07, 0, 0, 0, 0]));
  assert.equal(h.conn.isClosed, true);
  assert.equal(h.sink.closed, true);
  assert.ok(h.log.lines.some((l) => /bad magic/.test(l) && /closing/.test(l)), h.log.lines.join('\n'));
  // further input is ignored
  h.conn.receive(Buffer.from([0xca, 0x02, 0x00, 0x07, 0, 0, 0, 0]));
});

test('malformed input: an oversize message closes the connection with a log line', async () => {
  const h = harness({ maxMessageSize: 1024 });
  h.conn.start();
  const hdr = Buffer.from([0xca, 0x02, 0x00, 0x07, 0, 0, 0, 0]);
  hdr.writeUInt32LE(1 << 20, 4);
  h.conn.receive(hdr);
  assert.equal(h.conn.isClosed, true);
  assert.equal(h.sink.closed, true);
  assert.ok(h.log.lines.some((l) => /exceeds/.test(l) && /closing/.test(l)), h.log.lines.join('\n'));
});

test('malformed input: a truncated message body closes the connection', async () => {
  const h = harness();
  h.conn.start();
  // CREATE_CHANNEL claiming 5 channels in 2 bytes
  h.conn.receive(Buffer.from([0xca, 0x02, 0x00, 0x07, 2, 0, 0, 0, 5, 0]));
  assert.equal(h.conn.isClosed, true);
  assert.ok(h.log.lines.some((l) => /closing/.test(l)));
});

test('a client that does not read past the hard limit is closed with a log line', async () => {
  const h = harness({ sendQueueLimit: 100 });
  h.provider.add('pv', scalarPv());
  const sid = await h.channel('pv');
  h.sink.buffered = 801;
  op(h, { command: Cmd.GET, sid, ioid: 1, subcmd: 0x08, pvRequest: parseRequest('') });
  await tick();
  assert.equal(h.conn.isClosed, true);
  assert.ok(h.log.lines.some((l) => /not reading/.test(l)));
});

test('closing a PV finishes its monitors (the channel stays)', async () => {
  const h = harness();
  const pv = scalarPv();
  h.provider.add('pv', pv);
  const sid = await h.channel('pv');
  await monitor(h, sid, 1, '');
  op(h, { command: Cmd.MONITOR, sid, ioid: 1, subcmd: 0x44 });
  await tick();
  h.drain();
  pv.close();
  await tick();
  const ms = h.drain();
  const fin = responses(ms, 1).find((m) => m.subcmd & 0x10);
  assert.ok(fin, 'monitor finished (0x10)');
  assert.equal(pv.subscriberCount, 0);
  assert.ok(!ms.some((m) => m.type === 'destroyChannel'), 'closing is not removing');
  assert.equal(h.conn.channels.size, 1);
});

test('removing a PV (channelGone) destroys its channels and ends their operations', async () => {
  const h = harness();
  const pv = scalarPv();
  const other = scalarPv(2);
  h.provider.add('pv', pv);
  h.provider.add('other', other);
  const sid = await h.channel('pv');
  await monitor(h, sid, 1, '');
  op(h, { command: Cmd.MONITOR, sid, ioid: 1, subcmd: 0x44 });
  h.send((w) => encodeMessage(w, { type: 'createChannel', channels: [{ cid: 43, name: 'other' }] }));
  await tick();
  const otherSid = h.drain().find((m) => m.type === 'createChannelResponse' && m.cid === 43);
  assert.ok(otherSid && otherSid.type === 'createChannelResponse');
  await monitor(h, otherSid.sid, 2, '');
  op(h, { command: Cmd.MONITOR, sid: otherSid.sid, ioid: 2, subcmd: 0x44 });
  await tick();
  h.drain();
  assert.equal(pv.channelCount, 1);
  assert.equal(pv.subscriberCount, 1);

  h.conn.channelGone(pv); // what PvaServer.removePV does for every connection
  await tick();
  const ms = h.drain();
  const gone = ms.find((m) => m.type === 'destroyChannel');
  assert.ok(gone && gone.type === 'destroyChannel', 'the client is told the channel is gone');
  assert.deepEqual([gone.sid, gone.cid], [sid, 42]);
  assert.ok(!h.conn.channels.has(sid), 'the channel is gone from the connection');
  assert.ok(!h.conn.ops.has(1), 'its monitor ended');
  assert.equal(pv.channelCount, 0, 'the PV is detached');
  assert.equal(pv.subscriberCount, 0, 'the PV has no subscriber left');
  // the other channel and its monitor are untouched
  assert.ok(h.conn.channels.has(otherSid.sid));
  assert.ok(h.conn.ops.has(2));
  other.post({ value: 3 });
  await tick();
  assert.deepEqual(updates(h.drain(), 2).map((m) => m.value!.get('value')), [3]);
  // an operation on the destroyed channel is refused
  op(h, { command: Cmd.GET, sid, ioid: 9, subcmd: 0x08, pvRequest: parseRequest('') });
  await tick();
  const refused = responses(h.drain(), 9)[0];
  assert.ok(refused && refused.status && refused.status.type !== 0, 'no channel with that sid');
  assert.match(refused.status!.message, new RegExp(`no channel with sid ${sid}`));
});

test('subscribers with the same selection share one encoding, on one connection and across connections', async () => {
  const h1 = harness();
  const h2 = harness();
  const pv = scalarPv(0);
  h1.provider.add('pv', pv);
  h2.provider.add('pv', pv);
  const s1 = await h1.channel('pv');
  const s2 = await h2.channel('pv');
  for (const ioid of [1, 2]) await monitor(h1, s1, ioid, 'field(value,display.units)');
  await monitor(h2, s2, 3, 'field(value,display.units)');
  for (const ioid of [1, 2]) op(h1, { command: Cmd.MONITOR, sid: s1, ioid, subcmd: 0x44 });
  op(h2, { command: Cmd.MONITOR, sid: s2, ioid: 3, subcmd: 0x44 });
  await tick();
  h1.drain();
  h2.drain();
  // a big enough update to make the first connection's output buffer grow while encoding
  const long = 'x'.repeat(10000);
  pv.post({ value: 42, display: { units: long, description: 'not selected' } });
  await tick();
  const a = h1.drain();
  const b = h2.drain();
  for (const [ms, ioid] of [[a, 1], [a, 2], [b, 3]] as const) {
    const [u] = updates(ms, ioid);
    assert.ok(u, `update for ${ioid}`);
    assert.equal(u.value!.get('value'), 42);
    assert.equal(u.value!.get('display.units'), long);
    assert.equal(u.value!.get('display.description'), '', 'unselected');
    assert.equal(u.overrun!.isEmpty(), true);
  }
});

test('SharedPV onWritable: a producer posting whenever writable fills the pipeline window exactly, without squashing', async () => {
  const h = harness();
  // the producer is asked again one event-loop turn after each update
  const settle = async () => {
    for (let i = 0; i < 10; i++) await tick();
  };
  let n = 0;
  let calls = 0;
  const pv = new SharedPV({
    onWritable: (p) => {
      calls++;
      p.post({ value: ++n });
    },
  });
  pv.open(new PVStructure(ntScalar('uint'), { value: 0 }));
  h.provider.add('spam', pv);
  const sid = await h.channel('spam');
  assert.equal(pv.writable, false, 'nobody subscribed');
  await monitor(h, sid, 1, 'record[pipeline=true]', 4);
  assert.equal(pv.writable, false, 'not started');
  op(h, { command: Cmd.MONITOR, sid, ioid: 1, subcmd: 0x44 });
  await settle();
  let got = updates(h.drain(), 1).map((m) => m.value!.get('value') as number);
  assert.deepEqual(got, [0, 1, 2, 3], 'the initial value, then three posts fill the window of 4');
  assert.equal(pv.writable, false, 'window shut');
  await settle();
  assert.equal(updates(h.drain(), 1).length, 0);
  op(h, { command: Cmd.MONITOR, sid, ioid: 1, subcmd: 0x80, ack: 2 });
  await settle();
  const again = updates(h.drain(), 1);
  got = again.map((m) => m.value!.get('value') as number);
  assert.deepEqual(got, [4, 5], 'an ack of 2 lets exactly two more posts through');
  assert.ok(again.every((m) => m.overrun!.isEmpty()), 'nothing squashed');
  assert.equal(n, 5);
  // a congested client: not writable until it drains
  h.sink.buffered = 2 << 20;
  op(h, { command: Cmd.MONITOR, sid, ioid: 1, subcmd: 0x80, ack: 2 });
  await settle();
  assert.equal(updates(h.drain(), 1).length, 0);
  assert.equal(n, 5, 'no posts while congested');
  h.sink.buffered = 0;
  h.conn.drained();
  await settle();
  assert.deepEqual(updates(h.drain(), 1).map((m) => m.value!.get('value')), [6, 7]);
  assert.ok(calls >= 7);
});

test('SharedPV onWritable: a pipelined subscriber takes a quarter of its window per write, so the client can ack while the rest is on its way', async () => {
  for (const windowSize of [1, 2, 4, 16]) {
    const h = harness();
    let n = 0;
    const pv = new SharedPV({ onWritable: (p) => p.post({ value: ++n }) });
    pv.open(new PVStructure(ntScalar('uint'), { value: 0 }));
    h.provider.add('spam', pv);
    const sid = await h.channel('spam');
    await monitor(h, sid, 1, 'record[pipeline=true]', windowSize);
    const before = h.sink.writes.length;
    op(h, { command: Cmd.MONITOR, sid, ioid: 1, subcmd: 0x44 });
    for (let i = 0; i < 20; i++) await tick();
    const got = updates(h.drain(), 1).map((m) => m.value!.get('value') as number);
    assert.deepEqual(got, Array.from({ length: windowSize }, (_, i) => i), `window ${windowSize}: exactly the window, in order`);
    const quarter = Math.max(1, Math.floor(windowSize / 4));
    assert.equal(h.sink.writes.length - before, Math.ceil(windowSize / quarter), `window ${windowSize}: ${quarter} per write`);
    // acks keep it going
    op(h, { command: Cmd.MONITOR, sid, ioid: 1, subcmd: 0x80, ack: windowSize });
    for (let i = 0; i < 20; i++) await tick();
    assert.equal(updates(h.drain(), 1).length, windowSize);
    h.conn.close();
  }
});

test('SharedPV onWritable without pipelining: queueSize updates per write, spread over event-loop turns', async () => {
  const h = harness();
  let n = 0;
  const pv = new SharedPV({
    onWritable: (p) => {
      if (n < 40) p.post({ value: ++n });
    },
  });
  pv.open(new PVStructure(ntScalar('uint'), { value: 0 }));
  h.provider.add('spam', pv);
  const sid = await h.channel('spam');
  await monitor(h, sid, 1, 'record[queueSize=5]');
  const before = h.sink.writes.length;
  op(h, { command: Cmd.MONITOR, sid, ioid: 1, subcmd: 0x44 });
  await tick();
  assert.ok(n < 40, 'one turn of the event loop does not run the producer dry');
  for (let i = 0; i < 40 && n < 40; i++) await tick();
  await tick();
  const writes = h.sink.writes.slice(before);
  const perWrite = writes.map((w) => {
    const f = new Framer();
    return f.push(w).length;
  });
  assert.ok(perWrite.every((k) => k <= 5), `updates per write: ${perWrite}`);
  const got = updates(h.drain(), 1).map((m) => m.value!.get('value') as number);
  assert.deepEqual(got, Array.from({ length: 41 }, (_, i) => i), 'every value, in order');
});

test('GET and PUT executed again: onGet runs on every GET execute; after the PV closed, or reopened with another type, executes fail with a status (the connection stays) until a new INIT', async () => {
  const h = harness();
  let gets = 0;
  const pv = SharedPV.mailbox({ onGet: () => void gets++ });
  const dbl = () => new PVStructure(ntScalar('double'), { value: 1.5 });
  pv.open(dbl());
  h.provider.add('pv', pv);
  const sid = await h.channel('pv');
  op(h, { command: Cmd.GET, sid, ioid: 1, subcmd: 0x08, pvRequest: parseRequest('') });
  op(h, { command: Cmd.PUT, sid, ioid: 2, subcmd: 0x08, pvRequest: parseRequest('') });
  await tick();
  const [, putInit] = responses(h.drain());
  const oldType = putInit.fieldType!;
  const get = async () => {
    op(h, { command: Cmd.GET, sid, ioid: 1, subcmd: 0x00 });
    await tick();
    return responses(h.drain(), 1)[0];
  };
  const put = async (x: number) => {
    op(h, { command: Cmd.PUT, sid, ioid: 2, subcmd: 0x00, value: new PVStructure(oldType, { value: x }), changed: BitSet.of(1) });
    await tick();
    return responses(h.drain(), 2)[0];
  };
  assert.equal((await get()).value!.get('value'), 1.5);
  assert.equal((await put(2)).status!.type, 0);
  assert.equal((await get()).value!.get('value'), 2);
  assert.equal(gets, 2, 'onGet once per GET execute');

  // closed and opened again with an equal type (another instance): the operations carry on
  pv.close();
  pv.open(dbl());
  assert.notEqual(pv.type, oldType);
  assert.equal((await put(3)).status!.type, 0);
  assert.equal(pv.current.get('value'), 3);
  assert.equal((await get()).value!.get('value'), 3);

  // closed: executes fail with a status, a put is decoded (with the type the client knows) and refused
  pv.close();
  const g = await get();
  assert.ok(g.status!.type >= 2);
  assert.match(g.status!.message, /closed/);
  const p = await put(4);
  assert.ok(p.status!.type >= 2);
  assert.match(p.status!.message, /closed/);

  // opened with another type: the operations' type is stale; a new INIT gets the new one
  pv.open(new PVStructure(ntScalar('string'), { value: 'text' }));
  const g2 = await get();
  assert.ok(g2.status!.type >= 2);
  assert.match(g2.status!.message, /type changed/);
  const p2 = await put(5);
  assert.ok(p2.status!.type >= 2);
  assert.match(p2.status!.message, /type changed/);
  assert.equal(pv.current.get('value'), 'text', 'the stale put was not applied');
  assert.equal(h.sink.closed, false);
  op(h, { command: Cmd.GET, sid, ioid: 3, subcmd: 0x08, pvRequest: parseRequest('') });
  await tick();
  assert.equal(responses(h.drain(), 3)[0].fieldType!.field('value')!.kind, 'scalar');
  op(h, { command: Cmd.GET, sid, ioid: 3, subcmd: 0x00 });
  await tick();
  assert.equal(responses(h.drain(), 3)[0].value!.get('value'), 'text');
});
