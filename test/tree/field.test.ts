import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Field, parseTypeStr, makeTypeStr, type Base } from '../../src/tree/index.ts';

// Small deterministic PRNG so failures reproduce.
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomValue(r: () => number, base: Base, bits: number): number | bigint | boolean {
  if (base === 'Bool') return r() < 0.5;
  if (base === 'Float') return bits === 32 ? Math.fround((r() - 0.5) * 1e6) : (r() - 0.5) * 1e300;
  let v = 0n;
  for (let i = 0; i < bits; i += 16) v = (v << 16n) | BigInt(Math.floor(r() * 65536));
  v &= (1n << BigInt(bits)) - 1n;
  if (base === 'Int' && v >= 1n << BigInt(bits - 1)) v -= 1n << BigInt(bits);
  return v >= -(2n ** 53n) + 1n && v <= 2n ** 53n - 1n ? Number(v) : v;
}

test('random layouts: encode/decode round trip and neighbouring bits untouched', () => {
  const r = rng(12345);
  for (let iter = 0; iter < 3000; iter++) {
    const base: Base = (['UInt', 'Int', 'Bool', 'Float'] as const)[Math.floor(r() * 4)];
    let sizes: number[];
    if (base === 'Bool') sizes = [1];
    else if (base === 'Float') sizes = [r() < 0.5 ? 32 : 64];
    else sizes = [1 + Math.floor(r() * 64)];
    // sometimes split the value over two or three ranges
    if (base !== 'Bool' && sizes[0] > 2 && r() < 0.4) {
      const total = sizes[0];
      const a = 1 + Math.floor(r() * (total - 1));
      sizes = [a, total - a];
    }
    const offsets: number[] = [];
    let pos = Math.floor(r() * 13);
    for (const s of sizes) { offsets.push(pos); pos += s + Math.floor(r() * 9); }
    const bits = sizes.reduce((a, b) => a + b, 0);
    const info = parseTypeStr(makeTypeStr(base, bits));
    const f = new Field(info, { bitOffset: offsets.length === 1 ? offsets[0] : offsets, bitSize: sizes.length === 1 ? sizes[0] : sizes });
    const blockOff = Math.floor(r() * 3);
    f.bind(blockOff);
    const buf = new Uint8Array(blockOff + f.byteEnd + 2);
    for (let i = 0; i < buf.length; i++) buf[i] = Math.floor(r() * 256);
    const before = buf.slice();
    const mask = new Uint8Array(buf.length);
    f.markBits(mask);
    const view = new DataView(buf.buffer);
    const v = randomValue(r, base, bits);
    f.encode(buf, view, v);
    const ctx = `iter ${iter} ${info.typeStr} offsets ${offsets} sizes ${sizes} value ${v}`;
    assert.deepEqual(f.decode(buf, view), v, ctx);
    for (let i = 0; i < buf.length; i++) assert.equal(buf[i] & ~mask[i] & 0xff, before[i] & ~mask[i] & 0xff, `${ctx} byte ${i}`);
  }
});
