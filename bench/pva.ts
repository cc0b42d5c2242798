// pvAccess server throughput over loopback.
//
//   node --import tsx bench/pva.ts            tables: monitor updates/s (1 PV, 1000 PVs), MB/s of a
//                                             1 MB double array, get round trips/s; then spam/eat
//                                             pairings (with pvxs's spam/eatspam when
//                                             EPICS_PEERS_BIN or PVA_PEER_BIN names their directory)
//   node --import tsx bench/pva.ts spam [name] [--count N --type T]
//                                             a server with an NTScalar uint32 counter (default
//                                             name 'spam') posted as fast as flow control allows:
//                                             +1 per post, posted only when every subscriber can
//                                             take the update (pipeline window open, socket not
//                                             congested), so a reader sees no skips. With --count:
//                                             an NTScalarArray of N elements of T (uint32, int8 …
//                                             float64), each the counter, a new array per post, as
//                                             pvxs `spam -# N` (read it with pvxs eatspam).
//                                             Ports from EPICS_PVAS_SERVER_PORT/BROADCAST_PORT.
//   node --import tsx bench/pva.ts mailbox [name]
//                                             an NTScalar double whose puts are posted (pvxs's
//                                             example `mailbox`)
//   node --import tsx bench/pva.ts arrays      pvxs eatspam -P -Q 8 reading pvxs spam -# 262144 and
//                                             pvtree spam --count 262144 (1 and 8 subscriptions;
//                                             needs PVA_PEER_BIN; ARRAY_COUNT changes the count)
//   node --import tsx bench/pva.ts client      the pvtree client's gets/puts/s against pvtree's and
//                                             (PVA_PEER_BIN) pvxs's mailbox, 1 and 64 in flight
//   node --import tsx bench/pva.ts pairs       only the spam/eat pairings (local: only the tables)
//   node --import tsx bench/pva.ts eat <name> [seconds] [plain]
//                                             a counting client like pvxs eatspam (pipeline=true,
//                                             or none with `plain`): updates/s and skips (value !=
//                                             previous+1); runs until SIGINT or `seconds`, prints
//                                             one JSON line at the end.
//   node --import tsx bench/pva.ts stalled     one reader stopped, one reading: 256 KB updates
//                                             posted flat out; what the reading one gets.
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { connect, createServer } from 'node:net';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ARRAY_CTOR, PVStructure, type ScalarType } from '../src/pvdata/index.ts';
import { ntScalar, ntScalarArray } from '../src/pvdata/nt.ts';
import { PvaServer, SharedPV, consoleLogger, memoryLogger } from '../src/pva/server/index.ts';
import { PvaClient } from '../src/pva/client/index.ts';
import { fmt, table, loopEnv, cpuSeconds } from './util.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- spam / eat modes

/** Element types `spam --type` accepts (pvxs names, as `pvxinfo` prints them). */
const SPAM_TYPES: Record<string, ScalarType> = {
  int8: 'byte', int16: 'short', int32: 'int', int64: 'long',
  uint8: 'ubyte', uint16: 'ushort', uint32: 'uint', uint64: 'ulong',
  float32: 'float', float64: 'double',
};

/**
 * A counter PV posted whenever every subscriber can take another update. Without `count`: an
 * NTScalar uint32. With `count`: an NTScalarArray of `count` elements of `type`, every element the
 * counter, in a new array per post (as pvxs spam `-#` builds a new array per update).
 */
function spamPV(count?: number, type: ScalarType = 'uint'): SharedPV {
  let n = 0;
  let pv: SharedPV;
  if (count === undefined) {
    pv = new SharedPV({ onWritable: (p) => p.post({ value: ++n >>> 0 }) });
    pv.open(new PVStructure(ntScalar('uint'), { value: 0 }));
    return pv;
  }
  const Ctor = ARRAY_CTOR[type]!;
  const big = type === 'long' || type === 'ulong';
  const update = new PVStructure(ntScalarArray(type));
  const off = update.type.offsetOf('value')!;
  pv = new SharedPV({
    onWritable: (p) => {
      const a = new Ctor(count);
      a.fill((big ? BigInt(++n) : ++n >>> 0) as never);
      update.setAt(off, a);
      p.post(update);
    },
  });
  pv.open(new PVStructure(ntScalarArray(type), { value: new Ctor(count) }));
  return pv;
}

/** `--count N --type T` from a command line (undefined count: the scalar counter). */
function spamShape(args: string[]): { count?: number; type: ScalarType; rest: string[] } {
  let count: number | undefined;
  let type: ScalarType = 'uint';
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--count') count = Number(args[++i]);
    else if (args[i] === '--type') {
      const t = SPAM_TYPES[args[++i]];
      if (!t) throw new Error(`--type: one of ${Object.keys(SPAM_TYPES).join(', ')}`);
      type = t;
    } else rest.push(args[i]);
  }
  if (count !== undefined && !(Number.isInteger(count) && count > 0)) throw new Error('--count: a positive integer');
  return { count, type, rest };
}

/** `mailbox [name]`: an NTScalar double whose puts are posted (like pvxs's example `mailbox`). */
async function mailboxMain(name: string): Promise<void> {
  const server = new PvaServer({ logger: consoleLogger('mailbox', 'warn') });
  const pv = SharedPV.mailbox();
  pv.open(new PVStructure(ntScalar('double'), { value: 42 }));
  server.addPV(name, pv);
  await server.start();
  console.log(`Running ${name} tcp=${server.tcpPort} udp=${server.udpPort}`);
  const stop = () => void server.stop().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

async function spamMain(name: string, count: number | undefined, type: ScalarType): Promise<void> {
  const server = new PvaServer({ logger: consoleLogger('spam', 'warn') });
  server.addPV(name, spamPV(count, type));
  await server.start();
  console.log(`Running ${name} tcp=${server.tcpPort} udp=${server.udpPort}`);
  const stop = () => void server.stop().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

interface EatResult {
  name: string;
  seconds: number;
  updates: number;
  skips: number;
  perSec: number;
}

async function eat(client: PvaClient, name: string, seconds: number, server?: string, stopper?: Promise<void>, pipeline = true): Promise<EatResult> {
  let prev = -1;
  let updates = 0;
  let skips = 0;
  let t0 = 0;
  const sub = client.monitor(
    name,
    (v) => {
      // pvxs spam always serves uint32[] (of one element); pvtree spam a scalar
      const raw = v.get('value') as number | Uint32Array;
      const x = typeof raw === 'number' ? raw : raw[0];
      if (prev >= 0 && x !== ((prev + 1) >>> 0)) skips++;
      else if (prev < 0) t0 = performance.now();
      prev = x;
      updates++;
    },
    { pipeline, server },
  );
  await Promise.race([sleep(seconds * 1000), stopper ?? new Promise(() => {})]);
  sub.close();
  const dt = t0 ? (performance.now() - t0) / 1000 : seconds;
  return { name, seconds: dt, updates, skips, perSec: (updates - 1) / dt };
}

async function eatMain(name: string, seconds: number, pipeline: boolean): Promise<void> {
  const client = new PvaClient();
  const stopper = new Promise<void>((res) => process.once('SIGINT', () => res()));
  const r = await eat(client, name, seconds, undefined, stopper, pipeline);
  client.close();
  console.log(JSON.stringify(r));
  process.exit(0);
}

// ---------------------------------------------------------------- in-process benchmarks

async function loopbackServer(): Promise<PvaServer> {
  const server = new PvaServer({ tcpPort: 0, udpPort: 0, interfaces: ['127.0.0.1'], beaconAddrs: [], logger: memoryLogger() });
  await server.start();
  return server;
}

/** Updates/s and bytes/s of `n` PVs posted whenever writable, read by one pvtree client. */
async function monitorRate(nPvs: number, make: () => PVStructure, next: (v: PVStructure, i: number) => void, ms: number, queueSize: number) {
  const server = await loopbackServer();
  const pvs: SharedPV[] = [];
  let bytes = 0;
  for (let k = 0; k < nPvs; k++) {
    const value = make();
    let i = 0;
    const pv = new SharedPV({
      onWritable: (p) => {
        next(value, ++i);
        p.post(value);
      },
    });
    pv.open(value);
    value.clearChanged();
    pvs.push(pv);
    server.addPV(`bench:${k}`, pv);
  }
  const client = new PvaClient({ addrList: [], autoAddrList: false, timeout: 10 });
  const at = `127.0.0.1:${server.tcpPort}`;
  let n = 0;
  let started = 0;
  const subs = pvs.map((_, k) =>
    client.monitor(
      `bench:${k}`,
      (v) => {
        n++;
        if (v.has('value')) {
          const x = v.get('value');
          if (x && typeof x === 'object' && 'byteLength' in x) bytes += (x as Float64Array).byteLength;
        }
      },
      { server: at, pipeline: true, queueSize },
    ),
  );
  // wait for every subscription's first update
  while (subs.some((s) => s.count === 0)) await sleep(5);
  await sleep(200); // warm up
  n = 0;
  bytes = 0;
  started = performance.now();
  await sleep(ms);
  const dt = (performance.now() - started) / 1000;
  const result = { perSec: n / dt, mbPerSec: bytes / dt / 1e6 };
  for (const s of subs) s.close();
  client.close();
  await server.stop();
  return result;
}

async function getRate(ms: number): Promise<number> {
  const server = await loopbackServer();
  const pv = new SharedPV();
  pv.open(new PVStructure(ntScalar('double'), { value: 1.5 }));
  server.addPV('bench:get', pv);
  const client = new PvaClient({ addrList: [], autoAddrList: false, timeout: 10 });
  const at = `127.0.0.1:${server.tcpPort}`;
  await client.get('bench:get', { server: at });
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    await client.get('bench:get', { server: at });
    n++;
  }
  const r = (n * 1000) / (performance.now() - t0);
  client.close();
  await server.stop();
  return r;
}

/**
 * One client stops reading while another keeps up: 256 KB array updates posted as fast as the event
 * loop allows for `ms`. Reports what the reading client got (the server squashes for the stalled
 * one). test/pva/server-socket.test.ts checks the properties; this measures the rates.
 */
async function stalledRate(ms: number) {
  const server = new PvaServer({ tcpPort: 0, udpPort: 0, interfaces: ['127.0.0.1'], beaconAddrs: [], logger: memoryLogger(), sendQueueLimit: 512 * 1024 });
  await server.start();
  const N = 32 * 1024;
  const pv = new SharedPV();
  pv.open(new PVStructure(ntScalarArray('double'), { value: new Float64Array(N) }));
  server.addPV('bench:stalled', pv);
  const at = `127.0.0.1:${server.tcpPort}`;
  // the stalled reader: an `eat` child process, stopped (SIGSTOP) once subscribed, so it reads nothing
  // (not pipelined: a pipelined reader would only hold the server back by its window, not fill the socket)
  const eater = spawn(process.execPath, [...nodeArgs, 'eat', 'bench:stalled', '60', 'plain'], {
    env: loopEnv(server.tcpPort, server.udpPort),
    stdio: 'ignore',
  });
  while (pv.subscriberCount === 0) await sleep(5);
  eater.kill('SIGSTOP');
  const client = new PvaClient({ addrList: [], autoAddrList: false, timeout: 10 });
  let got = 0;
  const sub = client.monitor('bench:stalled', () => void got++, { server: at });
  while (got === 0) await sleep(5);
  got = 0;
  let posted = 0;
  let windows = 0;
  let idleWindows = 0;
  let lastGot = 0;
  const arr = new Float64Array(N);
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    arr[0] = ++posted;
    pv.post({ value: arr });
    await new Promise((r) => setImmediate(r));
    if (posted % 50 === 0) {
      windows++;
      if (got === lastGot) idleWindows++;
      lastGot = got;
    }
  }
  const dt = (performance.now() - t0) / 1000;
  await sleep(100);
  const r = { postedPerSec: posted / dt, gotPerSec: got / dt, share: got / posted, idleWindows, windows };
  sub.close();
  client.close();
  eater.kill('SIGKILL');
  await new Promise((res) => (eater.exitCode !== null || eater.signalCode !== null ? res(null) : eater.once('exit', res)));
  await server.stop();
  return r;
}

// ---------------------------------------------------------------- spam/eat pairings

async function freeTcpPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

async function freeUdpPort(): Promise<number> {
  const u = createSocket('udp4');
  await new Promise<void>((r) => u.bind(0, '127.0.0.1', r));
  const p = u.address().port;
  await new Promise<void>((r) => u.close(() => r()));
  return p;
}

const self = process.argv[1];
const nodeArgs = ['--import', 'tsx', self];

/** Resolves once something accepts connections on 127.0.0.1:port (pvxs spam's stdout is buffered). */
async function listening(child: ChildProcess, port: number, ms = 15000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited (${child.exitCode})`);
    const ok = await new Promise<boolean>((res) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), res(true)));
      s.once('error', () => res(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`nothing listening on ${port}`);
    await sleep(50);
  }
}

function collect(child: ChildProcess): Promise<string> {
  return new Promise((res) => {
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.once('exit', () => res(out));
  });
}

interface Pair {
  eater: string;
  spammer: string;
  perSec: number;
  skips: number;
  /** Server process CPU (user+system, all threads) per update, microseconds. */
  cpuUs: number;
}

async function pairing(spammer: 'pvxs' | 'pvtree', eater: 'pvxs' | 'pvtree', bin: string | undefined, seconds: number): Promise<Pair> {
  const tcp = await freeTcpPort();
  const udp = await freeUdpPort();
  const env = loopEnv(tcp, udp);
  const name = `spam:${spammer}`;
  const srv =
    spammer === 'pvxs'
      ? spawn(join(bin!, 'spam'), ['-S', name], { env, stdio: 'ignore' })
      : spawn(process.execPath, [...nodeArgs, 'spam', name], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    await listening(srv, tcp);
    await sleep(100);
    const cpu0 = cpuSeconds(srv.pid);
    if (eater === 'pvxs') {
      const e = spawn(join(bin!, 'eatspam'), ['-P', name], { env, stdio: ['ignore', 'pipe', 'ignore'] });
      const out = collect(e);
      await sleep(seconds * 1000);
      e.kill('SIGINT');
      const text = await out;
      const cpu = cpuSeconds(srv.pid) - cpu0;
      // "spam:x 12046.9 wakes/s 24683.4 update/s 0 skips/s ..."  (rates over eatspam's whole run)
      const m = new RegExp(`${name} [\\d.e+]+ wakes/s ([\\d.e+]+) update/s ([\\d.e+]+) skips/s`).exec(text);
      const t = /# run time ([\d.e+]+) sec/.exec(text);
      if (!m || !t) throw new Error(`eatspam output not understood: ${text}`);
      const updates = Number(m[1]) * Number(t[1]);
      return { eater, spammer, perSec: Number(m[1]), skips: Number(m[2]), cpuUs: (cpu / updates) * 1e6 };
    }
    const e = spawn(process.execPath, [...nodeArgs, 'eat', name, String(seconds)], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    const text = await collect(e);
    const cpu = cpuSeconds(srv.pid) - cpu0;
    const r = JSON.parse(text.trim().split('\n').at(-1)!) as EatResult;
    return { eater, spammer, perSec: r.perSec, skips: r.skips / r.seconds, cpuUs: (cpu / r.updates) * 1e6 };
  } finally {
    srv.kill('SIGINT');
    await new Promise((r) => (srv.exitCode !== null ? r(null) : srv.once('exit', r)));
  }
}

function peerBin(): string | undefined {
  for (const d of [process.env.EPICS_PEERS_BIN, process.env.PVA_PEER_BIN]) {
    if (d && existsSync(join(d, 'spam')) && existsSync(join(d, 'eatspam'))) return d;
  }
  return undefined;
}

async function benchMain(which: string | undefined): Promise<void> {
  if (which === 'stalled') await stalledTable();
  else if (which === 'client') await clientTable();
  else if (which === 'arrays') await arrayTable();
  else {
    if (which !== 'pairs') await localTables();
    if (which !== 'pairs') await stalledTable();
    if (which !== 'local') await pairTables();
  }
  process.exit(0);
}

async function localTables(): Promise<void> {
  const rows: string[][] = [];
  const one = await monitorRate(1, () => new PVStructure(ntScalar('double'), { value: 0 }), (v, i) => v.set('value', i), 3000, 16);
  rows.push(['monitor, 1 PV (NTScalar double, pipeline queueSize=16)', fmt(one.perSec), '']);
  const many = await monitorRate(1000, () => new PVStructure(ntScalar('double'), { value: 0 }), (v, i) => v.set('value', i), 3000, 4);
  rows.push(['monitor, 1000 PVs (NTScalar double, pipeline queueSize=4)', fmt(many.perSec), '']);
  const N = 131072; // 1 MiB of doubles
  const arr = new Float64Array(N);
  const big = await monitorRate(1, () => new PVStructure(ntScalarArray('double'), { value: arr }), (v, i) => {
    arr[0] = i;
    v.set('value', arr);
  }, 3000, 4);
  rows.push(['monitor, 1 MiB double[] (NTScalarArray, queueSize=4)', fmt(big.perSec), `${fmt(big.mbPerSec)} MB/s`]);
  const gets = await getRate(2000);
  rows.push(['get round trips (NTScalar double, one at a time)', fmt(gets), '']);
  table('pvtree server → pvtree client, one process, loopback', ['benchmark', 'per second', 'throughput'], rows);
}

async function stalledTable(): Promise<void> {
  const seconds = 1.5;
  const r = await stalledRate(seconds * 1000);
  table(
    `one reader stopped (SIGSTOP), one reading: 256 KB double[] posted flat out for ${seconds} s, send queue limit 512 KiB`,
    ['posted/s', 'reading client got/s', 'share of posts', 'windows of 50 posts with nothing received'],
    [[fmt(r.postedPerSec), fmt(r.gotPerSec), `${fmt(r.share * 100)} %`, `${r.idleWindows} of ${r.windows}`]],
  );
}

async function pairTables(): Promise<void> {
  const bin = peerBin();
  const seconds = 3;
  const rounds = 2;
  const combos: Array<['pvxs' | 'pvtree', 'pvxs' | 'pvtree']> = bin
    ? [['pvxs', 'pvxs'], ['pvtree', 'pvxs'], ['pvxs', 'pvtree'], ['pvtree', 'pvtree']]
    : [['pvtree', 'pvtree']];
  // rounds interleave the pairings, so that machine noise spreads over all of them
  const runs = new Map<string, Pair[]>();
  for (let r = 0; r < rounds; r++) {
    for (const [spammer, eater] of combos) {
      const p = await pairing(spammer, eater, bin, seconds);
      const k = `${spammer}>${eater}`;
      runs.set(k, [...(runs.get(k) ?? []), p]);
    }
  }
  const mean = (ps: Pair[], f: (p: Pair) => number) => ps.reduce((a, p) => a + f(p), 0) / ps.length;
  const pairs = [...runs.values()].map((ps) => ({
    ...ps[0],
    perSec: mean(ps, (p) => p.perSec),
    skips: mean(ps, (p) => p.skips),
    cpuUs: mean(ps, (p) => p.cpuUs),
    each: ps.map((p) => fmt(p.perSec)).join(' / '),
  }));
  const base = (eater: string) => pairs.find((p) => p.eater === eater && p.spammer === 'pvxs');
  table(
    `spam → eat (counter +1 per post, pipeline=true, ${seconds} s × ${rounds} rounds, separate processes; pvxs spam serves uint32[1], pvtree spam uint32)${bin ? '' : ' — set EPICS_PEERS_BIN for pvxs'}`,
    ['reader ← server', 'updates/s (mean)', 'each run', 'skips/s', 'server CPU µs/update', 'rate vs pvxs spam', 'CPU vs pvxs spam'],
    pairs.map((p) => {
      const b = base(p.eater);
      return [
        `${p.eater === 'pvxs' ? 'pvxs eatspam' : 'pvtree eat'} ← ${p.spammer} spam`,
        fmt(p.perSec),
        p.each,
        fmt(p.skips, 1),
        fmt(p.cpuUs, 1),
        b ? `${(p.perSec / b.perSec).toFixed(2)}×` : '—',
        b ? `${(p.cpuUs / b.cpuUs).toFixed(2)}×` : '—',
      ];
    }),
  );
}

// ---------------------------------------------------------------- the client: round trips/s

/** Operations/s of `op` with `inFlight` running at once, for `ms`. */
async function opRate(op: () => Promise<unknown>, inFlight: number, ms: number): Promise<number> {
  for (let i = 0; i < 200; i++) await op(); // warm up
  let n = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (performance.now() - t0 < ms) {
      await op();
      n++;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return (n * 1000) / (performance.now() - t0);
}

/**
 * `client-run <host:port> <name> <get|put> <inFlight> <seconds>`: the pvtree client's operations/s
 * against a server, printed as one JSON line with this process's CPU time per operation (µs).
 */
async function clientRunMain(at: string, name: string, op: string, inFlight: number, seconds: number): Promise<void> {
  const client = new PvaClient({ addrList: [], autoAddrList: false, timeout: 10 });
  let x = 0;
  const f = op === 'put' ? () => client.put(name, ++x, { server: at }) : () => client.get(name, { server: at });
  const self0 = process.cpuUsage();
  const perSec = await opRate(f, inFlight, seconds * 1000);
  const me = process.cpuUsage(self0);
  client.close();
  console.log(JSON.stringify({ perSec, cpuUs: (me.user + me.system) / (perSec * seconds) }));
  process.exit(0);
}

/** `pingpong-server <port>` / `pingpong <port> <seconds>`: 16-byte TCP round trips between two Node processes. */
async function pingpongMain(server: boolean, port: number, seconds: number): Promise<void> {
  if (server) {
    createServer((c) => {
      c.setNoDelay(true);
      c.on('data', (d) => c.write(d));
    }).listen(port, '127.0.0.1');
    return;
  }
  const c = connect(port, '127.0.0.1');
  c.setNoDelay(true);
  const msg = Buffer.alloc(16);
  let n = 0;
  const t0 = performance.now();
  c.on('connect', () => c.write(msg));
  c.on('data', () => {
    n++;
    if (performance.now() - t0 < seconds * 1000) c.write(msg);
    else {
      console.log(JSON.stringify({ perSec: (n * 1000) / (performance.now() - t0) }));
      process.exit(0);
    }
  });
}

/** `cmd` spawned on CPU 0 only (taskset) when `pin`, else as it is. */
function maybePinned(pin: boolean, cmd: string, argv: string[], opts: Parameters<typeof spawn>[2]): ChildProcess {
  return pin ? spawn('taskset', ['-c', '0', cmd, ...argv], opts) : spawn(cmd, argv, opts);
}

/**
 * The pvtree client against a mailbox PV (NTScalar double) of pvtree's server and, with the peers,
 * pvxs's example `mailbox`, each side in its own process: gets and puts, one at a time and 64 in
 * flight. Twice: as the kernel places the processes, and both on CPU 0 (taskset), because one
 * operation at a time is bound by how fast a process wakes another (on this VM a round trip between
 * two vCPUs costs over 100 µs); the raw TCP round trips of two Node processes show that bound.
 */
async function clientTable(): Promise<void> {
  const bin = process.env.PVA_PEER_BIN ?? process.env.EPICS_PEERS_BIN;
  const servers: Array<'pvtree' | 'pvxs'> = bin && existsSync(join(bin, 'mailbox')) ? ['pvtree', 'pvxs'] : ['pvtree'];
  const canPin = existsSync('/usr/bin/taskset');
  const rows: string[][] = [];
  const seconds = 3;
  for (const pin of canPin ? [false, true] : [false]) {
    const where = pin ? 'both on CPU 0' : 'placed by the kernel';
    // the bound: raw round trips
    {
      const port = await freeTcpPort();
      const srv = maybePinned(pin, process.execPath, [...nodeArgs, 'pingpong-server', String(port)], { stdio: 'ignore' });
      try {
        await listening(srv, port);
        const c = maybePinned(pin, process.execPath, [...nodeArgs, 'pingpong', String(port), String(seconds)], { stdio: ['ignore', 'pipe', 'inherit'] });
        const r = JSON.parse((await collect(c)).trim().split('\n').at(-1)!) as { perSec: number };
        rows.push([`raw TCP round trips (Node ↔ Node, 16 bytes), ${where}`, fmt(r.perSec), '', '', '']);
      } finally {
        srv.kill('SIGKILL');
      }
    }
    for (const who of servers) {
      const tcp = await freeTcpPort();
      const udp = await freeUdpPort();
      const env = loopEnv(tcp, udp);
      const name = `mbox:${who}`;
      const srv =
        who === 'pvxs'
          ? maybePinned(pin, join(bin!, 'mailbox'), [name], { env, stdio: 'ignore' })
          : maybePinned(pin, process.execPath, [...nodeArgs, 'mailbox', name], { env, stdio: ['ignore', 'ignore', 'inherit'] });
      try {
        await listening(srv, tcp);
        const row = [`${who} server (${who === 'pvxs' ? 'example mailbox' : 'SharedPV.mailbox'}), ${where}`];
        for (const [op, k] of [['get', 1], ['get', 64], ['put', 1], ['put', 64]] as const) {
          // the server's own pid: taskset execs the command in place
          const cpu0 = cpuSeconds(srv.pid);
          const c = maybePinned(pin, process.execPath, [...nodeArgs, 'client-run', `127.0.0.1:${tcp}`, name, op, String(k), String(seconds)], {
            env,
            stdio: ['ignore', 'pipe', 'inherit'],
          });
          const r = JSON.parse((await collect(c)).trim().split('\n').at(-1)!) as { perSec: number; cpuUs: number };
          const cpu = cpuSeconds(srv.pid) - cpu0;
          row.push(`${fmt(r.perSec)} (${fmt(r.cpuUs, 1)} / ${fmt((cpu / (r.perSec * seconds)) * 1e6, 1)})`);
        }
        rows.push(row);
      } finally {
        srv.kill('SIGINT');
        await new Promise((r) => (srv.exitCode !== null ? r(null) : srv.once('exit', r)));
      }
    }
  }
  table(
    `pvtree client operations/s (client / server CPU µs per operation; the server's includes the warm-up), each side in its own process, ${seconds} s each`,
    ['server', 'get, one at a time', 'get, 64 in flight', 'put, one at a time', 'put, 64 in flight'],
    rows,
  );
}

// ---------------------------------------------------------------- arrays: pvxs eatspam reading spam -# N

/**
 * pvxs `spam -# N` and `bench/pva.ts spam --count N --type uint32`, each read by pvxs
 * `eatspam -P -Q 8` with 1 and 8 subscriptions (8 names in one eatspam: 8 subscriptions on one
 * connection). Rounds interleaved; updates/s summed over the subscriptions.
 */
async function arrayTable(): Promise<void> {
  const bin = peerBin();
  if (!bin) {
    console.log('\narrays: needs pvxs spam and eatspam (set PVA_PEER_BIN)');
    return;
  }
  const count = Number(process.env.ARRAY_COUNT ?? 262144);
  const seconds = 4;
  const rounds = 3;
  const runs = new Map<string, Array<{ perSec: number; cpuUs: number }>>();
  for (let r = 0; r < rounds; r++) {
    for (const subs of [1, 8]) {
      for (const who of ['pvxs', 'pvtree'] as const) {
        const tcp = await freeTcpPort();
        const udp = await freeUdpPort();
        const env = loopEnv(tcp, udp);
        const name = `arr:${who}`;
        const srv =
          who === 'pvxs'
            ? spawn(join(bin, 'spam'), ['-#', String(count), '-S', name], { env, stdio: 'ignore' })
            : spawn(process.execPath, [...nodeArgs, 'spam', name, '--count', String(count), '--type', 'uint32'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
        try {
          await listening(srv, tcp);
          await sleep(200);
          const cpu0 = cpuSeconds(srv.pid);
          const e = spawn(join(bin, 'eatspam'), ['-P', '-Q', '8', ...Array(subs).fill(name)], { env, stdio: ['ignore', 'pipe', 'ignore'] });
          const out = collect(e);
          await sleep(seconds * 1000);
          e.kill('SIGINT');
          const text = await out;
          const cpu = cpuSeconds(srv.pid) - cpu0;
          const t = /# run time ([\d.e+]+) sec/.exec(text);
          let perSec = 0;
          for (const m of text.matchAll(new RegExp(`^${name} [\\d.e+]+ wakes/s ([\\d.e+]+) update/s`, 'gm'))) perSec += Number(m[1]);
          if (!t || perSec === 0) throw new Error(`eatspam output not understood: ${text}`);
          const k = `${who} ${subs}`;
          runs.set(k, [...(runs.get(k) ?? []), { perSec, cpuUs: (cpu / (perSec * Number(t[1]))) * 1e6 }]);
        } finally {
          srv.kill('SIGINT');
          await new Promise((res) => (srv.exitCode !== null ? res(null) : srv.once('exit', res)));
        }
      }
    }
  }
  const rows: string[][] = [];
  for (const subs of [1, 8]) {
    const base = runs.get(`pvxs ${subs}`)!;
    const mean = (xs: Array<{ perSec: number; cpuUs: number }>, f: (x: { perSec: number; cpuUs: number }) => number) => xs.reduce((a, x) => a + f(x), 0) / xs.length;
    for (const who of ['pvxs', 'pvtree']) {
      const rs = runs.get(`${who} ${subs}`)!;
      const rate = mean(rs, (x) => x.perSec);
      const cpu = mean(rs, (x) => x.cpuUs);
      rows.push([
        `${who} spam, ${subs} subscription${subs > 1 ? 's' : ''}`,
        fmt(rate),
        rs.map((x) => fmt(x.perSec)).join(' / '),
        `${fmt((rate * count * 4) / 2 ** 20)} MiB/s`,
        fmt(cpu),
        `${(rate / mean(base, (x) => x.perSec)).toFixed(2)}×`,
        `${(cpu / mean(base, (x) => x.cpuUs)).toFixed(2)}×`,
      ]);
    }
  }
  table(
    `arrays: uint32[${count}] (${fmt((count * 4) / 2 ** 20, 2)} MiB) read by pvxs eatspam -P -Q 8, ${seconds} s × ${rounds} rounds, separate processes`,
    ['server', 'updates/s (mean, all subscriptions)', 'each run', 'throughput', 'server CPU µs/update', 'rate vs pvxs', 'CPU vs pvxs'],
    rows,
  );
}

const [mode, ...modeArgs] = process.argv.slice(2);
const [a1, a2, a3] = modeArgs;
if (mode === 'mailbox') await mailboxMain(a1 ?? 'mailbox');
else if (mode === 'client-run') await clientRunMain(a1, a2, a3, Number(modeArgs[3]), Number(modeArgs[4]));
else if (mode === 'pingpong-server') await pingpongMain(true, Number(a1), 0);
else if (mode === 'pingpong') await pingpongMain(false, Number(a1), Number(a2));
else if (mode === 'spam') {
  const { count, type, rest } = spamShape(modeArgs);
  await spamMain(rest[0] ?? 'spam', count, type);
}
else if (mode === 'eat') {
  if (!a1) {
    console.error('usage: bench/pva.ts eat <name> [seconds] [plain]');
    process.exit(1);
  }
  await eatMain(a1, Number(a2 ?? 1e9), a3 !== 'plain');
} else await benchMain(mode);
