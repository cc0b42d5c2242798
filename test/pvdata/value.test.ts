// Structure values: coercion, change tracking, copying between values of equal types.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  PVStructure,
  Reader,
  Structure,
  Writer,
  decodeStructureInto,
  decodeType,
  encodeStructure,
  encodeType,
  ntScalar,
  struct,
  structArray,
} from '../../src/pvdata/index.ts';

const inner = struct('inner_t', { x: 'int', s: 'string' });
const outer = struct('outer_t', { a: inner, list: structArray(inner), n: 'long', u8: 'ubyte', d: 'double[]' });

/** The same type and value as a peer would see them after the wire. */
function viaWire(v: PVStructure): PVStructure {
  const w = new Writer(true);
  encodeType(w, v.type);
  encodeStructure(w, v);
  const r = new Reader(w.toBuffer(), true);
  const back = new PVStructure(decodeType(r) as Structure);
  decodeStructureInto(r, back);
  assert.ok(r.ok);
  return back;
}

test('set/get with coercion and range checks', () => {
  const v = new PVStructure(outer);
  v.set('n', '12345678901234');
  assert.equal(v.get('n'), 12345678901234n);
  v.set('u8', '255');
  assert.throws(() => v.set('u8', 256), RangeError);
  assert.throws(() => v.set('a.x', 1.5), RangeError);
  assert.throws(() => v.set('nope', 1), /no field 'nope'/);
  v.set('d', [1, '2', 3n]);
  assert.deepEqual(v.get('d'), Float64Array.of(1, 2, 3));
  assert.deepEqual(v.changed.toArray(), [outer.offsetOf('d')!, outer.offsetOf('n')!, outer.offsetOf('u8')!].sort((a, b) => a - b));
});

test('structure values of an equal type (decoded from the wire) are accepted', () => {
  const src = new PVStructure(outer, { a: { x: 5, s: 'five' }, list: [{ x: 1, s: 'one' }, null], n: 3n });
  const peer = viaWire(src);
  assert.notEqual(peer.type, outer);
  // a whole sub-structure value from another instance of the type
  const dst = new PVStructure(outer);
  dst.set('a', peer.get('a'));
  assert.deepEqual(dst.get('a'), { x: 5, s: 'five' });
  // a PVStructure of a different but equal type as a sub-structure
  const a2 = new PVStructure(struct('inner_t', { x: 'int', s: 'string' }), { x: 9, s: 'nine' });
  dst.set('a', a2);
  assert.deepEqual(dst.get('a'), { x: 9, s: 'nine' });
  // decoded structure array elements into our own type
  dst.set('list', peer.getAt(outer.offsetOf('list')!));
  const list = dst.getAt(outer.offsetOf('list')!) as (PVStructure | null)[];
  assert.equal(list[0]!.type, inner);
  assert.deepEqual(list[0]!.toJSON(), { x: 1, s: 'one' });
  assert.equal(list[1], null);
  // assign() of a whole decoded value
  const all = new PVStructure(outer).assign(peer as unknown as Record<string, unknown>);
  assert.deepEqual(all.get('a'), { x: 5, s: 'five' });
  assert.equal(all.get('n'), 3n);
});

test('change tracking: copyChanged, isChanged, clone', () => {
  const t = ntScalar('double', { display: true });
  const a = new PVStructure(t);
  a.set('value', 2);
  a.set('alarm', { severity: 1 });
  const b = new PVStructure(t).copyChanged(a);
  assert.equal(b.get('value'), 2);
  assert.equal(b.get('alarm.severity'), 1);
  assert.ok(b.isChanged(t.offsetOf('alarm.severity')!));
  assert.ok(!b.isChanged(t.offsetOf('timeStamp.nanoseconds')!));
  a.clearChanged().markAll();
  assert.ok(a.isChanged(t.offsetOf('display.units')!));
  const c = a.clone();
  assert.ok(c.changed.equals(a.changed));
  assert.deepEqual(c.toJSON(), a.toJSON());
});
