// The web socket server under load: N clients each subscribed to every one of P PVs that change
// at H Hz (pvws JSON updates over loopback), then one stalled client on top.
//
//   node --import tsx bench/web.ts                 the table (50 clients × 1000 PVs × 10 Hz, and
//                                                  5 clients for comparison; about 90 s)
//   node --import tsx bench/web.ts 50 1000 10 10   clients, PVs, Hz, seconds per measurement
//   node --import tsx bench/web.ts chart           the page's strip chart in Debian's chromium:
//                                                  20 traces at 10 Hz, time per redraw for full
//                                                  1, 5 and 10 minute windows
//
// Three processes: the server (a tree of P Float64 variables set H times a second, EpicsPvServer
// without EPICS sockets, WebServer on 127.0.0.1), the clients (plain `ws` clients counting the
// updates they receive), and this one, which reads the server's CPU time and RSS from /proc and
// opens the stalled client (subscribed to everything, then never reading its socket).
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { fmt, table } from './util.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const names = (p: number) => Array.from({ length: p }, (_, i) => `bench:R:D:v${i}`);

// ---------------------------------------------------------------- the server process

async function serverMain(pvs: number, hz: number): Promise<void> {
  const { Root, Device, LocalVariable } = await import('../src/tree/index.ts');
  const { EpicsPvServer } = await import('../src/epics/index.ts');
  const { WebServer } = await import('../src/web/index.ts');
  const { memoryLogger } = await import('../src/pva/server/index.ts');
  const root = new Root({ name: 'R', pollEn: false });
  const d = new Device({ name: 'D' });
  root.add(d);
  const vars = Array.from({ length: pvs }, (_, i) => new LocalVariable({ name: `v${i}`, typeStr: 'Float64', value: 0, mode: 'RO', units: 'V' }));
  for (const v of vars) d.add(v);
  const log = memoryLogger();
  const epics = new EpicsPvServer({ base: 'bench', root, protocols: [], logger: log });
  const web = new WebServer({ epics, port: 0, logger: log, maxClients: 10000 });
  root.addProtocol(epics);
  root.addProtocol(web);
  await root.start();
  let n = 0;
  setInterval(() => {
    n++;
    for (let i = 0; i < vars.length; i++) void vars[i].set(n + i / 1000, { force: true });
  }, 1000 / hz);
  process.on('message', (m: { status?: boolean; ticks?: boolean }) => {
    if (m.status) process.send!({ status: web.status().clients.map((c) => ({ pending: c.pending, bufferedBytes: c.bufferedBytes, sent: c.updatesSent })) });
    if (m.ticks) process.send!({ ticks: n });
  });
  process.send!({ port: web.port });
}

// ---------------------------------------------------------------- the client process

async function clientsMain(port: number, clients: number, pvs: number): Promise<void> {
  let count = 0;
  const sockets: WebSocket[] = [];
  let firsts = 0;
  for (let i = 0; i < clients; i++) {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/pvws/pv`, { perMessageDeflate: false });
    sockets.push(ws);
    let seen = 0;
    ws.on('message', () => {
      count++;
      if (++seen === pvs) firsts++;
    });
    await new Promise<void>((r, j) => {
      ws.once('open', () => r());
      ws.once('error', j);
    });
    ws.send(JSON.stringify({ type: 'subscribe', pvs: names(pvs) }));
  }
  process.on('message', (m: { read?: boolean }) => {
    if (m.read) {
      process.send!({ count, firsts });
      count = 0;
    }
  });
  process.send!({ ready: true });
}

// ---------------------------------------------------------------- the measuring process

/** CPU seconds (user + system) and RSS in bytes of a process, from /proc. */
function procStats(pid: number): { cpu: number; rss: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(f[11]) + Number(f[12]); // utime, stime
  const rss = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
  return { cpu: ticks / 100, rss };
}

function message<T>(p: ChildProcess, key: string): Promise<T> {
  return new Promise((resolve) => {
    const on = (m: Record<string, unknown>) => {
      if (key in m) {
        p.off('message', on);
        resolve(m as T);
      }
    };
    p.on('message', on);
  });
}

const here = new URL(import.meta.url).pathname;
const nodeArgs = ['--import', 'tsx'];

async function scenario(clients: number, pvs: number, hz: number, seconds: number, stalledToo: boolean): Promise<string[][]> {
  const server = fork(here, ['server', String(pvs), String(hz)], { execArgv: nodeArgs, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const { port } = await message<{ port: number }>(server, 'port');
  const cl = fork(here, ['clients', String(port), String(clients), String(pvs)], { execArgv: nodeArgs, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await message(cl, 'ready');
  const read = async () => {
    cl.send({ read: true });
    return message<{ count: number; firsts: number }>(cl, 'count');
  };
  // every client has its first update of every PV, then a warm-up
  for (let t0 = Date.now(); (await read()).firsts < clients; await sleep(250)) {
    if (Date.now() - t0 > 60000) throw new Error('clients did not get their first updates');
  }
  await sleep(2000);
  const ticks = async () => {
    server.send({ ticks: true });
    return (await message<{ ticks: number }>(server, 'ticks')).ticks;
  };
  const measure = async (label: string, extra?: () => Promise<string>) => {
    await read();
    const n0 = await ticks();
    const a = procStats(server.pid!);
    const ca = procStats(cl.pid!);
    const t0 = performance.now();
    let rssMin = a.rss;
    let rssMax = a.rss;
    const end = t0 + seconds * 1000;
    while (performance.now() < end) {
      await sleep(Math.min(1000, end - performance.now()));
      const s = procStats(server.pid!);
      rssMin = Math.min(rssMin, s.rss);
      rssMax = Math.max(rssMax, s.rss);
    }
    const { count } = await read();
    const dt = (performance.now() - t0) / 1000;
    // what the tree changed (its timer slips on a loaded machine), times the subscribers
    const offered = ((await ticks()) - n0) * pvs * clients / dt;
    const b = procStats(server.pid!);
    const c = procStats(cl.pid!);
    const MB = (x: number) => fmt(x / 2 ** 20, 0);
    return [
      label,
      fmt(offered / pvs / clients, 1),
      fmt(offered),
      fmt(count / dt),
      `${fmt((100 * count) / dt / offered, 0)} %`,
      `${fmt((100 * (b.cpu - a.cpu)) / dt, 0)} %`,
      `${fmt((100 * (c.cpu - ca.cpu)) / dt, 0)} %`,
      `${MB(b.rss)} (${MB(rssMin)}–${MB(rssMax)})`,
      extra ? await extra() : '',
    ];
  };
  const rows = [await measure(`${clients} clients × ${pvs} PVs × ${hz} Hz`)];
  if (stalledToo) {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/pvws/pv`, { perMessageDeflate: false });
    await new Promise((r) => ws.once('open', r));
    let got = 0;
    ws.on('message', () => void got++);
    ws.send(JSON.stringify({ type: 'subscribe', pvs: names(pvs) }));
    while (got < pvs) await sleep(20);
    ws.pause(); // never reads again: kernel buffers fill, then the server holds back
    const status = async () => {
      server.send({ status: true });
      const { status: all } = await message<{ status: { pending: number; bufferedBytes: number; sent: number }[] }>(server, 'status');
      return all.reduce((a, c) => (c.sent < a.sent ? c : a));
    };
    const tStall = performance.now();
    while ((await status()).bufferedBytes === 0) {
      if (performance.now() - tStall > 180_000) throw new Error('the stalled client never backed up the server');
      await sleep(500);
    }
    const backedUp = (performance.now() - tStall) / 1000;
    rows.push(
      await measure(`+ 1 stalled client`, async () => {
        const st = await status();
        return `held back after ${fmt(backedUp, 0)} s (kernel buffers full); then ${fmt(st.pending)} pending, ${fmt(st.bufferedBytes / 1024)} KiB buffered`;
      }),
    );
    ws.terminate();
  }
  cl.kill();
  server.kill();
  return rows;
}

async function main(): Promise<void> {
  const [clients = 50, pvs = 1000, hz = 10, seconds = 10] = process.argv.slice(2).map(Number);
  const rows = [...(await scenario(clients, pvs, hz, seconds, true))];
  if (process.argv.length <= 2) rows.push(...(await scenario(5, pvs, hz, seconds, false)));
  table(
    'pvws web socket: updates delivered (JSON over loopback; server, clients and this process on one machine)',
    ['scenario', 'tree Hz', 'offered/s', 'delivered/s', 'share', 'server CPU', 'clients CPU', 'server RSS MiB (min–max)', 'stalled client'],
    rows,
  );
}

// ---------------------------------------------------------------- the strip chart in a browser

async function chartMain(): Promise<void> {
  const { default: puppeteer } = await import('puppeteer-core');
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const server = fork(here, ['server', '20', '10'], { execArgv: nodeArgs, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const { port } = await message<{ port: number }>(server, 'port');
  const profile = mkdtempSync(join(tmpdir(), 'pvtree-bench-chart-'));
  const browser = await puppeteer.launch({
    executablePath: process.env.PVTREE_CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    userDataDir: profile,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const rows: string[][] = [];
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1366, height: 800 });
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.waitForFunction('window.pvtree !== undefined');
    // all 20 variables in the chart (the tree shows them: a small tree opens its devices)
    await page.evaluate(`(() => { for (let i = 0; i < 20; i++) window.pvtree.chart.add('bench:R:D:v' + i, 'v' + i); })()`);
    await page.waitForFunction(`window.pvtree.chart.xs.length > 30 && window.pvtree.chart.ys.every((y) => y.at(-1) !== null)`, { timeout: 30000 });
    for (const minutes of [1, 5, 10]) {
      // a full window of samples (10 Hz), then time the redraws the page does at every sample
      const ms = (await page.evaluate(`(async () => {
        const c = window.pvtree.chart;
        c.paused = true;
        const n = ${minutes} * 600;
        const now = Date.now() / 1000;
        c.setWindow(${minutes * 60});
        c.xs.length = 0;
        for (const y of c.ys) y.length = 0;
        for (let i = 0; i < n; i++) {
          c.xs.push(now - (n - i) / 10);
          c.ys.forEach((y, k) => y.push(Math.sin(i / 50 + k) * 10 + k));
        }
        const t = [];
        for (let r = 0; r < 40; r++) {
          const t0 = performance.now();
          c.plot.batch(() => c.draw()); // uPlot redraws now instead of in a microtask
          t.push(performance.now() - t0);
          await new Promise((res) => requestAnimationFrame(res));
        }
        c.paused = false;
        t.sort((a, b) => a - b);
        return [t[Math.floor(t.length / 2)], t[Math.floor(t.length * 0.9)]];
      })()`)) as number[];
      rows.push([`20 traces, ${minutes} min window (${fmt(minutes * 600 * 20)} points)`, fmt(ms[0], 1), fmt(ms[1], 1), `${fmt((ms[0] / 100) * 100, 0)} %`]);
    }
  } finally {
    await browser.close();
    server.kill();
    rmSync(profile, { recursive: true, force: true });
  }
  table('the strip chart in chromium (a redraw at every 100 ms sample)', ['chart', 'ms per redraw (median)', '90th percentile', 'of the 100 ms between samples'], rows);
}

const mode = process.argv[2];
if (mode === 'chart') await chartMain();
else if (mode === 'server') void serverMain(Number(process.argv[3]), Number(process.argv[4]));
else if (mode === 'clients') void clientsMain(Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5]));
else await main();
