// Units of the client: number and value formatting, put value building, CLI option parsing,
// and the sans-I/O circuit's handshake.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  ClientConnection,
  buildPutValue,
  formatDelta,
  formatNumber,
  formatTree,
  needsCurrent,
  ntUri,
  splitHostPort,
} from '../../src/pva/client/index.ts';
import { Framer } from '../../src/pva/framer.ts';
import { decodeMessage, encodeMessage, ProtocolError, type PvaMessage } from '../../src/pva/messages.ts';
import { PVStructure, STATUS_OK, Writer, ntEnum, ntScalar, struct, union, structArray, scalar } from '../../src/pvdata/index.ts';
import { parseArgs, UsageError } from '../../src/cli/args.ts';

describe('formatNumber (C++ ostream default, %g)', () => {
  const cases: Array<[number, string]> = [
    [3.25, '3.25'],
    [0, '0'],
    [-0, '-0'],
    [1795538829, '1.79554e+09'],
    [100000, '100000'],
    [1000000, '1e+06'],
    [0.0001, '0.0001'],
    [0.00001, '1e-05'],
    [3.14159265, '3.14159'],
    [-2.5e-7, '-2.5e-07'],
    [1e100, '1e+100'],
    [NaN, 'nan'],
    [Infinity, 'inf'],
    [-Infinity, '-inf'],
    [123456.7, '123457'],
    [0.1 + 0.2, '0.3'],
  ];
  for (const [x, s] of cases) it(`${x} → ${s}`, () => assert.equal(formatNumber(x), s));
});

describe('formatDelta / formatTree', () => {
  it('prints integers exactly and strings escaped', () => {
    const t = struct('', { a: 'long', b: 'ulong', s: 'string', f: 'float', ok: 'boolean', bs: 'boolean[]', i8: 'byte[]' });
    const v = new PVStructure(t, {
      a: -(1n << 62n),
      b: (1n << 64n) - 1n,
      s: 'tab\there "q" \\',
      f: 0.5,
      ok: true,
      bs: [true, false],
      i8: [-1, 2],
    });
    assert.equal(
      formatDelta(v),
      '    a int64_t = -4611686018427387904\n' +
        '    b uint64_t = 18446744073709551615\n' +
        '    s string = "tab\\there \\"q\\" \\\\"\n' +
        '    f float = 0.5\n' +
        '    ok bool = true\n' +
        '    bs bool[] = {2}[true, false]\n' +
        '    i8 int8_t[] = {2}[-1, 2]\n',
    );
  });

  it('only changed fields appear in the delta', () => {
    const v = new PVStructure(ntScalar('double'));
    v.clearChanged();
    v.set('alarm.severity', 2);
    assert.equal(formatDelta(v), '    alarm.severity int32_t = 2\n');
    v.clearChanged();
    v.changed.set(v.type.offsetOf('timeStamp')!);
    assert.equal(
      formatDelta(v),
      '    timeStamp.secondsPastEpoch int64_t = 0\n    timeStamp.nanoseconds int32_t = 0\n    timeStamp.userTag int32_t = 0\n',
    );
  });

  it('unions and structure arrays', () => {
    const u = union('', { d: 'double', s: 'string' });
    const el = struct('pt', { x: 'int' });
    const t = struct('', { u, any: { kind: 'any' }, arr: structArray(el) });
    const v = new PVStructure(t, {
      u: { selector: 1, value: 'hi' },
      any: { type: scalar('int'), value: 5 },
      arr: [new PVStructure(el, { x: 1 }), null],
    });
    assert.equal(
      formatDelta(v),
      '    u union\n    u->s string = "hi"\n    any any\n    any-> int32_t = 5\n' +
        '    arr struct[]\n    arr[0] struct "pt"\n    arr[0].x int32_t = 1\n    arr[1] null\n',
    );
    assert.equal(
      formatTree(v),
      'struct {\n    union u.s string = "hi"\n    any any int32_t = 5\n    struct[] "pt" arr = {2}[\n' +
        '        struct "pt" {\n            int32_t x = 1\n        }\n        null\n    ]\n}\n',
    );
  });
});

describe('put value building', () => {
  const e = ntEnum();
  it('a plain value goes to value; an enum takes an index or a choice name', () => {
    const d = buildPutValue(ntScalar('double'), '2.5');
    assert.deepEqual(d.changed.toArray(), [1]);
    assert.equal(d.get('value'), 2.5);
    assert.equal(needsCurrent(e, 2), false);
    assert.equal(needsCurrent(e, '2'), false);
    assert.equal(needsCurrent(e, 'Two'), true);
    assert.equal(needsCurrent(e, { 'value.index': 1 }), false);
    const byIndex = buildPutValue(e, '2');
    assert.equal(byIndex.get('value.index'), 2);
    assert.deepEqual(byIndex.changed.toArray(), [e.offsetOf('value.index')]);
    const cur = new PVStructure(e, { value: { index: 0, choices: ['Zero', 'One', 'Two'] } });
    assert.equal(buildPutValue(e, 'Two', cur).get('value.index'), 2);
    assert.throws(() => buildPutValue(e, 'Nine', cur), /'Nine' is not one of the choices \[Zero, One, Two\]/);
  });

  it('objects of dotted paths and nested objects', () => {
    const t = ntScalar('double');
    const v = buildPutValue(t, { value: 1, alarm: { severity: 2 }, 'alarm.message': 'm' });
    assert.deepEqual(
      v.changed.toArray(),
      [t.offsetOf('value'), t.offsetOf('alarm.severity'), t.offsetOf('alarm.message')].sort((a, b) => a! - b!),
    );
    assert.throws(() => buildPutValue(t, { nope: 1 }), /no field 'nope'/);
    assert.throws(() => buildPutValue(t, { alarm: 1 }), /field 'alarm' is a structure/);
    assert.throws(() => buildPutValue(t, {}), /nothing to put/);
  });

  it('arrays from text', () => {
    const t = struct('', { value: 'double[]', s: 'string[]' });
    assert.deepEqual(Array.from(buildPutValue(t, '[1, 2.5]').get('value') as Float64Array), [1, 2.5]);
    assert.deepEqual(Array.from(buildPutValue(t, '3,4').get('value') as Float64Array), [3, 4]);
    assert.deepEqual(buildPutValue(t, { s: '["a b", "c"]' }).get('s'), ['a b', 'c']);
  });

  it('NTURI arguments like pvxcall', () => {
    const u = ntUri('pv:rpc', { a: '1', b: 2, c: true });
    assert.equal(u.type.id, 'epics:nt/NTURI:1.0');
    assert.deepEqual(u.toJSON(), { scheme: '', authority: '', path: 'pv:rpc', query: { a: '1', b: 2, c: true } });
    const q = u.type.typeAt('query.b');
    assert.ok(q && q.kind === 'scalar' && q.type === 'double');
  });
});

describe('CLI option parsing', () => {
  const specs = [
    { short: 'r', long: 'request', value: true },
    { short: 'w', long: 'timeout', value: true },
    { short: '#', long: 'count', value: true },
    { short: 'v', long: 'verbose' },
  ];
  it('short, joined, long, -- and negative numbers', () => {
    const p = parseArgs(['-r', 'field(value)', '-w5', '-v#', '3', '--count=4', 'pv', '-5', '--', '-x'], specs);
    assert.equal(p.opts.get('request'), 'field(value)');
    assert.equal(p.opts.get('timeout'), '5');
    assert.equal(p.opts.get('count'), '4');
    assert.equal(p.opts.get('verbose'), true);
    assert.deepEqual(p.positional, ['pv', '-5', '-x']);
  });
  it('errors', () => {
    assert.throws(() => parseArgs(['-z'], specs), UsageError);
    assert.throws(() => parseArgs(['-r'], specs), /needs a value/);
    assert.throws(() => parseArgs(['--nope'], specs), /unknown option '--nope'/);
  });
  it('host:port', () => {
    assert.deepEqual(splitHostPort('127.0.0.1:5075', 1), { host: '127.0.0.1', port: 5075 });
    assert.deepEqual(splitHostPort('127.0.0.1', 5076), { host: '127.0.0.1', port: 5076 });
  });
});

describe('ClientConnection (sans-I/O)', () => {
  function serverBytes(...ms: PvaMessage[]): Buffer {
    const w = new Writer(true);
    for (const m of ms) encodeMessage(w, m);
    return w.toBuffer();
  }
  function decodeAll(chunks: Buffer[]): PvaMessage[] {
    const f = new Framer();
    const out: PvaMessage[] = [];
    for (const c of chunks) {
      for (const fr of f.push(c)) {
        assert.ok(!(fr instanceof ProtocolError));
        const m = decodeMessage(fr);
        assert.ok(!(m instanceof ProtocolError));
        out.push(m);
      }
    }
    return out;
  }

  it('answers validation with ca auth, queues requests until validated', () => {
    const sent: Buffer[] = [];
    let ready = 0;
    const c = new ClientConnection(
      { send: (b) => sent.push(b), onReady: () => ready++, onFatal: () => assert.fail('fatal') },
      { method: 'ca', user: 'alice', host: 'box' },
    );
    c.createChannel(7, 'pv:a', { onCreated: () => {}, onDestroyed: () => {} });
    assert.equal(sent.length, 0);
    c.receive(
      serverBytes(
        { type: 'setByteOrder', bigEndian: false },
        { type: 'validationRequest', bufferSize: 65536, registrySize: 0x7fff, methods: ['anonymous', 'ca'] },
      ),
    );
    let msgs = decodeAll(sent);
    assert.equal(msgs.length, 1);
    const vr = msgs[0];
    assert.ok(vr.type === 'validationReply');
    assert.equal(vr.method, 'ca');
    assert.deepEqual((vr.data!.value as PVStructure).toJSON(), { user: 'alice', host: 'box' });
    c.receive(serverBytes({ type: 'validated', status: STATUS_OK }));
    assert.equal(ready, 1);
    msgs = decodeAll(sent);
    assert.deepEqual(msgs[1], { type: 'createChannel', channels: [{ cid: 7, name: 'pv:a' }] });
  });

  it('falls back to anonymous when the server does not offer ca; fails on bad validation', () => {
    const sent: Buffer[] = [];
    let fatal = '';
    const c = new ClientConnection({ send: (b) => sent.push(b), onReady: () => {}, onFatal: (r) => (fatal = r) });
    c.receive(serverBytes({ type: 'validationRequest', bufferSize: 65536, registrySize: 0x7fff, methods: ['anonymous'] }));
    const vr = decodeAll(sent)[0];
    assert.ok(vr.type === 'validationReply' && vr.method === 'anonymous');
    c.receive(serverBytes({ type: 'validated', status: { type: 2, message: 'denied', callTree: '' } }));
    assert.equal(fatal, 'validation failed: denied');
    assert.equal(c.state, 'closed');
  });

  it('a protocol error closes the circuit and fails open operations', () => {
    let failed = '';
    const c = new ClientConnection({ send: () => {}, onReady: () => {}, onFatal: () => {} });
    c.register(1, { types: {}, onMessage: () => {}, onClosed: (r) => (failed = r) });
    c.receive(Buffer.from([0x00, 0x02, 0x00, 0x00, 0, 0, 0, 0]));
    assert.match(failed, /bad magic/);
  });
});
