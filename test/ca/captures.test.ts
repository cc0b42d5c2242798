// The recorded conversations between real CA tools and RSRV: decode them, and
// replay their client side against our server.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  CaMemoryPv,
  CaServerConnection,
  CaStreamDecoder,
  DBR,
  answerUdpDatagram,
  concatBytes,
  decodeDbr,
  type CaMessage,
  type DbrData,
} from '../../src/ca/index.ts';
import {
  TestClient,
  decodeStream,
  decodeUdp,
  loadCaptures,
  patchSids,
  peerSource,
  startServer,
  tcpStreams,
  udpDatagrams,
  udpExchange,
  type Capture,
} from './helpers.ts';

const captures = loadCaptures();

const TCP_SEARCH_C2S = ['version', 'clientName', 'hostName', 'version', 'search', 'createChan'];
const TCP_SEARCH_S2C = ['version', 'searchReply', 'accessRights', 'createChanReply'];
const EXPECTED: Record<string, { c2s: string[]; s2c: string[]; udp?: [string, string[]][] }> = {
  'caget-ai.json': { c2s: [...TCP_SEARCH_C2S, 'readNotify', 'clearChannel'], s2c: [...TCP_SEARCH_S2C, 'readNotifyReply', 'clearChannel'] },
  'caget-ctrl-ai.json': { c2s: [...TCP_SEARCH_C2S, 'readNotify', 'clearChannel'], s2c: [...TCP_SEARCH_S2C, 'readNotifyReply', 'clearChannel'] },
  'caget-mbbo.json': { c2s: [...TCP_SEARCH_C2S, 'readNotify', 'clearChannel'], s2c: [...TCP_SEARCH_S2C, 'readNotifyReply', 'clearChannel'] },
  'caget-str.json': { c2s: [...TCP_SEARCH_C2S, 'readNotify', 'clearChannel'], s2c: [...TCP_SEARCH_S2C, 'readNotifyReply', 'clearChannel'] },
  'caget-wf.json': { c2s: [...TCP_SEARCH_C2S, 'readNotify', 'clearChannel'], s2c: [...TCP_SEARCH_S2C, 'readNotifyReply', 'clearChannel'] },
  'caget-udp-ai.json': {
    c2s: ['version', 'clientName', 'hostName', 'createChan', 'readNotify', 'clearChannel'],
    s2c: ['version', 'accessRights', 'createChanReply', 'readNotifyReply', 'clearChannel'],
    udp: [
      ['c2s', ['version', 'search']],
      ['s2c', ['version', 'searchReply']],
    ],
  },
  'cainfo-ai.json': { c2s: [...TCP_SEARCH_C2S, 'clearChannel'], s2c: [...TCP_SEARCH_S2C, 'clearChannel'] },
  'camonitor-count.json': {
    c2s: [...TCP_SEARCH_C2S, 'eventAdd'],
    s2c: [...TCP_SEARCH_S2C, 'eventAddReply', 'eventAddReply', 'eventAddReply', 'eventAddReply'],
  },
  'caput-ao.json': {
    c2s: [...TCP_SEARCH_C2S, 'readNotify', 'write', 'readNotify', 'clearChannel'],
    s2c: [...TCP_SEARCH_S2C, 'readNotifyReply', 'readNotifyReply', 'clearChannel'],
  },
  'caput-mbbo-index.json': {
    c2s: [...TCP_SEARCH_C2S, 'readNotify', 'readNotify', 'write', 'readNotify', 'clearChannel'],
    s2c: [...TCP_SEARCH_S2C, 'readNotifyReply', 'readNotifyReply', 'readNotifyReply', 'clearChannel'],
  },
  'caput-str.json': {
    c2s: [...TCP_SEARCH_C2S, 'readNotify', 'write', 'readNotify', 'clearChannel'],
    s2c: [...TCP_SEARCH_S2C, 'readNotifyReply', 'readNotifyReply', 'clearChannel'],
  },
};

test('all CA captures are present', () => {
  assert.deepEqual(captures.map((c) => c.file).sort(), Object.keys(EXPECTED).sort());
});

for (const c of captures) {
  test(`capture ${c.file}: every message decodes to the expected commands`, () => {
    const exp = EXPECTED[c.file]!;
    const streams = tcpStreams(c);
    assert.equal(streams.length, 1);
    const s = streams[0]!;
    assert.deepEqual(decodeStream(s, 'c2s').map((m) => m.kind), exp.c2s);
    assert.deepEqual(decodeStream(s, 's2c').map((m) => m.kind), exp.s2c);
    const udp = udpDatagrams(c).map((d) => [d.dir, decodeUdp(d.bytes, d.dir).map((m) => m.kind)]);
    assert.deepEqual(udp, exp.udp ?? []);
  });

  test(`capture ${c.file}: byte-by-byte feeding gives the same messages`, () => {
    for (const s of tcpStreams(c)) {
      for (const dir of ['c2s', 's2c'] as const) {
        assert.deepEqual(decodeStream(s, dir, 'bytes'), decodeStream(s, dir));
      }
    }
  });
}

test('capture contents: names, types and values decode as recorded', () => {
  const byFile = new Map(captures.map((c) => [c.file, c]));
  const s2c = (f: string): CaMessage[] => decodeStream(tcpStreams(byFile.get(f)!)[0]!, 's2c');
  const c2s = (f: string): CaMessage[] => decodeStream(tcpStreams(byFile.get(f)!)[0]!, 'c2s');
  const reply = (f: string, i = 0): DbrData => {
    const m = s2c(f).filter((x) => x.kind === 'readNotifyReply' || x.kind === 'eventAddReply')[i]!;
    assert.ok(m.kind === 'readNotifyReply' || m.kind === 'eventAddReply');
    return decodeDbr(m.dataType, m.count, m.data);
  };
  const search = c2s('caget-ai.json').find((m) => m.kind === 'search');
  assert.deepEqual(search, { kind: 'search', name: 'peer:ai', reply: 5, minorVersion: 13, cid: 1 });
  const sr = s2c('caget-ai.json').find((m) => m.kind === 'searchReply');
  assert.deepEqual(sr, { kind: 'searchReply', port: 15064, serverAddress: 0xffffffff, cid: 1 });
  assert.equal(reply('caget-ai.json').value[0], 3.25);
  assert.equal(reply('caget-mbbo.json').value[0], 'Zero');
  assert.equal(reply('caget-str.json').value[0], 'hello ca');
  assert.deepEqual(reply('caget-wf.json').value, [1.5, 2.5, 3.5, 4.5, ...new Array(12).fill(0)]);
  const ctrl = reply('caget-ctrl-ai.json');
  assert.equal(ctrl.units, 'V');
  assert.equal(ctrl.precision, 3);
  assert.deepEqual(reply('caput-mbbo-index.json').enumStrings, ['Zero', 'One', 'Two', 'Three']);
  const w = c2s('caput-ao.json').find((m) => m.kind === 'write');
  assert.ok(w?.kind === 'write');
  assert.deepEqual(decodeDbr(w.dataType, w.count, w.data).value, ['2.5']);
  const ev = c2s('camonitor-count.json').find((m) => m.kind === 'eventAdd');
  assert.ok(ev?.kind === 'eventAdd');
  assert.equal(ev.mask, 5);
  assert.equal(ev.count, 0);
  const mons = s2c('camonitor-count.json').filter((m) => m.kind === 'eventAddReply');
  assert.deepEqual(
    mons.map((m) => (m.kind === 'eventAddReply' ? decodeDbr(m.dataType, m.count, m.data).value[0] : 0)),
    [308, 309, 310, 311],
  );
  const udp = udpDatagrams(byFile.get('caget-udp-ai.json')!);
  const udpReply = decodeUdp(udp[1]!.bytes, 's2c');
  assert.deepEqual(udpReply[1], { kind: 'searchReply', port: 15064, serverAddress: 0xffffffff, cid: 1, minorVersion: 13 });
});

// ---------------------------------------------------------------------------
// Replays

/** Per-capture starting state: what the IOC held when the capture began. */
function sourceFor(file: string) {
  const src = peerSource();
  const set = (name: string, v: number | string): void => (src.lookup(name) as CaMemoryPv).set(v);
  if (file.includes('mbbo')) set('peer:mbbo', 0);
  if (file === 'caget-str.json') set('peer:str', 'hello ca');
  if (file === 'caput-str.json') set('peer:str', 'reset');
  if (file === 'caput-ao.json') set('peer:ao', 1.0);
  return src;
}

function comparable(m: CaMessage): unknown {
  if (m.kind === 'readNotifyReply' || m.kind === 'eventAddReply') {
    const d = decodeDbr(m.dataType, m.count, m.data);
    delete d.timestamp;
    return { kind: m.kind, dataType: m.dataType, count: m.count, status: m.status, dbr: d };
  }
  if (m.kind === 'createChanReply') return { ...m, sid: 0 };
  if (m.kind === 'clearChannel') return { ...m, sid: 0 };
  return m;
}

/**
 * Replays the recorded client bytes, chunk by chunk as they were captured, through a sans-I/O
 * connection; returns our replies. The only change to the bytes: the sid RSRV handed out becomes
 * the one we did (learned from our CREATE_CHAN reply), patched in the header in place.
 */
async function replaySansIo(c: Capture): Promise<{ ours: CaMessage[]; recorded: CaMessage[] }> {
  const stream = tcpStreams(c)[0]!;
  const recorded = decodeStream(stream, 's2c');
  const out: Uint8Array[] = [];
  const closed: string[] = [];
  const conn = new CaServerConnection(
    { send: (b) => (out.push(b), true), close: (r) => closed.push(r) },
    { source: sourceFor(c.file), serverPort: 15064 },
  );
  conn.start();
  const dec = new CaStreamDecoder('s2c');
  const ours: CaMessage[] = [];
  const drain = (): void => {
    for (const b of out.splice(0)) for (const r of dec.push(b)) ours.push(r.ok ? r.message : assert.fail(r.error));
  };
  // RSRV's sid → ours, through the cid both replies carry
  const sidMap = new Map<number, number>();
  const learn = (): void => {
    for (const theirs of recorded) {
      if (theirs.kind !== 'createChanReply') continue;
      const mine = ours.find((x) => x.kind === 'createChanReply' && x.cid === theirs.cid);
      if (mine?.kind === 'createChanReply') sidMap.set(theirs.sid, mine.sid);
    }
  };
  const chunks = stream.chunks.filter((ch) => ch.dir === 'c2s').map((ch) => ch.bytes);
  const whole = concatBytes(chunks);
  let at = 0;
  for (const chunk of chunks) {
    const bytes = patchSids(whole, (sid) => sidMap.get(sid)).subarray(at, at + chunk.length);
    at += chunk.length;
    conn.receive(bytes);
    await new Promise((r) => setImmediate(r));
    drain();
    learn();
  }
  assert.equal(sidMap.size, recorded.filter((m) => m.kind === 'createChanReply').length, 'learned our sid of every channel');
  assert.deepEqual(closed, []);
  conn.close();
  return { ours, recorded };
}

for (const c of captures) {
  test(`replay ${c.file} (client side) against our server connection: replies match RSRV's`, async () => {
    const { ours, recorded } = await replaySansIo(c);
    if (c.file === 'camonitor-count.json') {
      // The IOC's counter ticked 3 more times; ours does not tick: compare the first update.
      assert.deepEqual(ours.map(comparable), recorded.slice(0, 5).map(comparable));
      return;
    }
    assert.deepEqual(ours.map(comparable), recorded.map(comparable));
  });
}

test('replay caget-ai over a real TCP socket (search over the circuit, then get)', async () => {
  const server = await startServer({ source: peerSource() });
  try {
    const c = captures.find((x) => x.file === 'caget-ai.json')!;
    const stream = tcpStreams(c)[0]!;
    const theirSid = decodeStream(stream, 's2c').find((m) => m.kind === 'createChanReply')!;
    assert.ok(theirSid.kind === 'createChanReply');
    const cl = await TestClient.connect(server.port);
    const greeting = await cl.waitFor('version');
    assert.equal(greeting.minorVersion, 13);
    // the recorded client bytes, chunk by chunk; a chunk naming RSRV's sid waits for ours
    const chunks = stream.chunks.filter((ch) => ch.dir === 'c2s').map((ch) => ch.bytes);
    const whole = concatBytes(chunks);
    const marked = patchSids(whole, () => 0xffffffff); // where sids are
    let ours: number | undefined;
    let at = 0;
    for (const chunk of chunks) {
      const range = [at, at + chunk.length] as const;
      at += chunk.length;
      if (ours === undefined && !Buffer.from(marked.subarray(...range)).equals(Buffer.from(chunk))) {
        const sr = await cl.waitFor('searchReply');
        assert.deepEqual(sr, { kind: 'searchReply', port: server.port, serverAddress: 0xffffffff, cid: 1 });
        const cr = await cl.waitFor('createChanReply');
        assert.equal(cr.dataType, DBR.DOUBLE);
        ours = cr.sid;
      }
      cl.sendRaw(patchSids(whole, (sid) => (sid === theirSid.sid ? ours : undefined)).subarray(...range));
    }
    assert.notEqual(ours, undefined, 'the client used a sid');
    const rd = await cl.waitFor('readNotifyReply');
    assert.equal(rd.dataType, DBR.TIME_DOUBLE);
    const d = decodeDbr(rd.dataType, rd.count, rd.data);
    assert.equal(d.value[0], 3.25);
    const nowEpics = Date.now() / 1000 - 631152000;
    assert.ok(Math.abs(d.timestamp!.secondsPastEpoch - nowEpics) < 60, 'timestamp is in the EPICS epoch');
    await cl.waitFor('clearChannel');
    cl.close();
  } finally {
    await server.stop();
  }
});

test('replay caget-udp-ai: the UDP search datagram gets RSRV-shaped answer from a live server', async () => {
  const server = await startServer({ source: peerSource() });
  try {
    const c = captures.find((x) => x.file === 'caget-udp-ai.json')!;
    const [req, rec] = udpDatagrams(c);
    const replies = await udpExchange(server.port, req!.bytes);
    assert.equal(replies.length, 1);
    const ours = decodeUdp(replies[0]!, 's2c');
    const theirs = decodeUdp(rec!.bytes, 's2c');
    assert.deepEqual(ours[0], theirs[0]);
    assert.deepEqual(ours[1], { ...theirs[1], port: server.port });
    // Sans-I/O responder, same answer.
    const sans = answerUdpDatagram(req!.bytes, peerSource(), 15064);
    assert.deepEqual(Buffer.from(sans.reply!).toString('hex'), Buffer.from(rec!.bytes).toString('hex'));
  } finally {
    await server.stop();
  }
});
