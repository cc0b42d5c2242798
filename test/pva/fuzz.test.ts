// Bounded, seeded fuzzing of the framer and the message decoder with mutated recorded traffic:
// they never throw, always answer with frames / messages or a ProtocolError, stop after an error,
// and keep memory bounded (buffering within the size limit, nothing decoded longer than its frame).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  ConnectionDecoder,
  captureFrames,
  frameBytes,
  loadCaptures,
  streamsOf,
  type Dir,
} from './captures.ts';
import { ProtocolError, decodeMessage, type DecodeContext, type Frame, type PvaMessage } from '../../src/pva/messages.ts';
import { Framer, framesOfDatagram } from '../../src/pva/framer.ts';
import { HEADER_SIZE } from '../../src/pva/protocol.ts';
import { BitSet, PVStructure, type FieldDesc, type TypeCache } from '../../src/pvdata/index.ts';
import { Rand, cases } from '../util/fuzz.ts';
import { mutate, messageHeaders } from './mutate.ts';

// ---------------------------------------------------------------- bounds

const TYPE_KINDS = new Set(['scalar', 'scalarArray', 'structure', 'union', 'any', 'structureArray', 'unionArray']);
const isType = (x: object): x is FieldDesc => 'kind' in x && TYPE_KINDS.has((x as { kind: string }).kind);

/**
 * Walks a decoded message and asserts that no string, array, byte buffer or bit set is longer than
 * the frame it came from; returns the number of values visited (bounded too).
 */
function assertBounded(m: PvaMessage, frameLength: number): number {
  let visited = 0;
  const walk = (x: unknown, key = ''): void => {
    visited++;
    if (x === null || x === undefined) return;
    if (typeof x === 'string') {
      // (an address is 16 bytes shown as text: up to 39 characters)
      assert.ok(x.length <= (key === 'address' ? 39 : frameLength), `string of ${x.length} from ${frameLength} bytes: ${x}`);
      return;
    }
    if (typeof x !== 'object') return;
    if (x instanceof BitSet) {
      assert.ok(x.byteLength() <= frameLength, `bit set of ${x.byteLength()} bytes from ${frameLength}`);
      return;
    }
    if (ArrayBuffer.isView(x)) {
      assert.ok(x.byteLength <= frameLength, `array of ${x.byteLength} bytes from ${frameLength}`);
      return;
    }
    if (isType(x)) return; // type descriptions may come from the connection's cache
    if (x instanceof PVStructure) {
      // its layout comes from a (possibly cached) type; its leaves come from the frame
      for (const v of x.data) walk(v);
      return;
    }
    if (Array.isArray(x)) {
      assert.ok(x.length <= frameLength, `array of ${x.length} from ${frameLength} bytes`);
      for (const v of x) walk(v);
      return;
    }
    for (const [k, v] of Object.entries(x)) if (!(k === 'type' && typeof v === 'string')) walk(v, k); // (not the message's own tag)
  };
  walk(m);
  return visited;
}

const MESSAGE_TYPES = new Set([
  'setByteOrder', 'markTotalBytes', 'ackTotalBytes', 'echoRequest', 'echoResponse', 'beacon', 'validationRequest',
  'validationReply', 'validated', 'echo', 'search', 'searchResponse', 'createChannel', 'createChannelResponse',
  'destroyChannel', 'opRequest', 'opResponse', 'getField', 'getFieldResponse', 'destroyRequest', 'cancelRequest',
  'message', 'originTag', 'unknown',
]);

/** Decodes one frame; asserts totality and bounds. */
function decodeChecked(f: Frame, ctx: DecodeContext): PvaMessage | ProtocolError {
  let m: PvaMessage | ProtocolError;
  try {
    m = decodeMessage(f, ctx);
  } catch (e) {
    assert.fail(`decodeMessage threw ${e} on ${frameBytes(f).toString('hex').slice(0, 200)}`);
  }
  if (m instanceof ProtocolError) return m;
  assert.ok(MESSAGE_TYPES.has(m.type), m.type);
  const visited = assertBounded(m, HEADER_SIZE + f.payload.length);
  assert.ok(visited <= (1 << 19) + 64 * (HEADER_SIZE + f.payload.length), `${visited} values from ${f.payload.length} bytes`);
  return m;
}

const MAX = 1 << 16;

/** Feeds `bytes` in random cuts; asserts the framer's contract; returns the frames and whether it broke. */
function frameChecked(r: Rand, bytes: Buffer, framer = new Framer(MAX)): { frames: Frame[]; broke: boolean } {
  const frames: Frame[] = [];
  let broke = false;
  for (let pos = 0; pos < bytes.length; ) {
    const n = 1 + r.int(r.int(2) ? 16 : 1024);
    let out: Array<Frame | ProtocolError>;
    try {
      out = framer.push(bytes.subarray(pos, pos + n));
    } catch (e) {
      assert.fail(`Framer.push threw ${e}`);
    }
    pos += n;
    assert.ok(framer.buffered <= framer.maxMessageSize + HEADER_SIZE, `buffered ${framer.buffered}`);
    for (const f of out) {
      assert.ok(!broke, 'output after a ProtocolError');
      if (f instanceof ProtocolError) broke = true;
      else {
        assert.ok(f.payload.length <= framer.maxMessageSize);
        frames.push(f);
      }
    }
    if (broke) assert.equal(framer.buffered, 0);
  }
  return { frames, broke };
}

// ---------------------------------------------------------------- corpus

interface Seed {
  bytes: Buffer;
  dir: Dir;
  cache: TypeCache;
  opTypes: DecodeContext['opTypes'];
}

/** Every captured message (with its connection's final decoding state), and every TCP stream whole. */
function corpus(): { messages: Seed[]; streams: Array<{ bytes: Buffer; headers: number[]; dir: Dir }>; datagrams: Buffer[] } {
  const messages: Seed[] = [];
  const streams: Array<{ bytes: Buffer; headers: number[]; dir: Dir }> = [];
  const datagrams: Buffer[] = [];
  for (const cap of loadCaptures()) {
    const decoders = new Map<string, ConnectionDecoder>();
    const frames = captureFrames(cap);
    for (const f of frames) {
      let d = decoders.get(f.connection);
      if (!d) decoders.set(f.connection, (d = new ConnectionDecoder()));
      d.decode(f.frame, f.dir);
    }
    for (const f of frames) {
      const d = decoders.get(f.connection)!;
      messages.push({ bytes: frameBytes(f.frame), dir: f.dir, cache: d.caches[f.dir], opTypes: d.context(f.dir).opTypes });
    }
    for (const s of streamsOf(cap)) {
      if (s.transport === 'udp') {
        datagrams.push(...s.chunks);
        continue;
      }
      const bytes = Buffer.concat(s.chunks);
      streams.push({ bytes, headers: messageHeaders(bytes), dir: s.dir });
    }
  }
  return { messages, streams, datagrams };
}

const { messages, streams, datagrams } = corpus();

// Longer or different runs: PVTREE_FUZZ_SCALE=20 PVTREE_FUZZ_SEED=7 node scripts/run-tests.mjs test/pva/fuzz

// ---------------------------------------------------------------- fuzzing

describe('fuzz (seeded, bounded)', () => {
  it('corpus covers the recorded traffic', () => {
    assert.ok(messages.length > 500);
    assert.ok(streams.length >= 66);
    assert.ok(datagrams.length >= 88);
  });

  it('mutated single messages: the framer and decoder stay total and bounded', () => {
    const r = new Rand(0x5eed0001);
    let decoded = 0;
    let errors = 0;
    for (let i = 0; i < cases(30000); i++) {
      const s = messages[i % messages.length];
      let b = s.bytes;
      for (let k = 1 + r.int(3); k > 0; k--) b = mutate(r, b, [0]);
      const { frames } = frameChecked(r, b);
      for (const f of frames) {
        // the cache is copied so that a mutated 0xFD definition cannot leak into later cases
        const m = decodeChecked(f, { cache: new Map(s.cache), opTypes: s.opTypes });
        if (m instanceof ProtocolError) errors++;
        else decoded++;
      }
    }
    // both outcomes are well represented
    assert.ok(decoded > 3000 && errors > 3000, `${decoded} decoded, ${errors} errors`);
  });

  it('mutated whole streams: per-stream decoding state stays consistent', () => {
    const r = new Rand(0x5eed0002);
    let frames = 0;
    for (let i = 0; i < cases(6000); i++) {
      const s = streams[i % streams.length];
      let b = s.bytes;
      for (let k = 1 + r.int(4); k > 0; k--) b = mutate(r, b, s.headers);
      const dec = new ConnectionDecoder();
      const out = frameChecked(r, b, new Framer(r.int(2) ? MAX : 1 + r.int(600)));
      for (const f of out.frames) {
        const ctx = dec.context(s.dir);
        const m = decodeChecked(f, ctx);
        if (!(m instanceof ProtocolError)) dec.observe(m);
        frames++;
      }
      assert.ok(dec.caches.c2s.size + dec.caches.s2c.size <= 0x10000);
    }
    assert.ok(frames > 20000, `${frames} frames`);
  });

  it('mutated datagrams', () => {
    const r = new Rand(0x5eed0003);
    for (let i = 0; i < cases(8000); i++) {
      let d = datagrams[i % datagrams.length];
      for (let k = 1 + r.int(3); k > 0; k--) d = mutate(r, d, [0]);
      let out: Array<Frame | ProtocolError>;
      try {
        out = framesOfDatagram(d);
      } catch (e) {
        assert.fail(`framesOfDatagram threw ${e}`);
      }
      const firstError = out.findIndex((f) => f instanceof ProtocolError);
      assert.ok(firstError === -1 || firstError === out.length - 1, 'nothing after an error');
      for (const f of out) if (!(f instanceof ProtocolError)) decodeChecked(f, { cache: new Map() });
    }
  });

  it('random garbage and hostile shapes', () => {
    const r = new Rand(0x5eed0004);
    for (let i = 0; i < cases(5000); i++) {
      // a valid header for a random command and direction, then random payload
      const payload = r.bytes(r.int(200));
      const h = Buffer.from([0xca, 2, r.pick([0x00, 0x40, 0x80, 0xc0]), r.int(0x17), 0, 0, 0, 0]);
      if (h[2] & 0x80) h.writeUInt32BE(payload.length, 4);
      else h.writeUInt32LE(payload.length, 4);
      const { frames } = frameChecked(r, Buffer.concat([h, payload]));
      for (const f of frames) decodeChecked(f, { cache: new Map(), opTypes: () => undefined });
    }
    // deeply nested variant unions (one byte per level) must not overflow the stack
    for (const cmd of [0x14, 0x0a]) {
      const p = Buffer.alloc(4 + 1 + 1 + 60000, 0x82);
      p.writeUInt32LE(1, 0);
      p[4] = 0x00;
      p[5] = 0xff;
      const m = decodeChecked({ version: 2, flags: 0x40, command: cmd, payload: p, controlValue: 0 }, {});
      if (cmd === 0x14) assert.ok(m instanceof ProtocolError);
    }
    // a small message referring many times to a large cached type stays within its allowance:
    // define (0xFD) a structure of 1000 empty sub-structures, then send an array of 60000 of them
    const cache: TypeCache = new Map();
    const def = Buffer.alloc(4 + 1 + 3 + 1 + 1 + 5 + 1000 * 5);
    let o = def.writeUInt32LE(9, 0);
    def[o++] = 0xff; // status OK
    def[o++] = 0xfd;
    o = def.writeUInt16LE(1, o);
    def[o++] = 0x80;
    def[o++] = 0; // id ''
    def[o++] = 0xfe;
    o = def.writeInt32LE(1000, o);
    for (let i = 0; i < 1000; i++) {
      def[o++] = 1;
      def[o++] = 0x66; // 'f'
      def[o++] = 0x80;
      def[o++] = 0;
      def[o++] = 0;
    }
    const defined = decodeChecked({ version: 2, flags: 0x40, command: 0x11, payload: def, controlValue: 0 }, { cache });
    assert.equal((defined as { type: string }).type, 'getFieldResponse');
    assert.equal(cache.size, 1);
    const n = 60000;
    const arr = Buffer.alloc(4 + 1 + 1 + 4 + 5 + n, 0x01);
    let q = arr.writeUInt32LE(5, 0);
    arr[q++] = 0x00; // RPC exec reply
    arr[q++] = 0xff;
    arr[q++] = 0x88;
    arr[q++] = 0xfe;
    q = arr.writeUInt16LE(1, q);
    arr[q++] = 0xfe;
    arr.writeInt32LE(n, q);
    const t0 = Date.now();
    const res = decodeChecked({ version: 2, flags: 0x40, command: 0x14, payload: arr, controlValue: 0 }, { cache });
    assert.ok(res instanceof ProtocolError);
    assert.match(res.message, /more structure than its size allows/);
    assert.ok(Date.now() - t0 < 2000);
  });
});
