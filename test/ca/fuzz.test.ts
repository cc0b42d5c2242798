// Seeded mutations of the captured frames must never throw out of the framer,
// the decoders or the server connection.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  CaFramer,
  CaProtocolError,
  CaServerConnection,
  CaStreamDecoder,
  answerUdpDatagram,
  decodeDatagram,
  decodeDbr,
} from '../../src/ca/index.ts';
import { loadCaptures, peerSource, tcpStreams, udpDatagrams } from './helpers.ts';
import { prng as rng } from '../util/prng.ts';


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
  const r = rng(0xca5eed);
  let frames = 0;
  let errors = 0;
  for (let iter = 0; iter < 3000; iter++) {
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

test('fuzz: mutated client streams fed to a server connection never throw; bad frames close it', async () => {
  const r = rng(12345);
  let closes = 0;
  const source = peerSource();
  const c2s = streams.filter((s) => s.dir === 'c2s');
  for (let iter = 0; iter < 1500; iter++) {
    const s = c2s[Math.floor(r() * c2s.length)]!;
    const m = mutate(s.bytes, r);
    let closed = false;
    const conn = new CaServerConnection(
      { send: () => true, close: () => void (closed = true) },
      { source, serverPort: 5064, maxPayloadSize: 1 << 16 },
    );
    conn.start();
    for (const piece of randomSplit(m, r)) conn.receive(piece);
    await Promise.resolve();
    if (closed) closes++;
    conn.close();
  }
  assert.ok(closes > 0);
  // All subscriptions were released.
  for (const name of ['peer:count', 'peer:ai']) assert.equal((source.lookup(name) as unknown as { subscriberCount: number }).subscriberCount, 0);
});

test('fuzz: mutated datagrams never throw from the UDP decoder or responder', () => {
  const r = rng(777);
  for (let iter = 0; iter < 2000; iter++) {
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
