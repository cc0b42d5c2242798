// A guard on what a served PV costs in memory (issue: 100k PVs in less memory than an IOC). The
// served process is bench/scale-child.mjs (the one bench/scale.ts measures), in its own Node with
// --expose-gc, so its heap after a full GC holds only the tree and the server. The bounds are
// generous (several times today's figures, a tenth of what they were): they catch a PV that
// starts carrying its own pvData again, not noise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PvaClient } from '../../src/pva/client/index.ts';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const src = (p: string): string => pathToFileURL(join(REPO, 'src', p)).href;
const N = 10_000;

/** 10 devices of 1000 variables: UInt32, Float64 with limits and units, str, Int16 (as bench/scale.ts). */
const TREE = `import { Root, Device, LocalVariable } from ${JSON.stringify(src('tree/index.ts'))};
export const root = new Root({ name: 'Scale', pollEn: false });
for (let d = 0; d < ${N / 1000}; d++) {
  const dev = new Device({ name: \`Dev\${d}\` });
  for (let i = 0; i < 1000; i += 4) {
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

interface Mem { rss: number; heap: number }
interface Report { pvs: number; base: Mem; tree: Mem; served: Mem; pvaPort: number }

test(`${N / 1000}k served PVs stay within a fixed memory budget, idle and after a client read them all`, { timeout: 180_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pvtree-mem-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const tree = join(dir, 'tree.mjs');
  writeFileSync(tree, TREE);
  const child = spawn(process.execPath, ['--import', 'tsx', '--expose-gc', join(REPO, 'bench/scale-child.mjs'), 'parts', src('epics/index.ts'), pathToFileURL(tree).href], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise((r) => child.once('exit', r));
  t.after(async () => {
    if (child.exitCode === null) child.kill();
    await exited;
  });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async (): Promise<string> => {
    const l = await lines.next();
    assert.ok(!l.done, 'the served process ended early');
    return l.value;
  };
  const mem = async (): Promise<Mem> => {
    child.stdin!.write('mem\n');
    return JSON.parse(await next()) as Mem;
  };
  const r = JSON.parse(await next()) as Report;
  assert.ok(r.pvs >= N, `${r.pvs} PVs served`);
  const MB = 1e6;
  const treeMB = (r.tree.heap - r.base.heap) / MB;
  const serverMB = (r.served.heap - r.tree.heap) / MB;
  t.diagnostic(`heap: tree ${treeMB.toFixed(1)} MB, server ${serverMB.toFixed(1)} MB for ${r.pvs} PVs`);
  // today about 4 MB of tree and 2 MB of server for 10k PVs; before about 7 MB and 44 MB
  assert.ok(treeMB < 12, `the tree of ${N} variables takes ${treeMB.toFixed(1)} MB of heap (bound 12 MB)`);
  assert.ok(serverMB < 6, `serving ${r.pvs} PVs takes ${serverMB.toFixed(1)} MB of heap over the tree (bound 6 MB: an idle PV must not hold pvData)`);

  // one client reads every PV once; then it leaves, and what the PVs made for it goes
  const idle = await mem();
  const client = new PvaClient({ nameServers: [`127.0.0.1:${r.pvaPort}`], addrList: [], autoAddrList: false, beacons: false, timeout: 60 });
  const names: string[] = [];
  for (let d = 0; d < N / 1000; d++) for (let i = 0; i < 1000; i += 4) for (const k of 'UFSI') names.push(`scale:Scale:Dev${d}:${k}${i}`);
  let at = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (at < names.length) await client.get(names[at++]);
    }),
  );
  const open = await mem();
  await client.close();
  // the server sees the connection close: wait for the live PVs to go (positive event: heap back down)
  let after = await mem();
  for (let i = 0; i < 50 && after.heap - idle.heap > 0.5 * (open.heap - idle.heap); i++) {
    await new Promise((res) => setTimeout(res, 100));
    after = await mem();
  }
  const liveMB = (open.heap - idle.heap) / MB;
  const leftMB = (after.heap - idle.heap) / MB;
  t.diagnostic(`heap: ${liveMB.toFixed(1)} MB more with every PV in use, ${leftMB.toFixed(1)} MB more after the client left`);
  assert.ok(liveMB > 2, `with every PV in use the heap grew (${liveMB.toFixed(1)} MB): the client's channels reached the server`);
  assert.ok(leftMB < 5, `after the client left, ${leftMB.toFixed(1)} MB of the ${liveMB.toFixed(1)} MB its PVs took stayed (bound 5 MB)`);
  child.stdin!.end('exit\n');
});
