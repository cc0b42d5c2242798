// Load on a pvtree server (a tree served by EpicsPvServer, pvAccess only), each side in its own process.
//
//   node --import tsx bench/pva-load.ts many [seconds]
//       Many clients: 50 pvtree client connections (two processes of 25) each monitor the same 100
//       PVs, all set at 10 Hz (50k updates/s offered). Delivered updates/s, server CPU µs per
//       delivered update, and the latency from Variable.set to the client's callback (the value set
//       is the time it was set). Two ways of setting: all 100 in one timer callback (a poll cycle),
//       and spread over 10 timers (10 ms apart).
//   node --import tsx bench/pva-load.ts overload [seconds] [pvtree|softIocPVX]   (BENCH_BUDGET_MS: the fan-out budget per turn)
//       Overload: 2,000 PVs set at 10 Hz, 8 monitoring clients (pvtree, and pvxs eatspam when
//       PVA_PEER_BIN names a directory holding it): 160k updates/s offered, more than two cores
//       deliver. Meanwhile a prober gets, puts and calls (RPC) with a fresh client each time (search,
//       connect, operation: as pvxget does), and with one connected client. Idle and loaded
//       latencies, server RSS, what each monitoring client got. With PVA_PEER_BIN, pvxs's pvxget,
//       pvxput and pvxcall probe too.
//
// Child modes (used by the above): server, watch, probe.
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { join } from 'node:path';
import { Root, Device, LocalVariable, LocalCommand } from '../src/tree/index.ts';
import { EpicsPvServer } from '../src/epics/index.ts';
import { PvaClient } from '../src/pva/client/index.ts';
import { memoryLogger } from '../src/pva/server/index.ts';
import { processFanout } from '../src/pva/server/fanout.ts';
import { fmt, table, loopEnv, cpuSeconds, rssMB } from './util.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const wallMs = () => performance.timeOrigin + performance.now();

function args(list: string[]): Record<string, string> {
  const o: Record<string, string> = {};
  for (let i = 0; i < list.length; i++) if (list[i].startsWith('--')) o[list[i].slice(2)] = list[i + 1] ?? '';
  return o;
}

const pvName = (i: number) => `load:Load:D:V${i}`;
/** What a failed operation counts as (ms): longer than anything measured, and JSON-safe. */
const FAILED = 1e9;
const fmtMs = (x: number) => (x >= FAILED ? 'failed' : fmt(x, 1));
const PUT_PV = 'load:Load:D:Put';
const RPC_PV = 'load:Load:D:Call';

// ---------------------------------------------------------------- server child

/**
 * `server --pvs N --hz F --groups G --value time|count`: N Float64 variables set F times a second,
 * in G timer callbacks spread over the period. `time`: the value is the wall-clock ms of the set
 * (for latency); `count`: the number of the cycle (eatspam counts skips on it).
 */
async function serverMain(a: Record<string, string>): Promise<void> {
  const n = Number(a.pvs ?? 100);
  const hz = Number(a.hz ?? 10);
  const groups = Number(a.groups ?? 1);
  const byTime = (a.value ?? 'time') === 'time';
  // the fan-out budget's time per turn (ms), to compare settings
  if (a['budget-ms']) processFanout.limitMs = Number(a['budget-ms']);
  const root = new Root({ name: 'Load', pollEn: false });
  const dev = new Device({ name: 'D' });
  const vars: LocalVariable<number>[] = [];
  for (let i = 0; i < n; i++) vars.push(new LocalVariable<number>({ name: `V${i}`, value: 0, typeStr: 'Float64', mode: 'RW' }));
  dev.add(...vars);
  dev.add(new LocalVariable<number>({ name: 'Put', value: 0, typeStr: 'Float64', mode: 'RW' }));
  dev.add(new LocalCommand<number, number>({ name: 'Call', argType: 'Float64', retType: 'Float64', function: ({ arg }) => (arg ?? 0) + 1 }));
  root.add(dev);
  root.addProtocol(new EpicsPvServer({ base: 'load', root, protocols: ['pva'], logger: memoryLogger() }));
  await root.start();
  const period = 1000 / hz;
  const per = Math.ceil(n / groups);
  let cycle = 0;
  let late = 0;
  const t0 = performance.now() + 200;
  for (let g = 0; g < groups; g++) {
    let k = 0;
    const due = () => t0 + k * period + (g * period) / groups;
    const run = () => {
      if (performance.now() - due() > period) late++;
      const c = g === 0 ? ++cycle : cycle;
      for (let i = g * per; i < Math.min(n, (g + 1) * per); i++) void vars[i].set(byTime ? wallMs() : c);
      k++;
      setTimeout(run, Math.max(0, due() - performance.now()));
    };
    setTimeout(run, Math.max(0, due() - performance.now()));
  }
  // the server's own responsiveness: how late the event loop runs what is due (SIGUSR1 resets,
  // SIGUSR2 prints ms percentiles)
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  process.on('SIGUSR1', () => loop.reset());
  process.on('SIGUSR2', () =>
    console.log(JSON.stringify({ cycles: cycle, late, loopP50: loop.percentile(50) / 1e6, loopP99: loop.percentile(99) / 1e6, loopMax: loop.max / 1e6 })),
  );
  console.log('ready');
  const stop = () => void root.stop().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

// ---------------------------------------------------------------- watch child

interface WatchResult {
  conns: number;
  pvs: number;
  seconds: number;
  updates: number;
  /** Per connection: updates/s. */
  connRates: number[];
  /** Fewest updates any one subscription got in the window. */
  minPerSub: number;
  skips: number;
  /** CPU (user + system) this process used in the window, µs. */
  cpuUs: number;
  /** Of which system (kernel) time, µs. */
  sysUs: number;
  /** Latency percentiles, ms (value = set time). */
  p50?: number;
  p99?: number;
  max?: number;
}

/**
 * `watch --pvs N --conns C --seconds S --value time|count [--pipeline]`: C clients (one connection
 * each) monitor PVs 0..N-1. Prints `measuring` once every subscription has its first update, then
 * one JSON line after S seconds.
 */
async function watchMain(a: Record<string, string>): Promise<void> {
  const n = Number(a.pvs ?? 100);
  const conns = Number(a.conns ?? 1);
  const seconds = Number(a.seconds ?? 5);
  const byTime = (a.value ?? 'time') === 'time';
  const pipeline = 'pipeline' in a;
  // SIGINT ends the window early (the result is still printed)
  const interrupted = new Promise<void>((r) => process.once('SIGINT', () => r()));
  const clients = Array.from({ length: conns }, () => new PvaClient({ timeout: 30 }));
  const counts = new Int32Array(conns * n);
  const prev = new Float64Array(conns * n).fill(-1);
  const lat = new Float64Array(1 << 22);
  let nlat = 0;
  let measuring = false;
  let skips = 0;
  // time values: the updates counted are those set within the window [w0, w1] (wall ms), however
  // late they arrive (the window is followed by a grace period); counts: those arriving in it
  let w0 = Infinity;
  let w1 = Infinity;
  const subs = clients.flatMap((c, ci) =>
    Array.from({ length: n }, (_, i) =>
      c.monitor(
        pvName(i),
        (v) => {
          const x = v.get('value') as number;
          const k = ci * n + i;
          if (byTime) {
            if (x < w0 || x > w1) return;
            counts[k]++;
            if (nlat < lat.length) lat[nlat++] = wallMs() - x;
            return;
          }
          if (!measuring) return void (prev[k] = x);
          counts[k]++;
          if (prev[k] >= 0 && x !== prev[k] + 1) skips++;
          prev[k] = x;
        },
        { pipeline },
      ),
    ),
  );
  while (subs.some((s) => s.count === 0)) await sleep(20);
  await sleep(300);
  measuring = true;
  w0 = wallMs();
  console.log('measuring');
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  await Promise.race([sleep(seconds * 1000), interrupted]);
  measuring = false;
  const cpu = process.cpuUsage(cpu0);
  const dt = (performance.now() - t0) / 1000;
  if (byTime) {
    w1 = wallMs();
    await sleep(2000); // late arrivals of what was set in the window
  }
  let total = 0;
  let minPerSub = Infinity;
  const connRates: number[] = [];
  for (let ci = 0; ci < conns; ci++) {
    let c = 0;
    for (let i = 0; i < n; i++) {
      c += counts[ci * n + i];
      minPerSub = Math.min(minPerSub, counts[ci * n + i]);
    }
    connRates.push(c / dt);
    total += c;
  }
  const r: WatchResult = { conns, pvs: n, seconds: dt, updates: total, connRates, minPerSub, skips, cpuUs: cpu.user + cpu.system, sysUs: cpu.system };
  if (byTime && nlat) {
    const s = lat.slice(0, nlat).sort();
    r.p50 = s[Math.floor(nlat * 0.5)];
    r.p99 = s[Math.floor(nlat * 0.99)];
    r.max = s[nlat - 1];
  }
  console.log(JSON.stringify(r));
  for (const s of subs) s.close();
  for (const c of clients) c.close();
  process.exit(0);
}

// ---------------------------------------------------------------- probe child

interface ProbeResult {
  /** Fresh client each time (search, connect, operation), ms. */
  fresh: { get: number[]; put: number[]; rpc: number[] };
  /** One connected client, ms. */
  connected: { get: number[]; put: number[]; rpc: number[] };
  /**
   * How late the prober's own timers fired (ms): the wait for a CPU any reply also has, whoever
   * the server is (the floor under the loaded times).
   */
  wake: number[];
}

/** `probe --n K --gap MS [--ops get,put,rpc]`: K of each operation, fresh and connected, MS apart. */
async function probeMain(a: Record<string, string>): Promise<void> {
  const n = Number(a.n ?? 20);
  const gap = Number(a.gap ?? 100);
  const kinds = (a.ops ?? 'get,put,rpc').split(',') as Array<'get' | 'put' | 'rpc'>;
  const r: ProbeResult = { fresh: { get: [], put: [], rpc: [] }, connected: { get: [], put: [], rpc: [] }, wake: [] };
  const pause = async (ms: number) => {
    const t = performance.now();
    await sleep(ms);
    r.wake.push(Math.max(0, performance.now() - t - ms));
  };
  const ops = {
    get: (c: PvaClient) => c.get(pvName(0)),
    put: (c: PvaClient) => c.put(PUT_PV, Math.random()),
    rpc: (c: PvaClient) => c.rpc(RPC_PV, { arg: 1 }),
  };
  const kept = new PvaClient({ timeout: 10 });
  for (const k of kinds) await ops[k](kept).catch(() => undefined); // connect the channels first
  // a failed operation counts as taking forever (and is reported)
  const timed = async (f: () => Promise<unknown>): Promise<number> => {
    const t = performance.now();
    try {
      await f();
      return performance.now() - t;
    } catch (e) {
      console.error(`probe: ${(e as Error).message}`);
      return FAILED;
    }
  };
  // a server too busy to answer must not hold the run for ever: what is left after 90 s fails
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    for (const k of kinds) {
      if (performance.now() - t0 > 90_000) {
        r.fresh[k].push(FAILED);
        r.connected[k].push(FAILED);
        continue;
      }
      const c = new PvaClient({ timeout: 10 });
      r.fresh[k].push(await timed(() => ops[k](c)));
      c.close();
      await pause(gap / 2);
      r.connected[k].push(await timed(() => ops[k](kept)));
      await pause(gap / 2);
    }
  }
  kept.close();
  console.log(JSON.stringify(r));
  process.exit(0);
}

// ---------------------------------------------------------------- orchestration

async function freePorts(): Promise<{ tcp: number; udp: number }> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const tcp = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  const u = createSocket('udp4');
  await new Promise<void>((r) => u.bind(0, '127.0.0.1', r));
  const udp = u.address().port;
  await new Promise<void>((r) => u.close(() => r()));
  return { tcp, udp };
}

const self = process.argv[1];
const nodeArgs = ['--import', 'tsx', self];

/** A child whose stdout lines are collected; `line(re)` waits for one matching. */
class Child {
  readonly proc: ChildProcess;
  private lines: string[] = [];
  private waiters: Array<() => void> = [];
  readonly exited: Promise<void>;
  constructor(cmd: string, argv: string[], env: NodeJS.ProcessEnv) {
    this.proc = spawn(cmd, argv, { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let buf = '';
    this.proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        this.lines.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
        for (const w of this.waiters.splice(0)) w();
      }
    });
    this.exited = new Promise((r) => this.proc.once('exit', () => r()));
  }
  async line(re: RegExp, ms = 120_000): Promise<string> {
    const end = Date.now() + ms;
    for (;;) {
      const l = this.lines.find((x) => re.test(x));
      if (l) return l;
      if (this.proc.exitCode !== null) throw new Error(`child exited (${this.proc.exitCode}) before ${re}`);
      if (Date.now() > end) throw new Error(`timeout waiting for ${re}`);
      await Promise.race([new Promise<void>((r) => this.waiters.push(r)), sleep(200)]);
    }
  }
  get output(): string {
    return this.lines.join('\n');
  }
  async stop(): Promise<void> {
    if (this.proc.exitCode === null) this.proc.kill('SIGINT');
    await Promise.race([this.exited, sleep(5000)]);
    if (this.proc.exitCode === null) this.proc.kill('SIGKILL');
    await this.exited;
  }
}

function node(mode: string, a: Record<string, string | number | boolean>, env: NodeJS.ProcessEnv): Child {
  const argv = [...nodeArgs, mode];
  for (const [k, v] of Object.entries(a)) {
    argv.push(`--${k}`);
    if (v !== true) argv.push(String(v));
  }
  return new Child(process.execPath, argv, env);
}

function peerBin(): string | undefined {
  const d = process.env.PVA_PEER_BIN ?? process.env.EPICS_PEERS_BIN;
  return d && existsSync(join(d, 'eatspam')) ? d : undefined;
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))];
};
const median = (xs: number[]) => pct(xs, 0.5);

// ---------------------------------------------------------------- many clients

async function manyMain(seconds: number): Promise<void> {
  const rows: string[][] = [];
  for (const groups of [1, 10]) {
    const { tcp, udp } = await freePorts();
    const env = loopEnv(tcp, udp);
    const server = node('server', { pvs: 100, hz: 10, groups, value: 'time' }, env);
    await server.line(/^ready/);
    const watchers = [0, 1].map(() => node('watch', { pvs: 100, conns: 25, seconds, value: 'time' }, env));
    for (const w of watchers) await w.line(/^measuring/);
    const cpu0 = cpuSeconds(server.proc.pid);
    const t0 = performance.now();
    const results = await Promise.all(watchers.map(async (w) => JSON.parse(await w.line(/^\{/)) as WatchResult));
    const cpu = cpuSeconds(server.proc.pid) - cpu0;
    const dt = (performance.now() - t0) / 1000;
    await server.stop();
    const updates = results.reduce((s, r) => s + r.updates, 0);
    const rate = results.reduce((s, r) => s + r.updates / r.seconds, 0);
    const p99 = Math.max(...results.map((r) => r.p99 ?? NaN));
    const p50 = Math.max(...results.map((r) => r.p50 ?? NaN));
    const max = Math.max(...results.map((r) => r.max ?? NaN));
    const minConn = Math.min(...results.flatMap((r) => r.connRates));
    rows.push([
      groups === 1 ? 'all 100 PVs set in one callback, 10 Hz' : '10 groups of 10 PVs, 10 ms apart, 10 Hz',
      fmt(rate),
      `${fmt((rate / 50_000) * 100, 1)} %`,
      fmt(minConn),
      fmt((cpu / Math.max(1, updates)) * 1e6 * (dt / results[0].seconds), 2),
      fmt(results.reduce((s, r) => s + r.cpuUs, 0) / Math.max(1, updates), 2),
      fmt(p50, 2),
      fmt(p99, 2),
      fmt(max, 1),
    ]);
  }
  table(
    `many clients: 50 pvtree client connections (2 processes × 25), each monitoring the same 100 PVs (pvtree tree, Float64), ${seconds} s`,
    ['how the 100 PVs are set', 'delivered updates/s', 'of 50,000 offered', 'slowest connection updates/s', 'server CPU µs/update', 'client CPU µs/update', 'latency p50 ms', 'p99 ms', 'max ms'],
    rows,
  );
  // the earlier measurement: 4 pvxs eatspam on 1,000 PVs at 10 Hz, pvtree against softIocPVX
  const bin = peerBin();
  if (!bin || !existsSync(join(bin, 'softIocPVX'))) return;
  const eatRows: string[][] = [];
  const db = iocDatabase(1000);
  const names = Array.from({ length: 1000 }, (_, i) => pvName(i));
  for (const server of ['pvtree', 'softIocPVX'] as const) {
    const { tcp, udp } = await freePorts();
    const ca = await freePorts();
    const env = { ...loopEnv(tcp, udp), EPICS_CA_SERVER_PORT: String(ca.tcp), EPICS_CAS_SERVER_PORT: String(ca.tcp) };
    const srv = server === 'pvtree' ? node('server', { pvs: 1000, hz: 10, groups: 1, value: 'count' }, env) : new Child(join(bin, 'softIocPVX'), ['-S', '-d', db], env);
    try {
      if (server === 'pvtree') await srv.line(/^ready/);
      await sleep(2000);
      const eaters = Array.from({ length: 4 }, () => new Child(join(bin, 'eatspam'), names, env));
      await sleep(3000);
      const cpu0 = cpuSeconds(srv.proc.pid);
      const t0 = performance.now();
      await sleep(seconds * 1000);
      const cpu = cpuSeconds(srv.proc.pid) - cpu0;
      const dt = (performance.now() - t0) / 1000;
      for (const e of eaters) e.proc.kill('SIGINT');
      await Promise.all(eaters.map((e) => e.exited));
      // eatspam's rates are over its whole run (connecting included): the window's updates from them
      const rate = eaters.reduce((a, e) => a + eatspamStats(e.output).total, 0);
      eatRows.push([server, fmt(rate), `${fmt((rate / 40_000) * 100, 1)} %`, fmt((cpu / (rate * dt)) * 1e6, 2), fmt((cpu / dt) * 100)]);
    } finally {
      await srv.stop();
    }
  }
  table(
    `4 pvxs eatspam, each monitoring the same 1,000 PVs set at 10 Hz (40k updates/s offered), ${seconds} s`,
    ['server', 'delivered updates/s', 'of offered', 'server CPU µs/update', 'server CPU %'],
    eatRows,
  );
}

// ---------------------------------------------------------------- overload

interface PeerTimes {
  get: number[];
  put: number[];
  rpc: number[];
}

type Op = keyof PeerTimes;

/** pvxs tools, each run timed from spawn to exit (what a user waits for), ms. */
async function peerProbe(bin: string, env: NodeJS.ProcessEnv, n: number, gap: number, ops: Op[]): Promise<PeerTimes> {
  const r: PeerTimes = { get: [], put: [], rpc: [] };
  const run = async (cmd: string, argv: string[]): Promise<number> => {
    const t = performance.now();
    const p = spawn(join(bin, cmd), argv, { env, stdio: 'ignore' });
    const code = await new Promise<number | null>((res) => p.once('exit', (c) => res(c)));
    if (code === 0) return performance.now() - t;
    console.error(`${cmd} ${argv.join(' ')} exited ${code}`);
    return FAILED; // a failure counts as taking forever
  };
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    for (const op of ops) {
      if (performance.now() - t0 > 90_000) {
        r[op].push(FAILED);
        continue;
      }
      if (op === 'get') r.get.push(await run('pvxget', ['-w', '10', pvName(0)]));
      if (op === 'put') r.put.push(await run('pvxput', ['-w', '10', PUT_PV, String(i)]));
      if (op === 'rpc') r.rpc.push(await run('pvxcall', ['-w', '10', RPC_PV, `arg=${i}`]));
      await sleep(gap);
    }
  }
  return r;
}

/** Parses eatspam's per-PV "NAME x wakes/s y update/s" lines: the sum and the slowest PV. */
function eatspamStats(text: string): { total: number; minPerPv: number } {
  let total = 0;
  let min = Infinity;
  for (const m of text.matchAll(/^(\S+) [\d.e+-]+ wakes\/s ([\d.e+-]+) update\/s/gm)) {
    const u = Number(m[2]);
    total += u;
    min = Math.min(min, u);
  }
  return { total, minPerPv: min };
}

/** A database for softIocPVX like the pvtree server's tree: counters at 10 Hz, an ao to put to. */
function iocDatabase(pvs: number): string {
  const file = join(tmpdir(), `pvtree-overload-${process.pid}.db`);
  let db = `record(ao, "${PUT_PV}") {}\n`;
  for (let i = 0; i < pvs; i++) db += `record(calc, "${pvName(i)}") {\n  field(SCAN, ".1 second")\n  field(CALC, "A+1")\n  field(INPA, "${pvName(i)} NPP")\n}\n`;
  writeFileSync(file, db);
  return file;
}

interface LoopDelay {
  loopP50: number;
  loopP99: number;
  loopMax: number;
}

async function overloadMain(seconds: number, only?: string): Promise<void> {
  const bin = peerBin();
  const PVS = 2000;
  const CLIENTS = 8;
  const N_PROBE = 20;
  const GAP = 100;
  const opRows: string[][] = [];
  const clientRows: string[][] = [];
  const ioc = bin && existsSync(join(bin, 'softIocPVX'));
  const db = ioc ? iocDatabase(PVS) : '';
  const budgetMs = process.env.BENCH_BUDGET_MS;
  for (const server of ioc ? (['pvtree', 'softIocPVX'] as const) : (['pvtree'] as const)) {
    if (only && only !== server) continue;
    // softIocPVX (QSRV) has no RPC
    const ops: Op[] = server === 'pvtree' ? ['get', 'put', 'rpc'] : ['get', 'put'];
    for (const readers of bin ? (['pvtree', 'pvxs'] as const) : (['pvtree'] as const)) {
      const { tcp, udp } = await freePorts();
      const ca = await freePorts();
      console.error(`overload: ${server} server, ${readers} readers`);
      const env = { ...loopEnv(tcp, udp), EPICS_CA_SERVER_PORT: String(ca.tcp), EPICS_CAS_SERVER_PORT: String(ca.tcp) };
      const srv =
        server === 'pvtree'
          ? node('server', { pvs: PVS, hz: 10, groups: 1, value: 'count', ...(budgetMs ? { 'budget-ms': budgetMs } : {}) }, env)
          : new Child(join(bin!, 'softIocPVX'), ['-S', '-d', db], env);
      if (server === 'pvtree') await srv.line(/^ready/);
      const pid = srv.proc.pid;
      const loopDelay = async (): Promise<LoopDelay | undefined> => {
        if (server !== 'pvtree') return undefined;
        const before = srv.output.split('\n').filter((l) => l.startsWith('{"cycles"')).length;
        srv.proc.kill('SIGUSR2');
        for (let i = 0; i < 50; i++) {
          const ls = srv.output.split('\n').filter((l) => l.startsWith('{"cycles"'));
          if (ls.length > before) return JSON.parse(ls.at(-1)!) as LoopDelay;
          await sleep(20);
        }
        return undefined;
      };
      try {
        await sleep(3000);
        // idle
        if (server === 'pvtree') srv.proc.kill('SIGUSR1');
        const probeIdle = node('probe', { n: N_PROBE, gap: GAP, ops: ops.join(',') }, env);
        const idle = JSON.parse(await probeIdle.line(/^\{/, 600_000)) as ProbeResult;
        const peerIdle = bin ? await peerProbe(bin, env, N_PROBE, GAP, ops) : undefined;
        const loopIdle = await loopDelay();
        const rssIdle = rssMB(pid);
        // loaded
        const names = Array.from({ length: PVS }, (_, i) => pvName(i));
        const eaters =
          readers === 'pvtree'
            ? Array.from({ length: CLIENTS }, () => node('watch', { pvs: PVS, conns: 1, seconds: 1e6, value: 'count' }, env))
            : Array.from({ length: CLIENTS }, () => new Child(join(bin!, 'eatspam'), names, env));
        if (readers === 'pvtree') for (const e of eaters) await e.line(/^measuring/);
        else await sleep(3000);
        const cpu0 = cpuSeconds(pid);
        const t0 = performance.now();
        if (server === 'pvtree') srv.proc.kill('SIGUSR1');
        let rssMax = rssMB(pid);
        const rssTimer = setInterval(() => (rssMax = Math.max(rssMax, rssMB(pid))), 250);
        const probeLoaded = node('probe', { n: N_PROBE, gap: GAP, ops: ops.join(',') }, env);
        const loaded = JSON.parse(await probeLoaded.line(/^\{/, 600_000)) as ProbeResult;
        const peerLoaded = bin ? await peerProbe(bin, env, N_PROBE, GAP, ops) : undefined;
        const left = seconds * 1000 - (performance.now() - t0);
        if (left > 0) await sleep(left);
        clearInterval(rssTimer);
        const cpu = cpuSeconds(pid) - cpu0;
        const dt = (performance.now() - t0) / 1000;
        const loopLoaded = await loopDelay();
        for (const e of eaters) e.proc.kill('SIGINT');
        await Promise.all(eaters.map((e) => e.exited));
        const got: Array<{ rate: number; minPerPv: number }> = [];
        for (const e of eaters) {
          if (readers === 'pvxs') {
            const st = eatspamStats(e.output);
            got.push({ rate: st.total, minPerPv: st.minPerPv });
          } else {
            const l = e.output.split('\n').find((x) => x.startsWith('{'));
            if (!l) continue;
            const r = JSON.parse(l) as WatchResult;
            got.push({ rate: r.updates / r.seconds, minPerPv: r.minPerSub / r.seconds });
          }
        }
        const label = `${server}, 8 ${readers === 'pvtree' ? 'pvtree monitors' : 'pvxs eatspam'}`;
        const row = (who: string, idleT: PeerTimes, loadedT: PeerTimes) => {
          for (const k of ops) {
            const i = median(idleT[k]);
            const l = median(loadedT[k]);
            opRows.push([`${label}: ${who} ${k}`, fmtMs(i), fmtMs(l), fmtMs(pct(loadedT[k], 0.9)), l >= FAILED ? '—' : `${(l / i).toFixed(2)}×`]);
          }
        };
        {
          const i = median(idle.wake);
          const l = median(loaded.wake);
          opRows.push([`${label}: pvtree prober's own timer lateness`, fmt(i, 1), fmt(l, 1), fmt(pct(loaded.wake, 0.9), 1), '']);
        }
        row('pvtree client, fresh', idle.fresh, loaded.fresh);
        row('pvtree client, connected', idle.connected, loaded.connected);
        if (peerIdle && peerLoaded) row('pvxs tool', peerIdle, peerLoaded);
        const rates = got.map((g) => g.rate);
        clientRows.push([
          label,
          fmt(rates.reduce((a, x) => a + x, 0)),
          rates.length ? `${fmt(Math.min(...rates))} – ${fmt(Math.max(...rates))}` : '—',
          got.length ? fmt(Math.min(...got.map((g) => g.minPerPv)), 2) : '—',
          fmt((cpu / dt) * 100),
          `${fmt(rssIdle)} → ${fmt(rssMax)}`,
          loopIdle && loopLoaded ? `${fmt(loopIdle.loopP99, 1)} → ${fmt(loopLoaded.loopP99, 1)} (max ${fmt(loopLoaded.loopMax, 0)})` : '—',
        ]);
      } catch (e) {
        console.error(`overload ${server} with ${readers} readers: ${(e as Error).stack ?? e}`);
        clientRows.push([`${server}, 8 ${readers} readers`, 'run failed', '', '', '', '', '']);
      } finally {
        await srv.stop();
      }
    }
  }
  table(
    `overload: ${PVS} PVs set at 10 Hz, 8 clients monitoring all of them (160k updates/s offered); each operation ${N_PROBE}×, ${GAP} ms apart; median and p90 ms`,
    ['server, readers: prober operation', 'idle median', 'loaded median', 'loaded p90', 'loaded / idle'],
    opRows,
  );
  table(
    'overload: what the monitoring clients got, and the server',
    ['server, readers', 'delivered updates/s (all)', 'per client', 'slowest PV on any client, updates/s', 'server CPU %', 'server RSS MB (idle → max)', 'server event-loop delay p99 ms (idle → loaded)'],
    clientRows,
  );
}

// ---------------------------------------------------------------- main

const [mode, ...rest] = process.argv.slice(2);
if (mode === 'server') await serverMain(args(rest));
else if (mode === 'watch') await watchMain(args(rest)); else if (mode === 'probe') await probeMain(args(rest));
else if (mode === 'many') {
  await manyMain(Number(rest[0] ?? 10));
  process.exit(0);
} else if (mode === 'overload') {
  await overloadMain(Number(rest[0] ?? 30), rest[1]);
  process.exit(0);
} else {
  console.error('usage: bench/pva-load.ts many [seconds] | overload [seconds] [pvtree|softIocPVX]');
  process.exit(1);
}
