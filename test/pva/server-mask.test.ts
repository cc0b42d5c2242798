// Which bits of an update a client's pvRequest lets through (src/pva/server/mask.ts), and a pvxs
// server's reply to `field(value)` reproduced byte for byte with it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BitSet,
  PVStructure,
  Reader,
  Writer,
  decodeStructureInto,
  decodeStructurePartial,
  decodeType,
  encodeStructure,
  encodeStructurePartial,
  encodeType,
  ntScalar,
  parseRequest,
  typeEquals,
  type Structure,
} from '../../src/pvdata/index.ts';
import { selectionFromRequest } from '../../src/pva/server/index.ts';
import { loadMessages } from '../pvdata/captures.ts';

const NT = ntScalar('double', { display: true, control: true, valueAlarm: true });
const off = (p: string): number => NT.offsetOf(p)!;
const subtree = (p: string): number[] => {
  const o = off(p);
  return Array.from({ length: NT.layout[o].end - o }, (_, i) => o + i);
};

/** A request as the server receives it: through the wire and back. */
function received(req: PVStructure): PVStructure {
  const w = new Writer(true);
  encodeType(w, req.type);
  encodeStructure(w, req);
  const r = new Reader(w.toBuffer(), true);
  const v = new PVStructure(decodeType(r) as Structure);
  decodeStructureInto(r, v);
  assert.ok(r.ok && r.remaining === 0);
  return v;
}

test('Selection.filter: the changes a selection lets through', () => {
  const { selection } = selectionFromRequest(received(parseRequest('field(value,alarm.severity,display)')), NT);
  const t = (changed: number[]): number[] => selection.filter(BitSet.of(...changed), new BitSet()).toArray();
  // everything changed: the selected fields (a selected structure with all it holds)
  assert.deepEqual(t([0]), [1, off('alarm.severity'), ...subtree('display')]);
  // a partly selected structure becomes its selected parts
  assert.deepEqual(t([off('alarm')]), [off('alarm.severity')]);
  assert.deepEqual(t([off('alarm.message')]), []);
  assert.deepEqual(t([1, off('timeStamp')]), [1]);
  // inside a selected structure everything passes as it is
  assert.deepEqual(t([off('display.units'), off('display.form')]), [off('display.units'), off('display.form')]);
  assert.deepEqual(t([off('display')]), [off('display')]);
  assert.equal(selection.all, false);
  assert.deepEqual(selection.full.toArray(), [1, off('alarm.severity'), ...subtree('display')]);
  // no selection: the changes as they are
  const all = selectionFromRequest(received(parseRequest('')), NT).selection;
  assert.equal(all.all, true);
  assert.deepEqual(all.filter(BitSet.of(3, 7), new BitSet()).toArray(), [3, 7]);
  assert.deepEqual(all.full.toArray(), [0]);
  // equal selections share a key (subscribers share encodings), different ones do not
  assert.equal(selectionFromRequest(parseRequest('field(display,value,alarm.severity)'), NT).selection.key, selection.key);
  assert.notEqual(selectionFromRequest(parseRequest('field(value)'), NT).selection.key, selection.key);
});

test('a pvxs server answers field(value) with the full type and a masked value: reproduce its bytes', () => {
  const msgs = loadMessages('pvxs-get-ai-field-value.json').filter((m) => m.dir === 's2c' && m.command === 10);
  // INIT reply: the full NTScalar, not a reduced one
  const init = new Reader(msgs[0].payload, true, 6);
  assert.ok(typeEquals(decodeType(init) as Structure, NT));
  // the data reply's mask holds only `value`
  const data = msgs[1].payload;
  assert.equal(data.subarray(6).toString('hex'), '0102' + '0000000000000a40');
  // the same value the plain GET returned, with its valid-leaf mask, filtered by the request
  const full = loadMessages('pvxs-get-ai.json').filter((m) => m.dir === 's2c' && m.command === 10)[1].payload;
  const r = new Reader(full, true, 6);
  const valid = r.bitSet();
  const value = new PVStructure(NT);
  decodeStructurePartial(r, value, valid);
  assert.ok(r.ok && r.remaining === 0);
  const { selection } = selectionFromRequest(received(parseRequest('field(value)')), NT);
  const send = selection.filter(valid, new BitSet());
  const w = new Writer(true);
  w.bitSet(send);
  encodeStructurePartial(w, value, send);
  assert.equal(w.toBuffer().toString('hex'), data.subarray(6).toString('hex'));
});
