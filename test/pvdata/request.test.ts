// pvRequest: text parsing as pvxs's client does it, wire bytes against the captures, masks and
// options on the server side.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BitSet,
  PVStructure,
  Reader,
  RequestError,
  Structure,
  Writer,
  buildRequest,
  decodeStructureInto,
  decodeType,
  encodeStructure,
  encodeType,
  formatRequest,
  formatType,
  ntScalar,
  parseRequest,
  requestOptions,
  requestToMask,
  typeEquals,
  type TypeCache,
} from '../../src/pvdata/index.ts';
import { loadMessages } from './captures.ts';

const NT = ntScalar('double', { display: true, control: true, valueAlarm: true });
const off = (p: string): number => NT.offsetOf(p)!;
const subtree = (p: string): number[] => {
  const o = off(p);
  return Array.from({ length: NT.layout[o].end - o }, (_, i) => o + i);
};

function wire(req: PVStructure, little = true): Buffer {
  const w = new Writer(little);
  encodeType(w, req.type);
  encodeStructure(w, req);
  return w.toBuffer();
}

/** Sends a request through the codec the way a server receives it. */
function received(req: PVStructure, little = true): PVStructure {
  const r = new Reader(wire(req, little), little);
  const v = new PVStructure(decodeType(r) as Structure);
  decodeStructureInto(r, v);
  assert.ok(r.ok && r.remaining === 0);
  return v;
}

/** The pvRequest bytes of the first GET INIT (sid, ioid, subcommand 0x08, request). */
function capturedRequest(file: string): Buffer {
  const m = loadMessages(file).find((x) => x.dir === 'c2s' && x.command === 10)!;
  assert.equal(m.payload[8], 0x08);
  return m.payload.subarray(9);
}

test('field(value) is byte-identical to what pvxget sent; the default request too', () => {
  assert.equal(wire(parseRequest('field(value)')).toString('hex'), capturedRequest('pvxs-get-ai-field-value.json').toString('hex'));
  assert.equal(wire(parseRequest('field(value)')).toString('hex'), '800001056669656c648000010576616c7565800000');
  assert.equal(wire(parseRequest('')).toString('hex'), capturedRequest('pvxs-get-ai.json').toString('hex'));
  assert.equal(wire(buildRequest()).toString('hex'), '800001056669656c64800000');
});

test("pvAccessCPP's field(value) (cached definitions) is the same structure", () => {
  const bytes = capturedRequest('pvacpp-get-ai-field-value.json');
  const cache: TypeCache = new Map();
  const r = new Reader(bytes, true);
  const t = decodeType(r, cache) as Structure;
  assert.ok(r.ok && r.remaining === 0);
  assert.ok(typeEquals(t, parseRequest('field(value)').type));
  const { mask, all } = requestToMask(new PVStructure(t), NT);
  assert.deepEqual(mask.toArray(), [1]);
  assert.ok(!all);
  // pvAccessCPP's default request is an empty structure: everything
  const d = new Reader(capturedRequest('pvacpp-get-ai.json'), true);
  const dt = decodeType(d, new Map()) as Structure;
  assert.deepEqual(dt.fields, []);
  assert.ok(requestToMask(new PVStructure(dt), NT).all);
});

test('parse: request text forms', () => {
  const cases: [string, unknown][] = [
    ['', { field: {} }],
    ['field()', { field: {} }],
    ['field(value)', { field: { value: {} } }],
    ['field(value,alarm)', { field: { value: {}, alarm: {} } }],
    ['field(value)field(timeStamp)', { field: { value: {}, timeStamp: {} } }],
    ['value,timeStamp', { field: { value: {}, timeStamp: {} } }],
    ['  field( value , alarm )  ', { field: { value: {}, alarm: {} } }],
    ['alarm.severity', { field: { alarm: { severity: {} } } }],
    ['field(value,display.units)', { field: { value: {}, display: { units: {} } } }],
    ['field(display.units,display.limitLow)', { field: { display: { units: {}, limitLow: {} } } }],
    ['field(value,value)', { field: { value: {} } }],
    ['record[queueSize=4,pipeline=true]field(value)', { field: { value: {} }, record: { _options: { pipeline: 'true', queueSize: '4' } } }],
    ['field(value)record[process=passive]', { field: { value: {} }, record: { _options: { process: 'passive' } } }],
    ['record[block=true]', { field: {}, record: { _options: { block: 'true' } } }],
    ['putField(value)getField(value,alarm)', { putField: { value: {} }, getField: { value: {}, alarm: {} } }],
    ['field(value[opt=1])', { field: { value: { _options: { opt: '1' } } } }],
    ['field(value[a=1],value[b=2,a=3])', { field: { value: { _options: { a: '3', b: '2' } } } }],
  ];
  for (const [text, want] of cases) assert.deepEqual(parseRequest(text).toJSON(), want, text);
  // the request structure is all empty structures plus string options
  assert.equal(
    formatType(parseRequest('record[queueSize=4]field(a.b)').type),
    'struct\n    struct field\n        struct a\n            struct b\n    struct record\n        struct _options\n            string queueSize\n',
  );
  assert.equal(formatRequest(parseRequest('field(value,display.units)record[queueSize=2]')), 'record[queueSize=2]field(value,display.units)');
});

test('parse: malformed text is an error with a clear message', () => {
  const bad: [string, RegExp][] = [
    ['field(value', /expected a field name or '\)'.*end of/],
    ['field(value))', /unexpected '\)' at 12/],
    ['field value', /expected '\(' after 'field'/],
    ['record[queueSize]', /expected '=' after option 'queueSize'/],
    ['record[queueSize=4', /expected key=value or '\]'/],
    ['record[=4]', /expected key=value/],
    ['record(x)', /expected '\[' after 'record'/],
    ['field(a$b)', /invalid character '\$'/],
    ['field(value]', /expected a field name or '\)'/],
    ['value(x)', /unexpected '\('/],
    ['field(1abc)', /bad field name/],
    ['field(...)', /empty field name/],
    ['[', /unexpected '\['/],
  ];
  for (const [text, re] of bad) {
    assert.throws(() => parseRequest(text), (e: unknown) => e instanceof RequestError && re.test((e as Error).message), text);
  }
});

test('buildRequest: typed option values keep their types (as pvxs API callers send them)', () => {
  const req = buildRequest({ fields: ['value', 'alarm.severity'], options: { queueSize: 8, pipeline: true, process: 'true' } });
  assert.equal(
    formatType(req.type),
    'struct\n    struct field\n        struct value\n        struct alarm\n            struct severity\n    struct record\n        struct _options\n            bool pipeline\n            string process\n            int32_t queueSize\n',
  );
  const o = requestOptions(received(req));
  assert.deepEqual({ ...o, raw: undefined }, { raw: undefined, queueSize: 8, pipeline: true, process: true });
});

test('requestToMask: selections', () => {
  const cases: [string, number[] | 'all'][] = [
    ['', 'all'],
    ['field()', 'all'],
    ['record[queueSize=3]', 'all'],
    ['field(value)', [1]],
    ['field(value,alarm)', [1, ...subtree('alarm')]],
    ['field(value)field(timeStamp)', [1, ...subtree('timeStamp')]],
    ['alarm.severity', [off('alarm.severity')]],
    ['field(value,display.units)', [1, off('display.units')]],
    ['field(display.form)', subtree('display.form')],
    ['field(value.index)', [1]], // below a leaf: the leaf
    ['field(value,nope,alarm.bogus)', [1]],
    ['value,alarm,timeStamp,display,control,valueAlarm', 'all'],
  ];
  for (const [text, want] of cases) {
    for (const req of [parseRequest(text), received(parseRequest(text)), received(parseRequest(text), false)]) {
      const m = requestToMask(req, NT);
      if (want === 'all') {
        assert.ok(m.all, text);
        assert.ok(m.mask.get(0));
        assert.equal(m.mask.cardinality(), NT.layout.length);
      } else {
        assert.ok(!m.all, text);
        assert.deepEqual(m.mask.toArray(), want, text);
      }
    }
  }
  assert.deepEqual(requestToMask(parseRequest('field(value,nope,alarm.bogus)'), NT).unknown, ['nope', 'alarm.bogus']);
  assert.ok(requestToMask(undefined, NT).all);
});

test('requestToMask: a request of unknown fields only is an error naming them', () => {
  assert.throws(
    () => requestToMask(parseRequest('field(nope,other.x)'), NT),
    (e: unknown) => e instanceof RequestError && /'nope'/.test((e as Error).message) && /'other'/.test((e as Error).message),
  );
});

test('requestToMask: put-get sections fall back to field', () => {
  const req = parseRequest('putField(value)getField(value,alarm)');
  assert.deepEqual(requestToMask(req, NT, 'putField').mask.toArray(), [1]);
  assert.deepEqual(requestToMask(req, NT, 'getField').mask.toArray(), [1, ...subtree('alarm')]);
  assert.ok(requestToMask(req, NT, 'field').all);
  assert.deepEqual(requestToMask(parseRequest('field(value)'), NT, 'getField').mask.toArray(), [1]);
});

test('options: strings or numbers/booleans, with odd values left raw', () => {
  const text = requestToMask(received(parseRequest('record[queueSize=4,pipeline=true,process=passive,block=false,ackAny=50%,x=y]field(value)')), NT).options;
  assert.equal(text.queueSize, 4);
  assert.equal(text.pipeline, true);
  assert.equal(text.process, 'passive');
  assert.equal(text.block, false);
  assert.equal(text.ackAny, '50%');
  assert.equal(text.raw.x, 'y');
  const typed = requestOptions(received(buildRequest({ options: { queueSize: 2, pipeline: false, process: true, block: 1, ackAny: 3 } })));
  assert.deepEqual([typed.queueSize, typed.pipeline, typed.process, typed.block, typed.ackAny], [2, false, true, true, 3]);
  const junk = requestOptions(parseRequest('record[queueSize=lots,pipeline=maybe]'));
  assert.equal(junk.queueSize, undefined);
  assert.equal(junk.pipeline, undefined);
  assert.deepEqual(junk.raw, { pipeline: 'maybe', queueSize: 'lots' });
  assert.deepEqual(requestOptions(undefined), { raw: {} });
});
