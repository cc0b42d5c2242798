// Normative types: byte-identical to what pvxs/QSRV2 sent in the captures, cached, and helpers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ALARM_SEVERITY_NAMES,
  ALARM_STATUS_NAMES,
  AlarmSeverity,
  AlarmStatus,
  DISPLAY_FORMS,
  NT_NDARRAY,
  PVStructure,
  Reader,
  Structure,
  Writer,
  decodeStatus,
  decodeStructureInto,
  decodeStructurePartial,
  decodeType,
  encodeStructure,
  encodeStructurePartial,
  encodeType,
  formatType,
  isNT,
  ntEnum,
  ntName,
  ntNDArray,
  ntScalar,
  ntScalarArray,
  ntTable,
  ntTableValue,
  ntURI,
  ntURIValue,
  setAlarm,
  setTimeStamp,
  timeFromDate,
  timeFromNanos,
  timeNow,
  timeToDate,
  timeToMs,
  typeEquals,
  BitSet,
} from '../../src/pvdata/index.ts';
import { loadMessages, type PvaMessage } from './captures.ts';

const FULL = { display: true, control: true, valueAlarm: true };

function encodeTypeBytes(t: Structure, little = true): Buffer {
  const w = new Writer(little);
  encodeType(w, t);
  return w.toBuffer();
}

/** The type bytes of a GET/PUT/MONITOR INIT reply: ioid, subcommand 0x08, Status, type. */
function initReplyType(m: PvaMessage): { bytes: Buffer; type: Structure } {
  const r = new Reader(m.payload, !m.bigEndian);
  r.u32();
  assert.equal(r.u8(), 0x08, 'INIT subcommand');
  assert.equal(decodeStatus(r).type, 0);
  const start = r.pos;
  const type = decodeType(r) as Structure;
  assert.ok(r.ok, r.fault);
  assert.equal(r.remaining, 0);
  return { bytes: m.payload.subarray(start, r.pos), type };
}

function serverReplies(file: string, command: number): PvaMessage[] {
  return loadMessages(file).filter((m) => m.dir === 's2c' && m.command === command);
}

const CAPTURED: [string, number, () => Structure][] = [
  ['pvxs-get-ai.json', 10, () => ntScalar('double', FULL)],
  ['pvxs-get-ai-field-value.json', 10, () => ntScalar('double', FULL)],
  ['pvxs-put-ao.json', 11, () => ntScalar('double', FULL)],
  ['pvxs-monitor-count.json', 13, () => ntScalar('double', FULL)],
  ['pvxs-get-wf.json', 10, () => ntScalarArray('double', FULL)],
  ['pvxs-get-mbbo.json', 10, () => ntEnum()],
  ['pvxs-get-str.json', 10, () => ntScalar('string', FULL)],
  ['pvacpp-get-ai.json', 10, () => ntScalar('double', FULL)],
  ['pvacpp-get-mbbo.json', 10, () => ntEnum()],
];

test('NT builders produce the exact type bytes pvxs/QSRV2 sent', () => {
  for (const [file, cmd, build] of CAPTURED) {
    const init = serverReplies(file, cmd).find((m) => m.payload[4] === 0x08)!;
    assert.ok(init, file);
    const { bytes, type } = initReplyType(init);
    const mine = build();
    assert.equal(encodeTypeBytes(mine).toString('hex'), bytes.toString('hex'), file);
    assert.ok(typeEquals(type, mine));
    assert.equal(formatType(type), formatType(mine));
  }
});

test('GET_FIELD reply (pvxs-info-ai) carries the same NTScalar type', () => {
  const m = serverReplies('pvxs-info-ai.json', 17)[0];
  const r = new Reader(m.payload, true);
  r.u32(); // request id
  assert.equal(decodeStatus(r).type, 0);
  const start = r.pos;
  decodeType(r);
  assert.ok(r.ok);
  assert.equal(m.payload.subarray(start, r.pos).toString('hex'), encodeTypeBytes(ntScalar('double', FULL)).toString('hex'));
});

test('RPC: pvxcall NTURI argument and rpc_server NTScalar reply, bytes and values', () => {
  const calls = loadMessages('pvxs-rpc-add.json').filter((m) => m.dir === 'c2s' && m.command === 20);
  const call = calls[calls.length - 1].payload;
  // sid, ioid, subcommand 0x00, then type and value of the argument
  const mine = new Writer(true);
  const arg = ntURIValue('peer:rpc', { lhs: '1.5', rhs: '2.25' });
  encodeType(mine, arg.type);
  encodeStructure(mine, arg);
  assert.equal(call.subarray(9).toString('hex'), mine.toBuffer().toString('hex'));
  assert.equal(arg.type, ntURI({ lhs: 'string', rhs: 'string' }));

  const replies = serverReplies('pvxs-rpc-add.json', 20);
  const reply = replies[replies.length - 1].payload;
  const r = new Reader(reply, true, 5);
  assert.equal(decodeStatus(r).type, 0);
  const start = r.pos;
  const t = decodeType(r) as Structure;
  assert.equal(reply.subarray(start, r.pos).toString('hex'), encodeTypeBytes(ntScalar('double')).toString('hex'));
  const v = new PVStructure(t);
  decodeStructureInto(r, v);
  assert.ok(r.ok);
  assert.equal(r.remaining, 0);
  assert.equal(v.get('value'), 3.75);
  // and our encoding of that value is byte-identical
  const w = new Writer(true);
  encodeStructure(w, v);
  assert.equal(w.toBuffer().toString('hex'), reply.subarray(r.pos - w.toBuffer().length).toString('hex'));
});

test('captured data replies decode into NT values and re-encode identically', () => {
  const expect: [string, Record<string, unknown>][] = [
    ['pvxs-get-ai.json', { value: 3.25, 'display.units': 'V', 'display.precision': 3, 'display.limitLow': -10, 'control.limitHigh': 10, 'valueAlarm.highAlarmLimit': 9, 'display.description': 'double ai' }],
    ['pvxs-get-wf.json', { 'display.description': 'double waveform' }],
    ['pvxs-get-mbbo.json', { 'value.index': 2, 'value.choices': ['Zero', 'One', 'Two', 'Three'], 'display.description': 'mbbo enum' }],
    ['pvxs-get-str.json', { value: 'hello ca', 'display.description': 'stringout' }],
  ];
  for (const [file, fields] of expect) {
    const replies = serverReplies(file, 10);
    const { type } = initReplyType(replies[0]);
    const data = replies[1].payload;
    const r = new Reader(data, true, 4);
    assert.equal(r.u8(), 0x00);
    assert.equal(decodeStatus(r).type, 0);
    const maskStart = r.pos;
    const mask = r.bitSet();
    const v = new PVStructure(type);
    decodeStructurePartial(r, v, mask);
    assert.ok(r.ok, r.fault);
    assert.equal(r.remaining, 0, file);
    for (const [path, want] of Object.entries(fields)) assert.deepEqual(v.get(path), want, `${file} ${path}`);
    if (v.has('display.form.choices')) assert.deepEqual(v.get('display.form.choices'), DISPLAY_FORMS as string[]);
    const w = new Writer(true);
    w.bitSet(mask);
    encodeStructurePartial(w, v, mask);
    assert.equal(w.toBuffer().toString('hex'), data.subarray(maskStart).toString('hex'), file);
  }
  const wf = serverReplies('pvxs-get-wf.json', 10)[1].payload;
  const r = new Reader(wf, true, 6);
  const v = new PVStructure(ntScalarArray('double', FULL));
  decodeStructurePartial(r, v, r.bitSet());
  assert.deepEqual(v.get('value'), Float64Array.of(1.5, 2.5, 3.5, 4.5));
});

test('builders are cached: same options, same instance', () => {
  assert.equal(ntScalar('double', FULL), ntScalar('double', { ...FULL }));
  assert.equal(ntScalar('int'), ntScalar('int', {}));
  assert.notEqual(ntScalar('int'), ntScalar('int', { display: true }));
  assert.notEqual(ntScalar('double', FULL), ntScalar('double', { ...FULL, form: false }));
  assert.equal(ntScalarArray('int', { display: true }), ntScalarArray('int', { display: true }));
  assert.notEqual(ntScalarArray('int'), ntScalar('int'));
  assert.equal(ntEnum(), ntEnum({ display: true }));
  assert.equal(ntURI({ a: 'double', b: 'string' }), ntURI({ a: 'double', b: 'string' }));
  assert.notEqual(ntURI({ a: 'double' }), ntURI({ a: 'float' }));
  assert.equal(ntTable({ x: 'double', n: 'string' }), ntTable([{ name: 'x', type: 'double' }, { name: 'n', type: 'string' }]));
  assert.equal(ntNDArray(), ntNDArray());
});

test('NTScalar variants: typed limits, no control/valueAlarm for strings, form optional, named subtypes', () => {
  const i = ntScalar('int', FULL);
  assert.deepEqual(i.typeAt('display.limitLow'), { kind: 'scalar', type: 'int' });
  assert.deepEqual(i.typeAt('valueAlarm.hysteresis'), { kind: 'scalar', type: 'double' });
  assert.deepEqual(i.typeAt('valueAlarm.active'), { kind: 'scalar', type: 'boolean' });
  const s = ntScalar('string', FULL);
  assert.deepEqual(s.fields.map((f) => f.name), ['value', 'alarm', 'timeStamp', 'display']);
  const nf = ntScalar('double', { display: true, form: false });
  assert.deepEqual((nf.field('display') as Structure).fields.map((f) => f.name), ['limitLow', 'limitHigh', 'description', 'units']);
  const named = ntScalar('double', { ...FULL, namedSubtypes: true });
  assert.equal((named.field('display') as Structure).id, 'display_t');
  assert.equal((named.field('control') as Structure).id, 'control_t');
  assert.equal((named.field('valueAlarm') as Structure).id, 'valueAlarm_t');
  assert.equal((ntScalar('double', FULL).field('display') as Structure).id, '');
  assert.equal((i.field('alarm') as Structure).id, 'alarm_t');
  assert.equal((i.field('timeStamp') as Structure).id, 'time_t');
  assert.equal(((i.field('display') as Structure).field('form') as Structure).id, 'enum_t');
  assert.equal(ntScalarArray('ubyte').id, 'epics:nt/NTScalarArray:1.0');
  assert.throws(() => ntScalar('complex' as 'double'), /unknown scalar type/);
});

test('NTTable, NTURI, NTNDArray layouts', () => {
  const t = ntTableValue([{ name: 'x', type: 'double', label: 'X [mm]' }, { name: 'name', type: 'string' }], { x: [1, 2], name: ['a', 'b'] });
  assert.equal(t.type.id, 'epics:nt/NTTable:1.0');
  assert.deepEqual(t.type.fields.map((f) => f.name), ['labels', 'value', 'descriptor', 'alarm', 'timeStamp']);
  assert.deepEqual(t.get('labels'), ['X [mm]', 'name']);
  assert.deepEqual(t.get('value.x'), Float64Array.of(1, 2));
  const u = ntURI({ lhs: 'double' });
  assert.deepEqual(u.fields.map((f) => f.name), ['scheme', 'authority', 'path', 'query']);
  assert.equal(u.id, 'epics:nt/NTURI:1.0');
  const nd = ntNDArray();
  assert.equal(nd.id, NT_NDARRAY);
  assert.deepEqual(nd.fields.map((f) => f.name), [
    'value', 'codec', 'compressedSize', 'uncompressedSize', 'uniqueId', 'dataTimeStamp', 'alarm', 'timeStamp', 'dimension', 'attribute',
  ]);
  const value = nd.field('value');
  assert.ok(value && value.kind === 'union');
  assert.equal(value.fields.length, 11);
  assert.ok(value.fields.every((f) => f.type.kind === 'scalarArray'));
  // NTNDArray values survive the codec
  const v = new PVStructure(nd);
  v.set('value', { name: 'ushortValue', value: [1, 2, 3] });
  v.set('dimension', [{ size: 3, offset: 0, fullSize: 3, binning: 1, reverse: false }]);
  v.set('attribute', [{ name: 'ColorMode', value: { type: { kind: 'scalar', type: 'int' }, value: 0 }, tags: [] }]);
  for (const little of [true, false]) {
    const w = new Writer(little);
    encodeType(w, nd);
    encodeStructure(w, v);
    const r = new Reader(w.toBuffer(), little);
    const back = new PVStructure(decodeType(r) as Structure);
    decodeStructureInto(r, back);
    assert.ok(r.ok && r.remaining === 0);
    assert.deepEqual((back.get('value') as { value: unknown }).value, Uint16Array.of(1, 2, 3));
  }
  assert.equal(ntName('epics:nt/NTScalarArray:1.0'), 'NTScalarArray');
  assert.equal(ntName('alarm_t'), undefined);
  assert.ok(isNT(ntEnum(), 'NTEnum'));
  assert.ok(!isNT(ntEnum(), 'NTScalar'));
});

test('alarm constants', () => {
  assert.deepEqual(AlarmSeverity, { NONE: 0, MINOR: 1, MAJOR: 2, INVALID: 3, UNDEFINED: 4 });
  assert.deepEqual(AlarmStatus, { NONE: 0, DEVICE: 1, DRIVER: 2, RECORD: 3, DB: 4, CONF: 5, UNDEFINED: 6, CLIENT: 7 });
  assert.equal(ALARM_SEVERITY_NAMES[AlarmSeverity.MAJOR], 'MAJOR');
  assert.equal(ALARM_STATUS_NAMES[AlarmStatus.CLIENT], 'CLIENT');
  assert.deepEqual(DISPLAY_FORMS, ['Default', 'String', 'Binary', 'Decimal', 'Hex', 'Exponential', 'Engineering']);
});

test('time_t helpers: Date/ms ↔ fields, negative times, nanoseconds', () => {
  const d = new Date('2026-11-24T12:34:56.789Z');
  const t = timeFromDate(d, 5);
  assert.equal(t.secondsPastEpoch, BigInt(Math.floor(d.getTime() / 1000)));
  assert.equal(t.nanoseconds, 789_000_000);
  assert.equal(t.userTag, 5);
  assert.equal(timeToDate(t).getTime(), d.getTime());
  assert.equal(timeToMs(timeFromDate(1234.5)), 1234.5);
  const neg = timeFromDate(-1500);
  assert.deepEqual(neg, { secondsPastEpoch: -2n, nanoseconds: 500_000_000, userTag: 0 });
  assert.equal(timeToMs(neg), -1500);
  assert.deepEqual(timeFromNanos(1_700_000_000_123_456_789n), { secondsPastEpoch: 1_700_000_000n, nanoseconds: 123_456_789, userTag: 0 });
  assert.deepEqual(timeFromNanos(-1n), { secondsPastEpoch: -1n, nanoseconds: 999_999_999, userTag: 0 });
  const now = timeNow();
  assert.ok(Math.abs(timeToMs(now) - Date.now()) < 1000);
  assert.ok(now.nanoseconds >= 0 && now.nanoseconds < 1e9);
  // rounding up to a whole second carries into the seconds
  assert.deepEqual(timeFromDate(999.9999999), { secondsPastEpoch: 1n, nanoseconds: 0, userTag: 0 });
});

test('setTimeStamp / setAlarm write by offset and mark the leaves changed', () => {
  const v = new PVStructure(ntScalar('double', FULL));
  setTimeStamp(v, { secondsPastEpoch: 10n, nanoseconds: 20, userTag: 3 });
  setAlarm(v, { severity: AlarmSeverity.MAJOR, status: AlarmStatus.DEVICE, message: 'HIHI' });
  assert.deepEqual(v.get('timeStamp'), { secondsPastEpoch: 10n, nanoseconds: 20, userTag: 3 });
  assert.deepEqual(v.get('alarm'), { severity: 2, status: 1, message: 'HIHI' });
  assert.deepEqual(v.changed.toArray(), [3, 4, 5, 7, 8, 9]);
  assert.throws(() => setAlarm(v, {}, 'timeStamp'), /not a alarm_t/);
  assert.throws(() => setTimeStamp(v, timeNow(), 'nope'), /no field/);
  // the monitor update of the capture: value + timeStamp leaves
  const mask = BitSet.of(1, 7, 8, 9);
  const w = new Writer(true);
  w.bitSet(mask);
  v.set('value', 218);
  encodeStructurePartial(w, v, mask);
  assert.equal(w.toBuffer().toString('hex'), '028203' + '0000000000406b40' + '0a00000000000000' + '14000000' + '03000000');
});
