// Seeded mutations of the captured frames must never throw out of the framer, the decoders or the
// server connection; a server connection fed them answers or closes with a log line, and a clean
// session on a fresh connection works after every case. Long runs: PVTREE_FUZZ_SCALE=50.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  CaFramer,
  CaMemoryPv,
  CaProtocolError,
  CaServerConnection,
  CaStreamDecoder,
  DBE_VALUE,
  DBR,
  ECA,
  StaticCaSource,
  answerUdpDatagram,
  concatBytes,
  decodeDatagram,
  decodeDbr,
  encodeDbr,
  encodeMessage,
  type CaMessage,
} from '../../src/ca/index.ts';
import { decodeStream, loadCaptures, patchSids, peerSource, tcpStreams, udpDatagrams } from './helpers.ts';
import { prng as rng } from '../util/prng.ts';
import { FUZZ_SEED, cases } from '../util/fuzz.ts';


function mutate(src: Uint8Array, r: () => number): Uint8Array {
  let b = Uint8Array.from(src);
  const ops = 1 + Math.floor(r() * 4);
  for (let k = 0; k < ops; k++) {
    const op = Math.floor(r() * 6);
    const i = Math.floor(r() * Math.max(1, b.length));
    if (op === 0 && b.length) b[i] = b[i]! ^ (1 << Math.floor(r() * 8));
    else if (op === 1 && b.length) b[i] = Math.floor(r() * 256);
    else if (op === 2) b = b.subarray(0, i);
    else if (op === 3) {
      const ins = Uint8Array.from({ length: 1 + Math.floor(r() * 24) }, () => Math.floor(r() * 256));
      const nb = new Uint8Array(b.length + ins.length);
      nb.set(b.subarray(0, i));
      nb.set(ins, i);
      nb.set(b.subarray(i), i + ins.length);
      b = nb;
    } else if (op === 4 && b.length >= 8) {
      // Corrupt a header size/count field at a 16-byte boundary.
      const h = Math.floor(r() * Math.floor(b.length / 16)) * 16;
      const f = h + 2 + 2 * Math.floor(r() * 3);
      if (f + 1 < b.length) {
        b[f] = 0xff;
        b[f + 1] = r() < 0.5 ? 0xff : Math.floor(r() * 256);
      }
    } else if (op === 5 && b.length) {
      b[i] = 0;
    }
  }
  return b;
}

function randomSplit(b: Uint8Array, r: () => number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let o = 0;
  while (o < b.length) {
    const n = 1 + Math.floor(r() * 40);
    out.push(b.subarray(o, o + n));
    o += n;
  }
  return out;
}

const captures = loadCaptures();
const streams: { dir: 'c2s' | 's2c'; bytes: Uint8Array }[] = [];
for (const c of captures) {
  for (const s of tcpStreams(c)) {
    for (const dir of ['c2s', 's2c'] as const) {
      const parts = s.chunks.filter((ch) => ch.dir === dir).map((ch) => ch.bytes);
      streams.push({ dir, bytes: Buffer.concat(parts) });
    }
  }
}
const datagrams = captures.flatMap((c) => udpDatagrams(c));

test('fuzz: mutated capture streams never throw out of the framer or stream decoder', () => {
  const r = rng(0xca5eed + FUZZ_SEED);
  let frames = 0;
  let errors = 0;
  for (let iter = 0; iter < cases(3000); iter++) {
    const s = streams[Math.floor(r() * streams.length)]!;
    const m = mutate(s.bytes, r);
    const framer = new CaFramer({ maxPayloadSize: 1 << 16 });
    const dec = new CaStreamDecoder(s.dir, { maxPayloadSize: 1 << 16 });
    for (const piece of randomSplit(m, r)) {
      for (const res of framer.push(piece)) {
        if (res.ok) {
          frames++;
          assert.ok(res.frame.payload.length <= 1 << 16);
          try {
            decodeDbr(res.frame.header.dataType, res.frame.header.count, res.frame.payload);
          } catch (e) {
            assert.ok(e instanceof CaProtocolError, `decodeDbr threw ${String(e)}`);
          }
        } else {
          errors++;
          assert.ok(res.error instanceof CaProtocolError);
        }
      }
      for (const res of dec.push(piece)) if (!res.ok) assert.ok(res.error instanceof CaProtocolError);
    }
  }
  assert.ok(frames > 1000 && errors > 10, `exercised (${frames} frames, ${errors} errors)`);
});

/** Runs ticks until `cond` holds (everything here is in memory: a few ticks always do). */
async function settle(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (cond()) return;
    await new Promise((res) => setImmediate(res));
  }
  assert.fail(`never happened: ${what}`);
}

/** A sans-I/O server connection on `source` whose replies are decoded and kept. */
function connection(source: StaticCaSource, label: string) {
  const lines: string[] = [];
  const replies: CaMessage[] = [];
  const replyErrors: string[] = [];
  const closes: string[] = [];
  const dec = new CaStreamDecoder('s2c', { maxPayloadSize: 1 << 20 });
  let bytes = 0;
  const conn = new CaServerConnection(
    {
      send: (b) => {
        bytes += b.length;
        for (const r of dec.push(b)) {
          if (r.ok) replies.push(r.message);
          else replyErrors.push(r.error.message);
        }
        return true;
      },
      close: (why) => void closes.push(why),
    },
    { source, serverPort: 5064, maxPayloadSize: 1 << 16, clientAddress: label, log: (level, msg) => void lines.push(`${level} ${msg}`) },
  );
  return { conn, lines, replies, replyErrors, closes, sent: () => bytes };
}

/**
 * A clean client on a fresh connection to the same source: reads a read-only PV, writes and reads
 * back a value, and sees a monitor update after a write.
 */
async function cleanSession(source: StaticCaSource, n: number): Promise<void> {
  const c = connection(source, 'clean');
  const send = (...ms: CaMessage[]): void => {
    for (const m of ms) c.conn.receive(encodeMessage(m));
  };
  const reply = async <K extends CaMessage['kind']>(kind: K, pred: (m: Extract<CaMessage, { kind: K }>) => boolean, what: string) => {
    let found: Extract<CaMessage, { kind: K }> | undefined;
    await settle(() => !!(found = c.replies.find((m): m is Extract<CaMessage, { kind: K }> => m.kind === kind && pred(m as Extract<CaMessage, { kind: K }>))), what);
    return found!;
  };
  const open = async (cid: number, name: string): Promise<number> => {
    send({ kind: 'createChan', cid, minorVersion: 13, name });
    return (await reply('createChanReply', (m) => m.cid === cid, `channel ${name}`)).sid;
  };
  try {
    c.conn.start();
    send({ kind: 'version', priority: 0, minorVersion: 13, sequence: 0 }, { kind: 'clientName', name: 'clean' }, { kind: 'hostName', name: 'fuzz' });
    const ro = await open(1, 'clean:ro');
    send({ kind: 'readNotify', dataType: DBR.DOUBLE, count: 1, sid: ro, ioid: 1 });
    const r1 = await reply('readNotifyReply', (m) => m.ioid === 1, 'read clean:ro');
    assert.deepEqual(decodeDbr(r1.dataType, r1.count, r1.data).value, [3.25], 'get');
    const ao = await open(2, 'peer:ao');
    send({ kind: 'writeNotify', dataType: DBR.DOUBLE, count: 1, sid: ao, ioid: 2, data: encodeDbr(DBR.DOUBLE, { value: [1000 + n] }) });
    assert.equal((await reply('writeNotifyReply', (m) => m.ioid === 2, 'write peer:ao')).status, ECA.NORMAL, 'put');
    send({ kind: 'readNotify', dataType: DBR.DOUBLE, count: 1, sid: ao, ioid: 3 });
    const r3 = await reply('readNotifyReply', (m) => m.ioid === 3, 'read peer:ao');
    assert.deepEqual(decodeDbr(r3.dataType, r3.count, r3.data).value, [1000 + n], 'get after put');
    const str = await open(3, 'peer:str');
    send({ kind: 'eventAdd', dataType: DBR.STRING, count: 1, sid: str, subscriptionId: 7, mask: DBE_VALUE, low: 0, high: 0, timeout: 0 });
    await reply('eventAddReply', (m) => m.subscriptionId === 7, 'first monitor update');
    send({ kind: 'writeNotify', dataType: DBR.STRING, count: 1, sid: str, ioid: 4, data: encodeDbr(DBR.STRING, { value: [`clean ${n}`] }) });
    await reply('eventAddReply', (m) => m.subscriptionId === 7 && decodeDbr(m.dataType, m.count, m.data).value[0] === `clean ${n}`, 'monitor update after a put');
    assert.deepEqual([c.closes, c.replyErrors, c.lines], [[], [], []], 'a clean session closes nothing, decodes every reply, logs nothing');
  } finally {
    c.conn.close();
  }
}

/** Asserts that no connection holds a channel or subscription of any PV of `source`. */
function assertReleased(source: StaticCaSource, label: string): void {
  for (const [name, pv] of source.pvs) assert.equal((pv as CaMemoryPv).subscriberCount, 0, `${label}: ${name} still watched`);
}

/** The recorded client streams, with RSRV's sid replaced by the one we hand out (1: one channel each). */
const c2s = captures.flatMap((c) =>
  tcpStreams(c).map((s) => {
    const theirs = decodeStream(s, 's2c').find((m) => m.kind === 'createChanReply');
    const bytes = concatBytes(s.chunks.filter((ch) => ch.dir === 'c2s').map((ch) => ch.bytes));
    return { name: c.file, bytes: theirs?.kind === 'createChanReply' ? patchSids(bytes, (sid) => (sid === theirs.sid ? 1 : undefined)) : bytes };
  }),
);

test('fuzz: a server connection fed mutated client streams answers or closes with a log line; its replies decode; clean sessions still work', async (t) => {
  const r = rng(12345 + FUZZ_SEED);
  const source = peerSource();
  source.add('clean:ro', new CaMemoryPv({ type: 'double', value: 3.25, writable: false }));
  const probe = encodeMessage({ kind: 'echo' });
  let closed = 0;
  let answered = 0;
  const n = cases(600);
  for (let iter = 0; iter < n; iter++) {
    const s = c2s[iter % c2s.length]!;
    const bytes = mutate(s.bytes, r);
    const label = `case ${iter} (${s.name})`;
    const c = connection(source, `fuzz:${iter}`);
    c.conn.start();
    for (const piece of randomSplit(bytes, r)) c.conn.receive(piece);
    await new Promise((res) => setImmediate(res));
    // what a correct decoder makes of the stream followed by an ECHO: broken, or the ECHO arrives?
    const oracle = new CaStreamDecoder('c2s', { maxPayloadSize: 1 << 16 });
    const before = oracle.push(bytes);
    const after = oracle.push(probe);
    const broken = [...before, ...after].some((x) => !x.ok);
    const probeArrives = !broken && after.length === 1 && after[0]!.ok && after[0]!.message.kind === 'echo';
    const seen = c.replies.length;
    c.conn.receive(probe);
    await new Promise((res) => setImmediate(res));
    if (broken) assert.ok(c.conn.isClosed, `${label}: a framing error closes the connection`);
    if (c.conn.isClosed) {
      closed++;
      assert.equal(c.closes.length, 1, `${label}: the transport is closed once`);
      assert.ok(c.lines.some((l) => /^warn ca: bad frame .*; closing connection$/s.test(l)), `${label}: ${c.lines.join(' | ')}`);
    } else if (probeArrives) {
      assert.equal(c.replies.slice(seen).filter((m) => m.kind === 'echo').length, 1, `${label}: the echo is answered`);
      answered++;
    }
    // no command made the connection throw; every reply is a well-formed CA message
    assert.deepEqual(c.lines.filter((l) => l.includes('error handling command')), [], label);
    assert.deepEqual(c.replyErrors, [], `${label}: replies decode`);
    // bounded: what it sent and what it keeps
    assert.ok(c.sent() <= 64 * 1024 + 64 * bytes.length, `${label}: sent ${c.sent()} bytes for ${bytes.length}`);
    assert.ok(c.conn.channelCount + c.conn.subscriptionCount <= bytes.length / 16 + 1, label);
    c.conn.close();
    assertReleased(source, label);
    await cleanSession(source, iter);
    assertReleased(source, `${label}, clean session`);
  }
  t.diagnostic(`${n} cases: ${closed} closed, ${answered} answered an echo`);
  // (CA framing rarely breaks: most mutations leave a stream the server reads on)
  assert.ok(closed > n / 50 && answered > n / 10, `${closed} closed, ${answered} answered an echo, of ${n}`);
});

test('fuzz: mutated datagrams never throw from the UDP decoder or responder', () => {
  const r = rng(777 + FUZZ_SEED);
  for (let iter = 0; iter < cases(2000); iter++) {
    const d = datagrams[Math.floor(r() * datagrams.length)]!;
    const m = mutate(d.bytes, r);
    for (const res of decodeDatagram(m, d.dir)) if (!res.ok) assert.ok(res.error instanceof CaProtocolError);
    const a = answerUdpDatagram(m, peerSource(), 5064);
    assert.ok(Array.isArray(a.names));
  }
});

test('a header claiming a huge payload is a typed error, not an allocation', () => {
  const framer = new CaFramer({ maxPayloadSize: 1024 });
  const h = Buffer.from('0001ffff000000000000000100000001' + 'fffffff0' + '00000001', 'hex');
  const res = framer.push(h);
  assert.equal(res.length, 1);
  assert.ok(!res[0]!.ok && res[0]!.error.code === 'payload-too-large');
  assert.equal(framer.push(Buffer.alloc(100)).length, 0, 'a failed framer stays stopped');
  assert.ok(framer.failed);
});
