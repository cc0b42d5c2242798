// Channel Access hot paths: encoding a DBR_TIME_DOUBLE monitor update, framing a
// stream cut into random chunks, and end-to-end monitor updates over loopback TCP
// (one fast subscriber; and the same with a second subscriber that never reads).
// Run: node --import tsx bench/ca.ts
import * as net from 'node:net';

import {
  CaFramer,
  CaMemoryPv,
  CaServer,
  CaStreamDecoder,
  DBE_VALUE,
  DBR,
  StaticCaSource,
  concatBytes,
  decodeDbr,
  encodeDbr,
  encodeDbrMessage,
  encodeMessage,
  CaCommand,
  type CaMessage,
} from '../src/ca/index.ts';

interface Row {
  op: string;
  perSec: number;
  note: string;
}
const rows: Row[] = [];

function timeIt(op: string, ms: number, fn: () => void, note = ''): void {
  const warm = performance.now() + 100;
  while (performance.now() < warm) fn();
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    for (let i = 0; i < 100; i++) fn();
    n += 100;
  }
  rows.push({ op, perSec: (n * 1000) / (performance.now() - t0), note });
}

// 1. Codec
const ts = { secondsPastEpoch: 1163000000, nanoseconds: 123456789 };
timeIt('encode TIME_DOUBLE update (server path)', 500, () => {
  encodeDbrMessage(
    { command: CaCommand.EVENT_ADD, dataType: DBR.TIME_DOUBLE, count: 1, parameter1: 1, parameter2: 1 },
    DBR.TIME_DOUBLE,
    { value: [Math.random()], status: 0, severity: 0, timestamp: ts },
    1,
  );
});
const one = encodeMessage({
  kind: 'eventAddReply',
  dataType: DBR.TIME_DOUBLE,
  count: 1,
  status: 1,
  subscriptionId: 1,
  data: encodeDbr(DBR.TIME_DOUBLE, { value: [1.5], timestamp: ts }),
});
const stream = concatBytes(new Array(10000).fill(one));
const cuts: number[] = [];
for (let o = 0; o < stream.length; ) {
  const n = 1 + Math.floor(Math.random() * 1500);
  cuts.push(n);
  o += n;
}
timeIt(
  'frame+decode 10k updates in random chunks',
  1000,
  () => {
    const dec = new CaStreamDecoder('s2c');
    let o = 0;
    for (const n of cuts) {
      for (const r of dec.push(stream.subarray(o, o + n))) {
        if (r.ok && r.message.kind === 'eventAddReply') decodeDbr(r.message.dataType, r.message.count, r.message.data);
      }
      o += n;
    }
  },
  `${stream.length} bytes per call`,
);
const bigArr = new Float64Array(1_000_000).map((_, i) => i);
timeIt('encode 1M-element DOUBLE array update', 300, () => {
  encodeDbrMessage(
    { command: CaCommand.EVENT_ADD, dataType: DBR.DOUBLE, count: bigArr.length, parameter1: 1, parameter2: 1 },
    DBR.DOUBLE,
    { value: bigArr },
    bigArr.length,
  );
});
const framer = new CaFramer({ maxPayloadSize: 16 << 20 });
const bigMsg = encodeMessage({ kind: 'eventAddReply', dataType: DBR.DOUBLE, count: 1_000_000, status: 1, subscriptionId: 1, data: new Uint8Array(8_000_000) });
timeIt('frame 8 MB message in 64 KiB chunks', 300, () => {
  for (let o = 0; o < bigMsg.length; o += 65536) framer.push(bigMsg.subarray(o, o + 65536));
});

// 2. End to end over loopback
async function endToEnd(withStalled: boolean): Promise<void> {
  const pv = new CaMemoryPv({ type: 'double', value: 0 });
  const server = new CaServer({
    source: new StaticCaSource({ bench: pv }),
    port: 0,
    interfaces: ['127.0.0.1'],
    beacons: false,
    udp: false,
    env: {},
    log: () => {},
  });
  await server.start();
  const connect = async (): Promise<net.Socket> => {
    const s = net.connect({ host: '127.0.0.1', port: server.port });
    await new Promise<void>((r) => s.once('connect', () => r()));
    s.write(encodeMessage({ kind: 'createChan', cid: 1, minorVersion: 13, name: 'bench' }));
    await new Promise((r) => setTimeout(r, 50));
    s.write(encodeMessage({ kind: 'eventAdd', dataType: DBR.TIME_DOUBLE, count: 1, sid: 1, subscriptionId: 1, mask: DBE_VALUE, low: 0, high: 0, timeout: 0 }));
    return s;
  };
  let stalled: net.Socket | undefined;
  if (withStalled) {
    stalled = await connect();
    stalled.pause();
  }
  const s = await connect();
  const dec = new CaStreamDecoder('s2c');
  let received = 0;
  let last = -1;
  const N = 200000;
  const done = new Promise<void>((resolve) => {
    s.on('data', (d) => {
      for (const r of dec.push(d)) {
        if (!r.ok) continue;
        const m: CaMessage = r.message;
        if (m.kind !== 'eventAddReply') continue;
        received++;
        last = decodeDbr(m.dataType, m.count, m.data).value[0] as number;
        if (last === N) resolve();
      }
    });
  });
  await new Promise((r) => setTimeout(r, 100));
  const t0 = performance.now();
  for (let i = 1; i <= N; i++) {
    pv.set(i);
    if (i % 1000 === 0) await new Promise((r) => setImmediate(r));
  }
  await done;
  const dt = performance.now() - t0;
  rows.push({
    op: `loopback monitor, ${N} posts${withStalled ? ' + stalled client' : ''}`,
    perSec: (N * 1000) / dt,
    note: `${received} updates delivered (latest value always arrives; excess squashed)`,
  });
  s.destroy();
  stalled?.destroy();
  await server.stop();
}
await endToEnd(false);
await endToEnd(true);

console.log('op'.padEnd(52), 'per second'.padStart(14), '  note');
for (const r of rows) console.log(r.op.padEnd(52), r.perSec.toFixed(0).padStart(14), ' ', r.note);
