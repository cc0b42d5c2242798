// Seeded mutation fuzz of captured payloads through the type and partial-value decoders: whatever
// the bytes, decoding returns (with or without a fault) and never throws or hangs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BitSet,
  PVStructure,
  Reader,
  Structure,
  Writer,
  decodeStatus,
  decodeStructurePartial,
  decodeType,
  decodeValue,
  encodeStructure,
  encodeType,
  ntNDArray,
  type TypeCache,
} from '../../src/pvdata/index.ts';
import { loadMessages } from './captures.ts';
import { prng } from '../util/prng.ts';
import { FUZZ_SEED, cases } from '../util/fuzz.ts';


const SPECIAL = [0x00, 0x01, 0x7f, 0x80, 0x81, 0x82, 0x88, 0x89, 0xfc, 0xfd, 0xfe, 0xff];

function mutate(src: Buffer, rnd: () => number): Buffer {
  let b = Buffer.from(src);
  const n = 1 + Math.floor(rnd() * 4);
  for (let k = 0; k < n; k++) {
    const at = Math.floor(rnd() * Math.max(1, b.length));
    switch (Math.floor(rnd() * 6)) {
      case 0: // flip bits
        if (b.length) b[at] ^= 1 << Math.floor(rnd() * 8);
        break;
      case 1: // interesting byte
        if (b.length) b[at] = SPECIAL[Math.floor(rnd() * SPECIAL.length)];
        break;
      case 2: // random byte
        if (b.length) b[at] = Math.floor(rnd() * 256);
        break;
      case 3: // truncate
        b = b.subarray(0, at);
        break;
      case 4: // insert a few bytes
        b = Buffer.concat([b.subarray(0, at), Buffer.from(Array.from({ length: 1 + Math.floor(rnd() * 5) }, () => SPECIAL[Math.floor(rnd() * SPECIAL.length)])), b.subarray(at)]);
        break;
      case 5: // delete a few bytes
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + Math.floor(rnd() * 4))]);
        break;
    }
  }
  return b;
}

interface Sample {
  bytes: Buffer;
  little: boolean;
  /** 'type': a type description from `start`; 'data': ioid, subcommand, status, BitSet, partial value of `type`. */
  kind: 'type' | 'data' | 'value';
  start: number;
  type?: Structure;
}

function samples(): Sample[] {
  const out: Sample[] = [];
  const files = ['pvxs-get-ai.json', 'pvxs-get-wf.json', 'pvxs-get-mbbo.json', 'pvxs-get-str.json', 'pvxs-monitor-count.json', 'pvacpp-get-ai-field-value.json', 'pvxs-rpc-add.json'];
  for (const f of files) {
    let type: Structure | undefined;
    for (const m of loadMessages(f)) {
      if (m.control || ![10, 13, 20].includes(m.command)) continue;
      const p = m.payload;
      if (m.dir === 'c2s' && p.length > 9 && p[8] === 0x08) out.push({ bytes: p, little: true, kind: 'type', start: 9 });
      if (m.dir !== 's2c' || p.length < 6) continue;
      if (p[4] === 0x08 && m.command !== 20) {
        const r = new Reader(p, true, 5);
        decodeStatus(r);
        const start = r.pos;
        type = decodeType(r) as Structure;
        out.push({ bytes: p, little: true, kind: 'type', start });
      } else if (type && p[4] === 0x00 && m.command !== 20) {
        out.push({ bytes: p, little: true, kind: 'data', start: 5, type });
      }
    }
  }
  // an NTNDArray with unions, variant unions and structure arrays, in both byte orders
  const nd = ntNDArray();
  const v = new PVStructure(nd);
  v.set('value', { name: 'doubleValue', value: [1, 2, 3] });
  v.set('codec', { name: 'none', parameters: { type: { kind: 'scalar', type: 'int' }, value: 3 } });
  v.set('dimension', [{ size: 3, offset: 0, fullSize: 3, binning: 1, reverse: false }, null]);
  v.set('attribute', [{ name: 'a', value: { type: nd.field('codec')!, value: { name: 'x' } }, tags: ['t'] }]);
  for (const little of [true, false]) {
    const w = new Writer(little);
    encodeType(w, nd);
    const typeBytes = w.toBuffer();
    out.push({ bytes: typeBytes, little, kind: 'type', start: 0 });
    const d = new Writer(little);
    encodeStructure(d, v);
    out.push({ bytes: d.toBuffer(), little, kind: 'value', start: 0, type: nd });
  }
  return out;
}

test('seeded mutations of captured payloads (20k; PVTREE_FUZZ_SCALE multiplies) never make the decoders throw', () => {
  const rnd = prng(0x5eed1234 + FUZZ_SEED);
  const all = samples();
  assert.ok(all.length >= 10, `only ${all.length} samples`);
  assert.ok(all.some((s) => s.kind === 'data'));
  let faults = 0;
  const started = Date.now();
  const n = cases(20000);
  for (let i = 0; i < n; i++) {
    const s = all[i % all.length];
    const bytes = mutate(s.bytes, rnd);
    const little = s.little;
    const start = Math.min(s.start, bytes.length);
    const r = new Reader(bytes, little, start);
    const cache: TypeCache = new Map();
    try {
      if (s.kind === 'type') {
        const t = decodeType(r, cache);
        // whatever came out, a value of it decodes from the rest without throwing
        if (t && t.kind === 'structure' && r.ok) {
          const v = new PVStructure(t);
          decodeStructurePartial(r, v, BitSet.of(0), cache);
        }
      } else if (s.kind === 'data') {
        r.pos = Math.min(4, bytes.length);
        r.u8();
        decodeStatus(r);
        const mask = r.bitSet();
        decodeStructurePartial(r, new PVStructure(s.type!), mask, cache);
      } else {
        decodeValue(r, s.type!, cache);
      }
    } catch (e) {
      assert.fail(`iteration ${i} (${s.kind}) threw ${(e as Error).stack}\ninput ${bytes.toString('hex')}`);
    }
    if (!r.ok) faults++;
  }
  // most mutations are caught as faults; the run stays fast
  assert.ok(faults > n / 10, `${faults} faults of ${n}`);
  assert.ok(Date.now() - started < n, 'no case hangs: under a millisecond a case on average (about 30 µs usually)');
});
