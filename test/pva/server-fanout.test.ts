// Monitor fan-out without sockets: large updates shared by every subscriber's output (one copy of
// each array element per update), their buffers reused only once every connection has written
// them, and the per-turn fan-out budget (requests answered before held-back updates, squashing,
// round robin between connections).
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
import { PVStructure, Writer, parseRequest, type Structure, type TypeCache } from '../../src/pvdata/index.ts';
import { ntScalar, ntScalarArray } from '../../src/pvdata/nt.ts';
import { ServerConnection, SharedPV, StaticProvider, memoryLogger, type ConnectionSink, type ServerContext } from '../../src/pva/server/index.ts';
import { FanoutBudget, processFanout } from '../../src/pva/server/fanout.ts';

const tick = () => new Promise<void>((r) => setImmediate(r));

/** A sink with writev: keeps every write's chunks as given (not copied) and, on request, its `done`. */
class ChunkSink implements ConnectionSink {
  writes: Buffer[][] = [];
  dones: Array<() => void> = [];
  holdDone = false;
  constructor(private readonly log: Array<{ sink: ChunkSink; at: number }> = []) {}
  write(data: Buffer): void {
    this.writes.push([Buffer.from(data)]);
    this.log.push({ sink: this, at: this.writes.length - 1 });
  }
  writev(chunks: Buffer[], done: () => void): void {
    this.writes.push(chunks);
    this.log.push({ sink: this, at: this.writes.length - 1 });
    if (this.holdDone) this.dones.push(done);
    else done();
  }
  bufferedBytes(): number {
    return 0;
  }
  close(): void {}
}

interface Client {
  conn: ServerConnection;
  sink: ChunkSink;
  /** Decoded messages of each write (by write index), decoded once. */
  messages(from?: number): PvaMessage[][];
  op(m: Omit<OpRequestMsg, 'type'>): void;
  channel(name: string, cid: number): Promise<number>;
}

function client(provider: StaticProvider, fanout: FanoutBudget, log?: Array<{ sink: ChunkSink; at: number }>): Client {
  const sink = new ChunkSink(log);
  const ctx: ServerContext = {
    guid: Buffer.alloc(12, 7),
    tcpPort: 5075,
    log: memoryLogger(),
    maxMessageSize: 1 << 24,
    sendQueueLimit: 1 << 24,
    fanout,
    has: (n) => provider.has(n),
    lookup: (n) => provider.get(n),
  };
  const conn = new ServerConnection(ctx, sink, 'fake:1');
  const framer = new Framer(1 << 24);
  const cache: TypeCache = new Map();
  const types = new Map<number, Structure>();
  const decoded: PvaMessage[][] = [];
  const send = (fn: (w: Writer) => void) => {
    const w = new Writer(true, 256);
    fn(w);
    conn.receive(w.toBuffer());
  };
  const c: Client = {
    conn,
    sink,
    messages(from = 0) {
      for (let i = decoded.length; i < sink.writes.length; i++) {
        const out: PvaMessage[] = [];
        for (const chunk of sink.writes[i]) {
          for (const f of framer.push(chunk)) {
            assert.ok(!(f instanceof ProtocolError), String(f));
            const m = decodeMessage(f, { cache, opTypes: (ioid) => (types.has(ioid) ? { get: types.get(ioid), put: types.get(ioid) } : undefined) });
            assert.ok(!(m instanceof ProtocolError), String(m));
            if (m.type === 'opResponse' && m.subcmd & 0x08 && m.fieldType) types.set(m.ioid, m.fieldType);
            out.push(m);
          }
        }
        decoded.push(out);
      }
      return decoded.slice(from);
    },
    op(m) {
      send((w) => encodeOpRequest(w, m));
    },
    async channel(name, cid) {
      send((w) => encodeMessage(w, { type: 'createChannel', channels: [{ cid, name }] }));
      await tick();
      const r = c.messages().flat().find((m) => m.type === 'createChannelResponse' && m.cid === cid);
      assert.ok(r && r.type === 'createChannelResponse' && r.status.type === 0);
      return r.sid;
    },
  };
  conn.start();
  send((w) => encodeMessage(w, { type: 'validationReply', bufferSize: 0x10000, registrySize: 0x7fff, qos: 0, method: 'anonymous', data: null }));
  return c;
}

const updatesOf = (ms: PvaMessage[], ioid?: number) =>
  ms.filter(
    (m): m is OpResponseMsg =>
      m.type === 'opResponse' && m.command === Cmd.MONITOR && !(m.subcmd & 0x18) && !!m.value && (ioid === undefined || m.ioid === ioid),
  );

/** Subscribes (INIT + start) on `sid` as `ioid`. */
async function subscribe(c: Client, sid: number, ioid: number, request = ''): Promise<void> {
  c.op({ command: Cmd.MONITOR, sid, ioid, subcmd: 0x08, pvRequest: parseRequest(request) });
  c.op({ command: Cmd.MONITOR, sid, ioid, subcmd: 0x44 });
  await tick();
}

/** Chunks of at least `min` bytes in the writes from index `from` on. */
const bigChunks = (c: Client, from: number, min: number) => c.sink.writes.slice(from).flat().filter((b) => b.length >= min);

const sameBytes = (a: Buffer, b: Buffer) => a.buffer === b.buffer && a.byteOffset === b.byteOffset && a.length === b.length;

test('a large array update is encoded once: every subscription on every connection writes the same bytes', async () => {
  const fanout = new FanoutBudget();
  const provider = new StaticProvider();
  const N = 131072; // 1 MiB of doubles
  const pv = new SharedPV();
  pv.open(new PVStructure(ntScalarArray('double'), { value: new Float64Array(N) }));
  provider.add('arr', pv);
  // 8 subscriptions: 3 on the first connection, 3 on the second, 2 on the third
  const clients = [client(provider, fanout), client(provider, fanout), client(provider, fanout)];
  const per = [3, 3, 2];
  for (const [k, c] of clients.entries()) {
    const sid = await c.channel('arr', 1);
    for (let i = 0; i < per[k]; i++) await subscribe(c, sid, 10 + i);
  }
  await tick();
  const marks = clients.map((c) => c.sink.writes.length);
  const a = new Float64Array(N);
  for (let i = 0; i < N; i++) a[i] = i * 0.5;
  pv.post({ value: a });
  await tick();
  const chunks = clients.flatMap((c, k) => bigChunks(c, marks[k], N * 8));
  assert.equal(chunks.length, 8, 'one large chunk per subscription');
  for (const ch of chunks) assert.ok(sameBytes(ch, chunks[0]), 'all the same bytes in memory');
  assert.notEqual(chunks[0].buffer, a.buffer, 'copied once, out of the posted array');
  // and every subscription decodes the posted array
  for (const [k, c] of clients.entries()) {
    const got = updatesOf(c.messages(marks[k]).flat());
    assert.equal(got.length, per[k]);
    for (const u of got) assert.deepEqual(u.value!.get('value'), a);
  }
});

test('a shared buffer is reused only after every connection has written it', async () => {
  const fanout = new FanoutBudget();
  const provider = new StaticProvider();
  const N = 20000; // 160 kB: a size no other test here uses, so the pool holds only this test's buffers
  const pv = new SharedPV();
  pv.open(new PVStructure(ntScalarArray('double'), { value: new Float64Array(N) }));
  provider.add('arr', pv);
  const c1 = client(provider, fanout);
  const c2 = client(provider, fanout);
  for (const c of [c1, c2]) await subscribe(c, await c.channel('arr', 1), 10);
  await tick();
  c1.sink.holdDone = true;
  c2.sink.holdDone = true;
  const post = async (x: number): Promise<Buffer> => {
    const marks = [c1.sink.writes.length, c2.sink.writes.length];
    pv.post({ value: new Float64Array(N).fill(x) });
    await tick();
    const [b1] = bigChunks(c1, marks[0], N * 8);
    const [b2] = bigChunks(c2, marks[1], N * 8);
    assert.ok(b1 && b2 && sameBytes(b1, b2), 'both connections write the same bytes');
    // decoded now, as a socket reads them before it says it is done
    for (const c of [c1, c2]) {
      const got = updatesOf(c.messages().flat(), 10).map((u) => (u.value!.get('value') as Float64Array)[N - 1]);
      assert.equal(got.at(-1), x, 'each connection decodes what was posted');
    }
    return b1;
  };
  const valuesIn = (b: Buffer) => new Float64Array(b.buffer.slice(b.byteOffset + b.length - N * 8, b.byteOffset + b.length));
  const A = await post(1);
  c1.sink.dones.splice(0).forEach((d) => d()); // the first connection has written A, the second not yet
  const B = await post(2);
  assert.notEqual(B.buffer, A.buffer, 'A is still being written by the second connection: not reused');
  assert.ok(valuesIn(A).every((v) => v === 1), 'A unchanged');
  c1.sink.dones.splice(0).forEach((d) => d());
  c2.sink.dones.splice(0).forEach((d) => d()); // A and B written everywhere
  const C = await post(3);
  assert.ok(C.buffer === A.buffer || C.buffer === B.buffer, 'a written buffer is reused');
  assert.ok(valuesIn(C).every((v) => v === 3));
});

/** `n` scalar PVs monitored by one connection each (ioid 100+i); returns the PVs. */
async function scalarPvs(provider: StaticProvider, clients: Client[], n: number, prefix: string): Promise<SharedPV[]> {
  const pvs: SharedPV[] = [];
  for (let i = 0; i < n; i++) {
    const pv = new SharedPV();
    pv.open(new PVStructure(ntScalar('double'), { value: 0 }));
    provider.add(`${prefix}${i}`, pv);
    pvs.push(pv);
  }
  for (const c of clients) {
    for (let i = 0; i < n; i++) await subscribe(c, await c.channel(`${prefix}${i}`, i + 1), 100 + i);
  }
  await tick();
  return pvs;
}

test('fan-out budget: once a turn has sent its share, a get is answered before the held-back updates, which are squashed and all sent later', async () => {
  const fanout = new FanoutBudget(10);
  const provider = new StaticProvider();
  const c = client(provider, fanout);
  const pvs = await scalarPvs(provider, [c], 40, 'pv');
  c.messages();
  const mark = c.sink.writes.length;
  for (const pv of pvs) pv.post({ value: 1 });
  // the posts' flushes have run (microtasks before this continuation); a get arrives
  await Promise.resolve();
  c.op({ command: Cmd.GET, sid: 1, ioid: 7, subcmd: 0x08, pvRequest: parseRequest('') });
  c.op({ command: Cmd.GET, sid: 1, ioid: 7, subcmd: 0x00 });
  await new Promise<void>((r) => process.nextTick(r));
  const first = c.messages(mark).flat();
  assert.ok(first.some((m) => m.type === 'opResponse' && m.command === Cmd.GET && m.ioid === 7 && !(m.subcmd & 0x08)), 'the get is answered');
  const early = updatesOf(first).length;
  assert.ok(early >= 1 && early <= 10, `at most the budget went out before it (${early})`);
  // more posts before the held-back updates go out: squashed into them, nothing queued
  for (const pv of pvs) pv.post({ value: 2 });
  for (let i = 0; i < 20; i++) await tick();
  const all = updatesOf(c.messages(mark).flat());
  const last = new Map<number, number>();
  for (const u of all) last.set(u.ioid, u.value!.get('value') as number);
  assert.equal(last.size, 40, 'every subscription got updates');
  for (const v of last.values()) assert.equal(v, 2, 'ending with the last value');
  assert.ok(all.length <= 40 + early, `squashed: ${all.length} updates for 80 posts`);
  const squashed = all.filter((u) => !u.overrun!.isEmpty());
  assert.ok(squashed.length >= 40 - early - 10, 'held-back updates carry overrun bits for the value posted twice');
  for (const u of squashed) assert.deepEqual(u.overrun!.toArray(), [1]);
});

test('fan-out budget: connections with held-back updates are served in turn, none waits for another to finish', async () => {
  const fanout = new FanoutBudget(10);
  const provider = new StaticProvider();
  const order: Array<{ sink: ChunkSink; at: number }> = [];
  const c1 = client(provider, fanout, order);
  const c2 = client(provider, fanout, order);
  const pvs = await scalarPvs(provider, [c1, c2], 30, 'q');
  c1.messages();
  c2.messages();
  const from = order.length;
  for (const pv of pvs) pv.post({ value: 5 });
  for (let i = 0; i < 30; i++) await tick();
  // which connection each write carrying updates went to, in order
  const seq: number[] = [];
  for (const { sink, at } of order.slice(from)) {
    const c = sink === c1.sink ? c1 : c2;
    if (updatesOf(c.messages()[at]).length) seq.push(c === c1 ? 1 : 2);
  }
  for (const c of [c1, c2]) assert.equal(updatesOf(c.messages().flat()).filter((u) => u.value!.get('value') === 5).length, 30);
  const lastOf1 = seq.lastIndexOf(1);
  const firstOf2 = seq.indexOf(2);
  const lastOf2 = seq.lastIndexOf(2);
  const firstOf1 = seq.indexOf(1);
  assert.ok(firstOf2 < lastOf1 && firstOf1 < lastOf2, `the connections' writes interleave: ${seq.join(' ')}`);
});

test('fan-out budget: PVs posted once the budget is spent wait for a turn; their later posts merge with overrun bits', async () => {
  const saved = processFanout.limit;
  processFanout.limit = 5;
  try {
    const provider = new StaticProvider();
    const c = client(provider, processFanout);
    const pvs = await scalarPvs(provider, [c], 30, 'd');
    c.messages();
    const mark = c.sink.writes.length;
    for (const pv of pvs) pv.post({ value: 1 });
    // the posts' flushes have run: a few went out, the rest wait for the budget's turn
    await Promise.resolve();
    for (const pv of pvs) pv.post({ value: 2 });
    for (let i = 0; i < 30; i++) await tick();
    const all = updatesOf(c.messages(mark).flat());
    const last = new Map<number, OpResponseMsg>();
    for (const u of all) last.set(u.ioid, u);
    assert.equal(last.size, 30, 'every subscription got updates');
    for (const u of last.values()) assert.equal(u.value!.get('value'), 2, 'ending with the last value');
    assert.ok(all.length < 60, `merged: ${all.length} updates for 60 posts`);
    // a PV held back by the budget and posted again: its subscriber learns the first value was lost
    const overrun = all.filter((u) => !u.overrun!.isEmpty());
    assert.ok(overrun.length >= 20, `${overrun.length} updates with overrun bits`);
    for (const u of overrun) assert.deepEqual(u.overrun!.toArray(), [1]);
  } finally {
    processFanout.limit = saved;
  }
});

test('fan-out budget: a turn also ends when its time is up, however many updates the count allows', async () => {
  // a count no burst here reaches, and no time at all: the turn ends at the first look at the clock
  const fanout = new FanoutBudget(1e9, 0);
  const provider = new StaticProvider();
  const c = client(provider, fanout);
  const pvs = await scalarPvs(provider, [c], 400, 't');
  c.messages();
  const mark = c.sink.writes.length;
  for (const pv of pvs) pv.post({ value: 3 });
  await Promise.resolve();
  assert.ok(fanout.spent, 'spent by time');
  await new Promise<void>((r) => process.nextTick(r));
  const early = updatesOf(c.messages(mark).flat()).length;
  assert.ok(early >= 1 && early < 400, `the clock is looked at every 128 updates: ${early} went out before the turn ended`);
  for (let i = 0; i < 20; i++) await tick();
  const all = updatesOf(c.messages(mark).flat());
  assert.equal(new Set(all.map((u) => u.ioid)).size, 400, 'the rest went out in later turns');
  for (const u of all) assert.equal(u.value!.get('value'), 3);
});
