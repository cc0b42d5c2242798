// RSSI headers and the link state machine, client against server, on a fake clock without sockets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  RssiFlag, readRssiHeader, rssiChecksum, writeRssiHeader, type RssiHeader,
} from '../../src/srp/rssi-header.ts';
import { RSSI_DEFAULT_PARAMS, RssiConnection, type RssiOptions } from '../../src/srp/rssi.ts';

test('header: SYN layout, checksum over the header only, verification', () => {
  const b = new Uint8Array(24);
  writeRssiHeader(b, { syn: true, ack: false, rst: false, nul: false, busy: false, sequence: 100, acknowledge: 0, params: { ...RSSI_DEFAULT_PARAMS, connectionId: 0x12345678 } });
  // flags, length, seq, ack, version 1 | 0x08 | CHK, 32 segments, 1464 bytes, 20, 5, 1000, 15, 2, 0, unit 3, id 0x78
  assert.equal(Buffer.from(b.subarray(0, 22)).toString('hex'), '80186400' + '1c' + '20' + '05b8' + '0014' + '0005' + '03e8' + '0f' + '02' + '00' + '03' + '78' + '000000');
  let sum = 0;
  for (let i = 0; i < 22; i += 2) sum += (b[i] << 8) | b[i + 1];
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  assert.equal((b[22] << 8) | b[23], ~sum & 0xffff, 'ones\' complement of the folded sum');
  const { header, length } = readRssiHeader(b);
  assert.equal(length, 24);
  assert.equal(header.params!.maxSegmentSize, 1464);
  assert.equal(header.params!.connectionId, 0x78);
  assert.equal(header.params!.chk, true);
  const d = new Uint8Array(12);
  writeRssiHeader(d, { syn: false, ack: true, rst: false, nul: false, busy: true, sequence: 5, acknowledge: 250 });
  d.set([1, 2, 3, 4], 8);
  const r = readRssiHeader(d);
  assert.deepEqual({ ...r.header }, { syn: false, ack: true, rst: false, nul: false, busy: true, sequence: 5, acknowledge: 250 });
  assert.equal(d[0], RssiFlag.ack | RssiFlag.busy);
  d[9] ^= 0xff; // the payload is not summed
  assert.doesNotThrow(() => readRssiHeader(d));
  d[2] ^= 1;
  assert.throws(() => readRssiHeader(d), /checksum/);
  assert.throws(() => readRssiHeader(Uint8Array.of(0x40, 9, 0, 0, 0, 0, 0, 0)), /length byte 9/);
  assert.throws(() => readRssiHeader(new Uint8Array(5)), /shorter/);
  assert.equal(rssiChecksum(new Uint8Array(8), 8), 0xffff);
});

type Seg = { from: 'c' | 's'; bytes: Uint8Array };

/** A client and a server joined by a wire the test controls, on a fake clock. */
function pair(over: { client?: Partial<RssiOptions>; server?: Partial<RssiOptions> } = {}) {
  let now = 1000;
  const wire: Seg[] = [];
  const got = { c: [] as string[], s: [] as string[] };
  const events: string[] = [];
  const mk = (server: boolean) => new RssiConnection({
    server,
    send: (b) => void wire.push({ from: server ? 's' : 'c', bytes: b.slice() }),
    deliver: (p) => void got[server ? 's' : 'c'].push(Buffer.from(p).toString()),
    onState: (open, why) => void events.push(`${server ? 's' : 'c'} ${open ? 'open' : 'down'}: ${why}`),
    ...(server ? over.server : over.client),
  });
  const c = mk(false), s = mk(true);
  /** Deliver what is on the wire (filter decides: true = deliver, false = drop). */
  const flush = (keep: (x: Seg) => boolean = () => true) => {
    for (let n = 0; wire.length && n < 10000; n++) {
      const x = wire.shift()!;
      if (keep(x)) (x.from === 'c' ? s : c).receive(x.bytes, now);
    }
  };
  /** Advance the clock to `t`, firing timers at their deadlines and delivering the wire. */
  const runUntil = (t: number, keep?: (x: Seg) => boolean) => {
    for (let n = 0; n < 100000; n++) {
      flush(keep);
      const next = Math.min(c.nextDeadline(), s.nextDeadline());
      if (next > t) break;
      now = Math.max(now, next);
      c.tick(now);
      s.tick(now);
    }
    now = t;
    flush(keep);
  };
  const open = () => {
    s.start(now);
    c.start(now);
    flush();
    assert.equal(c.state, 'open');
    assert.equal(s.state, 'open');
  };
  const hdr = (x: Seg): RssiHeader => readRssiHeader(x.bytes).header;
  return { c, s, wire, got, events, flush, runUntil, open, hdr, get now() { return now; }, set now(v) { now = v; } };
}

test('handshake: SYN, SYN-ACK with the parameters both use, ACK; both ends open', () => {
  const p = pair({ client: { params: { retransmissionTimeout: 40 } }, server: { params: { maxOutstandingSegments: 16 } } });
  p.s.start(p.now);
  p.c.start(p.now);
  const syn = p.hdr(p.wire[0]);
  assert.ok(syn.syn && !syn.ack);
  assert.equal(syn.sequence, 100);
  assert.equal(syn.params!.retransmissionTimeout, 40);
  p.flush((x) => {
    if (x.from === 's') {
      const h = p.hdr(x);
      assert.ok(h.syn && h.ack);
      assert.equal(h.acknowledge, 100);
      assert.equal(h.params!.maxOutstandingSegments, 16, 'the smaller window');
      assert.equal(h.params!.retransmissionTimeout, 40, "the client's timing");
    }
    return true;
  });
  assert.equal(p.c.state, 'open');
  assert.equal(p.s.state, 'open');
  assert.equal(p.c.current.maxOutstandingSegments, 16);
  assert.deepEqual(p.events.map((e) => e.slice(0, 6)), ['s open', 'c open']);
  assert.equal(p.c.maxPayload, 1456);
});

test('data both ways in order; cumulative acknowledgement after maxCumulativeAck or its timeout', () => {
  const p = pair();
  p.open();
  p.c.sendData(Buffer.from('one'), p.now);
  p.flush();
  assert.deepEqual(p.got.s, ['one']);
  assert.equal(p.c.unacked, 1, 'one segment is not acknowledged at once');
  p.runUntil(p.now + 5);
  assert.equal(p.c.unacked, 0, 'acknowledged after the 5 ms cumulative ack timeout');
  p.c.sendData(Buffer.from('two'), p.now);
  p.c.sendData(Buffer.from('three'), p.now);
  p.flush();
  assert.equal(p.c.unacked, 0, 'two segments are acknowledged at once');
  p.s.sendData(Buffer.from('back'), p.now);
  p.flush();
  assert.deepEqual(p.got.c, ['back']);
  assert.throws(() => p.c.sendData(new Uint8Array(1457), p.now), /exceeds the segment payload of 1456/);
});

test('window: at most maxOutstandingSegments unacknowledged; the rest waits in order', () => {
  const p = pair();
  p.open();
  for (let i = 0; i < 40; i++) p.c.sendData(Buffer.from(`m${i}`), p.now);
  assert.equal(p.c.unacked, 32);
  assert.equal(p.c.queued, 8);
  p.runUntil(p.now + 50);
  assert.equal(p.got.s.length, 40);
  assert.deepEqual(p.got.s, Array.from({ length: 40 }, (_, i) => `m${i}`));
  assert.equal(p.c.unacked + p.c.queued, 0);
});

test('loss, reordering and duplication: every payload delivered once, in order', () => {
  const p = pair();
  p.open();
  for (let i = 0; i < 10; i++) p.c.sendData(Buffer.from(`d${i}`), p.now);
  const segs = p.wire.splice(0);
  // deliver 9..0 reversed, each twice, and lose #3 the first time round
  for (const x of [...segs].reverse()) {
    if (p.hdr(x).sequence === 104) continue;
    p.s.receive(x.bytes, p.now);
    p.s.receive(x.bytes, p.now);
  }
  assert.deepEqual(p.got.s, ['d0', 'd1', 'd2'], 'held back behind the lost segment');
  assert.ok(p.s.stats.outOfOrder >= 6);
  assert.ok(p.s.stats.duplicates >= 6);
  p.runUntil(p.now + 100);
  assert.deepEqual(p.got.s, Array.from({ length: 10 }, (_, i) => `d${i}`));
  assert.ok(p.c.stats.retransmissions >= 1);
  assert.equal(p.c.unacked, 0);
  assert.equal(p.c.state, 'open');
});

test('a lost acknowledgement: the retransmitted duplicate is acknowledged again, not delivered twice', () => {
  const p = pair();
  p.open();
  p.c.sendData(Buffer.from('x'), p.now);
  p.c.sendData(Buffer.from('y'), p.now);
  let dropAcks = true;
  p.flush((x) => !(dropAcks && x.from === 's'));
  assert.equal(p.c.unacked, 2);
  dropAcks = false;
  p.runUntil(p.now + 30);
  assert.deepEqual(p.got.s, ['x', 'y']);
  assert.equal(p.c.unacked, 0);
});

test('keep-alive: an idle link trades NULs and stays open', () => {
  const p = pair();
  p.open();
  const nuls = { c: 0, s: 0 };
  p.runUntil(p.now + 5000, (x) => {
    if (p.hdr(x).nul) nuls[x.from]++;
    return true;
  });
  assert.equal(p.c.state, 'open');
  assert.equal(p.s.state, 'open');
  assert.ok(nuls.c >= 10, `client sent ${nuls.c} NULs in 5 s (one per third of the null timeout)`);
  assert.equal(p.c.unacked, 0);
});

test('a peer that stops answering: link lost after maxRetransmissions, RST, then SYNs with backoff until it is back', () => {
  const p = pair();
  p.open();
  let dead = true;
  const synAt: number[] = [];
  p.c.sendData(Buffer.from('hello?'), p.now);
  const t0 = p.now;
  p.runUntil(t0 + 3000, (x) => {
    if (x.from === 'c' && p.hdr(x).syn) synAt.push(p.now - t0);
    return !dead;
  });
  assert.equal(p.c.state, 'wait-syn', 'trying to re-open');
  assert.equal(p.c.stats.downCount, 1);
  const down = p.events.find((e) => e.startsWith('c down'))!;
  const sent = Number(/stopped answering: segment \d+ sent (\d+) times/.exec(down)?.[1]);
  // 15 sends, and on until the peer has been silent for longer than its NUL period (333 ms + 40)
  assert.ok(sent >= 15 && sent <= 21, down);
  assert.ok(p.c.stats.resetsReceived === 0 && p.c.stats.retransmissions === sent - 1);
  const gaps = synAt.slice(1).map((t, i) => t - synAt[i]);
  assert.ok(gaps.length >= 5, `SYN gaps ${gaps}`);
  assert.deepEqual(gaps.slice(0, 5), [100, 200, 400, 800, 1000], 'doubling from tryPeriod up to maxTryPeriod');
  dead = false;
  p.runUntil(p.now + 1100);
  assert.equal(p.c.state, 'open', 'reconnected');
  assert.equal(p.c.stats.opened, 2);
  p.c.sendData(Buffer.from('back'), p.now);
  p.runUntil(p.now + 10);
  assert.deepEqual(p.got.s.slice(-1), ['back']);
});

test('RST from the peer closes the link; a server answers a new SYN; stop() sends RST', () => {
  const p = pair();
  p.open();
  p.s.stop(p.now, 'server going away');
  const rst = p.hdr(p.wire[0]);
  assert.ok(rst.rst);
  p.flush();
  assert.equal(p.c.state, 'closed', 'until the next SYN try');
  assert.match(p.events.join('\n'), /c down: the peer reset the link/);
  p.s.start(p.now);
  p.runUntil(p.now + 300);
  assert.equal(p.c.state, 'open');
  assert.equal(p.s.state, 'open');
});

test('a duplicated SYN is answered again without dropping the open link; garbage is counted and dropped', () => {
  const p = pair();
  p.s.start(p.now);
  p.c.start(p.now);
  const syn = p.wire[0].bytes;
  p.flush();
  p.c.sendData(Buffer.from('a'), p.now);
  p.flush();
  p.s.receive(syn, p.now); // duplicate SYN arrives late
  p.flush();
  assert.equal(p.s.state, 'open');
  assert.equal(p.c.state, 'open');
  assert.equal(p.s.stats.opened, 1);
  p.c.sendData(Buffer.from('b'), p.now);
  p.flush();
  assert.deepEqual(p.got.s, ['a', 'b']);
  const before = p.s.stats.dropped;
  p.s.receive(Uint8Array.of(1, 2, 3), p.now);
  p.s.receive(new Uint8Array(64).fill(0x55), p.now);
  assert.equal(p.s.stats.dropped, before + 2);
  assert.equal(p.s.state, 'open');
});

test('busy peer (holdWhileBusy): no new data and no retransmissions while BUSY, resumes when it clears', () => {
  const p = pair({ client: { holdWhileBusy: true } });
  p.open();
  const busyAck = (busy: boolean, ack: number) => {
    const b = new Uint8Array(8);
    writeRssiHeader(b, { syn: false, ack: true, rst: false, nul: false, busy, sequence: 0, acknowledge: ack });
    return b;
  };
  p.c.sendData(Buffer.from('1'), p.now);
  const first = p.wire.splice(0);
  p.c.receive(busyAck(true, 100), p.now); // acknowledges nothing new, says busy
  assert.ok(p.c.remoteBusy);
  p.c.sendData(Buffer.from('2'), p.now);
  assert.equal(p.wire.length, 0, 'held while busy');
  p.now += 100;
  p.c.tick(p.now);
  assert.equal(p.wire.filter((x) => !p.hdr(x).nul).length, 0, 'no retransmission while busy');
  p.c.receive(busyAck(false, 100), p.now);
  assert.ok(!p.c.remoteBusy);
  assert.equal(p.c.stats.remoteBusyCount, 1);
  assert.equal(p.wire.length, 1, 'queued data went out');
  p.s.receive(first[0].bytes, p.now);
  p.flush();
  assert.deepEqual(p.got.s, ['1', '2']);
});

test('busy peer (default, as Rogue): the window bounds new data; retransmissions wait until BUSY clears', () => {
  const p = pair();
  p.open();
  const ack = (busy: boolean) => {
    const b = new Uint8Array(8);
    writeRssiHeader(b, { syn: false, ack: true, rst: false, nul: false, busy, sequence: 0, acknowledge: 100 });
    return b;
  };
  p.c.sendData(Buffer.from('1'), p.now);
  const lost = p.wire.splice(0);
  p.c.receive(ack(true), p.now);
  p.c.sendData(Buffer.from('2'), p.now);
  assert.equal(p.wire.length, 1, 'new data goes out while busy');
  const second = p.wire.splice(0);
  p.now += 200;
  p.c.tick(p.now);
  assert.equal(p.wire.filter((x) => !p.hdr(x).nul).length, 0, 'no retransmission while busy');
  p.c.receive(ack(false), p.now);
  p.c.tick(p.now);
  assert.equal(p.wire.filter((x) => !p.hdr(x).nul).length, 2, 'both retransmitted once BUSY cleared');
  void lost; void second;
  p.flush();
  assert.deepEqual(p.got.s, ['1', '2']);
});

test('a slow handshake: the SYN retry repeats the sequence number; the server answers it again and the link stays whole', () => {
  const p = pair();
  p.s.start(p.now);
  p.c.start(p.now);
  const syn1 = p.wire.shift()!;
  p.s.receive(syn1.bytes, p.now); // the server answers, but the SYN-ACK is slow
  const synAck1 = p.wire.shift()!;
  p.now += 100;
  p.c.tick(p.now);
  const syn2 = p.wire.shift()!;
  assert.ok(p.hdr(syn2).syn);
  assert.equal(p.hdr(syn2).sequence, p.hdr(syn1).sequence, 'same connection attempt, same sequence number');
  p.s.receive(syn2.bytes, p.now);
  assert.equal(p.s.stats.opened, 1, 'a duplicate, not a new connection');
  const synAck2 = p.wire.shift()!;
  assert.deepEqual(synAck2.bytes, synAck1.bytes, 'answered with the same SYN-ACK');
  p.c.receive(synAck1.bytes, p.now);
  p.c.receive(synAck2.bytes, p.now);
  p.flush();
  assert.equal(p.c.state, 'open');
  assert.equal(p.c.stats.opened, 1);
  p.c.sendData(Buffer.from('after'), p.now);
  p.runUntil(p.now + 50);
  assert.deepEqual(p.got.s, ['after']);
  assert.equal(p.c.stats.retransmissions, 0);
});

test('a peer that acknowledges a retransmitted duplicate only with its next NUL (as Rogue) keeps the link', () => {
  const p = pair();
  p.open();
  p.c.sendData(Buffer.from('x'), p.now);
  // the server gets it, its ACK is lost; it drops the retransmissions silently until its NUL
  p.flush((x) => x.from === 'c' && !p.hdr(x).syn);
  const t0 = p.now;
  for (; p.now < t0 + 330; p.now += 20) { p.c.tick(p.now); p.flush(() => false); }
  assert.equal(p.c.state, 'open', 'still open after 15 unacknowledged sends: the peer may just be quiet');
  const nul = new Uint8Array(8);
  writeRssiHeader(nul, { syn: false, ack: true, rst: false, nul: true, busy: false, sequence: 200, acknowledge: 101 });
  p.c.receive(nul, p.now); // the peer's keep-alive acknowledges it
  assert.equal(p.c.unacked, 0);
  assert.equal(p.c.state, 'open');
});

test('a Rogue-style SYN-ACK (acknowledge number not filled in) opens a usable link', () => {
  const p = pair();
  p.c.start(p.now);
  p.wire.length = 0;
  const b = new Uint8Array(24);
  writeRssiHeader(b, { syn: true, ack: true, rst: false, nul: false, busy: false, sequence: 7, acknowledge: 0, params: { ...RSSI_DEFAULT_PARAMS } });
  p.c.receive(b, p.now);
  assert.equal(p.c.state, 'open');
  const ack = p.hdr(p.wire.shift()!);
  assert.ok(ack.ack && !ack.syn && ack.acknowledge === 7);
  for (let i = 0; i < 32; i++) p.c.sendData(Buffer.from('z'), p.now);
  assert.equal(p.c.unacked, 32, 'the whole window is usable');
  const a = new Uint8Array(8);
  writeRssiHeader(a, { syn: false, ack: true, rst: false, nul: false, busy: false, sequence: 8, acknowledge: 101 + 31 });
  p.c.receive(a, p.now);
  assert.equal(p.c.unacked, 0);
});
