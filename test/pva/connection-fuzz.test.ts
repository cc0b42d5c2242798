// Seeded fuzzing of the sans-I/O pvAccess connections with mutated recorded traffic: the server's
// ServerConnection fed mutated client streams, the client's ClientConnection fed mutated server
// streams. After every case: the connection still answers (an echo) or it closed with a logged
// protocol error; what it sent is well formed and bounded; closing it releases every PV; and a clean
// session on a fresh connection to the same server still gets, puts and monitors correctly.
// Long runs: PVTREE_FUZZ_SCALE=50 node scripts/run-tests.mjs test/pva/connection-fuzz
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_MAX_MESSAGE_SIZE, Framer } from '../../src/pva/framer.ts';
import {
  ProtocolError,
  encodeControl,
  encodeMessage,
  type Frame,
  type OpResponseMsg,
  type PvaMessage,
} from '../../src/pva/messages.ts';
import { Cmd, Ctrl } from '../../src/pva/protocol.ts';
import { BitSet, PVStructure, Writer, parseRequest, type Structure } from '../../src/pvdata/index.ts';
import { ClientConnection, type OpHandler } from '../../src/pva/client/connection.ts';
import {
  ServerConnection,
  StaticProvider,
  memoryLogger,
  type ConnectionSink,
  type ServerContext,
  type SharedPV,
} from '../../src/pva/server/index.ts';
import { ConnectionDecoder, captureFrames, frameBytes, loadCaptures } from './captures.ts';
import { peerPVs } from './peer-server.ts';
import { mutate, messageHeaders } from './mutate.ts';
import { Rand, cases } from '../util/fuzz.ts';

/** Smaller than the default so that "message too large" is reachable by the length mutations. */
const MAX_MESSAGE = 1 << 16;
const tick = () => new Promise<void>((r) => setImmediate(r));

/** Runs ticks until `cond` holds; the connections are in memory, so a few ticks always do. */
async function settle(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (cond()) return;
    await tick();
  }
  assert.fail(`never happened: ${what}`);
}

// ---------------------------------------------------------------- the server and its PVs

/** One pvtree "server" without sockets: the peer PVs, shared by every connection of the run. */
class Server {
  readonly pvs: Record<string, SharedPV> = peerPVs();
  private readonly provider = new StaticProvider();
  constructor() {
    for (const [name, pv] of Object.entries(this.pvs)) this.provider.add(name, pv);
  }
  context(log: ReturnType<typeof memoryLogger>): ServerContext {
    return {
      guid: Buffer.alloc(12, 3),
      tcpPort: 5075,
      log,
      maxMessageSize: MAX_MESSAGE,
      sendQueueLimit: 1 << 20,
      has: (n) => this.provider.has(n),
      lookup: (n) => this.provider.get(n),
    };
  }
  /** Asserts that no connection holds a channel or a subscription of any PV. */
  assertReleased(label: string): void {
    for (const [name, pv] of Object.entries(this.pvs)) {
      assert.equal(pv.channelCount, 0, `${label}: ${name} still has channels`);
      assert.equal(pv.subscriberCount, 0, `${label}: ${name} still has subscribers`);
    }
  }
}

/** Collects what a ServerConnection writes. */
class Sink implements ConnectionSink {
  readonly writes: Buffer[] = [];
  bytes = 0;
  closed = false;
  onWrite?: (data: Buffer) => void;
  write(data: Buffer): void {
    this.bytes += data.length;
    if (this.onWrite) this.onWrite(Buffer.from(data));
    else this.writes.push(Buffer.from(data));
  }
  bufferedBytes(): number {
    return 0;
  }
  close(): void {
    this.closed = true;
  }
}

// ---------------------------------------------------------------- a clean session

/**
 * A pvtree ClientConnection wired to a fresh ServerConnection in memory (each direction delivered
 * in a microtask, as a socket would deliver it later): get, put and monitor the way client.ts does.
 */
class Session {
  readonly log = memoryLogger();
  readonly sink = new Sink();
  readonly conn: ServerConnection;
  readonly client: ClientConnection;
  private ready = false;
  private closing = false;
  private fatal = '';
  private nextCid = 1;
  private nextIoid = 1;

  constructor(server: Server) {
    this.conn = new ServerConnection(server.context(this.log), this.sink, 'clean:1');
    this.sink.onWrite = (data) => queueMicrotask(() => this.client.receive(data));
    this.client = new ClientConnection({
      send: (b) => {
        const copy = Buffer.from(b);
        queueMicrotask(() => this.conn.receive(copy));
      },
      onReady: () => void (this.ready = true),
      onFatal: (why) => void (this.fatal = why),
    });
  }

  async open(): Promise<void> {
    this.conn.start();
    await settle(() => this.ready || !!this.fatal, 'the clean handshake');
    assert.equal(this.fatal, '', 'clean handshake');
  }

  private async channel(name: string): Promise<number> {
    let sid = -1;
    let status = '';
    this.client.createChannel(this.nextCid++, name, {
      onCreated: (s, st) => {
        sid = s;
        status = st.type > 1 ? st.message : 'ok';
      },
      onDestroyed: () => {},
    });
    await settle(() => status !== '', `channel ${name}`);
    assert.equal(status, 'ok', `channel ${name}`);
    return sid;
  }

  /** Opens an operation; resolves once its INIT reply is in (types learned). */
  private async operation(command: number, sid: number, request = '') {
    const ioid = this.nextIoid++;
    const replies: OpResponseMsg[] = [];
    const h: OpHandler = {
      types: {},
      onMessage: (m) => {
        if (m.type !== 'opResponse') return;
        if (m.subcmd & 0x08 && m.fieldType) h.types = { get: m.fieldType as Structure, put: m.fieldType as Structure };
        replies.push(m);
      },
      onClosed: (why) => {
        if (!this.closing) this.fatal ||= `operation ${ioid} closed: ${why}`;
      },
    };
    this.client.register(ioid, h);
    this.client.opRequest({ command, sid, ioid, subcmd: 0x08, pvRequest: parseRequest(request) });
    await settle(() => replies.length > 0, `INIT reply of ${ioid}`);
    assert.equal(replies[0].status?.type, 0, replies[0].status?.message);
    return { ioid, replies, type: h.types.get! };
  }

  async get(name: string): Promise<PVStructure> {
    const sid = await this.channel(name);
    const op = await this.operation(Cmd.GET, sid);
    this.client.opRequest({ command: Cmd.GET, sid, ioid: op.ioid, subcmd: 0x00 });
    await settle(() => op.replies.length > 1, `GET ${name}`);
    const r = op.replies[1];
    assert.equal(r.status?.type, 0, r.status?.message);
    this.client.destroyRequest(sid, op.ioid);
    return r.value!;
  }

  async put(name: string, value: unknown): Promise<void> {
    const sid = await this.channel(name);
    const op = await this.operation(Cmd.PUT, sid);
    const v = new PVStructure(op.type, { value });
    this.client.opRequest({ command: Cmd.PUT, sid, ioid: op.ioid, subcmd: 0x00, value: v, changed: BitSet.of(op.type.offsetOf('value')!) });
    await settle(() => op.replies.length > 1, `PUT ${name}`);
    assert.equal(op.replies[1].status?.type, 0, op.replies[1].status?.message);
    this.client.destroyRequest(sid, op.ioid);
  }

  /** Starts a monitor; `values` collects the `value` field of every update. */
  async monitor(name: string): Promise<unknown[]> {
    const sid = await this.channel(name);
    const op = await this.operation(Cmd.MONITOR, sid);
    this.client.opRequest({ command: Cmd.MONITOR, sid, ioid: op.ioid, subcmd: 0x44 });
    const values: unknown[] = [];
    const seen = op.replies.length;
    const collect = () => {
      for (const m of op.replies.splice(seen)) if (!(m.subcmd & 0x18) && m.value) values.push(m.value.get('value'));
    };
    await settle(() => (collect(), values.length > 0), `first update of ${name}`);
    return new Proxy(values, {
      get: (t, k) => {
        collect();
        return Reflect.get(t, k);
      },
    });
  }

  /** Anything that went wrong on the client side so far ('' when nothing). */
  get failure(): string {
    return this.fatal;
  }

  close(): void {
    this.closing = true;
    this.conn.close();
    this.client.closed('done');
  }
}

/** Gets, puts and monitors over a fresh connection; checks the values; releases everything. */
async function cleanSession(server: Server, n: number): Promise<void> {
  const s = new Session(server);
  try {
    await s.open();
    assert.equal((await s.get('peer:ai')).get('value'), 3.25, 'get peer:ai');
    assert.deepEqual(Array.from((await s.get('peer:wf')).get('value') as Float64Array), [1.5, 2.5, 3.5, 4.5], 'get peer:wf');
    await s.put('peer:ao', 1000 + n);
    assert.equal((await s.get('peer:ao')).get('value'), 1000 + n, 'put then get peer:ao');
    const updates = await s.monitor('peer:str');
    await s.put('peer:str', `clean ${n}`);
    await settle(() => updates.includes(`clean ${n}`), 'the monitor update after a put');
    assert.deepEqual(s.log.lines.filter((l) => !l.startsWith('info')), [], 'a clean session logs no warning');
    assert.equal(s.failure, '', 'nothing failed on the client side');
  } finally {
    s.close();
  }
}

// ---------------------------------------------------------------- corpus

/** Each recorded TCP connection: the client's bytes (sids patched to pvtree's) and the server's, as recorded. */
interface Conversation {
  name: string;
  c2s: Buffer;
  c2sHeaders: number[];
  s2c: Buffer;
  s2cHeaders: number[];
  /** The client's requests, decoded (for registering channels and operations on a ClientConnection). */
  requests: PvaMessage[];
}

const SID_COMMANDS = new Set<number>([Cmd.GET, Cmd.PUT, Cmd.PUT_GET, Cmd.MONITOR, Cmd.RPC, Cmd.GET_FIELD, Cmd.DESTROY_REQUEST, Cmd.CANCEL_REQUEST, Cmd.DESTROY_CHANNEL]);

function conversations(): Conversation[] {
  const out: Conversation[] = [];
  for (const cap of loadCaptures()) {
    const byConn = new Map<string, { c2s: Frame[]; s2c: Frame[] }>();
    for (const f of captureFrames(cap)) {
      if (f.transport !== 'tcp') continue;
      let c = byConn.get(f.connection);
      if (!c) byConn.set(f.connection, (c = { c2s: [], s2c: [] }));
      c[f.dir].push(f.frame);
    }
    for (const [connection, c] of byConn) {
      const dec = new ConnectionDecoder();
      const requests: PvaMessage[] = [];
      // pvtree numbers the channels of a connection 1, 2, … in creation order
      const ourSid = new Map<number, number>(); // cid → our sid
      for (const f of c.c2s) {
        const m = dec.decode(f, 'c2s');
        if (m instanceof ProtocolError) throw new Error(`${cap.name}: ${m}`);
        requests.push(m);
        if (m.type === 'createChannel') for (const ch of m.channels) ourSid.set(ch.cid, ourSid.size + 1);
      }
      const theirSid = new Map<number, number>(); // captured sid → cid
      for (const f of c.s2c) {
        const m = dec.decode(f, 's2c');
        if (!(m instanceof ProtocolError) && m.type === 'createChannelResponse') theirSid.set(m.sid, m.cid);
      }
      const c2s = Buffer.concat(
        c.c2s.map((f) => {
          const b = frameBytes(f);
          if (!SID_COMMANDS.has(f.command) || f.flags & 0x01 || b.length < 12) return b;
          const be = (f.flags & 0x80) !== 0;
          const cid = theirSid.get(be ? b.readUInt32BE(8) : b.readUInt32LE(8));
          const sid = cid === undefined ? undefined : ourSid.get(cid);
          if (sid !== undefined) {
            if (be) b.writeUInt32BE(sid, 8);
            else b.writeUInt32LE(sid, 8);
          }
          return b;
        }),
      );
      const s2c = Buffer.concat(c.s2c.map(frameBytes));
      out.push({ name: `${cap.name} ${connection}`, c2s, c2sHeaders: messageHeaders(c2s), s2c, s2cHeaders: messageHeaders(s2c), requests });
    }
  }
  return out;
}

const corpus = conversations();

/** Mutates a stream once (half the cases) or up to four times. */
function mutated(r: Rand, bytes: Buffer, headers: number[]): Buffer {
  let b = bytes;
  for (let k = r.int(2) ? 1 : 1 + r.int(4); k > 0; k--) b = mutate(r, b, headers);
  return b;
}

/** Random cuts, as a socket might deliver them. */
function* cuts(r: Rand, b: Buffer): Generator<Buffer> {
  for (let pos = 0; pos < b.length; ) {
    const n = 1 + r.int(r.int(2) ? 16 : 512);
    yield b.subarray(pos, pos + n);
    pos += n;
  }
}

/** What a correct peer's framer makes of the bytes followed by `probe`: broken, or is the probe a frame of its own? */
function oracle(bytes: Buffer, probe: Buffer, maxMessageSize: number): { broken: boolean; probeArrives: boolean } {
  const f = new Framer(maxMessageSize);
  const out = [...f.push(bytes), ...f.push(probe)];
  const broken = out.some((x) => x instanceof ProtocolError);
  const last = out.at(-1);
  const probeArrives = !broken && !!last && !(last instanceof ProtocolError) && frameBytes(last).equals(probe);
  return { broken, probeArrives };
}

function encoded(fn: (w: Writer) => void): Buffer {
  const w = new Writer(true, 64);
  fn(w);
  return w.toBuffer();
}

// ---------------------------------------------------------------- fuzzing

describe('connection fuzz (seeded, bounded)', () => {
  it('the corpus has client and server streams of every recorded conversation', () => {
    assert.ok(corpus.length >= 33, `${corpus.length} conversations`);
    assert.ok(corpus.every((c) => c.c2s.length > 0 && c.s2c.length > 0));
  });

  it('the unmutated client streams get their answers (the patched sids are pvtree’s)', async () => {
    const server = new Server();
    for (const c of corpus) {
      const log = memoryLogger();
      const sink = new Sink();
      const conn = new ServerConnection(server.context(log), sink, 'replay:1');
      conn.start();
      conn.receive(c.c2s);
      for (let i = 0; i < 5; i++) await tick();
      assert.equal(conn.isClosed, false, c.name);
      const dec = new ConnectionDecoder();
      const replies = sink.writes.flatMap((w) => new Framer().push(w)).map((f) => dec.decode(f as Frame, 's2c'));
      assert.ok(replies.every((m) => !(m instanceof ProtocolError)), c.name);
      const errors = replies.filter((m) => m.type === 'opResponse' && m.status && m.status.type > 1);
      assert.deepEqual(errors, [], `${c.name}: no operation refused`);
      assert.deepEqual(log.lines.filter((l) => !l.startsWith('info')), [], c.name);
      conn.close();
    }
    server.assertReleased('after the replays');
  });

  it('ServerConnection fed mutated client streams: answers or closes with a log line; bounded; clean sessions still work', async (t) => {
    const server = new Server();
    const r = new Rand(0xc0ffee01);
    let closed = 0;
    let answered = 0;
    const n = cases(400);
    for (let i = 0; i < n; i++) {
      const c = corpus[i % corpus.length];
      const bytes = mutated(r, c.c2s, c.c2sHeaders);
      const label = `case ${i} (${c.name})`;
      const log = memoryLogger();
      const sink = new Sink();
      const conn = new ServerConnection(server.context(log), sink, `fuzz:${i}`);
      conn.start();
      let pieces = 0;
      for (const piece of cuts(r, bytes)) {
        conn.receive(piece);
        if (++pieces % 4 === 0) await tick();
      }
      await tick();
      await tick();
      // still answering? an echo with a payload of its own
      const payload = Buffer.from(`probe ${i}`);
      const probe = encoded((w) => encodeMessage(w, { type: 'echo', fromServer: false, payload }));
      const expect = oracle(bytes, probe, MAX_MESSAGE);
      const sentBefore = sink.writes.length;
      conn.receive(probe);
      await tick();
      await tick();
      if (expect.broken) assert.ok(conn.isClosed, `${label}: a framing error closes the connection`);
      if (conn.isClosed) {
        closed++;
        assert.ok(log.lines.some((l) => /^warn: fuzz:\d+: .*; closing/.test(l)), `${label}: closed without a log line: ${log.lines.join(' | ')}`);
      } else if (expect.probeArrives) {
        const echoes = sink.writes
          .slice(sentBefore)
          .flatMap((w) => new Framer().push(w))
          .filter((f): f is Frame => !(f instanceof ProtocolError) && f.command === Cmd.ECHO && f.payload.equals(payload));
        assert.equal(echoes.length, 1, `${label}: the echo is answered`);
        answered++;
      }
      // nothing handled a message by throwing, and everything the server sent is well formed
      assert.deepEqual(log.lines.filter((l) => l.startsWith('error')), [], label);
      const replyDecoder = new ConnectionDecoder();
      const replyFramer = new Framer();
      for (const w of sink.writes) {
        for (const f of replyFramer.push(w)) {
          assert.ok(!(f instanceof ProtocolError), `${label}: reply framing: ${f}`);
          const m = replyDecoder.decode(f, 's2c');
          assert.ok(!(m instanceof ProtocolError), `${label}: reply decoding: ${m}`);
        }
      }
      // bounded: what it wrote, and what it keeps
      assert.ok(sink.bytes <= 64 * 1024 + 64 * bytes.length, `${label}: wrote ${sink.bytes} bytes for ${bytes.length}`);
      assert.ok(conn.channels.size <= c.c2sHeaders.length + 64 && conn.ops.size <= bytes.length / 8 + 1, `${label}: ${conn.channels.size} channels, ${conn.ops.size} ops`);
      assert.equal(conn.out.pos, 0, `${label}: output left unflushed`);
      conn.close();
      assert.equal(conn.channels.size + conn.ops.size, 0);
      server.assertReleased(label);
      await cleanSession(server, i);
      server.assertReleased(`${label}, clean session`);
    }
    t.diagnostic(`${n} cases: ${closed} closed, ${answered} answered an echo`);
    // both outcomes are well represented
    assert.ok(closed > n / 20 && answered > n / 20, `${closed} closed, ${answered} answered an echo, of ${n}`);
  });

  it('ClientConnection fed mutated server streams: answers or fails its operations with a reason; bounded; clean sessions still work', async (t) => {
    const server = new Server();
    const r = new Rand(0xc0ffee02);
    let fatal = 0;
    let answered = 0;
    const n = cases(400);
    for (let i = 0; i < n; i++) {
      const c = corpus[i % corpus.length];
      const bytes = mutated(r, c.s2c, c.s2cHeaders);
      const label = `case ${i} (${c.name})`;
      const sent: Buffer[] = [];
      let sentBytes = 0;
      const fatals: string[] = [];
      const conn = new ClientConnection({
        send: (b) => {
          sentBytes += b.length;
          sent.push(Buffer.from(b));
        },
        onReady: () => {},
        onFatal: (why) => void fatals.push(why),
      });
      // the client's side of the recorded conversation: its channels and operations
      const closedOps = new Map<number, number>();
      for (const m of c.requests) {
        if (m.type === 'createChannel') for (const ch of m.channels) conn.createChannel(ch.cid, ch.name, { onCreated: () => {}, onDestroyed: () => {} });
        if ((m.type === 'opRequest' && m.subcmd & 0x08) || m.type === 'getField') {
          const h: OpHandler = {
            types: {},
            onMessage: (x) => {
              if (x.type === 'opResponse' && x.subcmd & 0x08 && x.fieldType) h.types = { get: x.fieldType as Structure, put: x.fieldType as Structure };
            },
            onClosed: () => void closedOps.set(m.ioid, (closedOps.get(m.ioid) ?? 0) + 1),
          };
          conn.register(m.ioid, h);
        }
      }
      const registered = conn.openOps;
      for (const piece of cuts(r, bytes)) conn.receive(piece);
      // still answering? a server ECHO_REQUEST (control message) gets its ECHO_RESPONSE
      const value = 0x5000 + i;
      const probe = encoded((w) => encodeControl(w, Ctrl.ECHO_REQUEST, value, true));
      // (the client's framer takes messages up to the default maximum)
      const expect = oracle(bytes, probe, DEFAULT_MAX_MESSAGE_SIZE);
      const before = sent.length;
      conn.receive(probe);
      if (expect.broken) assert.ok(conn.state === 'closed', `${label}: a framing error is fatal`);
      if (conn.state === 'closed') {
        fatal++;
        assert.equal(fatals.length, 1, `${label}: one fatal report`);
        assert.ok(fatals[0].length > 0, `${label}: with a reason`);
        assert.equal(conn.openOps, 0, `${label}: no operation left open`);
        assert.ok([...closedOps.values()].every((k) => k === 1), `${label}: each operation closed once`);
        assert.ok(closedOps.size <= registered);
      } else {
        assert.deepEqual(fatals, [], label);
        if (expect.probeArrives) {
          const replies = sent
            .slice(before)
            .flatMap((b) => new Framer().push(b))
            .filter((f): f is Frame => !(f instanceof ProtocolError) && (f.flags & 0x01) !== 0 && f.command === Ctrl.ECHO_RESPONSE && f.controlValue === value);
          assert.equal(replies.length, 1, `${label}: the echo request is answered`);
          answered++;
        }
      }
      // bounded: what it sent (its requests, validation, echo responses)
      assert.ok(sentBytes <= 4096 + 2 * bytes.length, `${label}: sent ${sentBytes} bytes for ${bytes.length}`);
      conn.closed('case over');
      await cleanSession(server, i);
      server.assertReleased(`${label}, clean session`);
    }
    t.diagnostic(`${n} cases: ${fatal} fatal, ${answered} answered an echo request`);
    assert.ok(fatal > n / 20 && answered > n / 20, `${fatal} fatal, ${answered} answered an echo request, of ${n}`);
  });
});
