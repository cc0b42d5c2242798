// The pvws protocol with a plain web socket client: every message type, metadata first then
// deltas, arrays in base64, writes and command calls allowed and refused, bad input, limits.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Device, LocalCommand, LocalVariable, Root } from '../../src/tree/index.ts';
import { serveWeb, TestClient, type Msg, type WebServed } from './harness.ts';

function buildRoot(): Root {
  const root = new Root({ name: 'R', pollEn: false });
  const d = new Device({ name: 'D', description: 'test device' });
  root.add(d);
  d.add(
    new LocalVariable({
      name: 'f64', typeStr: 'Float64', value: 1.5, units: 'V', disp: '{:.3f}', description: 'a float',
      minimum: -10, maximum: 10, lowAlarm: -8, lowWarning: -5, highWarning: 5, highAlarm: 8,
    }),
  );
  d.add(new LocalVariable({ name: 'i32', typeStr: 'Int32', value: 7, minimum: 0, maximum: 100 }));
  d.add(new LocalVariable({ name: 'ro', typeStr: 'Int32', value: 3, mode: 'RO' }));
  d.add(new LocalVariable({ name: 'mode', typeStr: 'UInt8', value: 0, enum: { 0: 'Off', 1: 'On', 5: 'Auto' } }));
  d.add(new LocalVariable({ name: 'flag', typeStr: 'Bool', value: false }));
  d.add(new LocalVariable({ name: 'label', value: 'hello' }));
  d.add(new LocalVariable({ name: 'u64', typeStr: 'UInt64', value: 2n ** 60n + 1n }));
  d.add(new LocalVariable({ name: 'af64', value: new Float64Array([1.5, -2.25, 1e300, 0]) }));
  d.add(new LocalVariable({ name: 'af32', value: new Float32Array([0.5, -1.5]) }));
  d.add(new LocalVariable({ name: 'ai32', typeStr: 'Int32[3]', value: [-2147483648, 0, 2147483647] }));
  d.add(new LocalVariable({ name: 'ai16', typeStr: 'Int16[3]', value: [-32768, 1, 32767] }));
  d.add(new LocalVariable({ name: 'ai8', typeStr: 'Int8[3]', value: [-128, -1, 127] }));
  d.add(new LocalVariable({ name: 'au8', typeStr: 'UInt8[4]', value: [0, 1, 128, 255] }));
  d.add(new LocalVariable({ name: 'au16', typeStr: 'UInt16[2]', value: [0, 65535] }));
  d.add(new LocalVariable({ name: 'au32', typeStr: 'UInt32[2]', value: [1, 4294967295] }));
  let runs = 0;
  d.add(new LocalVariable({ name: 'runs', typeStr: 'UInt32', value: 0, mode: 'RO' }));
  d.add(
    new LocalCommand<number, number>({
      name: 'Add', argType: 'Int32', retType: 'Int32', description: 'adds one',
      function: ({ arg }) => arg! + 1,
    }),
  );
  d.add(
    new LocalCommand({
      name: 'Run', description: 'no argument',
      function: async ({ dev }) => {
        runs++;
        await (dev!.node('runs') as LocalVariable<number>).set(runs, { force: true });
      },
    }),
  );
  d.add(new LocalCommand({ name: 'Fail', function: () => { throw new Error('it failed on purpose'); } }));
  d.add(new LocalCommand<string, string>({ name: 'Upper', argType: 'str', retType: 'str', function: ({ arg }) => arg!.toUpperCase() }));
  return root;
}

const PV = (n: string): string => `test:R:D:${n}`;
const node = <T>(root: Root, n: string) => root.getNode(`R.D.${n}`) as LocalVariable<T>;
const isUpdate = (pv: string) => (m: Msg) => m.type === 'update' && m.pv === pv;

/** Decodes a pvws base64 array field as pvws.js does. */
function decode(m: Msg): number[] {
  const pick = (['b64dbl', 'b64flt', 'b64int', 'b64srt', 'b64byt'] as const).find((f) => typeof m[f] === 'string');
  assert.ok(pick, `an array field in ${JSON.stringify(m)}`);
  const b = Buffer.from(m[pick] as string, 'base64');
  const ab = b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
  const view = { b64dbl: Float64Array, b64flt: Float32Array, b64int: Int32Array, b64srt: Int16Array, b64byt: Uint8Array }[pick];
  return Array.from(new view(ab));
}

describe('pvws protocol', () => {
  let root: Root;
  let s: WebServed;
  let c: TestClient;

  before(async () => {
    root = buildRoot();
    s = await serveWeb(root);
    c = await TestClient.open(s.wsUrl);
  });
  after(async () => {
    c.close();
    await s.close();
  });

  test('subscribe: the first update carries the full metadata, later ones only value, time and what changed', async () => {
    c.send({ type: 'subscribe', pvs: [PV('f64')] });
    const first = await c.next(isUpdate(PV('f64')), 'the first update');
    assert.equal(first.vtype, 'VDouble');
    assert.equal(first.units, 'V');
    assert.equal(first.description, 'a float');
    assert.equal(first.precision, 3);
    assert.equal(first.min, -10);
    assert.equal(first.max, 10);
    assert.equal(first.alarm_low, -8);
    assert.equal(first.warn_low, -5);
    assert.equal(first.warn_high, 5);
    assert.equal(first.alarm_high, 8);
    assert.equal(first.severity, 'NONE');
    assert.equal(first.readonly, false);
    assert.equal(first.value, 1.5);
    assert.equal(typeof first.seconds, 'number');
    assert.equal(typeof first.nanos, 'number');
    const v = node<number>(root, 'f64');
    const ms = (first.seconds as number) * 1000 + (first.nanos as number) / 1e6;
    assert.ok(Math.abs(ms - Date.now()) < 60_000, `a time of now, not ${ms}`);

    const n = c.messages.length;
    await v.set(2.5);
    const second = await c.next(isUpdate(PV('f64')), 'a delta', n);
    assert.deepEqual(Object.keys(second).sort(), ['nanos', 'pv', 'seconds', 'type', 'value']);
    assert.equal(second.value, 2.5);
    // the time of the set
    assert.equal((second.seconds as number) * 1000 + Math.round((second.nanos as number) / 1e6), v.lastUpdated);

    // the severity (and pvtree's alarm message `status`) come when they move
    const n2 = c.messages.length;
    await v.set(9);
    const major = await c.next(isUpdate(PV('f64')), 'the alarm', n2);
    assert.equal(major.severity, 'MAJOR');
    assert.equal(major.status, 'HIHI');
    assert.equal(major.value, 9);
    assert.equal(major.vtype, undefined);
    const n3 = c.messages.length;
    await v.set(6);
    const minor = await c.next(isUpdate(PV('f64')), 'the warning', n3);
    assert.equal(minor.severity, 'MINOR');
    assert.equal(minor.status, 'HIGH');
    const n4 = c.messages.length;
    await v.set(6.5);
    const same = await c.next(isUpdate(PV('f64')), 'a delta without severity', n4);
    assert.equal(same.severity, undefined);
    assert.equal(same.status, undefined);
    const n5 = c.messages.length;
    await v.set(0);
    const ok = await c.next(isUpdate(PV('f64')), 'back to normal', n5);
    assert.equal(ok.severity, 'NONE');
    assert.equal(ok.status, '');
  });

  test('every value kind: integers, 64-bit exact, enum labels and text, boolean, string, read-only', async () => {
    const names = ['i32', 'ro', 'mode', 'flag', 'label', 'u64'].map(PV);
    const n = c.messages.length;
    c.send({ type: 'monitor', pvs: names }); // epics2web's name for subscribe
    for (const p of names) await c.next(isUpdate(p), `the first update of ${p}`, n);
    const first = (p: string) => c.messages.slice(n).find(isUpdate(PV(p)))!;
    assert.equal(first('i32').vtype, 'VInt');
    assert.equal(first('i32').value, 7);
    assert.equal(first('i32').readonly, false);
    assert.equal(first('ro').readonly, true);
    assert.equal(first('mode').vtype, 'VEnum');
    assert.deepEqual(first('mode').labels, ['Off', 'On', 'Auto']);
    assert.equal(first('mode').value, 0);
    assert.equal(first('mode').text, 'Off');
    assert.equal(first('flag').vtype, 'VBoolean');
    assert.equal(first('flag').value, 0);
    assert.equal(first('flag').text, 'False');
    assert.equal(first('label').vtype, 'VString');
    assert.equal(first('label').text, 'hello');
    assert.equal(first('label').value, undefined);
    assert.equal(first('u64').vtype, 'VULong');
    // 2^60 + 1 keeps every digit on the wire
    const raw = c.texts[c.messages.indexOf(first('u64'))];
    assert.match(raw, /"value":1152921504606846977[,}]/);

    const m = c.messages.length;
    await node<number>(root, 'mode').set(5);
    const u = await c.next(isUpdate(PV('mode')), 'the enum update', m);
    assert.equal(u.value, 2); // the choice index
    assert.equal(u.text, 'Auto');
    assert.equal(u.labels, undefined);
  });

  test('arrays travel as little-endian base64 in the field for their element type', async () => {
    const cases: [string, string, string, number[]][] = [
      ['af64', 'b64dbl', 'VDoubleArray', [1.5, -2.25, 1e300, 0]],
      ['af32', 'b64flt', 'VFloatArray', [0.5, -1.5]],
      ['ai32', 'b64int', 'VIntArray', [-2147483648, 0, 2147483647]],
      ['ai16', 'b64srt', 'VShortArray', [-32768, 1, 32767]],
      ['ai8', 'b64srt', 'VByteArray', [-128, -1, 127]],
      ['au8', 'b64byt', 'VUByteArray', [0, 1, 128, 255]],
      ['au16', 'b64int', 'VUShortArray', [0, 65535]],
      ['au32', 'b64dbl', 'VUIntArray', [1, 4294967295]],
    ];
    const n = c.messages.length;
    c.send({ type: 'subscribe', pvs: cases.map(([p]) => PV(p)) });
    for (const [p, field, vtype, values] of cases) {
      const u = await c.next(isUpdate(PV(p)), `the first update of ${p}`, n);
      assert.equal(typeof u[field], 'string', `${p} in ${field}`);
      assert.equal(u.vtype, vtype);
      assert.deepEqual(decode(u), values, p);
      assert.equal(u.value, undefined);
    }
    const m = c.messages.length;
    await node<Float64Array>(root, 'af64').set(new Float64Array([3, 4, 5, -6]));
    const u = await c.next(isUpdate(PV('af64')), 'the array update', m);
    assert.deepEqual(decode(u), [3, 4, 5, -6]);
  });

  test('list answers the subscribed names; clear stops updates', async () => {
    const n = c.messages.length;
    c.send({ type: 'list' });
    const l = await c.next((m) => m.type === 'list', 'the list', n);
    assert.ok((l.pvs as string[]).includes(PV('f64')));
    assert.ok((l.pvs as string[]).includes(PV('af32')));

    c.send({ type: 'clear', pvs: [PV('af32')] });
    c.send({ type: 'list' });
    const l2 = await c.next((m) => m.type === 'list', 'the second list', c.messages.indexOf(l) + 1);
    assert.ok(!(l2.pvs as string[]).includes(PV('af32')));
    // af32 changes first, then i32: i32's update arriving without one of af32 shows af32 is off
    const m = c.messages.length;
    await node<Float32Array>(root, 'af32').set(new Float32Array([9, 9]));
    await node<number>(root, 'i32').set(8);
    await c.next(isUpdate(PV('i32')), 'the i32 update', m);
    assert.equal(c.messages.slice(m).filter(isUpdate(PV('af32'))).length, 0);
  });

  test('echo returns the message as sent; ping makes the server ping', async () => {
    const text = '{"type":"echo","body":"Hello, echo","other":[1,2]}';
    const n = c.texts.length;
    c.send(text);
    await c.until(() => c.texts.slice(n).includes(text), 'the echo');
    const pings = c.pings;
    c.send({ type: 'ping' });
    await c.until(() => c.pings > pings, 'a ping frame');
  });

  test('writes: numbers, enum index and choice name, booleans, strings, arrays; acknowledged with the id', async () => {
    const writes: [string, unknown, (v: unknown) => boolean][] = [
      ['i32', 42, (v) => v === 42],
      ['f64', -3.25, (v) => v === -3.25],
      ['mode', 1, (v) => v === 1],
      ['mode', 'Auto', (v) => v === 5],
      ['flag', 1, (v) => v === true],
      ['flag', false, (v) => v === false],
      ['label', 'new text', (v) => v === 'new text'],
      ['label', 12, (v) => v === '12'],
      ['au8', [9, 8, 7, 6], (v) => Array.from(v as number[]).join() === '9,8,7,6'],
      ['ai16', '[1, -2, 3]', (v) => Array.from(v as number[]).join() === '1,-2,3'],
      ['i32', '0x10', (v) => v === 16],
    ];
    let id = 100;
    for (const [p, value, check] of writes) {
      const n = c.messages.length;
      c.send({ type: 'write', pv: PV(p), value, id: ++id });
      const ack = await c.next((m) => m.id === id, `the answer to writing ${JSON.stringify(value)} to ${p}`, n);
      assert.equal(ack.type, 'write', JSON.stringify(ack));
      assert.equal(ack.pv, PV(p));
      assert.ok(check(node(root, p).value), `${p} = ${String(node(root, p).value)} after writing ${JSON.stringify(value)}`);
    }
    // pvws's own form: no id, no answer; the value changes all the same
    c.send({ type: 'write', pv: PV('i32'), value: 55 });
    await c.until(() => node(root, 'i32').value === 55, 'the write without id');
  });

  test('writes refused: read-only, out of range, wrong type, unknown PV, bad enum; the tree is unchanged', async () => {
    const refused: [string, unknown, RegExp][] = [
      [PV('ro'), 5, /test:R:D:ro is read-only/],
      [PV('i32'), 1000, /out of range|maximum|1000/],
      [PV('i32'), 'abc', /abc/],
      [PV('mode'), 'Sideways', /Sideways/],
      [PV('mode'), 7, /enum index 7 out of range/],
      ['test:R:D:nosuch', 1, /unknown PV test:R:D:nosuch/],
      [PV('Add'), 'x', /x/],
    ];
    const before = { ro: node(root, 'ro').value, i32: node(root, 'i32').value, mode: node(root, 'mode').value };
    let id = 200;
    for (const [pv, value, re] of refused) {
      const n = c.messages.length;
      c.send({ type: 'write', pv, value, id: ++id });
      const e = await c.next((m) => m.id === id, `the answer to writing ${JSON.stringify(value)} to ${pv}`, n);
      assert.equal(e.type, 'error', JSON.stringify(e));
      assert.equal(e.pv, pv);
      assert.match(e.message as string, re);
    }
    assert.deepEqual({ ro: node(root, 'ro').value, i32: node(root, 'i32').value, mode: node(root, 'mode').value }, before);
  });

  test('commands: call returns the result (as an RPC), errors come back, a write runs it (as a put)', async () => {
    let n = c.messages.length;
    c.send({ type: 'call', pv: PV('Add'), value: 41, id: 'a' });
    const r = await c.next((m) => m.id === 'a', 'the result', n);
    assert.deepEqual(r, { type: 'result', pv: PV('Add'), id: 'a', value: 42 });

    n = c.messages.length;
    c.send({ type: 'call', pv: PV('Upper'), value: 'abc', id: 'u' });
    assert.equal((await c.next((m) => m.id === 'u', 'the text result', n)).value, 'ABC');

    n = c.messages.length;
    c.send({ type: 'call', pv: PV('Run'), id: 'r' });
    const rr = await c.next((m) => m.id === 'r', 'the no-argument result', n);
    assert.equal(rr.type, 'result');
    assert.equal(rr.value, null);
    assert.equal(node(root, 'runs').value, 1);

    n = c.messages.length;
    c.send({ type: 'call', pv: PV('Fail'), id: 'f' });
    const f = await c.next((m) => m.id === 'f', 'the error', n);
    assert.equal(f.type, 'error');
    assert.match(f.message as string, /it failed on purpose/);

    n = c.messages.length;
    c.send({ type: 'call', pv: PV('i32'), id: 'v' });
    assert.match((await c.next((m) => m.id === 'v', 'the refusal', n)).message as string, /not a command/);

    // a write to a command PV runs it with the value and shows the value to its subscribers
    n = c.messages.length;
    c.send({ type: 'subscribe', pvs: [PV('Run')] });
    await c.next(isUpdate(PV('Run')), 'the command PV', n);
    n = c.messages.length;
    c.send({ type: 'write', pv: PV('Run'), value: 3, id: 'w' });
    await c.next((m) => m.id === 'w', 'the write answer', n);
    assert.equal(node(root, 'runs').value, 2);
    const u = await c.next(isUpdate(PV('Run')), 'the command PV update', n);
    assert.equal(u.value, 3);
  });

  test('Phoebus-style pva:// and ca:// names are the served PVs; updates carry the name as given', async () => {
    const n = c.messages.length;
    c.send({ type: 'subscribe', pvs: [`pva://${PV('label')}`, `ca://${PV('i32')}`] });
    const a = await c.next(isUpdate(`pva://${PV('label')}`), 'the pva:// update', n);
    assert.equal(a.vtype, 'VString');
    await c.next(isUpdate(`ca://${PV('i32')}`), 'the ca:// update', n);
  });

  test('bad input gets an error message and the connection stays usable', async () => {
    const bad: [string, RegExp][] = [
      ['{not json', /malformed JSON/],
      ['[1,2]', /JSON object/],
      ['42', /JSON object/],
      ['{"pvs":["x"]}', /missing "type"/],
      ['{"type":"dance"}', /unknown message type "dance"/],
      ['{"type":"subscribe"}', /needs "pvs"/],
      ['{"type":"subscribe","pvs":"test:R:D:i32"}', /needs "pvs"/],
      ['{"type":"subscribe","pvs":[5]}', /not a PV name: 5/],
      ['{"type":"subscribe","pvs":["no:such:pv"]}', /unknown PV no:such:pv/],
      ['{"type":"write","value":1}', /needs "pv"/],
      ['{"type":"write","pv":"test:R:D:i32"}', /needs "value"/],
      ['{"type":"write","pv":"test:R:D:i32","value":{"a":1}}', /must be a number, string/],
      ['{"type":"call"}', /needs "pv"/],
    ];
    for (const [text, re] of bad) {
      const n = c.messages.length;
      c.send(text);
      const e = await c.next((m) => m.type === 'error', `the error for ${text}`, n);
      assert.match(e.message as string, re, text);
    }
    const n = c.messages.length;
    c.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    assert.match((await c.next((m) => m.type === 'error', 'the binary error', n)).message as string, /binary/);
    const n2 = c.messages.length;
    c.send({ type: 'echo', still: 'alive' });
    await c.next((m) => m.type === 'echo', 'the echo after bad input', n2);
    assert.equal(c.closed, undefined);
  });
});

describe('pvws limits and options', () => {
  test('read-only server: every write and call refused, every PV readonly', async () => {
    const root = buildRoot();
    const s = await serveWeb(root, { readOnly: true });
    const c = await TestClient.open(s.wsUrl);
    try {
      c.send({ type: 'subscribe', pvs: [PV('i32'), PV('Add')] });
      assert.equal((await c.next(isUpdate(PV('i32')), 'i32')).readonly, true);
      assert.equal((await c.next(isUpdate(PV('Add')), 'Add')).readonly, true);
      c.send({ type: 'write', pv: PV('i32'), value: 1, id: 1 });
      c.send({ type: 'call', pv: PV('Add'), value: 1, id: 2 });
      c.send({ type: 'write', pv: PV('Run'), value: 1, id: 3 });
      for (const id of [1, 2, 3]) assert.match((await c.next((m) => m.id === id, `answer ${id}`)).message as string, /read-only web server/);
      assert.equal(node(root, 'i32').value, 7);
      assert.equal(node(root, 'runs').value, 0);
    } finally {
      c.close();
      await s.close();
    }
  });

  test('subscription limit and message size limit', async () => {
    const root = buildRoot();
    const s = await serveWeb(root, { maxSubscriptions: 2, maxMessageBytes: 4096 });
    const c = await TestClient.open(s.wsUrl);
    try {
      c.send({ type: 'subscribe', pvs: [PV('i32'), PV('f64'), PV('label')] });
      const e = await c.next((m) => m.type === 'error', 'the limit error');
      assert.match(e.message as string, /subscription limit of 2 PVs reached; test:R:D:label not subscribed/);
      await c.next(isUpdate(PV('f64')), 'the second subscription');
      c.send({ type: 'echo', body: 'x'.repeat(5000) });
      await c.until(() => c.closed, 'the close for a too large message');
      assert.equal(c.closed!.code, 1009);
    } finally {
      c.close();
      await s.close();
    }
  });

  test('at most 256 writes and calls of one client in progress; more are refused until they finish', async () => {
    const root = new Root({ name: 'R', pollEn: false });
    const d = new Device({ name: 'D' });
    root.add(d);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let started = 0;
    d.add(new LocalCommand({ name: 'Slow', function: async () => { started++; await gate; return started; } }));
    const s = await serveWeb(root);
    const c = await TestClient.open(s.wsUrl);
    try {
      for (let i = 1; i <= 300; i++) c.send({ type: 'call', pv: 'test:R:D:Slow', id: i });
      const refused = await c.until(() => {
        const e = c.messages.filter((m) => m.type === 'error');
        return e.length === 44 ? e : undefined;
      }, '44 refusals');
      assert.deepEqual(refused.map((m) => m.id), Array.from({ length: 44 }, (_, i) => 257 + i));
      assert.match(refused[0].message as string, /256 writes and calls already in progress/);
      release();
      await c.until(() => c.messages.filter((m) => m.type === 'result').length === 256, 'the 256 results');
      c.send({ type: 'call', pv: 'test:R:D:Slow', id: 'after' });
      assert.equal((await c.next((m) => m.id === 'after', 'a call after they finished')).type, 'result');
    } finally {
      c.close();
      await s.close();
    }
  });

  test('a client that does not answer pings is dropped', async () => {
    const root = buildRoot();
    const s = await serveWeb(root, { pingIntervalMs: 100 });
    const quiet = await TestClient.open(s.wsUrl, { autoPong: false });
    const lively = await TestClient.open(s.wsUrl);
    try {
      await quiet.until(() => quiet.closed, 'the server to drop the silent client');
      assert.ok(quiet.pings >= 1);
      // the answering client is still served
      lively.send({ type: 'echo' });
      await lively.next((m) => m.type === 'echo', 'the echo');
      assert.ok(lively.pings >= 1);
      assert.equal(lively.closed, undefined);
      assert.match(s.log.lines.join('\n'), /did not answer a ping; dropped/);
    } finally {
      quiet.close();
      lively.close();
      await s.close();
    }
  });

  test('throttle: a burst of changes reaches the client as the first and the latest value', async () => {
    const root = buildRoot();
    const s = await serveWeb(root, { throttleMs: 300 });
    const c = await TestClient.open(s.wsUrl);
    try {
      c.send({ type: 'subscribe', pvs: [PV('i32')] });
      await c.next(isUpdate(PV('i32')), 'the first update');
      const v = node<number>(root, 'i32');
      const n = c.messages.length;
      // sets that settle in microtasks: all of them happen before the server can send anything
      for (let i = 10; i <= 60; i++) await v.set(i);
      const last = await c.next((m) => m.type === 'update' && m.value === 60, 'the latest value', n);
      const got = c.messages.slice(n).filter(isUpdate(PV('i32')));
      assert.equal(got.at(-1), last);
      assert.ok(got.length <= 2, `coalesced to at most 2 updates, got ${got.map((m) => m.value).join()}`);
    } finally {
      c.close();
      await s.close();
    }
  });
});
