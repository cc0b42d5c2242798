// TypeMemo: repeated type descriptions are answered from memory (the same Structure object, the
// reader past exactly those bytes); other descriptions, and ones using the type cache, are decoded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Reader, TypeMemo, Writer, encodeType, struct, type TypeCache } from '../../src/pvdata/index.ts';
import { ntScalar, ntEnum } from '../../src/pvdata/nt.ts';

const bytesOf = (fn: (w: Writer) => void): Buffer => {
  const w = new Writer(true, 64);
  fn(w);
  return w.toBuffer();
};

test('a repeated description is the same Structure, read past exactly its bytes', () => {
  const memo = new TypeMemo();
  const t = ntScalar('double', { display: true });
  // a description followed by a marker byte, twice
  const one = bytesOf((w) => {
    encodeType(w, t);
    w.u8(0x5a);
  });
  const r1 = new Reader(one);
  const a = memo.decode(r1);
  assert.equal(r1.u8(), 0x5a);
  const r2 = new Reader(Buffer.concat([Buffer.from([1, 2]), one]), true, 2);
  const b = memo.decode(r2);
  assert.equal(b, a, 'the remembered object');
  assert.equal(r2.u8(), 0x5a, 'the reader is right after the description');
  assert.ok(a && a.kind === 'structure' && a.offsetOf('display.units') !== undefined);
});

test('another description is decoded, not confused with a remembered one', () => {
  const memo = new TypeMemo();
  const a = memo.decode(new Reader(bytesOf((w) => encodeType(w, ntScalar('double')))));
  const b = memo.decode(new Reader(bytesOf((w) => encodeType(w, ntScalar('int')))));
  const c = memo.decode(new Reader(bytesOf((w) => encodeType(w, ntEnum()))));
  assert.ok(a && b && c && a !== b && b !== c);
  assert.equal(b.kind === 'structure' && b.typeAt('value')?.kind === 'scalar' && (b.typeAt('value') as { type: string }).type, 'int');
  // each is found again
  assert.equal(memo.decode(new Reader(bytesOf((w) => encodeType(w, ntScalar('int'))))), b);
  assert.equal(memo.decode(new Reader(bytesOf((w) => encodeType(w, ntEnum())))), c);
});

test('descriptions that use the type cache are decoded every time (the cache gives them meaning)', () => {
  const memo = new TypeMemo();
  const cache: TypeCache = new Map();
  const t = struct('x', { a: 'double', b: 'string' });
  // 0xFD id: define and cache
  const defined = bytesOf((w) => {
    w.u8(0xfd);
    w.u16(7);
    encodeType(w, t);
  });
  const a = memo.decode(new Reader(defined), cache);
  assert.ok(a);
  assert.equal(cache.get(7), a);
  // the same id redefined as another type: the new definition must win
  const other = struct('y', { c: 'int' });
  const redefined = bytesOf((w) => {
    w.u8(0xfd);
    w.u16(7);
    encodeType(w, other);
  });
  const b = memo.decode(new Reader(redefined), cache);
  assert.ok(b && b.kind === 'structure' && b.id === 'y');
  // a reference (0xFE) resolves through the cache, not the memo
  const ref = bytesOf((w) => {
    w.u8(0xfe);
    w.u16(7);
  });
  assert.equal(memo.decode(new Reader(ref), cache), b);
});
