// Packetizer v1/v2 framing and CRC-32, without sockets. The byte vectors marked "Rogue" are what
// Rogue v6.15's packetizer Core(enSsi=True) / CoreV2(ibCRC=False, obCRC=True, enSsi=True) emitted
// for the same frames on tDest 3 (captured from Rogue's transport side, one segment per frame).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32 } from '../../src/srp/crc32.ts';
import { Packetizer, type PacketizerOptions } from '../../src/srp/packetizer.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const seq = (n: number, f: (i: number) => number) => Uint8Array.from({ length: n }, (_, i) => f(i) & 0xff);

test('crc32: the standard check value, and chaining equals one pass', () => {
  assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
  const a = seq(1000, (i) => i * 13), b = seq(777, (i) => i * 5 + 1);
  const whole = new Uint8Array([...a, ...b]);
  assert.equal(crc32(b, 0, b.length, crc32(a)), crc32(whole));
  assert.equal(crc32(whole, 10, 20), crc32(whole.subarray(10, 20)));
});

function rig(version: 1 | 2, extra: Partial<PacketizerOptions> = {}) {
  const frames: { tDest: number; data: Uint8Array; error: boolean }[] = [];
  const p = new Packetizer({ version, onFrame: (tDest, data, error) => void frames.push({ tDest, data, error }), ...extra });
  const segs = (frame: Uint8Array, tDest: number, max = 100000, lastUser = 0) => {
    const out: Uint8Array[] = [];
    p.encode(frame, tDest, max, (s) => void out.push(s), lastUser);
    return out;
  };
  return { p, frames, segs };
}

test('v1: bytes as Rogue sends them (frame index, tDest, SOF in first user, EOF in the tail)', () => {
  const { segs } = rig(1);
  const a = segs(seq(20, (i) => i + 1), 3)[0];
  assert.equal(a.length, 29);
  assert.equal(hex(a.subarray(0, 12)), '000000000003000201020304'); // Rogue
  assert.equal(hex(a.subarray(-12)), '0a0b0c0d0e0f101112131480'); // Rogue
  const b = segs(seq(3000, (i) => i * 7), 3)[0];
  assert.equal(b.length, 3009);
  assert.equal(hex(b.subarray(0, 12)), '100000000003000200070e15'); // Rogue: frame index 1
  assert.equal(hex(b.subarray(-12)), 'bbc2c9d0d7dee5ecf3fa0180'); // Rogue
});

test('v2: bytes as Rogue sends them (padding, last-byte count, chained CRC big-endian)', () => {
  const { segs } = rig(2);
  const a = segs(seq(20, (i) => i + 1), 3)[0];
  assert.equal(a.length, 40);
  assert.equal(hex(a.subarray(0, 12)), '220203000000008001020304'); // Rogue
  assert.equal(hex(a.subarray(-12)), '000000000001040004095549'); // Rogue
  const b = segs(seq(3000, (i) => i * 7), 3)[0];
  assert.equal(b.length, 3016);
  assert.equal(hex(b.subarray(0, 12)), '220203000000008000070e15'); // Rogue
  assert.equal(hex(b.subarray(-12)), 'ecf3fa010001080062593ddc'); // Rogue
});

for (const version of [1, 2] as const) {
  test(`v${version}: frames split to the segment size and merged back, per tDest`, () => {
    const { p, frames, segs } = rig(version, { ibCrc: true });
    const big = seq(4124, (i) => i * 31 + 7);
    const s = segs(big, 0, 1456);
    assert.equal(s.length, 3);
    assert.ok(s.every((x) => x.length <= 1456));
    if (version === 2) assert.ok(s.every((x) => x.length % 8 === 0));
    for (const x of s) p.decode(x);
    assert.equal(frames.length, 1);
    assert.equal(frames[0].tDest, 0);
    assert.deepEqual(frames[0].data, big);
    assert.equal(frames[0].error, false);
    // small frames of every length round-trip (v2 padding, v1 one-byte tail)
    for (let n = 1; n <= 17; n++) for (const x of segs(seq(n, (i) => i + n), 9, 64)) p.decode(x);
    assert.deepEqual(frames.slice(1).map((f) => f.data.length), Array.from({ length: 17 }, (_, i) => i + 1));
    assert.ok(frames.slice(1).every((f) => f.tDest === 9 && f.data[0] === f.data.length));
    assert.equal(p.stats.dropped, 0);
    assert.throws(() => segs(new Uint8Array(0), 0), /no empty frames/);
  });

  test(`v${version}: a missing or repeated segment drops the frame; the next frame arrives whole; EOFE is reported`, () => {
    const { p, frames, segs } = rig(version);
    const s = segs(seq(300, (i) => i), 1, 64);
    p.decode(s[0]);
    p.decode(s[2]); // s[1] lost
    for (const x of s.slice(3)) p.decode(x);
    assert.equal(frames.length, 0);
    assert.ok(p.stats.dropped >= 1);
    const t = segs(seq(300, (i) => i + 1), 1, 64);
    p.decode(t[0]);
    p.decode(t[0]); // repeated first segment
    for (const x of t.slice(1)) p.decode(x);
    const u = segs(seq(100, (i) => i + 2), 1, 64);
    for (const x of u) p.decode(x);
    // v1 restarts on a repeated first segment (the frame then completes); v2 drops on an unexpected SOF, as Rogue
    assert.deepEqual(frames.map((f) => f.data[0]), version === 1 ? [1, 2] : [2]);
    const e = segs(seq(12, () => 5), 1, 64, 0x01);
    for (const x of e) p.decode(x);
    assert.equal(frames.at(-1)!.error, true, 'SSI EOFE in the last user field');
    p.decode(Uint8Array.of(1, 2, 3));
    const n = frames.length;
    p.decode(new Uint8Array(40).fill(0x77));
    assert.equal(frames.length, n, 'garbage makes no frame');
  });
}

test('v2: frames of different tDests interleave; a bad CRC drops the frame when checking', () => {
  const { p, frames, segs } = rig(2, { ibCrc: true });
  const a = segs(seq(200, (i) => i), 4, 64);
  const b = segs(seq(200, (i) => 255 - i), 7, 64);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i]) p.decode(a[i]);
    if (b[i]) p.decode(b[i]);
  }
  assert.deepEqual(frames.map((f) => [f.tDest, f.data[0], f.data.length]), [[4, 0, 200], [7, 255, 200]]);
  const c = segs(seq(200, (i) => i), 4, 64);
  c[1][10] ^= 0x40;
  for (const x of c) p.decode(x);
  assert.equal(frames.length, 2);
  assert.equal(p.stats.crcErrors, 1);
  // without checking (PyRogue's default) the same corruption passes through
  const lax = rig(2);
  for (const x of c) lax.p.decode(x);
  assert.equal(lax.frames.length, 1);
});
