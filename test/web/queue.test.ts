// Per-client bounded queues: a stalled client holds at most one pending update per subscribed PV
// and about the high-water mark of buffered bytes, while a reading client gets every update in
// lock step; once the stalled client reads again it gets the latest value.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Device, LocalVariable, Root } from '../../src/tree/index.ts';
import { serveWeb, TestClient } from './harness.ts';

const BIG = 256 * 1024;

test('a stalled client never grows server memory beyond its bound and never slows a reading client', async () => {
  const root = new Root({ name: 'R', pollEn: false });
  const d = new Device({ name: 'D' });
  root.add(d);
  const big = new LocalVariable({ name: 'big', value: 'start' });
  const tick = new LocalVariable({ name: 'tick', typeStr: 'Int32', value: 0 });
  d.add(big);
  d.add(tick);
  const high = 64 * 1024;
  const s = await serveWeb(root, { highWaterBytes: high });
  const pvs = ['test:R:D:big', 'test:R:D:tick'];
  const stalled = await TestClient.open(s.wsUrl);
  const reader = await TestClient.open(s.wsUrl);
  try {
    for (const c of [stalled, reader]) {
      c.send({ type: 'subscribe', pvs });
      for (const pv of pvs) await c.next((m) => m.type === 'update' && m.pv === pv, `the first update of ${pv}`);
    }
    stalled.ws.pause(); // stops reading its socket: the kernel buffers fill, then the server's
    const stats = () => s.web.status().clients;
    const stalledStats = () => stats().find((x) => x.updatesSent < stats().reduce((a, y) => Math.max(a, y.updatesSent), 0));
    const pad = 'x'.repeat(BIG);
    let maxBuffered = 0;
    let maxPending = 0;
    let rounds = 0;
    // until the server has held back at least 20 updates from the stalled client (bounded: 2000 rounds)
    for (let i = 1; i <= 2000; i++) {
      const n = reader.messages.length;
      await big.set(`${i}:${pad}`);
      await tick.set(i);
      // lock step: the reading client gets this round's updates before the next round starts
      await reader.next((m) => m.pv === pvs[1] && m.value === i, `round ${i} at the reading client`, n);
      await reader.until(() => reader.texts.slice(n).some((t) => t.startsWith(`{"type":"update","pv":"${pvs[0]}","text":"${i}:`)), `big ${i}`);
      const st = stalledStats();
      if (st) {
        const buffered = st.bufferedBytes;
        maxBuffered = Math.max(maxBuffered, buffered);
        maxPending = Math.max(maxPending, st.pending);
      }
      rounds = i;
      const readerSent = stats().reduce((a, y) => Math.max(a, y.updatesSent), 0);
      if (st && readerSent - st.updatesSent >= 40) break;
    }
    const st = stalledStats();
    assert.ok(st, `the stalled client fell behind within ${rounds} rounds`);
    assert.ok(st.pending <= pvs.length, `at most one pending update per PV (${st.pending})`);
    assert.ok(maxPending <= pvs.length);
    // the bound: the high-water mark plus the last message sent before it was reached
    assert.ok(maxBuffered <= high + BIG + 1024, `buffered ${maxBuffered} bytes`);
    assert.ok(maxBuffered > 0, 'the stalled connection did buffer');

    // reading again, the stalled client catches up with the latest values, coalesced
    const n = stalled.messages.length;
    stalled.ws.resume();
    await stalled.next((m) => m.pv === pvs[1] && m.value === rounds, 'the latest tick after resuming', n, 30000);
    await stalled.until(() => stalled.texts.some((t) => t.includes(`"text":"${rounds}:`)), 'the latest big value', 30000);
    const tickUpdates = stalled.updates(pvs[1]).length;
    assert.ok(tickUpdates < rounds + 1, `coalesced: ${tickUpdates} tick updates for ${rounds} changes`);
  } finally {
    stalled.close();
    reader.close();
    await s.close();
  }
});
