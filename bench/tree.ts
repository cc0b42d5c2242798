// Tree hot paths: remote-variable set/get through the emulated memory, and listener fan-out.
// Run: node --import tsx bench/tree.ts   (PyRogue's budget is ~20-27 µs per remote set/get.)

import { Root, Device, RemoteVariable, LocalVariable } from '../src/tree/index.ts';

interface Row { op: string; ops: number; us: number; note: string }
const rows: Row[] = [];

async function bench(op: string, n: number, fn: (i: number) => Promise<unknown> | unknown, note = ''): Promise<void> {
  for (let i = 0; i < Math.min(n, 20000); i++) await fn(i); // warm up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await fn(i);
  const ns = Number(process.hrtime.bigint() - t0);
  rows.push({ op, ops: (n * 1e9) / ns, us: ns / n / 1000, note });
}

const root = new Root({ name: 'Bench', pollEn: false });
const dev = new Device({ name: 'Dev', offset: 0x10000 });
const u32 = new RemoteVariable({ name: 'U32', offset: 0x0 });
const noVerify = new RemoteVariable({ name: 'NoVerify', offset: 0x4, verify: false });
const field = new RemoteVariable({ name: 'Field', offset: 0x8, bitOffset: 5, bitSize: 11, base: 'Int', verify: false });
const f64 = new RemoteVariable({ name: 'F64', offset: 0x10, bitSize: 64, base: 'Float', verify: false });
const arr = new RemoteVariable({ name: 'Arr', offset: 0x100, bitSize: 32, numValues: 64, verify: false });
const local = new LocalVariable({ name: 'Local', value: 0, typeStr: 'Int32' });
dev.add(u32, noVerify, field, f64, arr, local);
root.add(dev);
await root.start();

const N = 200_000;
await bench('RemoteVariable.set UInt32 (write+verify)', N, (i) => u32.set(i), '2 transactions');
await bench('RemoteVariable.set UInt32 (write, no verify)', N, (i) => noVerify.set(i), '1 transaction');
await bench('RemoteVariable.set Int11 bit field', N, (i) => field.set((i & 1023) - 512), '1 transaction');
await bench('RemoteVariable.set Float64', N, (i) => f64.set(i * 0.5), '1 transaction');
await bench('RemoteVariable.set write=false', N, (i) => noVerify.set(i, { write: false }), 'shadow only');
await bench('RemoteVariable.get read=true UInt32', N, () => u32.get(), '1 transaction');
await bench('RemoteVariable.get read=true Int11 bit field', N, () => field.get(), '1 transaction');
await bench('RemoteVariable.get read=false', N, () => u32.get({ read: false }), 'cached');
await bench('RemoteVariable.value (sync)', N, () => u32.value, 'cached');
await bench('RemoteVariable.setDisp "0x1f"', N, () => noVerify.setDisp('0x1f'), 'parse + 1 transaction');
await bench('RemoteVariable.valueDisp', N, () => u32.valueDisp, "format '{:#x}'");
const arrVal = new Uint32Array(64);
await bench('RemoteVariable.set UInt32[64]', N / 10, (i) => { arrVal[0] = i; return arr.set(arrVal); }, '1 transaction, 256 B');
await bench('RemoteVariable.get UInt32[64] read=true', N / 10, () => arr.get(), '1 transaction, 256 B');
await bench('LocalVariable.set Int32', N, (i) => local.set(i & 0xffff));
await root.stop();

// Listener fan-out: 100k variables, each with a listener, all changed in one transaction.
const FAN = 100_000;
const big = new Root({ name: 'Fan', pollEn: false });
const fdev = new Device({ name: 'Dev' });
const vars: LocalVariable<number>[] = [];
let fired = 0;
const listener = (): void => { fired++; };
for (let i = 0; i < FAN; i++) {
  const v = new LocalVariable({ name: `V${i}`, value: 0 });
  v.addListener(listener);
  vars.push(v);
}
fdev.add(...vars);
big.add(fdev);
for (let round = 0; round < 3; round++) {
  fired = 0;
  const t0 = process.hrtime.bigint();
  await big.updateGroup(async () => { for (let i = 0; i < FAN; i++) await vars[i].set(round + 1); });
  const ns = Number(process.hrtime.bigint() - t0);
  if (round === 2) rows.push({ op: `fan-out: set ${FAN / 1000}k vars in one group + listeners`, ops: (FAN * 1e9) / ns, us: ns / FAN / 1000, note: `${(ns / 1e6).toFixed(1)} ms total, ${fired} calls` });
}
// Fan-out from hardware: a readAll over 1024 remote variables (two per 32-bit word), all changed.
const hw = new Root({ name: 'Hw', pollEn: false });
const hdev = new Device({ name: 'Dev' });
const regs: RemoteVariable<number>[] = [];
for (let i = 0; i < 1024; i++) regs.push(new RemoteVariable({ name: `R${i}`, offset: (i >> 1) * 4, bitOffset: (i & 1) * 16, bitSize: 16 }));
hdev.add(...regs);
hw.add(hdev);
for (const r of regs) r.addListener(listener);
await hw.start();
let k = 0;
const mem = hw.memBase as import('../src/tree/index.ts').Emulate;
const page = new Uint8Array(2048);
await bench('readAll: 1024 vars in 512 blocks, all changed', 200, async () => {
  page.fill(++k & 0xff);
  mem.writeBytes(0, page);
  await hw.readAll();
}, 'per readAll');
await hw.stop();

// Speed-up against the low end of PyRogue's ~20-27 µs per remote set/get, for the per-operation rows.
const PYROGUE_US = 20;
const w = Math.max(...rows.map((r) => r.op.length));
console.log(`${'operation'.padEnd(w)} | ${'ops/s'.padStart(12)} | ${'µs/op'.padStart(8)} | ${'vs 20µs'.padStart(7)} | note`);
console.log(`${'-'.repeat(w)}-|-${'-'.repeat(12)}-|-${'-'.repeat(8)}-|-${'-'.repeat(7)}-|------`);
for (const r of rows) {
  const x = r.op.startsWith('RemoteVariable.set') || r.op.startsWith('RemoteVariable.get') ? `${(PYROGUE_US / r.us).toFixed(0)}x` : '';
  console.log(`${r.op.padEnd(w)} | ${Math.round(r.ops).toLocaleString('en-US').padStart(12)} | ${r.us.toFixed(3).padStart(8)} | ${x.padStart(7)} | ${r.note}`);
}
