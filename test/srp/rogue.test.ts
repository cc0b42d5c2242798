// pvtree's SRPv3 / RSSI / packetizer client against Rogue's own server side (udp.Server,
// rssi.Server, packetizer Core/CoreV2, SrpV3Emulation), built from public source. Runs only when
// ROGUE_PEER_ENV names Rogue's environment script.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Device, LinkDownError, RemoteVariable, Root } from '../../src/tree/index.ts';
import { SrpV3Memory } from '../../src/tree/memory/srpv3.ts';
import type { Transaction } from '../../src/tree/memory/interface.ts';
import { LossyShim } from './lossy-shim.ts';
import { ROGUE_SKIP, RoguePeer } from './rogue.ts';

const tran = (type: Transaction['type'], address: number, data: Uint8Array, timeout = 3): Transaction =>
  ({ type, address, size: data.length, data, timeout });
const pattern = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 11 + seed * 29) & 0xff);

async function until(cond: () => boolean, what: string, ms = 20000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

for (const pack of [1, 2] as const) {
  test(`Rogue packetizer v${pack}${pack === 2 ? ' (CRCs checked by both ends)' : ''}: handshake, write/read/verify/post, 4 KiB, 64 in flight`, { skip: ROGUE_SKIP, timeout: 90000 }, async () => {
    const peer = await RoguePeer.start({ pack, ibCrc: pack === 2 });
    const mem = new SrpV3Memory({ host: '127.0.0.1', port: peer.port, packetizer: pack, ibCrc: pack === 2 });
    try {
      await mem.waitOpen(20000);
      assert.equal(mem.link.stack.rssi!.current.maxSegmentSize, 1464, "Rogue's negotiated segment size");
      const big = pattern(4096, pack);
      await mem.doTransaction(tran('write', 0x4000, big));
      const back = new Uint8Array(4096);
      await mem.doTransaction(tran('read', 0x4000, back));
      assert.deepEqual(back, big);
      const v = new Uint8Array(16);
      await mem.doTransaction(tran('verify', 0x4010, v));
      assert.deepEqual(v, big.subarray(16, 32));
      await mem.doTransaction(tran('post', 0x100, Uint8Array.of(0xaa, 0xbb, 0xcc, 0xdd)));
      const p = new Uint8Array(4);
      await mem.doTransaction(tran('read', 0x100, p));
      assert.deepEqual([...p], [0xaa, 0xbb, 0xcc, 0xdd], 'the posted write landed (the link keeps order)');
      // 64 in flight, distinct addresses and sizes
      const ws = Array.from({ length: 64 }, (_, i) => pattern(4 * (1 + (i % 16)) * (i % 5 === 0 ? 64 : 1), 100 + i));
      await Promise.all(ws.map((w, i) => mem.doTransaction(tran('write', 0x100000 + i * 0x1000, w))));
      const rs = ws.map((w) => new Uint8Array(w.length));
      await Promise.all(rs.map((r, i) => mem.doTransaction(tran('read', 0x100000 + i * 0x1000, r))));
      rs.forEach((r, i) => assert.deepEqual(r, ws[i], `transaction ${i}`));
      assert.equal(mem.stats.failed, 0);
      const st = await peer.stats();
      assert.equal(st.open, true);
      assert.equal(st.packDrop, 0, 'Rogue dropped none of our packetizer frames (CRC, sequence)');
      assert.equal(mem.link.stack.packetizer!.stats.dropped, 0);
      assert.equal(mem.link.stack.packetizer!.stats.crcErrors, 0);
    } finally {
      await mem.stop();
      await peer.close();
    }
  });
}

test('Rogue: a tree with bit fields and an 8 KiB block; the link stays up while idle (keep-alives both ways)', { skip: ROGUE_SKIP, timeout: 90000 }, async () => {
  const peer = await RoguePeer.start({ pack: 2 });
  const mem = new SrpV3Memory({ host: '127.0.0.1', port: peer.port, packetizer: 2 });
  const root = new Root({ name: 'Board', memBase: mem, pollEn: false, onError: () => {} });
  const d = new Device({ name: 'Regs', offset: 0x20000 });
  root.add(d);
  const mode = new RemoteVariable({ name: 'Mode', offset: 0, bitSize: 3, bitOffset: 0, base: 'UInt', mode: 'RW' });
  const gain = new RemoteVariable({ name: 'Gain', offset: 0, bitSize: 10, bitOffset: 3, base: 'UInt', mode: 'RW' });
  const table = new RemoteVariable({ name: 'Table', offset: 0x1000, base: 'UInt', bitSize: 32, numValues: 2048, valueBits: 32, valueStride: 32, mode: 'RW' });
  d.add(mode, gain, table);
  try {
    await root.start();
    await mem.waitOpen(20000);
    await mode.set(5);
    await gain.set(777);
    assert.equal(await mode.get(), 5);
    assert.equal(await gain.get(), 777);
    const t = Uint32Array.from({ length: 2048 }, (_, i) => (i * 2654435761) >>> 0);
    const sent = mem.stats.sent;
    await table.set(t);
    assert.equal(mem.stats.sent - sent, 4, 'two 4 KiB writes and two 4 KiB verify reads');
    assert.deepEqual([...(await table.get()) as Uint32Array], [...t]);
    const rssi = mem.link.stack.rssi!;
    const opened = rssi.stats.opened;
    await new Promise((r) => setTimeout(r, 3500));
    assert.equal(mem.linkUp, true, 'idle for longer than the null timeout');
    assert.equal(rssi.stats.opened, opened);
    assert.equal(rssi.stats.downCount, 0);
  } finally {
    await root.stop();
    await peer.close();
  }
});

test('Rogue: its RSSI server stops (RST) and restarts: variables show the link down, then recover', { skip: ROGUE_SKIP, timeout: 90000 }, async () => {
  const peer = await RoguePeer.start({ pack: 1 });
  const mem = new SrpV3Memory({ host: '127.0.0.1', port: peer.port, packetizer: 1, timeout: 1 });
  const root = new Root({ name: 'Board', memBase: mem, pollEn: false, onError: () => {} });
  const d = new Device({ name: 'Regs' });
  root.add(d);
  const reg = new RemoteVariable({ name: 'Reg', offset: 0x40, bitSize: 32, base: 'UInt', mode: 'RW' });
  d.add(reg);
  try {
    await root.start();
    await mem.waitOpen(20000);
    await reg.set(0x600d);
    peer.send('stop');
    await peer.expect(/^STOPPED$/);
    await until(() => !mem.linkUp, 'the link to go down');
    assert.ok(reg.lastError instanceof LinkDownError, String(reg.lastError));
    assert.match(reg.lastError!.message, /link down: (the peer reset the link|the peer stopped answering)/);
    peer.send('start');
    await peer.expect(/^STARTED$/);
    await mem.waitOpen(20000);
    await until(() => reg.lastError === undefined, 'the variable to recover');
    assert.equal(reg.value, 0x600d, 'read again from Rogue after the link came back');
    assert.ok(mem.link.stack.rssi!.stats.opened >= 2);
  } finally {
    await root.stop();
    await peer.close();
  }
});

test('Rogue behind a silent shim: link lost by retransmission limit, re-opened with backoff when the path is back', { skip: ROGUE_SKIP, timeout: 90000 }, async () => {
  const peer = await RoguePeer.start({ pack: 2 });
  const shim = await new LossyShim({ serverPort: peer.port }).start();
  const mem = new SrpV3Memory({ host: '127.0.0.1', port: shim.port, packetizer: 2, timeout: 1 });
  try {
    await mem.waitOpen(20000);
    await mem.doTransaction(tran('write', 0x80, Uint8Array.of(1, 2, 3, 4)));
    shim.blackhole = true;
    await assert.rejects(mem.doTransaction(tran('read', 0x80, new Uint8Array(4), 1)), /link down: the peer stopped answering.*before the response arrived|timed out/);
    await until(() => !mem.linkUp, 'the link to go down');
    shim.blackhole = false;
    await mem.waitOpen(30000);
    const r = new Uint8Array(4);
    await mem.doTransaction(tran('read', 0x80, r));
    assert.deepEqual([...r], [1, 2, 3, 4]);
  } finally {
    await mem.stop();
    await shim.close();
    await peer.close();
  }
});

test('Rogue through a lossy path (5 % lost, duplicated and reordered each way): every transaction right', { skip: ROGUE_SKIP, timeout: 120000 }, async () => {
  const peer = await RoguePeer.start({ pack: 2 });
  const shim = await new LossyShim({ serverPort: peer.port, seed: 99 }).start();
  // RSSI timing offered to Rogue with room for a loaded machine (Rogue's 20 ms × 15 gives a
  // process 300 ms to answer; this test is about losses, not about CPU starvation)
  const mem = new SrpV3Memory({
    host: '127.0.0.1', port: shim.port, packetizer: 2, timeout: 5, retries: 5,
    rssiParams: { retransmissionTimeout: 50, maxRetransmissions: 30 },
  });
  const events: string[] = [];
  mem.onLinkChange((up, detail) => void events.push(`${up ? 'up' : 'down'}: ${detail}`));
  try {
    await mem.waitOpen(20000);
    shim.drop = shim.duplicate = shim.reorder = 0.05;
    for (let round = 0; round < 6; round++) {
      const ws = Array.from({ length: 16 }, (_, i) => pattern(i % 2 ? 4096 : 8, round * 16 + i));
      try {
        await Promise.all(ws.map((w, i) => mem.doTransaction(tran('write', 0x200000 + i * 0x1000, w, 5))));
        const rs = ws.map((w) => new Uint8Array(w.length));
        await Promise.all(rs.map((r, i) => mem.doTransaction(tran('read', 0x200000 + i * 0x1000, r, 5))));
        rs.forEach((r, i) => assert.deepEqual(r, ws[i], `round ${round} transaction ${i}`));
      } catch (e) {
        throw new Error(`${(e as Error).message}\nlink events: ${events.join(' | ')}\nRSSI ${JSON.stringify(mem.link.stack.rssi!.stats)}\nshim ${JSON.stringify(shim.counts)}\nRogue ${JSON.stringify(await peer.stats())}`);
      }
    }
    assert.ok(shim.counts.dropped > 0 && shim.counts.duplicated > 0 && shim.counts.reordered > 0, JSON.stringify(shim.counts));
    assert.equal(mem.stats.failed, 0);
  } finally {
    await mem.stop();
    await shim.close();
    await peer.close();
  }
});
