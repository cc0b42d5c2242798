import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  CaFramer,
  CaCommand,
  DBR,
  DBR_FAMILIES,
  DBR_VALUE_TYPES,
  ECA,
  decodeDbr,
  decodeMessage,
  dbrMetaSize,
  dbrPayloadSize,
  dbrTypeCode,
  encodeDbr,
  encodeMessage,
  readHeader,
  toEpicsTimestamp,
  epicsTimestampToMs,
  type CaMessage,
  type DbrData,
  type DbrFamily,
  type DbrValueType,
} from '../../src/ca/index.ts';
import { hexToBytes } from './helpers.ts';

const data8 = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 37 + 1) & 0xff);

// One instance of every message kind, with its direction.
const MESSAGES: [CaMessage, 'c2s' | 's2c'][] = [
  [{ kind: 'version', priority: 1, minorVersion: 13, sequence: 7 }, 'c2s'],
  [{ kind: 'version', priority: 0, minorVersion: 13, sequence: 0 }, 's2c'],
  [{ kind: 'search', name: 'peer:ai', reply: 5, minorVersion: 13, cid: 42 }, 'c2s'],
  [{ kind: 'searchReply', port: 5064, serverAddress: 0xffffffff, cid: 42, minorVersion: 13 }, 's2c'],
  [{ kind: 'searchReply', port: 15064, serverAddress: 0x7f000001, cid: 1 }, 's2c'],
  [{ kind: 'notFound', reply: 10, minorVersion: 13, cid: 9 }, 's2c'],
  [{ kind: 'createChan', cid: 3, minorVersion: 13, name: 'x'.repeat(100) }, 'c2s'],
  [{ kind: 'createChanReply', dataType: 6, count: 16, cid: 3, sid: 77 }, 's2c'],
  [{ kind: 'createChFail', cid: 3 }, 's2c'],
  [{ kind: 'accessRights', cid: 3, access: 3 }, 's2c'],
  [{ kind: 'clientName', name: 'root' }, 'c2s'],
  [{ kind: 'hostName', name: 'vm' }, 'c2s'],
  [{ kind: 'readNotify', dataType: 20, count: 0, sid: 77, ioid: 5 }, 'c2s'],
  [{ kind: 'readNotifyReply', dataType: 20, count: 1, status: ECA.NORMAL, ioid: 5, data: data8(24) }, 's2c'],
  [{ kind: 'write', dataType: 0, count: 1, sid: 77, ioid: 1, data: data8(8) }, 'c2s'],
  [{ kind: 'writeNotify', dataType: 6, count: 2, sid: 77, ioid: 2, data: data8(16) }, 'c2s'],
  [{ kind: 'writeNotifyReply', dataType: 6, count: 2, status: ECA.PUTFAIL, ioid: 2 }, 's2c'],
  [{ kind: 'eventAdd', dataType: 20, count: 0, sid: 77, subscriptionId: 4, mask: 5, low: 0, high: 0, timeout: 0 }, 'c2s'],
  [{ kind: 'eventAdd', dataType: 20, count: 1, sid: 77, subscriptionId: 4, mask: 15, low: 1.5, high: -2.5, timeout: 0.25 }, 'c2s'],
  [{ kind: 'eventAddReply', dataType: 20, count: 1, status: ECA.NORMAL, subscriptionId: 4, data: data8(24) }, 's2c'],
  [{ kind: 'eventCancelReply', dataType: 20, count: 1, sid: 77, subscriptionId: 4 }, 's2c'],
  [{ kind: 'eventCancel', dataType: 20, count: 1, sid: 77, subscriptionId: 4 }, 'c2s'],
  [{ kind: 'eventsOff' }, 'c2s'],
  [{ kind: 'eventsOn' }, 'c2s'],
  [{ kind: 'readSync' }, 'c2s'],
  [{ kind: 'clearChannel', sid: 77, cid: 3 }, 'c2s'],
  [{ kind: 'clearChannel', sid: 77, cid: 3 }, 's2c'],
  [{ kind: 'echo' }, 'c2s'],
  [{ kind: 'echo' }, 's2c'],
  [
    {
      kind: 'error',
      cid: 3,
      status: ECA.PUTFAIL,
      request: { command: 19, payloadSize: 8, dataType: 6, count: 1, parameter1: 77, parameter2: 2 },
      message: 'peer:ao: out of range',
    },
    's2c',
  ],
  [
    {
      kind: 'error',
      cid: 3,
      status: ECA.BADTYPE,
      request: { command: 4, payloadSize: 0x20000, dataType: 6, count: 0x4000, parameter1: 77, parameter2: 2 },
      message: 'extended header embedded',
    },
    's2c',
  ],
  [{ kind: 'serverDisconn', cid: 3 }, 's2c'],
  [{ kind: 'beacon', minorVersion: 13, port: 5064, beaconId: 12, serverAddress: 0x7f000001 }, 's2c'],
  [{ kind: 'repeaterRegister', clientAddress: 0x7f000001 }, 'c2s'],
  [{ kind: 'repeaterConfirm', repeaterAddress: 0x7f000001 }, 's2c'],
  [
    {
      kind: 'unknown',
      header: { command: 99, payloadSize: 8, dataType: 1, count: 2, parameter1: 3, parameter2: 4 },
      payload: data8(8),
    },
    'c2s',
  ],
];

function roundTrip(m: CaMessage, dir: 'c2s' | 's2c'): CaMessage {
  const bytes = encodeMessage(m);
  assert.equal(bytes.length % 8, 0, 'messages are 8-byte aligned');
  const fr = new CaFramer().push(bytes);
  assert.equal(fr.length, 1);
  assert.ok(fr[0]!.ok);
  return decodeMessage(fr[0]!.frame, dir);
}

test('every command round-trips through encode, framer and decode', () => {
  const kinds = new Set<string>();
  for (const [m, dir] of MESSAGES) {
    assert.deepEqual(roundTrip(m, dir), m, `${m.kind} ${dir}`);
    kinds.add(m.kind);
  }
  // Every kind in the union is covered.
  const all = [
    'version', 'search', 'searchReply', 'notFound', 'createChan', 'createChanReply', 'createChFail', 'accessRights',
    'clientName', 'hostName', 'readNotify', 'readNotifyReply', 'write', 'writeNotify', 'writeNotifyReply', 'eventAdd',
    'eventAddReply', 'eventCancelReply', 'eventCancel', 'eventsOff', 'eventsOn', 'readSync', 'clearChannel', 'echo',
    'error', 'serverDisconn', 'beacon', 'repeaterRegister', 'repeaterConfirm', 'unknown',
  ];
  assert.deepEqual([...kinds].sort(), all.sort());
});

test('header: 16-byte form, field order and big-endian layout', () => {
  const b = encodeMessage({ kind: 'readNotify', dataType: 20, count: 1, sid: 0x17, ioid: 1 });
  assert.equal(Buffer.from(b).toString('hex'), '000f0000001400010000001700000001');
  const h = readHeader(b, 0);
  assert.ok(h.ok);
  assert.deepEqual(h.header, { command: 15, payloadSize: 0, dataType: 20, count: 1, parameter1: 0x17, parameter2: 1 });
  assert.equal(h.extended, false);
});

test('header: extended form for large payloads and large counts', () => {
  const count = 70000;
  const data = new Uint8Array(count * 8);
  const b = encodeMessage({ kind: 'eventAddReply', dataType: DBR.DOUBLE, count, status: 1, subscriptionId: 9, data });
  assert.equal(b.length, 24 + data.length);
  const dv = new DataView(b.buffer);
  assert.equal(dv.getUint16(2), 0xffff);
  assert.equal(dv.getUint16(6), 0);
  assert.equal(dv.getUint32(16), data.length);
  assert.equal(dv.getUint32(20), count);
  const fr = new CaFramer().push(b);
  assert.ok(fr[0]!.ok);
  assert.equal(fr[0]!.frame.extended, true);
  const m = decodeMessage(fr[0]!.frame, 's2c');
  assert.equal(m.kind, 'eventAddReply');
  if (m.kind === 'eventAddReply') {
    assert.equal(m.count, count);
    assert.equal(m.data.length, data.length);
  }
  // A count of 0xFFFF or more with a small payload also needs the extended form.
  const b2 = encodeMessage({ kind: 'readNotify', dataType: 4, count: 0x10000, sid: 1, ioid: 2 });
  assert.equal(b2.length, 24);
  const m2 = decodeMessage(new CaFramer().push(b2).map((r) => (r.ok ? r.frame : assert.fail()))[0]!, 'c2s');
  assert.deepEqual(m2, { kind: 'readNotify', dataType: 4, count: 0x10000, sid: 1, ioid: 2 });
});

test('payloads are padded to 8 bytes; strings NUL terminated', () => {
  const b = encodeMessage({ kind: 'search', name: 'peer:ai', reply: 5, minorVersion: 13, cid: 1 });
  // Exactly what caget sends (from the captures).
  assert.equal(Buffer.from(b).toString('hex'), '000600080005000d0000000100000001706565723a616900');
  const b2 = encodeMessage({ kind: 'search', name: 'peer:mbbo', reply: 5, minorVersion: 13, cid: 1 });
  assert.equal(b2.length, 16 + 16);
  const b3 = encodeMessage({ kind: 'clientName', name: 'root' });
  assert.equal(Buffer.from(b3).toString('hex'), '00140008000000000000000000000000726f6f7400000000');
});

// ---------------------------------------------------------------------------
// DBR

const EXPECTED_META: Record<DbrFamily, Record<DbrValueType, number>> = {
  plain: { string: 0, short: 0, float: 0, enum: 0, char: 0, long: 0, double: 0 },
  sts: { string: 4, short: 4, float: 4, enum: 4, char: 5, long: 4, double: 8 },
  time: { string: 12, short: 14, float: 12, enum: 14, char: 15, long: 12, double: 16 },
  gr: { string: 4, short: 24, float: 40, enum: 422, char: 19, long: 36, double: 64 },
  ctrl: { string: 4, short: 28, float: 48, enum: 422, char: 21, long: 44, double: 80 },
};

const SAMPLE: Record<DbrValueType, number[] | string[]> = {
  string: ['hello', '', 'x'.repeat(39)],
  short: [-32768, 1, 32767],
  float: [1.5, -0.25, 1e10],
  enum: [0, 3, 65535],
  char: [0, 65, 255],
  long: [-2147483648, 7, 2147483647],
  double: [3.25, -1e-300, 1e300],
};

function sampleData(family: DbrFamily, type: DbrValueType, count: number): DbrData {
  const value = (SAMPLE[type] as (number | string)[]).slice(0, count) as number[] | string[];
  const d: DbrData = { value };
  if (family === 'plain') return d;
  d.status = 3;
  d.severity = 2;
  if (family === 'time') {
    d.timestamp = { secondsPastEpoch: 0x4567220d, nanoseconds: 0x0feecb23 };
    return d;
  }
  if (family === 'gr' || family === 'ctrl') {
    if (type === 'string') return d;
    if (type === 'enum') {
      d.enumStrings = ['Zero', 'One', 'Two', 'y'.repeat(25)];
      return d;
    }
    if (type === 'float' || type === 'double') d.precision = 3;
    d.units = 'mA';
    const lim = type === 'char' ? [200, 10, 190, 180, 20, 15, 250, 5] : [100, -100, 90, 80, -80, -90, 110, -110];
    d.upperDisplay = lim[0];
    d.lowerDisplay = lim[1];
    d.upperAlarm = lim[2];
    d.upperWarning = lim[3];
    d.lowerWarning = lim[4];
    d.lowerAlarm = lim[5];
    if (family === 'ctrl') {
      d.upperControl = lim[6];
      d.lowerControl = lim[7];
    }
  }
  return d;
}

for (const family of DBR_FAMILIES) {
  for (const type of DBR_VALUE_TYPES) {
    const code = dbrTypeCode(family, type);
    test(`DBR ${family.toUpperCase()}_${type.toUpperCase()} (${code}) scalar and array round trip`, () => {
      assert.equal(dbrMetaSize(code), EXPECTED_META[family][type]);
      for (const count of [1, 3]) {
        const input = sampleData(family, type, count);
        const bytes = encodeDbr(code, input);
        assert.equal(bytes.length, dbrPayloadSize(code, count));
        const out = decodeDbr(code, count, bytes);
        if (type === 'float') {
          // float32 precision
          out.value = (out.value as number[]).map((v) => v);
        }
        assert.deepEqual(out, input);
        // Through a full message with padding, too.
        const msg = encodeMessage({ kind: 'readNotifyReply', dataType: code, count, status: 1, ioid: 1, data: bytes });
        assert.equal(msg.length % 8, 0);
        const dm = decodeMessage(new CaFramer().push(msg).map((r) => (r.ok ? r.frame : assert.fail()))[0]!, 's2c');
        assert.ok(dm.kind === 'readNotifyReply');
        assert.deepEqual(decodeDbr(dm.dataType, dm.count, dm.data), input);
      }
    });
  }
}

test('DBR special types: PUT_ACKT/PUT_ACKS, STSACK_STRING, CLASS_NAME', () => {
  for (const code of [DBR.PUT_ACKT, DBR.PUT_ACKS]) {
    const b = encodeDbr(code, { value: [2] });
    assert.equal(b.length, 2);
    assert.deepEqual(decodeDbr(code, 1, b), { value: [2] });
  }
  const st = { value: ['HIGH alarm'], status: 4, severity: 1, ackt: 1, acks: 2 };
  const sb = encodeDbr(DBR.STSACK_STRING, st);
  assert.equal(sb.length, 48);
  assert.equal(dbrMetaSize(DBR.STSACK_STRING), 8);
  assert.deepEqual(decodeDbr(DBR.STSACK_STRING, 1, sb), st);
  const cb = encodeDbr(DBR.CLASS_NAME, { value: ['ai'] });
  assert.equal(cb.length, 40);
  assert.deepEqual(decodeDbr(DBR.CLASS_NAME, 1, cb), { value: ['ai'] });
  assert.throws(() => encodeDbr(39, { value: [1] }), { name: 'CaProtocolError' });
});

test('DBR: encoding fewer values than count zero-fills; too-short payload is a typed error', () => {
  const b = encodeDbr(DBR.DOUBLE, { value: [1, 2] }, 4);
  assert.deepEqual(decodeDbr(DBR.DOUBLE, 4, b).value, [1, 2, 0, 0]);
  assert.throws(() => decodeDbr(DBR.DOUBLE, 4, b.subarray(0, 8)), { name: 'CaProtocolError' });
  assert.throws(() => decodeDbr(99, 1, b), { name: 'CaProtocolError' });
  // Integer conversions saturate, strings truncate at 39 bytes.
  const s = decodeDbr(DBR.SHORT, 2, encodeDbr(DBR.SHORT, { value: [1e9, -1e9] }));
  assert.deepEqual(s.value, [32767, -32768]);
  const long = decodeDbr(DBR.STRING, 1, encodeDbr(DBR.STRING, { value: ['z'.repeat(60)] }));
  assert.equal(long.value[0], 'z'.repeat(39));
});

test('DBR: large arrays (bulk byte-swap path) match the element-by-element encoding', () => {
  const n = 1000;
  const src = Array.from({ length: n }, (_, i) => (i - 500) * 1234.5);
  for (const code of [DBR.DOUBLE, DBR.FLOAT, DBR.LONG, DBR.SHORT, DBR.TIME_DOUBLE, DBR.CTRL_LONG, DBR.CHAR, DBR.ENUM]) {
    const bulk = encodeDbr(code, { value: src });
    const f64 = encodeDbr(code, { value: Float64Array.from(src) });
    // Element by element: encode in chunks below the bulk threshold and compare the value bytes.
    const meta = dbrMetaSize(code);
    const es = (bulk.length - meta) / n;
    for (let k = 0; k < n; k += 100) {
      const part = encodeDbr(code, { value: src.slice(k, k + 100) });
      assert.deepEqual(bulk.subarray(meta + k * es, meta + (k + 100) * es), part.subarray(meta), `type ${code} at ${k}`);
    }
    assert.deepEqual(f64, bulk);
    const back = decodeDbr(code, n, bulk).value as number[];
    if (code === DBR.SHORT) assert.equal(back[0], -32768, 'saturates like the scalar path');
    if (code === DBR.DOUBLE) assert.deepEqual(back, src);
  }
});

test('DBR: a lone DBR_STRING shortened to its NUL (as caput sends it) decodes', () => {
  const short = hexToBytes('322e350000000000');
  assert.deepEqual(decodeDbr(DBR.STRING, 1, short).value, ['2.5']);
});

test('DBR: known payloads from RSRV decode to the recorded values', () => {
  // caget -d DBR_CTRL_DOUBLE peer:ai
  const ctrl = hexToBytes(
    '000000000003000156000000000000004024000000000000c02400000000000040220000000000007ff80000000000007ff80000000000007ff80000000000004024000000000000c024000000000000400a000000000000',
  );
  const d = decodeDbr(DBR.CTRL_DOUBLE, 1, ctrl);
  assert.equal(d.value[0], 3.25);
  assert.equal(d.units, 'V');
  assert.equal(d.precision, 3);
  assert.equal(d.upperDisplay, 10);
  assert.equal(d.lowerDisplay, -10);
  assert.equal(d.upperAlarm, 9);
  assert.ok(Number.isNaN(d.upperWarning));
  assert.equal(d.upperControl, 10);
  assert.equal(d.lowerControl, -10);
  // TIME_DOUBLE with the EPICS epoch timestamp
  const t = decodeDbr(DBR.TIME_DOUBLE, 1, hexToBytes('000000004567220d0feecb2300000017400a000000000000'));
  assert.equal(t.value[0], 3.25);
  assert.deepEqual(t.timestamp, { secondsPastEpoch: 0x4567220d, nanoseconds: 0x0feecb23 });
  const ms = epicsTimestampToMs(t.timestamp!);
  assert.equal(new Date(ms).toISOString().slice(0, 10), '2026-11-24');
  assert.deepEqual(toEpicsTimestamp(631152000 + 5, 7), { secondsPastEpoch: 5, nanoseconds: 7 });
});

test('command codes match the protocol numbering', () => {
  assert.equal(CaCommand.CREATE_CHAN, 18);
  assert.equal(CaCommand.ACCESS_RIGHTS, 22);
  assert.equal(CaCommand.SERVER_DISCONN, 27);
  assert.equal(ECA.NORMAL, 1);
  assert.equal(ECA.PUTFAIL, 160);
  assert.equal(ECA.NOWTACCESS, 376);
  assert.equal(ECA.BADTYPE, 114);
  assert.equal(ECA.BADCOUNT, 176);
});
