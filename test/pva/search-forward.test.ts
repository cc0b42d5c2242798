// The sans-I/O search datagram logic: what is answered, and what a unicast search is forwarded as to
// the other servers of the host. The reference is pvxs itself: softIocPVX's forward of pvxget's
// unicast search is in the capture pvxs-udp-get-ai (sniffed on loopback), byte for byte.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { framesOfDatagram } from '../../src/pva/framer.ts';
import { ProtocolError, decodeMessage, encodeMessage, type PvaMessage } from '../../src/pva/messages.ts';
import { readSearchDatagram, type Arrival, type DatagramContext } from '../../src/pva/server/search.ts';
import { Writer } from '../../src/pvdata/index.ts';
import { loadCapture } from './captures.ts';

const cap = loadCapture('pvxs-udp-get-ai');
const udp = cap.chunks.filter((c) => c.transport === 'udp');
const clientSearch = udp.find((c) => c.dst === '127.0.0.1:15076')!;
const pvxsForward = udp.find((c) => c.dst === '224.0.0.128:15076')!;

function ctx(arrival: Arrival, from = clientSearch.src!): DatagramContext {
  const [address, port] = from.split(':');
  return {
    from: { address, port: Number(port) },
    arrival,
    localAddress: '127.0.0.1',
    isLocalAddress: (ip) => ip === '127.0.0.1',
  };
}

function decodeAll(b: Uint8Array): PvaMessage[] {
  return framesOfDatagram(b).map((f) => {
    assert.ok(!(f instanceof ProtocolError), String(f));
    const m = decodeMessage(f);
    assert.ok(!(m instanceof ProtocolError), String(m));
    return m;
  });
}

function datagram(...msgs: PvaMessage[]): Buffer {
  const w = new Writer(true, 256);
  for (const m of msgs) encodeMessage(w, m);
  return Buffer.from(w.bytes());
}

const search = (over: Partial<Extract<PvaMessage, { type: 'search' }>> = {}): PvaMessage => ({
  type: 'search',
  sequence: 7,
  flags: 0x81,
  address: '0.0.0.0',
  port: 40000,
  protocols: ['tcp'],
  channels: [{ cid: 1, name: 'a:b' }],
  ...over,
});

test('captures hold a real pvxs client search and softIocPVX forwarding it to 224.0.0.128', () => {
  assert.ok(clientSearch, 'client search datagram in the capture');
  assert.ok(pvxsForward, 'forwarded datagram in the capture');
});

test('a unicast search is answered and forwarded exactly as pvxs forwards it (ORIGIN_TAG, unicast flag cleared, client address)', () => {
  const out = readSearchDatagram(Buffer.from(clientSearch.hex, 'hex'), ctx('unicast'));
  assert.equal(out.answer.length, 1);
  assert.equal(out.answer[0].replyHost, '127.0.0.1');
  assert.equal(out.answer[0].replyPort, 33047);
  assert.deepEqual(out.answer[0].search.channels.map((c) => c.name), ['peer:ai']);
  assert.ok(out.forward, 'a forward');
  assert.equal(out.forward.toString('hex'), pvxsForward.hex);
});

test("pvxs's forwarded datagram, arriving through the local group, is answered to the client in its body", () => {
  // sent by another process (softIocPVX) from its search port
  const out = readSearchDatagram(Buffer.from(pvxsForward.hex, 'hex'), ctx('forwarded', '127.0.0.1:15076'));
  assert.equal(out.ignored, undefined);
  assert.equal(out.forward, undefined, 'never forwarded again');
  assert.equal(out.answer.length, 1);
  assert.equal(out.answer[0].replyHost, '127.0.0.1');
  assert.equal(out.answer[0].replyPort, 33047);
  assert.equal(out.answer[0].search.flags & 0x80, 0);
});

test('a broadcast search is answered and not forwarded', () => {
  const out = readSearchDatagram(datagram(search({ flags: 0 })), ctx('broadcast', '10.1.2.3:40000'));
  assert.equal(out.answer.length, 1);
  assert.equal(out.answer[0].replyHost, '10.1.2.3');
  assert.equal(out.forward, undefined);
});

test('a forward keeps an explicit reply address and the byte order of the search', () => {
  const w = new Writer(false, 256); // big-endian, as the pvxs client sends
  encodeMessage(w, search({ address: '10.9.8.7', port: 4444 }));
  const out = readSearchDatagram(Buffer.from(w.bytes()), ctx('unicast', '10.1.2.3:5555'));
  assert.equal(out.answer[0].replyHost, '10.9.8.7');
  assert.equal(out.answer[0].replyPort, 4444);
  const msgs = decodeAll(out.forward!);
  assert.deepEqual(msgs[0], { type: 'originTag', address: '127.0.0.1' });
  assert.equal(msgs[1].type, 'search');
  const s = msgs[1] as Extract<PvaMessage, { type: 'search' }>;
  assert.equal(s.flags, 0x01, 'unicast flag cleared, must-reply kept');
  assert.equal(s.address, '10.9.8.7');
  assert.equal(s.port, 4444);
  assert.equal(out.forward![2] & 0x80, 0x80, 'ORIGIN_TAG in the big-endian order of the search');
});

test('a datagram with several searches is forwarded as one datagram behind one ORIGIN_TAG', () => {
  const d = datagram(search({ sequence: 1 }), search({ sequence: 2, channels: [{ cid: 9, name: 'x' }] }));
  const out = readSearchDatagram(d, ctx('unicast', '127.0.0.1:40000'));
  assert.equal(out.answer.length, 2);
  const msgs = decodeAll(out.forward!);
  assert.deepEqual(msgs.map((m) => m.type), ['originTag', 'search', 'search']);
  assert.deepEqual(msgs.slice(1).map((m) => (m as { sequence: number }).sequence), [1, 2]);
});

test('forwarded searches are refused when the tag names another host or the reply address is missing', () => {
  const foreign = readSearchDatagram(
    datagram({ type: 'originTag', address: '192.0.2.1' }, search({ address: '127.0.0.1' })),
    ctx('forwarded', '127.0.0.1:5076'),
  );
  assert.equal(foreign.answer.length, 0);
  assert.match(foreign.ignored!, /non-local interface 192\.0\.2\.1/);

  const noReply = readSearchDatagram(datagram({ type: 'originTag', address: '127.0.0.1' }, search()), ctx('forwarded', '127.0.0.1:5076'));
  assert.equal(noReply.answer.length, 0);
  assert.match(noReply.ignored!, /without a reply address/);

  const anyTag = readSearchDatagram(
    datagram({ type: 'originTag', address: '0.0.0.0' }, search({ address: '127.0.0.1', port: 1234 })),
    ctx('forwarded', '127.0.0.1:5076'),
  );
  assert.equal(anyTag.answer.length, 1, 'a tag naming "any" carries no information but is valid');

  const untagged = readSearchDatagram(datagram(search({ address: '127.0.0.1', port: 1234 })), ctx('forwarded', '127.0.0.1:5076'));
  assert.equal(untagged.answer.length, 1, 'untagged forwards (as some servers send them) are answered');
});

test('an ORIGIN_TAG that did not come through the local group is refused with the whole datagram', () => {
  for (const arrival of ['unicast', 'broadcast'] as const) {
    const out = readSearchDatagram(
      datagram({ type: 'originTag', address: '127.0.0.1' }, search({ address: '127.0.0.1', port: 1234 })),
      ctx(arrival, '192.0.2.5:5076'),
    );
    assert.equal(out.answer.length, 0, arrival);
    assert.equal(out.forward, undefined, arrival);
    assert.match(out.ignored!, new RegExp(`received by ${arrival}`));
  }
});

test('malformed datagrams are reported, not thrown', () => {
  const good = datagram(search());
  for (const bad of [Buffer.from([0xca, 2, 0, 3]), Buffer.from('hello world'), good.subarray(0, good.length - 3)]) {
    const out = readSearchDatagram(bad, ctx('unicast'));
    assert.equal(out.answer.length, 0);
    assert.equal(out.forward, undefined);
    assert.ok(out.ignored, 'a reason for the log');
  }
});
