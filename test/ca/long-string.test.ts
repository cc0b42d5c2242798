// The long-string view (`NAME.$`) of a CA string PV, without sockets: encoding, decoding, bounds,
// and a read / write / monitor through the sans-I/O server connection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CA_LONG_STRING_MIN_COUNT,
  CaLongStringPv,
  CaMemoryPv,
  CaServerConnection,
  CaStreamDecoder,
  DBE_VALUE,
  DBR,
  StaticCaSource,
  charsToText,
  decodeDbr,
  encodeMessage,
  longStringCount,
  longStringView,
  textToChars,
  type CaMessage,
} from '../../src/ca/index.ts';

const bytesOf = (s: string) => [...new TextEncoder().encode(s)];

test('textToChars: NUL-terminated UTF-8, cut at a character boundary when too long', () => {
  assert.deepEqual([...textToChars('abc', 10).chars], [...bytesOf('abc'), 0]);
  assert.equal(textToChars('abc', 10).truncated, false);
  assert.deepEqual([...textToChars('', 10).chars], [0], 'empty: one NUL');
  assert.deepEqual([...textToChars('abc', 4).chars], [...bytesOf('abc'), 0], 'exactly fits with its NUL');
  const cut = textToChars('abcd', 4);
  assert.equal(cut.truncated, true);
  assert.deepEqual([...cut.chars], [...bytesOf('abc'), 0]);
  // 'é' is two bytes: 'aéé' is 5 bytes; 5 elements hold 4 bytes + NUL, which would split the second 'é'
  const utf = textToChars('aéé', 5);
  assert.equal(utf.truncated, true);
  assert.deepEqual([...utf.chars], [...bytesOf('aé'), 0]);
  assert.equal(charsToText(utf.chars), 'aé');
});

test('charsToText: up to the first NUL, UTF-8 or else ISO 8859-1; strings as they are', () => {
  assert.equal(charsToText([...bytesOf('Größe'), 0, 65, 66]), 'Größe');
  assert.equal(charsToText(Uint8Array.from(bytesOf('no NUL'))), 'no NUL');
  assert.equal(charsToText([0x47, 0x72, 0xf6, 0xdf, 0x65, 0]), 'Größe', 'not UTF-8: one character per byte');
  assert.equal(charsToText('as is'), 'as is');
  assert.equal(charsToText([]), '');
});

test('longStringCount: 4096 at least, twice the start size when larger', () => {
  assert.equal(CA_LONG_STRING_MIN_COUNT, 4096);
  assert.equal(longStringCount(5), 4096);
  assert.equal(longStringCount(3000), 6002);
  assert.equal(longStringCount(5, 64), 64);
});

test('longStringView: only scalar string PVs have one', () => {
  assert.ok(longStringView(new CaMemoryPv({ type: 'string', value: 'x' })) instanceof CaLongStringPv);
  assert.equal(longStringView(new CaMemoryPv({ type: 'double', value: 1 })), undefined);
  assert.equal(longStringView(new CaMemoryPv({ type: 'enum', value: 0, metadata: { enumStrings: ['a'] } })), undefined);
  assert.equal(longStringView(new CaMemoryPv({ type: 'char', value: [1, 2, 0] })), undefined);
  assert.equal(longStringView(new CaMemoryPv({ type: 'string', value: ['a', 'b'] })), undefined, 'a string array is not one string');
  assert.throws(() => new CaLongStringPv(new CaMemoryPv({ type: 'long', value: 1 })));
});

test('CaLongStringPv follows its base: value, alarm, timestamp, writes, monitors, truncation reported once', async () => {
  const base = new CaMemoryPv({ type: 'string', value: 'short', metadata: { units: 'u' } });
  const cuts: [number, number][] = [];
  const view = new CaLongStringPv(base, { maxCount: 64, onTruncated: (b, m) => cuts.push([b, m]) });
  assert.equal(view.nativeType, 'char');
  assert.equal(view.maxCount, 64);
  assert.equal(view.metadata().units, 'u');
  assert.equal(charsToText(view.snapshot().value), 'short');
  const events: number[] = [];
  const unsub = view.subscribe((e) => events.push(e));
  const long = 'a value that grew well past the thirty-nine bytes of a DBR_STRING';
  base.set(long.slice(0, 60), { status: 4, severity: 1 });
  assert.ok(events.length === 1 && (events[0]! & DBE_VALUE) !== 0);
  const s = view.snapshot();
  assert.equal(charsToText(s.value), long.slice(0, 60));
  assert.equal(s.status, 4);
  assert.equal(s.severity, 1);
  assert.deepEqual(s.timestamp, base.snapshot().timestamp);
  assert.equal(view.snapshot().value, s.value, 'an unchanged value is encoded once');
  base.set(long);
  assert.equal(charsToText(view.snapshot().value), long.slice(0, 63), '63 bytes and the NUL');
  base.set(long + '!');
  view.snapshot();
  assert.deepEqual(cuts, [[long.length, 64]], 'reported the first time only');
  await view.write([...bytesOf('written as chars'), 0, 120], { dbrType: DBR.CHAR, count: 18, notify: true });
  assert.equal(base.current, 'written as chars');
  unsub();
  assert.equal(base.subscriberCount, 0);
});

/** Drives a CaServerConnection with client messages and returns what it sent back. */
function circuit(source: StaticCaSource) {
  const out: CaMessage[] = [];
  const dec = new CaStreamDecoder('s2c');
  const conn = new CaServerConnection(
    {
      send: (b) => {
        for (const r of dec.push(b)) if (r.ok) out.push(r.message);
        return true;
      },
      close: () => {},
    },
    { source, serverPort: 5064 },
  );
  conn.start();
  return { out, send: (m: CaMessage) => conn.receive(encodeMessage(m)) };
}

test('NAME.$ over a CA circuit: DBR_CHAR channel, count-0 reads follow the length, monitors, writes', async () => {
  const base = new CaMemoryPv({ type: 'string', value: 'short' });
  const source = new StaticCaSource({ s: base });
  source.add('s.$', longStringView(base)!);
  const c = circuit(source);
  c.send({ kind: 'version', priority: 0, minorVersion: 13, sequence: 0 });
  c.send({ kind: 'createChan', cid: 1, minorVersion: 13, name: 's.$' });
  const reply = c.out.find((m) => m.kind === 'createChanReply');
  assert.ok(reply && reply.kind === 'createChanReply');
  assert.equal(reply.dataType, DBR.CHAR);
  assert.equal(reply.count, 4096);
  const sid = reply.sid;
  const grown = 'x'.repeat(150);
  base.set(grown);
  c.send({ kind: 'readNotify', dataType: DBR.TIME_CHAR, count: 0, sid, ioid: 7 });
  const r = c.out.find((m) => m.kind === 'readNotifyReply');
  assert.ok(r && r.kind === 'readNotifyReply');
  assert.equal(r.count, 151, 'the value and its NUL');
  assert.equal(charsToText(decodeDbr(DBR.TIME_CHAR, r.count, r.data).value), grown);
  c.send({ kind: 'eventAdd', dataType: DBR.CHAR, count: 0, sid, subscriptionId: 3, mask: DBE_VALUE, low: 0, high: 0, timeout: 0 });
  base.set('y'.repeat(200));
  const updates = c.out.filter((m) => m.kind === 'eventAddReply');
  assert.equal(updates.length, 2, 'the first value and the change');
  const last = updates[1]!;
  assert.ok(last.kind === 'eventAddReply');
  assert.equal(charsToText(decodeDbr(DBR.CHAR, last.count, last.data).value), 'y'.repeat(200));
  const text = 'z'.repeat(100);
  c.send({ kind: 'writeNotify', dataType: DBR.CHAR, count: 101, sid, ioid: 8, data: Uint8Array.from([...bytesOf(text), 0]) });
  await new Promise((res) => setImmediate(res));
  const w = c.out.find((m) => m.kind === 'writeNotifyReply');
  assert.ok(w && w.kind === 'writeNotifyReply');
  assert.equal(w.status, 1, 'ECA_NORMAL');
  assert.equal(base.current, text);
});
