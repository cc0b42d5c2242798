// SrpV3Memory over loopback UDP against the in-project server side of the stack (RSSI server,
// packetizer, SRPv3 emulator), directly and through a lossy shim.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SrpV3EmulatorServer } from '../../src/srp/emulator-server.ts';
import { SrpV3Memory, parseSrpV3Url } from '../../src/tree/memory/srpv3.ts';
import { MemoryError, type Transaction } from '../../src/tree/memory/interface.ts';
import { SrpStatus } from '../../src/srp/srpv3.ts';
import { LossyShim } from './lossy-shim.ts';

const tran = (type: Transaction['type'], address: number, data: Uint8Array, timeout = 2): Transaction =>
  ({ type, address, size: data.length, data, timeout });
const pattern = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed * 13) & 0xff);

async function until(cond: () => boolean, what: string, ms = 10000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

for (const [label, cfg] of [
  ['RSSI + packetizer v1', { packetizer: 1 }],
  ['RSSI + packetizer v2 with CRCs checked both ways', { packetizer: 2, ibCrc: true }],
  ['RSSI without packetizer', { packetizer: 0 }],
  ['plain UDP without RSSI or packetizer', { packetizer: 0, rssi: false }],
  ['plain UDP with packetizer v2', { packetizer: 2, rssi: false }],
] as const) {
  test(`${label}: write, read, verify, posted write and 4 KiB transactions reach the emulator`, { timeout: 30000 }, async () => {
    const srv = await new SrpV3EmulatorServer({ ...cfg }).start();
    const mem = new SrpV3Memory({ host: '127.0.0.1', port: srv.port, ...cfg });
    try {
      await mem.waitOpen(10000);
      const big = mem.maxAccess;
      if (cfg.packetizer === 0 && cfg.rssi !== false) assert.equal(big, 1432, 'a frame must fit one RSSI segment');
      else assert.equal(big, 4096);
      const w = pattern(big, 1);
      await mem.doTransaction(tran('write', 0x2000, w));
      assert.deepEqual(srv.emulation.read(0x2000, big), w);
      const r = new Uint8Array(big);
      await mem.doTransaction(tran('read', 0x2000, r));
      assert.deepEqual(r, w);
      const v = new Uint8Array(8);
      await mem.doTransaction(tran('verify', 0x2004, v));
      assert.deepEqual(v, w.subarray(4, 12));
      await mem.doTransaction(tran('post', 0x10, Uint8Array.of(1, 2, 3, 4)));
      await until(() => srv.emulation.stats.posts === 1, 'the posted write');
      assert.deepEqual([...srv.emulation.read(0x10, 4)], [1, 2, 3, 4]);
      // misaligned and oversized requests fail without touching the wire
      await assert.rejects(mem.doTransaction(tran('read', 0x2002, new Uint8Array(4))), (e: MemoryError) => /not aligned/.test(e.message) && e instanceof MemoryError);
      await assert.rejects(mem.doTransaction(tran('read', 0, new Uint8Array(4100))), /exceeds the SRPv3 maximum/);
      assert.equal(mem.stats.failed, 2);
    } finally {
      await mem.stop();
      await srv.close();
    }
  });
}

test('64 transactions in flight, answered out of order, each matched to its own data', { timeout: 30000 }, async () => {
  const srv = await new SrpV3EmulatorServer({ reorder: 8, packetizer: 2 }).start();
  const mem = new SrpV3Memory({ host: '127.0.0.1', port: srv.port, packetizer: 2 });
  try {
    for (let i = 0; i < 64; i++) srv.emulation.write(0x100 * i, pattern(64, i));
    const bufs = Array.from({ length: 64 }, () => new Uint8Array(64));
    await Promise.all(bufs.map((b, i) => mem.doTransaction(tran('read', 0x100 * i, b))));
    bufs.forEach((b, i) => assert.deepEqual(b, pattern(64, i), `transaction ${i}`));
    assert.equal(mem.stats.completed, 64);
  } finally {
    await mem.stop();
    await srv.close();
  }
});

test('lost, duplicated and reordered datagrams and garbage: every transaction completes with the right data', { timeout: 60000 }, async () => {
  const srv = await new SrpV3EmulatorServer({ packetizer: 2 }).start();
  const shim = await new LossyShim({ serverPort: srv.port, drop: 0.1, duplicate: 0.1, reorder: 0.1, seed: 7 }).start();
  const mem = new SrpV3Memory({ host: '127.0.0.1', port: shim.port, packetizer: 2, ibCrc: true, timeout: 5 });
  try {
    await mem.waitOpen(15000);
    for (let round = 0; round < 10; round++) {
      const ws = Array.from({ length: 16 }, (_, i) => pattern(i % 2 ? 4096 : 16, round * 16 + i));
      await Promise.all(ws.map((w, i) => mem.doTransaction(tran('write', 0x10000 * i, w, 5))));
      const rs = ws.map((w) => new Uint8Array(w.length));
      await Promise.all(rs.map((r, i) => mem.doTransaction(tran('read', 0x10000 * i, r, 5))));
      rs.forEach((r, i) => assert.deepEqual(r, ws[i], `round ${round} transaction ${i}`));
      if (round === 4) shim.garbage(50);
    }
    const rssi = mem.link.stack.rssi!.stats;
    assert.ok(shim.counts.dropped > 10 && shim.counts.duplicated > 10 && shim.counts.reordered > 10, JSON.stringify(shim.counts));
    assert.ok(rssi.retransmissions > 0, 'losses were repaired by retransmission');
    assert.ok(rssi.dropped >= 50, `garbage and duplicates dropped (${rssi.dropped})`);
    assert.equal(mem.stats.failed, 0);
    assert.equal(mem.stats.timeouts, 0);
  } finally {
    await mem.stop();
    await shim.close();
    await srv.close();
  }
});

test('a peer that stops answering: transactions time out naming the link, the link is lost, and reopens when the peer is back', { timeout: 60000 }, async () => {
  const srv = await new SrpV3EmulatorServer().start();
  const shim = await new LossyShim({ serverPort: srv.port }).start();
  const mem = new SrpV3Memory({ host: '127.0.0.1', port: shim.port, timeout: 1 });
  const events: string[] = [];
  mem.onLinkChange((open, detail) => void events.push(`${open ? 'open' : 'down'}: ${detail}`));
  try {
    await mem.waitOpen(10000);
    await mem.doTransaction(tran('write', 0, Uint8Array.of(5, 6, 7, 8)));
    shim.blackhole = true;
    // the request is lost with the link: it fails when RSSI gives up, before its own timeout
    await assert.rejects(mem.doTransaction(tran('read', 0, new Uint8Array(4))), /srpv3:\/\/127\.0\.0\.1:\d+: link down: the peer stopped answering: segment \d+ sent \d+ times without an acknowledgement before the response arrived/);
    assert.equal(mem.linkUp, false);
    assert.match(events.join('\n'), /down: the peer stopped answering/);
    // while down, a request waits and fails with the reason
    await assert.rejects(mem.doTransaction(tran('read', 0, new Uint8Array(4))), /never sent, link down: the peer stopped answering/);
    shim.blackhole = false;
    await mem.waitOpen(15000);
    const r = new Uint8Array(4);
    await mem.doTransaction(tran('read', 0, r));
    assert.deepEqual([...r], [5, 6, 7, 8]);
    assert.equal(mem.link.stack.rssi!.stats.opened, 2);
  } finally {
    await mem.stop();
    await shim.close();
    await srv.close();
  }
});

test('the server goes away and comes back on the same port: the client reconnects; a request sent while it was away is retried', { timeout: 60000 }, async () => {
  let srv = await new SrpV3EmulatorServer().start();
  const port = srv.port;
  const mem = new SrpV3Memory({ host: '127.0.0.1', port, timeout: 1.5, retries: 3, maxTryPeriod: 200 });
  try {
    await mem.waitOpen(10000);
    await srv.close();
    await until(() => !mem.linkUp, 'the RST to close the link');
    const pending = mem.doTransaction(tran('write', 0x40, Uint8Array.of(1, 1, 2, 3)));
    srv = await new SrpV3EmulatorServer({ port }).start();
    await pending;
    assert.deepEqual([...srv.emulation.read(0x40, 4)], [1, 1, 2, 3]);
  } finally {
    await mem.stop();
    await srv.close();
  }
});

test('status tail errors become memory errors with their meaning', { timeout: 30000 }, async () => {
  const srv = await new SrpV3EmulatorServer({
    fault: (r) => (r.address === 0x100 ? SrpStatus.timeout : r.address === 0x104 ? SrpStatus.busLockup : r.address === 0x108 ? 3 : undefined),
  }).start();
  const mem = new SrpV3Memory({ host: '127.0.0.1', port: srv.port });
  try {
    const t = tran('read', 0x100, new Uint8Array(4));
    await assert.rejects(mem.doTransaction(t), (e: Error) => e instanceof MemoryError && /bus timeout detected in hardware/.test(e.message));
    assert.match(t.error!, /bus timeout/);
    await assert.rejects(mem.doTransaction(tran('write', 0x104, new Uint8Array(4))), /bus lockup/);
    await assert.rejects(mem.doTransaction(tran('read', 0x108, new Uint8Array(4))), /AXI decode error/);
    await mem.doTransaction(tran('read', 0x10c, new Uint8Array(4)));
  } finally {
    await mem.stop();
    await srv.close();
  }
});

test('srpv3:// URLs', () => {
  assert.deepEqual(parseSrpV3Url('srpv3://10.0.0.5'), { host: '10.0.0.5', port: 8192 });
  assert.deepEqual(parseSrpV3Url('srpv3://board:9000?packetizer=2&rssi=1&tdest=4&timeout=0.5&retries=2&jumbo=1&crc=1'), {
    host: 'board', port: 9000, packetizer: 2, rssi: true, tDest: 4, timeout: 0.5, retries: 2, jumbo: true, ibCrc: true,
  });
  assert.throws(() => parseSrpV3Url('http://x'), /unsupported memory URL scheme 'http:'/);
  assert.throws(() => parseSrpV3Url('srpv3://x?packetizer=3'), /must be 0, 1 or 2/);
  assert.throws(() => parseSrpV3Url('srpv3://x?bogus=1'), /unknown option 'bogus'/);
  assert.throws(() => parseSrpV3Url('srpv3://x?timeout=-1'), /positive number/);
  assert.throws(() => parseSrpV3Url('nonsense'), /not a URL/);
});
