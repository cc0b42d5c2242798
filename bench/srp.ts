// SRPv3 register transactions per second through UDP + RSSI + packetizer, 64 in flight:
// 4-byte writes (no verify), 4-byte reads and 4 KiB block reads.
//
//   node --import tsx bench/srp.ts [seconds per cell, default 2] [packetizer 1|2, default 2]
//
// Rows: pvtree's client (SrpV3Memory raw transactions, and tree RemoteVariable set/get on 64
// variables) against pvtree's emulator in a child process; with ROGUE_PEER_ENV set (Rogue's
// environment script, see ../shared/PEERS.md) also pvtree's client and Rogue's own clients
// (PyRogue RemoteVariable.set/get from 64 threads; Rogue's memory Master with 64 raw transactions
// in flight, driven from Python) against Rogue's SrpV3Emulation behind udp.Server + rssi.Server +
// packetizer. Every server runs in its own process; everything is on 127.0.0.1.
//   node --import tsx bench/srp.ts --serve-emulator <packetizer>   (the child: prints PORT n)

import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { SrpV3EmulatorServer } from '../src/srp/emulator-server.ts';
import { SrpV3Memory } from '../src/tree/memory/srpv3.ts';
import { Device, RemoteVariable, Root } from '../src/tree/index.ts';

const INFLIGHT = 64;

interface Rates { write: number; read: number; block: number }
interface Row { client: string; server: string; rates?: Rates; error?: string }

function lineOf(child: ChildProcess, re: RegExp, ms: number): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr?.on('data', (d) => void (err += String(d)));
    const t = setTimeout(() => reject(new Error(`no ${re} after ${ms} ms: ${err.slice(-500)}`)), ms);
    createInterface({ input: child.stdout! }).on('line', (l) => {
      const m = l.match(re);
      if (m) {
        clearTimeout(t);
        resolve(m);
      }
    });
    child.once('exit', (c) => reject(new Error(`exited ${c}: ${err.slice(-500)}`)));
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const done = new Promise((r) => child.once('exit', r));
  child.stdin?.end('quit\n');
  const t = setTimeout(() => child.kill('SIGKILL'), 10000);
  await done;
  clearTimeout(t);
}

const PEER = fileURLToPath(new URL('../test/srp/rogue_peer.py', import.meta.url));
function rogue(args: string[]): ChildProcess {
  return spawn('bash', ['-c', '. "$ROGUE_PEER_ENV" >/dev/null && exec "${ROGUE_PYTHON:-python3}" "$0" "$@"', PEER, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
}

/** `INFLIGHT` loops each doing one operation after another for `seconds`; operations per second. */
async function rate(seconds: number, op: (i: number) => Promise<unknown>): Promise<number> {
  let n = 0;
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: INFLIGHT }, async (_, i) => {
    while (performance.now() < end) {
      await op(i);
      n++;
    }
  }));
  return n / ((performance.now() - t0) / 1000);
}

async function pvtreeRaw(port: number, pack: 1 | 2, seconds: number): Promise<Rates> {
  const mem = new SrpV3Memory({ host: '127.0.0.1', port, packetizer: pack, timeout: 5 });
  try {
    await mem.waitOpen(15000);
    const small = Array.from({ length: INFLIGHT }, () => new Uint8Array(4));
    const big = Array.from({ length: INFLIGHT }, () => new Uint8Array(4096));
    const t = (type: 'read' | 'write', i: number, data: Uint8Array) =>
      mem.doTransaction({ type, address: 0x200000 + 0x1000 * i, size: data.length, data, timeout: 5 });
    await rate(0.3, (i) => t('read', i, small[i])); // warm up
    return {
      write: await rate(seconds, (i) => t('write', i, small[i])),
      read: await rate(seconds, (i) => t('read', i, small[i])),
      block: await rate(seconds, (i) => t('read', i, big[i])),
    };
  } finally {
    await mem.stop();
  }
}

async function pvtreeTree(port: number, pack: 1 | 2, seconds: number): Promise<Rates> {
  const mem = new SrpV3Memory({ host: '127.0.0.1', port, packetizer: pack, timeout: 5 });
  const root = new Root({ name: 'Bench', memBase: mem, pollEn: false, builtins: false });
  const dev = new Device({ name: 'Dev' });
  root.add(dev);
  const regs: RemoteVariable<number>[] = [];
  const blocks: RemoteVariable<Uint32Array>[] = [];
  for (let i = 0; i < INFLIGHT; i++) {
    regs.push(new RemoteVariable({ name: `Reg[${i}]`, offset: 4 * i, bitSize: 32, base: 'UInt', mode: 'RW', verify: false }));
    blocks.push(new RemoteVariable({ name: `Block[${i}]`, offset: 0x10000 + 0x1000 * i, base: 'UInt', bitSize: 32, numValues: 1024, valueBits: 32, valueStride: 32, mode: 'RW', verify: false }));
  }
  dev.add(...regs, ...blocks);
  try {
    await root.start();
    await mem.waitOpen(15000);
    await rate(0.3, (i) => regs[i].get()); // warm up
    return {
      write: await rate(seconds, (i) => regs[i].set(0x12345678)),
      read: await rate(seconds, (i) => regs[i].get()),
      block: await rate(seconds, (i) => blocks[i].get()),
    };
  } finally {
    await root.stop();
  }
}

async function withServer<T>(start: () => ChildProcess, re: RegExp, fn: (port: number) => Promise<T>): Promise<T> {
  const child = start();
  try {
    const m = await lineOf(child, re, 30000);
    return await fn(Number(m[1]));
  } finally {
    await stopChild(child);
  }
}

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 2);
  const pack = Number(process.argv[3] ?? 2) as 1 | 2;
  const rows: Row[] = [];
  const run = async (client: string, server: string, fn: () => Promise<Rates>): Promise<void> => {
    try {
      rows.push({ client, server, rates: await fn() });
    } catch (e) {
      rows.push({ client, server, error: (e as Error).message.split('\n')[0] });
    }
    process.stderr.write(`  ${client} ← ${server}: done\n`);
  };
  const self = fileURLToPath(import.meta.url);
  const pvtreeServer = () => spawn(process.execPath, ['--import', 'tsx', self, '--serve-emulator', String(pack)], { stdio: ['pipe', 'pipe', 'pipe'] });
  const rogueServer = () => rogue(['--pack', String(pack)]);
  const PVT = "pvtree's emulator (node)";
  const ROG = "Rogue's SrpV3Emulation";
  await run('pvtree SrpV3Memory, 64 raw transactions', PVT, () => withServer(pvtreeServer, /^PORT (\d+)$/, (p) => pvtreeRaw(p, pack, seconds)));
  await run('pvtree RemoteVariable set/get, 64 variables', PVT, () => withServer(pvtreeServer, /^PORT (\d+)$/, (p) => pvtreeTree(p, pack, seconds)));
  if (process.env.ROGUE_PEER_ENV) {
    await run('pvtree SrpV3Memory, 64 raw transactions', ROG, () => withServer(rogueServer, /^PORT (\d+)$/, (p) => pvtreeRaw(p, pack, seconds)));
    await run('pvtree RemoteVariable set/get, 64 variables', ROG, () => withServer(rogueServer, /^PORT (\d+)$/, (p) => pvtreeTree(p, pack, seconds)));
    const rogueClient = async (p: number): Promise<{ pyrogue: Rates; master: Rates }> => {
      const c = rogue(['--client', '--port', String(p), '--pack', String(pack), '--seconds', String(seconds), '--inflight', String(INFLIGHT)]);
      try {
        const m = await lineOf(c, /^RESULT (.*)$/, 120000);
        return JSON.parse(m[1]);
      } finally {
        await stopChild(c);
      }
    };
    // one Rogue client run measures both of Rogue's clients (one RSSI client per server at a time)
    let both: { pyrogue: Rates; master: Rates } | undefined;
    await run('PyRogue RemoteVariable.set/get, 64 threads', ROG, async () => (both = await withServer(rogueServer, /^PORT (\d+)$/, rogueClient)).pyrogue);
    if (both) rows.push({ client: "Rogue memory Master (C++ SrpV3), 64 in flight from Python", server: ROG, rates: both.master });
  } else {
    rows.push({ client: 'Rogue rows', server: '-', error: 'ROGUE_PEER_ENV is not set' });
  }
  const f = (n: number) => Math.round(n).toLocaleString('en-US');
  const w = [58, 26, 10, 10, 12];
  const line = (c: string[]) => console.log(`| ${c.map((x, i) => (i < 2 ? x.padEnd(w[i]) : x.padStart(w[i]))).join(' | ')} |`);
  console.log(`\nSRPv3 transactions/s, ${INFLIGHT} in flight, packetizer v${pack}, RSSI, UDP on 127.0.0.1, ${seconds} s per cell\n`);
  line(['client', 'server', 'write 4 B', 'read 4 B', 'read 4 KiB']);
  console.log(`|${w.map((n, i) => (i < 2 ? '-'.repeat(n + 2) : `${'-'.repeat(n + 1)}:`)).join('|')}|`);
  for (const r of rows) {
    if (r.rates) line([r.client, r.server, f(r.rates.write), f(r.rates.read), f(r.rates.block)]);
    else line([r.client, r.server, 'error', '', r.error ?? '']);
  }
  process.exit(0);
}

if (process.argv[2] === '--serve-emulator') {
  const srv = await new SrpV3EmulatorServer({ packetizer: Number(process.argv[3] ?? 2) as 1 | 2 }).start();
  console.log(`PORT ${srv.port}`);
  process.stdin.resume();
  process.stdin.on('end', () => void srv.close().then(() => process.exit(0)));
} else {
  await main();
}
