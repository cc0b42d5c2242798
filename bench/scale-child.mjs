// The process bench/scale.ts measures, in plain JavaScript so that a run of the built package
// loads no TypeScript loader (the sources run with `--import tsx`). Started by bench/scale.ts:
//
//   node --expose-gc scale-child.mjs parts <epics module URL> <tree module URL>
//     prints one JSON line (load, tree and server times; memory after a full GC at each step),
//     then answers `mem` on stdin with memory after a full GC (`snap FILE`: writes a heap snapshot),
//     and ends on `exit`
//   node scale-child.mjs poll <epics module URL> <tree module URL> <seconds>
//     serves a polled tree and prints one JSON line: CPU use and each poll cycle's wall and CPU time
import { createInterface } from 'node:readline';
import { writeHeapSnapshot } from 'node:v8';

const [mode, epicsUrl, treeUrl, arg] = process.argv.slice(2);

function gcMem() {
  globalThis.gc();
  globalThis.gc();
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed };
}

const nop = () => {};
const logger = { debug: nop, info: nop, warn: nop, error: (m) => void process.stderr.write(`${m}\n`) };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function parts() {
  const { EpicsPvServer } = await import(epicsUrl);
  const loadMs = performance.now();
  const base = gcMem();
  const t0 = performance.now();
  const { root } = await import(treeUrl); // builds the tree
  await root.start();
  const treeMs = performance.now() - t0;
  const tree = gcMem();
  const t1 = performance.now();
  const server = new EpicsPvServer({ base: 'scale', root, pva: { tcpPort: 0, udpPort: 0 }, ca: { port: 0 }, logger });
  await server.start();
  const servingMs = performance.now();
  const rssServing = process.memoryUsage().rss;
  const served = gcMem();
  const pvs = Object.keys(server.list()).length;
  const out = { pvs, loadMs, treeMs, serverMs: servingMs - t1, servingMs, base, tree, served, rssServing, pvaPort: server.pvaServer?.tcpPort ?? 0 };
  process.stdout.write(`${JSON.stringify(out)}\n`);
  for await (const line of createInterface({ input: process.stdin })) {
    if (line === 'mem') process.stdout.write(`${JSON.stringify(gcMem())}\n`);
    else if (line.startsWith('snap ')) process.stdout.write(`${JSON.stringify(writeHeapSnapshot(line.slice(5)))}\n`);
    else break;
  }
  await root.stop();
}

async function poll() {
  const seconds = Number(arg);
  const { EpicsPvServer } = await import(epicsUrl);
  const { root } = await import(treeUrl);
  // a poll cycle runs in one update group: time it there
  const cycles = [];
  const group = root.updateGroup.bind(root);
  root.updateGroup = async (fn) => {
    const t = performance.now();
    const c = process.cpuUsage();
    try {
      return await group(fn);
    } finally {
      const u = process.cpuUsage(c);
      cycles.push({ start: t, wall: performance.now() - t, cpu: (u.user + u.system) / 1000 });
    }
  };
  root.addProtocol(new EpicsPvServer({ base: 'poll', root, pva: { tcpPort: 0, udpPort: 0 }, ca: { port: 0 }, logger }));
  await root.start();
  // the hardware moves: the first register of every device changes twice a second
  const mem = root.memBase;
  const word = new Uint8Array(4);
  const tick = setInterval(() => {
    new DataView(word.buffer).setUint32(0, Date.now() >>> 0, true);
    for (const dev of root.devices) mem.writeBytes(dev.address, word);
  }, 500);
  await sleep(3000); // the first cycles compile the read path
  cycles.length = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const u = process.cpuUsage(c0);
  const wall = performance.now() - t0;
  clearInterval(tick);
  const out = { seconds, cpuPct: ((u.user + u.system) / 1000 / wall) * 100, cycles: cycles.slice(), rss: process.memoryUsage().rss };
  process.stdout.write(`${JSON.stringify(out)}\n`);
  await root.stop();
}

if (mode === 'parts') await parts();
else if (mode === 'poll') await poll();
else throw new Error(`scale-child: unknown mode ${mode}`);
process.exit(0);
