// SRPv3 frames, the client transaction engine and the emulator, without sockets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  SrpOpcode, SrpStatus, decodeSrpRequest, decodeSrpResponse, encodeSrpRequest, encodeSrpResponse, srpStatusMessage,
} from '../../src/srp/srpv3.ts';
import { SrpV3Client, type SrpTransaction, type SrpTransactionType } from '../../src/srp/srpv3-client.ts';
import { SrpV3Emulation } from '../../src/srp/srpv3-emulation.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

test('request layout: little-endian words, version 3, opcode in bits 9:8, hw timeout in 31:24, size - 1', () => {
  const f = encodeSrpRequest(
    { opcode: SrpOpcode.write, id: 0x11223344, address: 0x1_2345_6788, size: 8, hwTimeout: 10, ignoreMemResp: false },
    Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8),
  );
  assert.equal(hex(f),
    '0301000a' + // word0 = 0x0a000103
    '44332211' + // id
    '88674523' + // address low 0x23456788
    '01000000' + // address high
    '07000000' + // size - 1
    '0102030405060708');
  const r = decodeSrpRequest(f);
  assert.deepEqual({ ...r, data: [...r.data!] }, {
    opcode: 1, id: 0x11223344, address: 0x1_2345_6788, size: 8, hwTimeout: 10, ignoreMemResp: false, data: [1, 2, 3, 4, 5, 6, 7, 8],
  });
  // a read carries no data; posted write opcode 2
  assert.equal(encodeSrpRequest({ opcode: SrpOpcode.read, id: 1, address: 0, size: 4096, hwTimeout: 0, ignoreMemResp: true }).length, 20);
  assert.equal(hex(encodeSrpRequest({ opcode: SrpOpcode.read, id: 1, address: 0, size: 4096, hwTimeout: 0, ignoreMemResp: true }).subarray(0, 4)), '03400000');
  assert.equal(hex(encodeSrpRequest({ opcode: SrpOpcode.post, id: 1, address: 0, size: 4, hwTimeout: 0, ignoreMemResp: false }, new Uint8Array(4)).subarray(0, 4)), '03020000');
  assert.throws(() => encodeSrpRequest({ opcode: SrpOpcode.write, id: 1, address: 0, size: 8, hwTimeout: 0, ignoreMemResp: false }, new Uint8Array(4)), /needs 8 bytes/);
  assert.throws(() => decodeSrpRequest(Uint8Array.of(2, 0, 0, 0, ...new Array(16).fill(0))), /not an SRPv3 frame/);
});

test('response layout: header echo, data, status tail; status words read as operators need them', () => {
  const req = { opcode: SrpOpcode.read, id: 7, address: 0x100, size: 4, hwTimeout: 10, ignoreMemResp: false } as const;
  const f = encodeSrpResponse(req, Uint8Array.of(0xde, 0xad, 0xbe, 0xef), 0x100);
  assert.equal(f.length, 28);
  assert.equal(hex(f.subarray(24)), '00010000');
  const r = decodeSrpResponse(f);
  assert.equal(r.status, 0x100);
  assert.equal(r.id, 7);
  assert.equal(hex(r.data), 'deadbeef');
  assert.match(srpStatusMessage(SrpStatus.timeout)!, /bus timeout/);
  assert.match(srpStatusMessage(SrpStatus.busLockup | SrpStatus.timeout)!, /lockup/);
  assert.match(srpStatusMessage(3)!, /decode error/);
  assert.match(srpStatusMessage(SrpStatus.versionMismatch)!, /version mismatch.*0x00000800/);
  assert.equal(srpStatusMessage(0), undefined);
  assert.throws(() => decodeSrpResponse(new Uint8Array(23)), /undersized/);
});

/** A client wired to an emulator through a queue the test drains (in any order it likes). */
function rig(opts: { retries?: number } = {}) {
  const emu = new SrpV3Emulation();
  const wire: Uint8Array[] = [];
  const client = new SrpV3Client({ send: (f) => void wire.push(f.slice()), retries: opts.retries });
  client.setLink(true);
  const results = new Map<string, string | undefined>();
  const submit = (name: string, type: SrpTransactionType, address: number, data: Uint8Array, now = 0, timeoutMs = 1000) => {
    const t: SrpTransaction = { type, address, size: data.length, data, timeoutMs, done: (e) => void results.set(name, e) };
    client.submit(t, now);
  };
  /** Emulator answers the queued requests in the given order (indices into the queue). */
  const serve = (order?: number[]) => {
    const reqs = wire.splice(0);
    const replies = reqs.map((f) => emu.handle(f));
    for (const i of order ?? replies.map((_, i) => i)) if (replies[i]) client.receive(replies[i]!);
  };
  return { emu, wire, client, results, submit, serve };
}

test('client: write, read back, out-of-order responses matched by id', () => {
  const { client, results, submit, serve } = rig();
  const w = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
  submit('w', 'write', 0x1000, w);
  serve();
  assert.equal(results.get('w'), undefined);
  assert.ok(results.has('w'));
  const a = new Uint8Array(4), b = new Uint8Array(4), c = new Uint8Array(8);
  submit('a', 'read', 0x1000, a);
  submit('b', 'read', 0x1004, b);
  submit('c', 'verify', 0x1000, c);
  serve([2, 0, 1]);
  assert.deepEqual([...a], [1, 2, 3, 4]);
  assert.deepEqual([...b], [5, 6, 7, 8]);
  assert.deepEqual([...c], [...w]);
  assert.equal(client.outstanding, 0);
  assert.equal(client.stats.completed, 4);
});

test('client: a posted write completes when sent, has no response, and lands', () => {
  const { emu, results, submit, serve, wire } = rig();
  submit('p', 'post', 0x20, Uint8Array.of(9, 9, 9, 9));
  assert.ok(results.has('p') && results.get('p') === undefined, 'done before any response');
  assert.equal(wire.length, 1);
  serve();
  assert.deepEqual([...emu.read(0x20, 4)], [9, 9, 9, 9]);
  assert.equal(emu.stats.posts, 1);
});

test('client: alignment and the 4 KiB limit fail at once', () => {
  const { results, submit, wire } = rig();
  submit('odd', 'read', 0x1002, new Uint8Array(4));
  submit('short', 'read', 0x1000, new Uint8Array(6));
  submit('big', 'read', 0x1000, new Uint8Array(4100));
  assert.match(results.get('odd')!, /not aligned/);
  assert.match(results.get('short')!, /not a multiple of 4/);
  assert.match(results.get('big')!, /exceeds the SRPv3 maximum of 4096/);
  assert.equal(wire.length, 0);
});

test('client: status tail errors fail the transaction with their meaning (response stopped early)', () => {
  const { emu, results, submit, serve } = rig();
  (emu as unknown as { fault: (r: { address: number }) => number | undefined }).fault = (r) =>
    r.address === 0x40 ? SrpStatus.timeout : r.address === 0x44 ? SrpStatus.busLockup : r.address === 0x48 ? 2 : undefined;
  submit('t', 'read', 0x40, new Uint8Array(4));
  submit('l', 'write', 0x44, new Uint8Array(4));
  submit('s', 'read', 0x48, new Uint8Array(4));
  submit('ok', 'read', 0x4c, new Uint8Array(4));
  serve();
  assert.match(results.get('t')!, /bus timeout/);
  assert.match(results.get('l')!, /lockup/);
  assert.match(results.get('s')!, /AXI slave error/);
  assert.equal(results.get('ok'), undefined);
});

test('client: mismatched header or size, unknown ids and garbage are refused', () => {
  const { client, results, submit, wire } = rig();
  submit('a', 'read', 0x100, new Uint8Array(4));
  submit('b', 'read', 0x200, new Uint8Array(8));
  const [fa, fb] = wire.splice(0).map(decodeSrpRequest);
  // right id, wrong address
  client.receive(encodeSrpResponse({ ...fa, address: 0x104 }, new Uint8Array(4), 0));
  assert.match(results.get('a')!, /did not match the request/);
  // right header, short data
  client.receive(encodeSrpResponse(fb, new Uint8Array(4), 0));
  assert.match(results.get('b')!, /response of 28 bytes, expected 32/);
  // unknown id, garbage: counted, nothing fails
  assert.equal(client.receive(encodeSrpResponse({ ...fa, id: 999 }, new Uint8Array(4), 0)), false);
  assert.equal(client.receive(Uint8Array.of(1, 2, 3)), false);
  assert.equal(client.stats.unmatched, 1);
  assert.equal(client.stats.malformed, 1);
});

test('client: timeouts on the caller\'s clock; retries go out with a fresh id; a late response is ignored', () => {
  const { client, results, submit, wire, emu } = rig({ retries: 1 });
  submit('r', 'read', 0x300, new Uint8Array(4), 0, 100);
  assert.equal(client.nextDeadline(), 100);
  const first = decodeSrpRequest(wire[0]);
  client.tick(99);
  assert.equal(wire.length, 1, 'nothing before the deadline');
  client.tick(100);
  assert.equal(wire.length, 2, 'retried');
  const second = decodeSrpRequest(wire[1]);
  assert.notEqual(second.id, first.id);
  assert.equal(client.stats.retries, 1);
  // the late answer to the first attempt matches nothing
  assert.equal(client.receive(emu.handle(wire[0])!), false);
  assert.ok(!results.has('r'));
  client.tick(200);
  assert.match(results.get('r')!, /timed out after 0.1 s \(no response\)/);
  assert.equal(client.outstanding, 0);
});

test('client: while the link is down requests wait, go out when it opens, or time out naming the link', () => {
  const { client, results, submit, wire, serve } = rig();
  client.setLink(false, 'RSSI link down');
  submit('x', 'read', 0x10, new Uint8Array(4), 0, 100);
  submit('y', 'read', 0x14, new Uint8Array(4), 50, 100);
  assert.equal(wire.length, 0);
  client.tick(100);
  assert.match(results.get('x')!, /never sent, RSSI link down/);
  client.setLink(true);
  assert.equal(wire.length, 1);
  serve();
  assert.equal(results.get('y'), undefined);
  assert.ok(results.has('y'));
});

test('client: the link going down fails requests waiting for a response at once, or queues them again while they have retries', () => {
  const { client, results, submit, wire, serve } = rig({ retries: 1 });
  submit('a', 'read', 0x10, new Uint8Array(4), 0, 1000);
  submit('p', 'post', 0x14, new Uint8Array(4), 0, 1000);
  assert.equal(wire.length, 2);
  wire.length = 0;
  client.setLink(false, 'link down: the peer reset the link', 10);
  assert.ok(!results.has('a'), 'queued again (a retry left)');
  assert.equal(client.stats.retries, 1);
  client.setLink(true, undefined, 20);
  assert.equal(wire.length, 1, 'resent when the link is back');
  client.setLink(false, 'link down: gone', 30);
  assert.equal(results.get('a'), 'link down: gone before the response arrived');
  assert.equal(results.get('p'), undefined, 'a posted write was done when sent');
  client.setLink(true);
  serve();
  assert.equal(client.outstanding, 0);
});

test('client: abortAll fails everything outstanding', () => {
  const { client, results, submit } = rig({ retries: 5 });
  submit('a', 'read', 0, new Uint8Array(4));
  client.setLink(false); // 'a' goes back to waiting (it has retries)
  submit('b', 'read', 0, new Uint8Array(4));
  client.setLink(true);
  submit('c', 'read', 0, new Uint8Array(4));
  client.setLink(false);
  submit('d', 'read', 0, new Uint8Array(4));
  assert.equal(results.size, 0);
  client.abortAll('closed');
  assert.deepEqual([...results.values()], ['closed', 'closed', 'closed', 'closed']);
  assert.equal(client.outstanding, 0);
});

test('emulator: pages, 4 KiB transactions across pages, invalid requests dropped, random fill', () => {
  const emu = new SrpV3Emulation();
  const data = new Uint8Array(4096).map((_, i) => i & 0xff);
  const w = emu.handle(encodeSrpRequest({ opcode: SrpOpcode.write, id: 1, address: 0x800, size: 4096, hwTimeout: 0, ignoreMemResp: false }, data))!;
  assert.equal(w.length, 20 + 4096 + 4, 'a write is answered with the data read back');
  assert.equal(emu.pageCount, 2);
  assert.deepEqual(emu.read(0x800, 4096), data);
  const bad = [
    encodeSrpRequest({ opcode: SrpOpcode.read, id: 2, address: 0, size: 4100, hwTimeout: 0, ignoreMemResp: false }),
    encodeSrpRequest({ opcode: SrpOpcode.read, id: 3, address: 0, size: 6, hwTimeout: 0, ignoreMemResp: false }),
    encodeSrpRequest({ opcode: SrpOpcode.null, id: 4, address: 0, size: 4, hwTimeout: 0, ignoreMemResp: false }),
    Uint8Array.of(1, 2, 3),
  ];
  for (const f of bad) assert.equal(emu.handle(f), undefined);
  assert.equal(emu.stats.dropped, 4);
  const rnd = new SrpV3Emulation({ fill: 'random' });
  assert.ok(rnd.read(0, 64).some((b) => b !== 0));
});
