// pvData codec throughput: the two updates a server sends most, an NTScalar double monitor update
// (value, alarm and timeStamp changed) and a 1M-element double array, in each byte order.
// Run: node --import tsx bench/codec.ts
import { availableParallelism, loadavg } from 'node:os';
import {
  BitSet,
  HOST_LITTLE_ENDIAN,
  PVStructure,
  Reader,
  Writer,
  decodeStructurePartial,
  encodeStructurePartial,
  ntScalar,
  ntScalarArray,
  setAlarm,
  setTimeStamp,
  timeNow,
} from '../src/pvdata/index.ts';

interface Row {
  name: string;
  op: 'encode' | 'decode';
  order: 'LE' | 'BE';
  bytes: number;
  perSec: number;
}

/** Best of three timed rounds sharing `ms` (the best round is the least disturbed by GC and neighbours). */
function rate(fn: () => void, ms: number): number {
  let best = 0;
  for (let i = 0; i < 3; i++) best = Math.max(best, round(fn, ms / 3));
  return best;
}

/** Runs `fn` in batches until `ms` have passed (after a short warm-up); returns calls per second. */
function round(fn: () => void, ms: number): number {
  const warm = performance.now() + Math.min(200, ms / 4);
  while (performance.now() < warm) fn();
  let n = 0;
  let batch = 1;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms) {
    for (let i = 0; i < batch; i++) fn();
    n += batch;
    t = performance.now();
    if (t - t0 < ms / 20) batch *= 2;
  }
  return (n * 1000) / (t - t0);
}

function bench(name: string, value: PVStructure, mask: BitSet, little: boolean, ms: number, rows: Row[]): void {
  const order = little ? 'LE' : 'BE';
  const w = new Writer(little, 64);
  const encode = (): void => {
    w.reset();
    w.bitSet(mask);
    encodeStructurePartial(w, value, mask);
  };
  encode();
  const wire = w.toBuffer();
  rows.push({ name, op: 'encode', order, bytes: wire.length, perSec: rate(encode, ms) });
  const target = new PVStructure(value.type);
  const decode = (): void => {
    const r = new Reader(wire, little);
    decodeStructurePartial(r, target, r.bitSet());
    if (!r.ok) throw new Error(r.fault);
  };
  decode();
  rows.push({ name, op: 'decode', order, bytes: wire.length, perSec: rate(decode, ms) });
}

const rows: Row[] = [];

// NTScalar double, full metadata, as a monitor update: value + alarm + timeStamp changed
const scalarType = ntScalar('double', { display: true, control: true, valueAlarm: true });
const scalarValue = new PVStructure(scalarType);
scalarValue.clearChanged();
scalarValue.set('value', 3.25);
setAlarm(scalarValue, { severity: 1, status: 1, message: 'HIGH' });
setTimeStamp(scalarValue, timeNow());
const scalarMask = scalarValue.changed.clone();
for (const little of [true, false]) bench('NTScalar double update', scalarValue, scalarMask, little, 1500, rows);

// NTScalarArray double with 1M elements: value + timeStamp changed
const arrayType = ntScalarArray('double', { display: true });
const arrayValue = new PVStructure(arrayType);
const data = new Float64Array(1 << 20);
for (let i = 0; i < data.length; i++) data[i] = Math.sin(i / 100);
arrayValue.clearChanged();
arrayValue.set('value', data);
setTimeStamp(arrayValue, timeNow());
const arrayMask = arrayValue.changed.clone();
for (const little of [true, false]) bench('NTScalarArray 1M double', arrayValue, arrayMask, little, 2500, rows);

// ---- table
const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const header = ['update', 'op', 'order', 'bytes', 'msg/s', 'MB/s', 'time vs LE'];
const lines: string[][] = rows.map((r) => {
  const le = rows.find((x) => x.name === r.name && x.op === r.op && x.order === 'LE')!;
  return [
    r.name,
    r.op,
    r.order,
    fmt(r.bytes),
    fmt(r.perSec, r.perSec < 100 ? 1 : 0),
    fmt((r.perSec * r.bytes) / 1e6, 1),
    r.order === 'LE' ? '1.00' : (le.perSec / r.perSec).toFixed(2),
  ];
});
const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
const row = (cells: string[]): string =>
  '| ' + cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ') + ' |';
console.log(
  `pvData codec, Node ${process.version}, host ${HOST_LITTLE_ENDIAN ? 'little' : 'big'}-endian, ` +
    `${availableParallelism()} CPUs, load average ${loadavg()[0].toFixed(1)} (best of 3 rounds per row)`,
);
console.log(row(header));
console.log('|' + widths.map((w, i) => (i < 3 ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|') + '|');
for (const l of lines) console.log(row(l));
