// Start-up cost of the command line: median wall time of whole commands, side by side in one run.
//   npm run build && node --import tsx bench/cli.ts [runs]        (default 21 runs of each)
//   PVA_PEER_BIN=/path/to/pvxs/bin node --import tsx bench/cli.ts   adds pvxget
//
// A pvtree server (examples/demo.ts) runs in a child process on loopback with its own search port;
// then, round after round, each command is started once (interleaved, so a slow moment of the
// machine hits every row alike) and timed from spawn to exit:
//   node -e 0                     Node's own floor
//   pvtree get / put / info       bin/pvtree.mjs running dist/ (the bundled CLI)
//   pvtree get from sources       PVTREE_FROM_SOURCE=1: the TypeScript sources through tsx (before the build existed)
//   npx pvtree get                what the README types: npm's launcher on top
//   pvxget                        pvxs, when PVA_PEER_BIN names its bin folder
// Every run must exit 0 and print the PV; the table gives min / median / max in ms, the median's
// distance from Node's floor and its ratio to pvxget.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { freeUdpPort } from '../test/util/net.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const RUNS = Number(process.argv[2] ?? 21);
const PV = 'pvtree:Demo:Fpga:Uptime';
const PUT_PV = 'pvtree:Demo:Environment:FanSpeed';
const BIN = join(ROOT, 'bin/pvtree.mjs');

if (!existsSync(join(ROOT, 'dist/cli/pvtree.js'))) {
  console.error('bench/cli.ts times the built command line: run `npm run build` first');
  process.exit(1);
}

const udpPort = await freeUdpPort();
const env: NodeJS.ProcessEnv = {
  ...process.env,
  EPICS_PVA_ADDR_LIST: '127.0.0.1',
  EPICS_PVA_AUTO_ADDR_LIST: 'NO',
  EPICS_PVA_NAME_SERVERS: '',
  EPICS_PVA_BROADCAST_PORT: String(udpPort),
  EPICS_PVAS_BROADCAST_PORT: String(udpPort),
  EPICS_PVAS_SERVER_PORT: '0',
  EPICS_PVAS_BEACON_ADDR_LIST: '127.0.0.1',
  EPICS_PVAS_AUTO_BEACON_ADDR_LIST: 'NO',
  EPICS_PVAS_INTF_ADDR_LIST: '127.0.0.1',
  PVTREE_LOG: 'warn',
};
delete env.PVTREE_FROM_SOURCE;

const server = spawn(process.execPath, [BIN, 'serve', 'examples/demo.ts', '--protocols', 'pva'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'inherit'] });
let serverOut = '';
server.stdout.on('data', (d: Buffer) => (serverOut += d.toString()));
await new Promise<void>((resolve, reject) => {
  const t = setInterval(() => {
    if (/Ctrl-C stops/.test(serverOut)) {
      clearInterval(t);
      resolve();
    } else if (server.exitCode !== null) {
      clearInterval(t);
      reject(new Error(`the server exited: ${serverOut}`));
    }
  }, 50);
});

interface Row {
  label: string;
  cmd: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  /** What the output must contain. */
  expect: string;
  ms: number[];
}

const rows: Row[] = [
  { label: 'node -e 0', cmd: process.execPath, args: ['-e', '0'], expect: '', ms: [] },
  { label: 'pvtree get', cmd: process.execPath, args: [BIN, 'get', PV], expect: PV, ms: [] },
  { label: 'pvtree put', cmd: process.execPath, args: [BIN, 'put', PUT_PV, '0'], expect: 'New :', ms: [] },
  { label: 'pvtree info', cmd: process.execPath, args: [BIN, 'info', PV], expect: 'struct "epics:nt/NTScalar:1.0"', ms: [] },
  {
    label: 'pvtree get (sources via tsx)',
    cmd: process.execPath,
    args: [BIN, 'get', PV],
    env: { ...env, PVTREE_FROM_SOURCE: '1' },
    expect: PV,
    ms: [],
  },
  { label: 'npx pvtree get', cmd: 'npx', args: ['pvtree', 'get', PV], expect: PV, ms: [] },
];
const peerBin = process.env.PVA_PEER_BIN;
if (peerBin && existsSync(join(peerBin, 'pvxget'))) {
  rows.push({ label: 'pvxget (pvxs)', cmd: join(peerBin, 'pvxget'), args: [PV], expect: PV, ms: [] });
}

function once(r: Row, i: number): number {
  const args = r.label === 'pvtree put' ? [BIN, 'put', PUT_PV, String(1000 + i)] : r.args;
  const t0 = process.hrtime.bigint();
  const p = spawnSync(r.cmd, args, { cwd: ROOT, env: r.env ?? env, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (p.status !== 0 || !p.stdout.includes(r.expect)) {
    throw new Error(`${r.label}: exit ${p.status}\n${p.stdout}\n${p.stderr}`);
  }
  return ms;
}

try {
  for (const r of rows) once(r, 0); // warm-up: disk cache, npx resolution
  for (let i = 0; i < RUNS; i++) for (const r of rows) r.ms.push(once(r, i + 1));
} finally {
  server.kill('SIGINT');
}

const median = (a: number[]): number => {
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const floor = median(rows[0].ms);
const pvx = rows.find((r) => r.label.startsWith('pvxget'));
const pvxMedian = pvx ? median(pvx.ms) : undefined;
const f = (n: number): string => n.toFixed(0);

console.log(`pvtree CLI start-up: ${RUNS} interleaved runs of each command, wall ms from spawn to exit (Node ${process.version})\n`);
console.log('| command | median | min | max | median − node floor | median / pvxget |');
console.log('|---|---:|---:|---:|---:|---:|');
for (const r of rows) {
  const m = median(r.ms);
  const overFloor = r === rows[0] ? '' : `+${f(m - floor)}`;
  const ratio = pvxMedian ? `${(m / pvxMedian).toFixed(1)}×` : '';
  console.log(`| ${r.label} | ${f(m)} | ${f(Math.min(...r.ms))} | ${f(Math.max(...r.ms))} | ${overFloor} | ${ratio} |`);
}
