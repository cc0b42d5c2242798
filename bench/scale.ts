// Large trees: start-up time and memory of `pvtree serve` (and softIocPVX with the equivalent
// database), what the tree and the server each cost per PV, memory after a client read every PV,
// and polling 100k remote variables at 1 Hz. See bench/README.md ("bench/scale.ts").
//
//   node --import tsx bench/scale.ts                    every table, 10k / 100k / 300k PVs
//   node --import tsx bench/scale.ts startup [sizes]    `pvtree serve` (and softIocPVX) to serving
//   node --import tsx bench/scale.ts parts [sizes]      tree and server separately, in one process
//   node --import tsx bench/scale.ts client [n]         memory idle, with one client on every PV, after
//   node --import tsx bench/scale.ts poll [n] [s]       polling n remote variables at 1 Hz for s seconds
//   options: --from dist|src (default: dist/ when built from the current sources, else src through tsx)
//
// Every measurement runs in a fresh child process, one at a time, on 127.0.0.1 with free ports.
// With PVA_PEER_BIN naming a folder holding softIocPVX, the start-up table has its rows too.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const PER_DEVICE = 1000;
const LOOPBACK: Record<string, string> = {
  EPICS_PVAS_INTF_ADDR_LIST: '127.0.0.1', EPICS_PVAS_BEACON_ADDR_LIST: '127.0.0.1', EPICS_PVAS_AUTO_BEACON_ADDR_LIST: 'NO',
  EPICS_PVA_ADDR_LIST: '127.0.0.1', EPICS_PVA_AUTO_ADDR_LIST: 'NO',
  EPICS_CAS_INTF_ADDR_LIST: '127.0.0.1', EPICS_CAS_BEACON_ADDR_LIST: '127.0.0.1', EPICS_CAS_AUTO_BEACON_ADDR_LIST: 'NO',
  EPICS_CA_ADDR_LIST: '127.0.0.1', EPICS_CA_AUTO_ADDR_LIST: 'NO',
};

type From = 'dist' | 'src';

// ---------------------------------------------------------------- the tree (the issue's shape)

/** URL of a module of pvtree (`tree/index`, `epics/index` …) built or as source. */
function libUrl(from: From, path: string): string {
  return pathToFileURL(join(REPO, from, `${path}.${from === 'dist' ? 'js' : 'ts'}`)).href;
}

/**
 * The tree module `pvtree serve` (and the parts child) loads: devices of 1000 variables, a quarter
 * each UInt32, Float64 with limits, alarm limits and units, str, Int16 (what softIocPVX gets as
 * longout, ao, stringout, longout records).
 */
function treeModule(n: number, from: From): string {
  return `import { Root, Device, LocalVariable } from ${JSON.stringify(libUrl(from, 'tree/index'))};
export const root = new Root({ name: 'Scale', pollEn: false });
for (let d = 0; d < ${n / PER_DEVICE}; d++) {
  const dev = new Device({ name: \`Dev\${d}\` });
  for (let i = 0; i < ${PER_DEVICE}; i += 4) {
    dev.add(
      new LocalVariable({ name: \`U\${i}\`, typeStr: 'UInt32', value: 0 }),
      new LocalVariable({ name: \`F\${i}\`, value: 0.5, units: 'mA', minimum: -10, maximum: 10, lowAlarm: -9, highAlarm: 9, disp: '{:.3f}' }),
      new LocalVariable({ name: \`S\${i}\`, value: 'idle' }),
      new LocalVariable({ name: \`I\${i}\`, typeStr: 'Int16', value: 0 }),
    );
  }
  root.add(dev);
}
`;
}

/**
 * The polling tree: devices of 1000 32-bit read-only registers, one per word as a register map
 * lists them (one block, so one read, each), all polled every second.
 */
function pollTreeModule(n: number, from: From): string {
  return `import { Root, Device, RemoteVariable } from ${JSON.stringify(libUrl(from, 'tree/index'))};
export const root = new Root({ name: 'Poll', pollEn: true });
for (let d = 0; d < ${n / PER_DEVICE}; d++) {
  const dev = new Device({ name: \`Dev\${d}\`, offset: d * 0x10000 });
  for (let i = 0; i < ${PER_DEVICE}; i++) dev.add(new RemoteVariable({ name: \`R\${i}\`, offset: i * 4, mode: 'RO', pollInterval: 1 }));
  root.add(dev);
}
`;
}

/** The same PVs as records (softIocPVX serves each over pvAccess and Channel Access). */
function iocDatabase(n: number): string {
  const out: string[] = [];
  for (let d = 0; d < n / PER_DEVICE; d++) {
    const p = `scale:Scale:Dev${d}`;
    for (let i = 0; i < PER_DEVICE; i += 4) {
      out.push(
        `record(longout, "${p}:U${i}") {}`,
        `record(ao, "${p}:F${i}") { field(VAL, "0.5") field(EGU, "mA") field(PREC, "3") field(DRVL, "-10") field(DRVH, "10") ` +
          `field(LOPR, "-10") field(HOPR, "10") field(LOLO, "-9") field(HIHI, "9") field(LLSV, "MAJOR") field(HHSV, "MAJOR") }`,
        `record(stringout, "${p}:S${i}") { field(VAL, "idle") }`,
        `record(longout, "${p}:I${i}") {}`,
      );
    }
  }
  return out.join('\n') + '\n';
}

// ---------------------------------------------------------------- helpers

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function portsEnv(): Promise<Record<string, string>> {
  const [pva, pvaUdp, ca] = [await freePort(), await freePort(), await freePort()];
  return {
    ...LOOPBACK,
    EPICS_PVAS_SERVER_PORT: String(pva), EPICS_PVA_SERVER_PORT: String(pva),
    EPICS_PVAS_BROADCAST_PORT: String(pvaUdp), EPICS_PVA_BROADCAST_PORT: String(pvaUdp),
    EPICS_CAS_SERVER_PORT: String(ca), EPICS_CA_SERVER_PORT: String(ca),
  };
}

/** VmRSS and VmHWM of a process, bytes. */
function procMem(pid: number): { rss: number; hwm: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/** Spawns a process and resolves when a line of its output (stdout or stderr) matches, with the ms since spawn. */
function startUntil(cmd: string, args: string[], env: NodeJS.ProcessEnv, ready: RegExp, timeoutMs = 180_000): Promise<{ child: ChildProcess; ms: number; line: string }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd}: not ready after ${timeoutMs} ms\n${err}`));
    }, timeoutMs);
    const onLine = (line: string): void => {
      if (err.length < 10_000) err += `${line}\n`;
      if (!ready.test(line)) return;
      clearTimeout(timer);
      resolve({ child, ms: performance.now() - t0, line });
    };
    createInterface({ input: child.stdout! }).on('line', onLine);
    createInterface({ input: child.stderr! }).on('line', onLine);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} exited (${code}) before it was ready\n${err}`));
    });
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.removeAllListeners('exit'); // startUntil's: the child is expected to end now
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGINT');
  const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await gone;
  clearTimeout(t);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const MB = (b: number): string => (b / 1e6).toFixed(0);
const n1 = (x: number): string => x.toFixed(1);
const n0 = (x: number): string => Math.round(x).toLocaleString('en-US');
const sizeName = (n: number): string => `${n / 1000}k`;

function table(head: string[], rows: string[][], align: ('l' | 'r')[]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => (align[i] === 'l' ? c.padEnd(w[i]) : c.padStart(w[i]))).join(' | ')} |`;
  const sep = `|${w.map((x, i) => (align[i] === 'l' ? `:${'-'.repeat(x + 1)}` : `${'-'.repeat(x + 1)}:`)).join('|')}|`;
  return [line(head), sep, ...rows.map(line)].join('\n');
}

/** Newest modification time of the TypeScript sources under src/. */
function newestSource(dir = join(REPO, 'src')): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newestSource(p));
    else if (e.name.endsWith('.ts')) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

/** dist/ when it is built from the sources as they are now, else src. */
function defaultFrom(): { from: From; note: string } {
  const bundle = join(REPO, 'dist/cli/pvtree.js');
  const info = join(REPO, 'dist/.tsbuildinfo');
  if (!existsSync(bundle) || !existsSync(info)) return { from: 'src', note: 'dist/ is not built: running the sources through tsx' };
  if (Math.min(statSync(bundle).mtimeMs, statSync(info).mtimeMs) < newestSource()) {
    return { from: 'src', note: "dist/ is older than src/ (run 'npm run build' to measure the built package): running the sources through tsx" };
  }
  return { from: 'dist', note: 'the built package (dist/)' };
}

// ---------------------------------------------------------------- start-up: `pvtree serve` and softIocPVX

interface StartRow { server: string; n: number; ms: number; rss: number; rssSettled: number; hwm: number }

async function startPvtree(n: number, from: From, dir: string): Promise<StartRow> {
  const tree = join(dir, `tree-${n}.mjs`);
  writeFileSync(tree, treeModule(n, from));
  const env = { ...process.env, ...(await portsEnv()), PVTREE_LOG: 'warn', PVTREE_FROM_SOURCE: from === 'src' ? '1' : '0' };
  const { child, ms } = await startUntil(process.execPath, [join(REPO, 'bin/pvtree.mjs'), 'serve', tree, '--base', 'scale'], env, /^pvtree: serving \d+ PVs/);
  try {
    const at = procMem(child.pid!);
    await sleep(2000);
    const later = procMem(child.pid!);
    return { server: `pvtree serve (${from === 'dist' ? 'built' : 'sources, tsx'})`, n, ms, rss: at.rss, rssSettled: later.rss, hwm: later.hwm };
  } finally {
    await stopChild(child);
  }
}

async function startIoc(n: number, bin: string, dir: string): Promise<StartRow> {
  const db = join(dir, `ioc-${n}.db`);
  writeFileSync(db, iocDatabase(n));
  const env = { ...process.env, ...(await portsEnv()) };
  const { child, ms } = await startUntil(join(bin, 'softIocPVX'), ['-S', '-d', db], env, /iocRun: All initialization complete/);
  try {
    const at = procMem(child.pid!);
    await sleep(2000);
    const later = procMem(child.pid!);
    return { server: 'softIocPVX', n, ms, rss: at.rss, rssSettled: later.rss, hwm: later.hwm };
  } finally {
    await stopChild(child);
  }
}

async function startupTable(sizes: number[], from: From, extraSrc: boolean): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'pvtree-scale-'));
  const rows: StartRow[] = [];
  const bin = process.env.PVA_PEER_BIN ?? process.env.EPICS_PEERS_BIN;
  const ioc = bin && existsSync(join(bin, 'softIocPVX')) ? bin : undefined;
  try {
    // each server once with nothing to serve: what a PV costs is what comes on top
    for (const n of [0, ...sizes]) {
      rows.push(await startPvtree(n, from, dir));
      if (extraSrc && from === 'dist') rows.push(await startPvtree(n, 'src', dir));
      if (ioc) rows.push(await startIoc(n, ioc, dir));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const empty = new Map(rows.filter((r) => r.n === 0).map((r) => [r.server, r]));
  const head = ['server', 'PVs', 'start → serving (ms)', 'RSS serving (MB)', 'RSS 2 s later (MB)', 'peak RSS (MB)', 'µs per PV', 'RSS per PV (bytes)'];
  const body = rows.map((r) => {
    const e = empty.get(r.server)!;
    const per = (x: number, x0: number, scale = 1): string => (r.n ? n0(((x - x0) * scale) / r.n) : '');
    return [r.server, r.n ? sizeName(r.n) : 'none', n0(r.ms), MB(r.rss), MB(r.rssSettled), MB(r.hwm), per(r.ms, e.ms, 1000), per(r.rssSettled, e.rssSettled)];
  });
  let text = table(head, body, ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r']);
  text += '\n\nPer PV: above the same server with nothing to serve (first rows).';
  if (!ioc) text += '\n\n(softIocPVX rows: set PVA_PEER_BIN to a folder holding softIocPVX)';
  return text;
}

// ---------------------------------------------------------------- in one process: tree and server separately

interface Mem { rss: number; heap: number }
interface PartsResult {
  pvs: number;
  loadMs: number;
  treeMs: number;
  serverMs: number;
  servingMs: number;
  base: Mem;
  tree: Mem;
  served: Mem;
  rssServing: number;
  pvaPort: number;
}

const CHILD = join(REPO, 'bench/scale-child.mjs');

/** Node arguments for a child running pvtree `from` dist (plain) or src (through tsx). */
function nodeArgs(from: From, ...more: string[]): string[] {
  return [...(from === 'src' ? ['--import', 'tsx'] : []), ...more];
}

/** Runs a parts child (scale-child.mjs); returns its report and a way to ask for memory and to end it. */
async function parts(n: number, from: From): Promise<{ r: PartsResult; mem(): Promise<Mem>; end(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'pvtree-scale-'));
  const tree = join(dir, 'tree.mjs');
  writeFileSync(tree, treeModule(n, from));
  const child = spawn(process.execPath, nodeArgs(from, '--expose-gc', CHILD, 'parts', libUrl(from, 'epics/index'), pathToFileURL(tree).href), {
    env: { ...process.env, ...(await portsEnv()) },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async (): Promise<string> => {
    const l = await lines.next();
    if (l.done) throw new Error('the parts child ended');
    return l.value;
  };
  const r = JSON.parse(await next()) as PartsResult;
  return {
    r,
    mem: async () => {
      child.stdin!.write('mem\n');
      return JSON.parse(await next()) as Mem;
    },
    end: async () => {
      child.stdin!.end('exit\n');
      await new Promise((res) => child.once('exit', res));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function partsTable(sizes: number[], from: From): Promise<string> {
  const rows: string[][] = [];
  for (const n of sizes) {
    const p = await parts(n, from);
    await p.end();
    const r = p.r;
    const treeB = (r.tree.heap - r.base.heap) / n;
    const serverB = (r.served.heap - r.tree.heap) / r.pvs;
    rows.push([
      sizeName(n), n0(r.pvs), n0(r.loadMs), n0(r.treeMs), n1((r.treeMs * 1000) / n), n0(treeB),
      n0(r.serverMs), n1((r.serverMs * 1000) / r.pvs), n0(serverB),
    ]);
  }
  const head = ['size', 'PVs served', 'load (ms)', 'tree (ms)', 'tree µs/PV', 'tree B/PV', 'server (ms)', 'server µs/PV', 'server B/PV'];
  return (
    table(head, rows, ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r']) +
    '\n\nload: from process start until the modules are imported. B/PV: heap after a full GC, tree over' +
    '\nthe loaded modules, server over the tree (what the PVs keep; RSS is in the start-up table).'
  );
}

// ---------------------------------------------------------------- memory after one client read every PV

async function clientTable(n: number, from: From): Promise<string> {
  const { PvaClient } = await import('../src/pva/client/index.ts');
  const p = await parts(n, from);
  const rows: string[][] = [];
  try {
    const idle = await p.mem();
    rows.push(['idle (after start-up)', MB(idle.heap), MB(idle.rss), '']);
    const names: string[] = [];
    for (let d = 0; d < n / PER_DEVICE; d++) for (let i = 0; i < PER_DEVICE; i += 4) for (const k of ['U', 'F', 'S', 'I']) names.push(`scale:Scale:Dev${d}:${k}${i}`);
    const client = new PvaClient({ nameServers: [`127.0.0.1:${p.r.pvaPort}`], addrList: [], autoAddrList: false, beacons: false, timeout: 30 });
    const t0 = performance.now();
    let next = 0;
    let failed = 0;
    const worker = async (): Promise<void> => {
      while (next < names.length) {
        const name = names[next++];
        try {
          await client.get(name);
        } catch {
          failed++;
        }
      }
    };
    await Promise.all(Array.from({ length: 64 }, worker));
    const getS = (performance.now() - t0) / 1000;
    const open = await p.mem();
    rows.push([`one client got every PV once (${n0(names.length)} gets in ${n1(getS)} s, ${failed} failed), channels open`, MB(open.heap), MB(open.rss), `${n1((open.heap / idle.heap - 1) * 100)} %`]);
    await client.close();
    let waited = 0;
    for (const s of [1, 10, 30]) {
      await sleep((s - waited) * 1000);
      waited = s;
      const after = await p.mem();
      rows.push([`the client disconnected, ${s} s later`, MB(after.heap), MB(after.rss), `${n1((after.heap / idle.heap - 1) * 100)} %`]);
    }
  } finally {
    await p.end();
  }
  return table(['server process, after a full GC', 'heap (MB)', 'RSS (MB)', 'heap vs idle'], rows, ['l', 'r', 'r', 'r']);
}

// ---------------------------------------------------------------- polling 100k remote variables at 1 Hz

interface PollResult { seconds: number; cpuPct: number; cycles: { wall: number; cpu: number; start: number }[]; rss: number }

async function pollTable(n: number, seconds: number, from: From): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'pvtree-scale-'));
  const tree = join(dir, 'poll.mjs');
  writeFileSync(tree, pollTreeModule(n, from));
  const child = spawn(process.execPath, nodeArgs(from, CHILD, 'poll', libUrl(from, 'epics/index'), pathToFileURL(tree).href, String(seconds)), {
    env: { ...process.env, ...(await portsEnv()) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise((r) => child.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
  const r = JSON.parse(out.trim().split('\n').pop()!) as PollResult;
  const walls = r.cycles.map((c) => c.wall).sort((a, b) => a - b);
  const cpus = r.cycles.map((c) => c.cpu).sort((a, b) => a - b);
  const periods = r.cycles.slice(1).map((c, i) => c.start - r.cycles[i].start);
  const mean = (a: number[]): number => a.reduce((x, y) => x + y, 0) / Math.max(1, a.length);
  const within = r.cycles.filter((c) => c.wall < 1000).length;
  const rows = [[
    n0(n), String(r.cycles.length), n1(r.cpuPct), n0(walls[walls.length >> 1] ?? NaN), n0(walls[walls.length - 1] ?? NaN),
    n0(cpus[cpus.length >> 1] ?? NaN), n0(cpus[cpus.length - 1] ?? NaN), n0(mean(periods)), `${within} of ${r.cycles.length}`, MB(r.rss),
  ]];
  return table(
    ['variables', 'cycles', 'CPU % (one core)', 'cycle ms p50', 'cycle ms max', 'cycle CPU ms p50', 'cycle CPU ms max', 'start to start (ms)', 'within 1 s', 'RSS (MB)'],
    rows,
    ['r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
  );
}

// ---------------------------------------------------------------- main

async function main(argv: string[]): Promise<void> {
  const opt = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    if (i < 0) return undefined;
    const v = argv[i + 1];
    argv.splice(i, 2);
    return v;
  };
  const given = opt('--from') as From | undefined;
  const d = defaultFrom();
  const from: From = given ?? d.from;
  const [what = 'all', a, b] = argv;
  const sizes = (s: string | undefined): number[] => (s ? s.split(',').map(Number) : [10_000, 100_000, 300_000]);
  const load = (): string => `load average ${loadavg().map((x) => x.toFixed(1)).join(' ')} on ${cpus().length} CPUs`;
  console.log(`pvtree from ${from === 'dist' ? 'dist/' : 'src/ (tsx)'}${given ? '' : ` (${d.note})`}; ${load()}\n`);
  if (what === 'all' || what === 'startup') console.log(`${await startupTable(sizes(what === 'startup' ? a : undefined), from, from === 'dist')}\n`);
  if (what === 'all' || what === 'parts') console.log(`${await partsTable(sizes(what === 'parts' ? a : undefined), from)}\n`);
  if (what === 'all' || what === 'client') console.log(`${await clientTable(Number(what === 'client' && a ? a : 100_000), from)}\n`);
  if (what === 'all' || what === 'poll') console.log(`${await pollTable(Number(what === 'poll' && a ? a : 100_000), Number(what === 'poll' && b ? b : 20), from)}\n`);
  console.log(`(${load()})`);
}

await main(process.argv.slice(2));
