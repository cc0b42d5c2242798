// Round trips of every message type, constructed here, in both byte orders:
// encode → Framer (or datagram framing) → decode → deep-equal.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { norm } from './captures.ts';
import {
  ProtocolError,
  decodeMessage,
  encodeMessage,
  encodeOpRequest,
  encodeOpResponse,
  isAnyAddress,
  isBigEndian,
  isControl,
  isFromServer,
  readAddress,
  writeAddress,
  type DecodeContext,
  type Frame,
  type PvaMessage,
} from '../../src/pva/messages.ts';
import { Framer, framesOfDatagram } from '../../src/pva/framer.ts';
import {
  Cmd,
  FLAG_SEGMENT_FIRST,
  FLAG_SEGMENT_LAST,
  FLAG_SEGMENT_MIDDLE,
  HEADER_SIZE,
  MONITOR_ACK,
  MONITOR_START,
  MONITOR_STOP,
  SEARCH_MUST_REPLY,
  SEARCH_UNICAST,
  SUB_DESTROY,
  SUB_GET,
  SUB_GET_PUT,
  SUB_INIT,
} from '../../src/pva/protocol.ts';
import {
  ANY,
  BitSet,
  PVStructure,
  Reader,
  STATUS_OK,
  Writer,
  scalar,
  scalarArray,
  struct,
  structArray,
  union,
  type AnyValue,
  type Status,
  type Structure,
  type StructureArrayDesc,
} from '../../src/pvdata/index.ts';

// ---------------------------------------------------------------- fixtures

const alarmT = struct('alarm_t', { severity: 'int', status: 'int', message: 'string' });
const timeT = struct('time_t', { secondsPastEpoch: 'long', nanoseconds: 'int', userTag: 'int' });
const NTScalar = struct('epics:nt/NTScalar:1.0', { value: 'double', alarm: alarmT, timeStamp: timeT });
const NTEnum = struct('epics:nt/NTEnum:1.0', {
  value: struct('enum_t', { index: 'int', choices: 'string[]' }),
  alarm: alarmT,
  timeStamp: timeT,
});
/** A type using every kind of field, for the values that travel typed. */
const Everything = struct('test:Everything', {
  b: 'boolean', i8: 'byte', i16: 'short', i32: 'int', i64: 'long', u8: 'ubyte', u16: 'ushort', u32: 'uint', u64: 'ulong',
  f32: 'float', f64: 'double', s: 'string',
  ab: 'boolean[]', ai32: 'int[]', au64: 'ulong[]', af64: 'double[]', as: 'string[]',
  u: union('', { num: 'double', text: 'string' }),
  v: ANY,
  sa: structArray(struct('point', { x: 'double', y: 'double' })),
  nested: struct('', { deeper: struct('', { leaf: 'string' }) }),
});

function everything(): PVStructure {
  const pt = (Everything.field('sa') as StructureArrayDesc).element;
  const v = new PVStructure(Everything, {
    b: true, i8: -5, i16: -300, i32: -70000, i64: -(1n << 40n), u8: 250, u16: 65000, u32: 4000000000, u64: (1n << 63n) + 5n,
    f32: 1.5, f64: Math.PI, s: 'héllo wörld',
    ab: [true, false, true], ai32: [1, -2, 3], au64: [1n, 2n ** 64n - 1n], af64: [0.5, -0.25, NaN], as: ['a', '', 'ccc'],
    u: { selector: 1, value: 'chosen' },
    v: { type: scalarArray('short'), value: [7, 8, 9] },
    nested: { deeper: { leaf: 'deep' } },
  });
  v.set('sa', [new PVStructure(pt, { x: 1, y: 2 }), null]);
  return v;
}

const pvRequest = (fields: string[]): PVStructure => {
  const f: Record<string, Structure> = {};
  for (const n of fields) f[n] = struct('', {});
  const t = struct('', { field: struct('', f) });
  return new PVStructure(t);
};

const nt = (value: number): PVStructure =>
  new PVStructure(NTScalar, { value, alarm: { severity: 1, status: 2, message: 'HIGH' }, timeStamp: { secondsPastEpoch: 1795538829n, nanoseconds: 267307811 } });

const ERR: Status = { type: 2, message: 'no such channel', callTree: 'at here\nat there' };
const WARN: Status = { type: 1, message: 'careful', callTree: '' };
const GUID = Buffer.from('5a2bbe005523a110c9d6d308', 'hex');

/** Op types known for the ioids used below (as a connection would learn them from INIT replies). */
const OP_TYPES: Record<number, { put?: Structure; get?: Structure }> = {
  1: { get: NTScalar }, // GET
  2: { put: NTScalar, get: NTScalar }, // PUT
  3: { put: NTEnum, get: Everything }, // PUT_GET
  4: { get: Everything }, // MONITOR
};
const ctx = (): DecodeContext => ({ cache: new Map(), opTypes: (ioid) => OP_TYPES[ioid] });

/** A value with only the fields in `paths` set, and the matching mask. */
function partial(type: Structure, init: Record<string, unknown>, paths: string[]): { changed: BitSet; value: PVStructure } {
  const value = new PVStructure(type);
  for (const p of paths) value.set(p, pathGet(init, p));
  return { changed: BitSet.of(...paths.map((p) => type.offsetOf(p)!)), value };
}
function pathGet(o: Record<string, unknown>, path: string): unknown {
  return path.split('.').reduce<unknown>((a, k) => (a as Record<string, unknown>)[k], o);
}

const put25 = partial(NTScalar, { value: 2.5 }, ['value']);
const putIdx = partial(NTEnum, { value: { index: 2 } }, ['value.index']);
const full = (v: PVStructure): { changed: BitSet; value: PVStructure } => ({ changed: BitSet.of(0), value: v });
const ev = everything();

const uri = new PVStructure(
  struct('epics:nt/NTURI:1.0', { scheme: 'string', authority: 'string', path: 'string', query: struct('', { lhs: 'string', rhs: 'string' }) }),
  { scheme: 'pva', path: 'peer:rpc', query: { lhs: '1.5', rhs: '2.25' } },
);
const asAny = (v: PVStructure): AnyValue => ({ type: v.type, value: v });
const caAuth = new PVStructure(struct('', { user: 'string', host: 'string' }), { user: 'alice', host: 'example.org' });

/** Every message shape (with the contexts it needs); labels name the cases. */
const CASES: Array<[string, PvaMessage]> = [
  // control
  ['setByteOrder', { type: 'setByteOrder', bigEndian: false }],
  ['markTotalBytes', { type: 'markTotalBytes', total: 0x12345678 }],
  ['ackTotalBytes', { type: 'ackTotalBytes', total: 0xfedcba98 }],
  ['echoRequest', { type: 'echoRequest', value: 42 }],
  ['echoResponse', { type: 'echoResponse', value: 0xffffffff }],
  // discovery
  ['beacon', { type: 'beacon', guid: GUID, flags: 0, sequence: 7, changeCount: 3, address: '0.0.0.0', port: 5075, protocol: 'tcp', status: null }],
  ['beacon with status', {
    type: 'beacon', guid: GUID, flags: 0x01, sequence: 255, changeCount: 65535, address: '192.168.1.5', port: 15075, protocol: 'tcp',
    status: asAny(new PVStructure(struct('', { connections: 'int', load: 'double' }), { connections: 3, load: 0.5 })),
  }],
  ['search', {
    type: 'search', sequence: 0x66696e64, flags: SEARCH_MUST_REPLY | SEARCH_UNICAST, address: '10.1.2.3', port: 33047,
    protocols: ['tcp', 'tls'], channels: [{ cid: 1, name: 'a' }, { cid: 0x12345678, name: 'peer:ai' }, { cid: 0xffffffff, name: 'x'.repeat(300) }],
  }],
  ['search, IPv6 any, no channels', { type: 'search', sequence: 0, flags: 0, address: '::', port: 0, protocols: [], channels: [] }],
  ['search, IPv6 address', { type: 'search', sequence: 9, flags: SEARCH_MUST_REPLY, address: 'fe80:0:0:0:0:0:0:1', port: 5076, protocols: ['tcp'], channels: [{ cid: 5, name: 'pv' }] }],
  ['searchResponse found', { type: 'searchResponse', guid: GUID, sequence: 1, address: '0.0.0.0', port: 15075, protocol: 'tcp', found: true, cids: [1, 2, 3] }],
  ['searchResponse not found', { type: 'searchResponse', guid: GUID, sequence: 2, address: '127.0.0.1', port: 5075, protocol: 'tcp', found: false, cids: [] }],
  ['originTag', { type: 'originTag', address: '127.0.0.1' }],
  // connection
  ['validationRequest', { type: 'validationRequest', bufferSize: 65536, registrySize: 0x7fff, methods: ['anonymous', 'ca'] }],
  ['validationReply anonymous', { type: 'validationReply', bufferSize: 65536, registrySize: 0x7fff, qos: 0, method: 'anonymous', data: null }],
  ['validationReply ca', { type: 'validationReply', bufferSize: 87040, registrySize: 0x7fff, qos: 0, method: 'ca', data: asAny(caAuth) }],
  ['validated', { type: 'validated', status: STATUS_OK }],
  ['validated with error', { type: 'validated', status: { type: 2, message: 'authentication failed', callTree: '' } }],
  ['echo from client', { type: 'echo', fromServer: false, payload: Buffer.from('ping') }],
  ['echo from server', { type: 'echo', fromServer: true, payload: Buffer.alloc(0) }],
  // channels
  ['createChannel', { type: 'createChannel', channels: [{ cid: 1, name: 'peer:ai' }, { cid: 2, name: 'peer:ao' }] }],
  ['createChannelResponse', { type: 'createChannelResponse', cid: 1, sid: 0x07050301, status: STATUS_OK }],
  ['createChannelResponse error', { type: 'createChannelResponse', cid: 2, sid: 0xffffffff, status: ERR }],
  ['destroyChannel from client', { type: 'destroyChannel', fromServer: false, sid: 5, cid: 6 }],
  ['destroyChannel from server', { type: 'destroyChannel', fromServer: true, sid: 7, cid: 8 }],
  ['getField', { type: 'getField', sid: 1, ioid: 9, subField: '' }],
  ['getField sub-field', { type: 'getField', sid: 1, ioid: 10, subField: 'display.form' }],
  ['getFieldResponse', { type: 'getFieldResponse', ioid: 9, status: STATUS_OK, fieldType: Everything }],
  ['getFieldResponse error', { type: 'getFieldResponse', ioid: 10, status: ERR, fieldType: null }],
  ['destroyRequest', { type: 'destroyRequest', sid: 1, ioid: 2 }],
  ['cancelRequest', { type: 'cancelRequest', sid: 3, ioid: 4 }],
  ['message', { type: 'message', ioid: 4, severity: 1, message: 'value clipped to the drive limits' }],
  ['unknown command', { type: 'unknown', command: Cmd.ARRAY, payload: Buffer.from('0102030405', 'hex') }],
  // GET
  ['GET init', { type: 'opRequest', command: Cmd.GET, sid: 1, ioid: 1, subcmd: SUB_INIT, pvRequest: pvRequest(['value', 'alarm']) }],
  ['GET init, no pvRequest', { type: 'opRequest', command: Cmd.GET, sid: 1, ioid: 1, subcmd: SUB_INIT, pvRequest: null }],
  ['GET init reply', { type: 'opResponse', command: Cmd.GET, ioid: 1, subcmd: SUB_INIT, status: STATUS_OK, fieldType: NTScalar }],
  ['GET init reply error', { type: 'opResponse', command: Cmd.GET, ioid: 1, subcmd: SUB_INIT, status: ERR }],
  ['GET exec', { type: 'opRequest', command: Cmd.GET, sid: 1, ioid: 1, subcmd: 0 }],
  ['GET exec+destroy', { type: 'opRequest', command: Cmd.GET, sid: 1, ioid: 1, subcmd: SUB_DESTROY }],
  ['GET exec reply', { type: 'opResponse', command: Cmd.GET, ioid: 1, subcmd: 0, status: STATUS_OK, ...full(nt(3.25)) }],
  ['GET exec reply, partial', { type: 'opResponse', command: Cmd.GET, ioid: 1, subcmd: 0, status: WARN, ...partial(NTScalar, { value: 1, alarm: { message: 'm' } }, ['value', 'alarm.message']) }],
  ['GET exec reply error', { type: 'opResponse', command: Cmd.GET, ioid: 1, subcmd: SUB_DESTROY, status: ERR }],
  // PUT
  ['PUT init', { type: 'opRequest', command: Cmd.PUT, sid: 1, ioid: 2, subcmd: SUB_INIT, pvRequest: pvRequest([]) }],
  ['PUT init reply', { type: 'opResponse', command: Cmd.PUT, ioid: 2, subcmd: SUB_INIT, status: STATUS_OK, fieldType: NTScalar }],
  ['PUT get', { type: 'opRequest', command: Cmd.PUT, sid: 1, ioid: 2, subcmd: SUB_GET }],
  ['PUT get reply', { type: 'opResponse', command: Cmd.PUT, ioid: 2, subcmd: SUB_GET, status: STATUS_OK, ...full(nt(1)) }],
  ['PUT exec', { type: 'opRequest', command: Cmd.PUT, sid: 1, ioid: 2, subcmd: 0, ...put25 }],
  ['PUT exec+destroy', { type: 'opRequest', command: Cmd.PUT, sid: 1, ioid: 2, subcmd: SUB_DESTROY, ...put25 }],
  ['PUT exec reply', { type: 'opResponse', command: Cmd.PUT, ioid: 2, subcmd: 0, status: STATUS_OK }],
  // PUT_GET
  ['PUT_GET init', { type: 'opRequest', command: Cmd.PUT_GET, sid: 1, ioid: 3, subcmd: SUB_INIT, pvRequest: pvRequest(['value']) }],
  ['PUT_GET init reply (two types)', { type: 'opResponse', command: Cmd.PUT_GET, ioid: 3, subcmd: SUB_INIT, status: STATUS_OK, fieldType: NTEnum, getType: Everything }],
  ['PUT_GET exec', { type: 'opRequest', command: Cmd.PUT_GET, sid: 1, ioid: 3, subcmd: 0, ...putIdx }],
  ['PUT_GET exec reply (get value)', { type: 'opResponse', command: Cmd.PUT_GET, ioid: 3, subcmd: 0, status: STATUS_OK, ...full(ev) }],
  ['PUT_GET getGet', { type: 'opRequest', command: Cmd.PUT_GET, sid: 1, ioid: 3, subcmd: SUB_GET }],
  ['PUT_GET getGet reply', { type: 'opResponse', command: Cmd.PUT_GET, ioid: 3, subcmd: SUB_GET, status: STATUS_OK, ...partial(Everything, { s: 'x', u64: 5n }, ['u64', 's']) }],
  ['PUT_GET getPut', { type: 'opRequest', command: Cmd.PUT_GET, sid: 1, ioid: 3, subcmd: SUB_GET_PUT }],
  ['PUT_GET getPut reply (put value)', { type: 'opResponse', command: Cmd.PUT_GET, ioid: 3, subcmd: SUB_GET_PUT, status: STATUS_OK, ...putIdx }],
  // MONITOR
  ['MONITOR init', { type: 'opRequest', command: Cmd.MONITOR, sid: 1, ioid: 4, subcmd: SUB_INIT, pvRequest: pvRequest([]) }],
  ['MONITOR init, pipeline', { type: 'opRequest', command: Cmd.MONITOR, sid: 1, ioid: 4, subcmd: SUB_INIT | MONITOR_ACK, pvRequest: pvRequest(['value']), ack: 4 }],
  ['MONITOR init reply', { type: 'opResponse', command: Cmd.MONITOR, ioid: 4, subcmd: SUB_INIT, status: STATUS_OK, fieldType: Everything }],
  ['MONITOR start', { type: 'opRequest', command: Cmd.MONITOR, sid: 1, ioid: 4, subcmd: MONITOR_START }],
  ['MONITOR stop', { type: 'opRequest', command: Cmd.MONITOR, sid: 1, ioid: 4, subcmd: MONITOR_STOP }],
  ['MONITOR pipeline ack', { type: 'opRequest', command: Cmd.MONITOR, sid: 1, ioid: 4, subcmd: MONITOR_ACK, ack: 0x01020304 }],
  ['MONITOR destroy', { type: 'opRequest', command: Cmd.MONITOR, sid: 1, ioid: 4, subcmd: SUB_DESTROY }],
  ['MONITOR update, full', { type: 'opResponse', command: Cmd.MONITOR, ioid: 4, subcmd: 0, ...full(ev), overrun: new BitSet() }],
  ['MONITOR update, partial with overrun', {
    type: 'opResponse', command: Cmd.MONITOR, ioid: 4, subcmd: 0,
    ...partial(Everything, { f64: 2, nested: { deeper: { leaf: 'z' } }, ai32: [4, 5] }, ['f64', 'ai32', 'nested.deeper.leaf']),
    overrun: BitSet.of(Everything.offsetOf('f64')!),
  }],
  ['MONITOR update, many fields (wide bit set)', {
    type: 'opResponse', command: Cmd.MONITOR, ioid: 4, subcmd: 0,
    ...partial(Everything, { nested: { deeper: { leaf: 'w' } }, sa: [] }, ['sa', 'nested.deeper.leaf']), overrun: BitSet.of(1, 70),
  }],
  ['MONITOR finish', { type: 'opResponse', command: Cmd.MONITOR, ioid: 4, subcmd: SUB_DESTROY, status: STATUS_OK }],
  // RPC
  ['RPC init', { type: 'opRequest', command: Cmd.RPC, sid: 1, ioid: 5, subcmd: SUB_INIT, pvRequest: pvRequest([]) }],
  ['RPC init reply', { type: 'opResponse', command: Cmd.RPC, ioid: 5, subcmd: SUB_INIT, status: STATUS_OK }],
  ['RPC exec with argument', { type: 'opRequest', command: Cmd.RPC, sid: 1, ioid: 5, subcmd: 0, argument: asAny(uri) }],
  ['RPC exec, scalar argument', { type: 'opRequest', command: Cmd.RPC, sid: 1, ioid: 5, subcmd: 0, argument: { type: scalar('string'), value: 'hi' } }],
  ['RPC exec, null argument', { type: 'opRequest', command: Cmd.RPC, sid: 1, ioid: 5, subcmd: 0, argument: null }],
  ['RPC exec reply with result', { type: 'opResponse', command: Cmd.RPC, ioid: 5, subcmd: 0, status: STATUS_OK, result: asAny(nt(3.75)) }],
  ['RPC exec reply, everything', { type: 'opResponse', command: Cmd.RPC, ioid: 5, subcmd: 0, status: WARN, result: asAny(ev) }],
  ['RPC exec reply error', { type: 'opResponse', command: Cmd.RPC, ioid: 5, subcmd: 0, status: ERR }],
];

function encode(m: PvaMessage, littleEndian: boolean): Buffer {
  const w = new Writer(littleEndian);
  if (m.type === 'opRequest') encodeOpRequest(w, m);
  else if (m.type === 'opResponse') encodeOpResponse(w, m);
  else encodeMessage(w, m);
  return w.toBuffer();
}

/** A message as it should decode in the other byte order (only SET_BYTE_ORDER reports it). */
function expected(m: PvaMessage, littleEndian: boolean): PvaMessage {
  return m.type === 'setByteOrder' ? { ...m, bigEndian: !littleEndian } : m;
}

const SERVER_TYPES = new Set(['setByteOrder', 'ackTotalBytes', 'echoResponse', 'beacon', 'validationRequest', 'validated',
  'searchResponse', 'createChannelResponse', 'opResponse', 'getFieldResponse', 'message']);

// ---------------------------------------------------------------- tests

for (const le of [true, false]) {
  describe(`round trips, ${le ? 'little' : 'big'}-endian`, () => {
    for (const [label, m] of CASES) {
      it(label, () => {
        const bytes = encode(m, le);
        const frames = new Framer().push(bytes);
        assert.equal(frames.length, 1);
        const f = frames[0] as Frame;
        assert.ok(!(f instanceof ProtocolError), String(f));
        assert.equal(isBigEndian(f), !le);
        assert.equal(f.version, 2);
        const server = SERVER_TYPES.has(m.type) || ('fromServer' in m && m.fromServer);
        assert.equal(isFromServer(f), server, 'server flag');
        assert.equal(isControl(f), ['setByteOrder', 'markTotalBytes', 'ackTotalBytes', 'echoRequest', 'echoResponse'].includes(m.type));
        const back = decodeMessage(f, ctx());
        assert.ok(!(back instanceof ProtocolError), String(back));
        assert.deepEqual(norm(back), norm(expected(m, le)));
        // and the decoded message encodes to the very same bytes
        assert.equal(encode(back, le).toString('hex'), bytes.toString('hex'));
      });
    }

    it('all of them as one stream, cut anywhere', () => {
      const stream = Buffer.concat(CASES.map(([, m]) => encode(m, le)));
      let seed = le ? 1 : 2;
      for (let round = 0; round < 20; round++) {
        const framer = new Framer();
        const frames: Array<Frame | ProtocolError> = [];
        for (let pos = 0; pos < stream.length; ) {
          seed = (seed * 1103515245 + 12345) >>> 0;
          const n = 1 + (seed % (round < 10 ? 7 : 400));
          frames.push(...framer.push(stream.subarray(pos, pos + n)));
          pos += n;
        }
        assert.equal(framer.buffered, 0);
        assert.equal(frames.length, CASES.length);
        frames.forEach((f, i) => {
          assert.ok(!(f instanceof ProtocolError));
          assert.deepEqual(norm(decodeMessage(f, ctx())), norm(expected(CASES[i][1], le)), CASES[i][0]);
        });
      }
    });

    it('discovery messages in one UDP datagram', () => {
      const dgram = Buffer.concat([
        encode({ type: 'originTag', address: '10.0.0.7' }, le),
        encode(CASES.find(([l]) => l === 'search')![1], le),
      ]);
      const frames = framesOfDatagram(dgram);
      assert.equal(frames.length, 2);
      assert.deepEqual(norm(decodeMessage(frames[0] as Frame)), { type: 'originTag', address: '10.0.0.7' });
      assert.equal((decodeMessage(frames[1] as Frame) as { type: string }).type, 'search');
      const beacon = framesOfDatagram(encode(CASES[5][1], le));
      assert.deepEqual(norm(decodeMessage(beacon[0] as Frame)), norm(CASES[5][1]));
    });

    it('segmented messages (first, middle..., last) join into one', () => {
      for (const [label, m] of CASES) {
        const whole = encode(m, le);
        if (whole[2] & 0x01) continue; // control messages are never segmented
        for (const parts of [1, 2, 3, 5]) {
          const segs = segment(whole, parts, le);
          // a control message may come between segments, and is delivered at once
          const echo = encode({ type: 'echoRequest', value: 7 }, le);
          const stream = Buffer.concat([segs[0], echo, ...segs.slice(1)]);
          const framer = new Framer();
          const frames = [...stream].flatMap((_, i) => framer.push(stream.subarray(i, i + 1)));
          assert.equal(frames.length, 2, label);
          assert.deepEqual(decodeMessage(frames[0] as Frame), { type: 'echoRequest', value: 7 });
          const f = frames[1] as Frame;
          assert.equal(f.flags & 0x30, 0);
          assert.equal(f.flags, whole[2]);
          assert.equal(f.payload.toString('hex'), whole.subarray(HEADER_SIZE).toString('hex'), label);
          assert.deepEqual(norm(decodeMessage(f, ctx())), norm(expected(m, le)), label);
          assert.equal(framer.buffered, 0);
        }
      }
    });
  });
}

/** Cuts an encoded message into `parts` segments (parts=1: a lone first+last... i.e. FIRST then empty LAST). */
export function segment(whole: Buffer, parts: number, le: boolean): Buffer[] {
  const payload = whole.subarray(HEADER_SIZE);
  const cuts: number[] = [0];
  for (let i = 1; i < parts; i++) cuts.push(Math.floor((payload.length * i) / parts));
  cuts.push(payload.length);
  const n = Math.max(parts, 2);
  if (parts === 1) cuts.splice(1, 0, payload.length); // all in the first segment, empty last
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const piece = payload.subarray(cuts[i], cuts[i + 1]);
    const h = Buffer.alloc(HEADER_SIZE);
    h[0] = 0xca;
    h[1] = whole[1];
    h[2] = whole[2] | (i === 0 ? FLAG_SEGMENT_FIRST : i === n - 1 ? FLAG_SEGMENT_LAST : FLAG_SEGMENT_MIDDLE);
    h[3] = whole[3];
    if (le) h.writeUInt32LE(piece.length, 4);
    else h.writeUInt32BE(piece.length, 4);
    out.push(Buffer.concat([h, piece]));
  }
  return out;
}

describe('exact encodings', () => {
  it('SET_BYTE_ORDER as pvxs sends it', () => {
    assert.equal(encode({ type: 'setByteOrder', bigEndian: false }, true).toString('hex'), 'ca02410200000000');
    assert.equal(encode({ type: 'setByteOrder', bigEndian: true }, false).toString('hex'), 'ca02c10200000000');
  });

  it('addresses: IPv4 (and 0.0.0.0) IPv4-mapped, IPv6 as is', () => {
    const bytes = (ip: string): string => {
      const w = new Writer();
      writeAddress(w, ip);
      return w.toBuffer().toString('hex');
    };
    assert.equal(bytes('192.168.1.5'), '00000000000000000000ffffc0a80105');
    assert.equal(bytes('0.0.0.0'), '00000000000000000000ffff00000000');
    assert.equal(bytes('::'), '00000000000000000000000000000000');
    assert.equal(bytes(''), '00000000000000000000000000000000');
    assert.equal(bytes('::1'), '00000000000000000000000000000001');
    assert.equal(bytes('fe80::1:2'), 'fe800000000000000000000000010002');
    assert.equal(bytes('::ffff:10.0.0.1'), '00000000000000000000ffff0a000001');
    const read = (hex: string): string => readAddress(new Reader(Buffer.from(hex, 'hex')));
    assert.equal(read('00000000000000000000ffffc0a80105'), '192.168.1.5');
    assert.equal(read('00000000000000000000ffff00000000'), '0.0.0.0');
    assert.equal(read('00000000000000000000000000000000'), '::');
    assert.equal(read('fe800000000000000000000000010002'), 'fe80:0:0:0:0:0:1:2');
    for (const a of ['0.0.0.0', '::', '', '0:0:0:0:0:0:0:0']) assert.ok(isAnyAddress(a), a);
    for (const a of ['127.0.0.1', '::1']) assert.ok(!isAnyAddress(a), a);
  });

  it('search: flags byte, three reserved bytes, then the reply address', () => {
    const m: PvaMessage = { type: 'search', sequence: 1, flags: SEARCH_MUST_REPLY | SEARCH_UNICAST, address: '127.0.0.1', port: 0x8117, protocols: ['tcp'], channels: [{ cid: 0x12345678, name: 'peer:ai' }] };
    assert.equal(
      encode(m, false).toString('hex'),
      'ca028003' + '0000002d' + '00000001' + '81' + '000000' + '00000000000000000000ffff7f000001' + '8117' + '01' + '03746370' + '0001' + '12345678' + '07706565723a6169',
    );
  });

  it('monitor pipeline ack: subcommand 0x80 and a u32 count', () => {
    const bytes = encode({ type: 'opRequest', command: Cmd.MONITOR, sid: 1, ioid: 2, subcmd: MONITOR_ACK, ack: 3 }, true);
    assert.equal(bytes.toString('hex'), 'ca02000d0d000000' + '01000000' + '02000000' + '80' + '03000000');
  });
});
