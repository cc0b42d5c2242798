// The CA server over real loopback sockets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import * as net from 'node:net';

import {
  CaMemoryPv,
  CaServer,
  CaServerConnection,
  DBE_ALARM,
  DBE_LOG,
  DBE_PROPERTY,
  DBE_VALUE,
  DBR,
  ECA,
  SEARCH_DO_REPLY,
  SEARCH_DONT_REPLY,
  StaticCaSource,
  concatBytes,
  decodeDbr,
  encodeDbr,
  encodeMessage,
  resolveCaServerConfig,
  type CaMessage,
  type CaValue,
} from '../../src/ca/index.ts';
import { TestClient, decodeUdp, freePort, freeUdpPort, memoryLog, peerSource, sleep, startServer, udpExchange } from './helpers.ts';

const LONG_NAME = 'pvtree:' + 'very-long-segment:'.repeat(10) + 'end'; // > 180 characters

function source(): StaticCaSource {
  const src = peerSource();
  src.add(LONG_NAME, new CaMemoryPv({ type: 'long', value: 123 }));
  src.add('ro:long', new CaMemoryPv({ type: 'long', value: 7, writable: false }));
  src.add('t:short', new CaMemoryPv({ type: 'short', value: -5, metadata: { units: 'cts', upperDisplay: 100, lowerDisplay: -100 } }));
  src.add('t:float', new CaMemoryPv({ type: 'float', value: 1.5, metadata: { precision: 2, units: 'mm' } }));
  src.add('t:char', new CaMemoryPv({ type: 'char', value: [104, 105, 0], maxCount: 8 }));
  return src;
}

async function withServer(fn: (server: CaServer, src: StaticCaSource, cl: TestClient) => Promise<void>): Promise<void> {
  const src = source();
  const server = await startServer({ source: src });
  const cl = await TestClient.connect(server.port);
  cl.hello();
  try {
    await fn(server, src, cl);
  } finally {
    cl.close();
    await server.stop();
  }
}

/** Sends an ECHO and waits for its answer: everything the server sent before it has arrived. */
async function echoRoundTrip(cl: TestClient): Promise<void> {
  const from = cl.messages.length;
  cl.send({ kind: 'echo' });
  await cl.waitFor('echo', () => true, 3000, from);
}

let ioid = 100;
async function get(cl: TestClient, sid: number, dataType: number, count = 1) {
  const id = ioid++;
  cl.send({ kind: 'readNotify', dataType, count, sid, ioid: id });
  const r = await cl.waitFor('readNotifyReply', (m) => m.ioid === id);
  return { status: r.status, count: r.count, data: r.status === ECA.NORMAL ? decodeDbr(r.dataType, r.count, r.data) : undefined };
}
async function put(cl: TestClient, sid: number, dataType: number, value: number[] | string[]) {
  const id = ioid++;
  const from = cl.messages.length;
  cl.send({ kind: 'writeNotify', dataType, count: value.length, sid, ioid: id, data: encodeDbr(dataType, { value }) });
  const r = await cl.waitFor('writeNotifyReply', (m) => m.ioid === id);
  const err = cl.messages.slice(from).find((m) => m.kind === 'error' && m.request.parameter2 === id);
  return { status: r.status, error: err?.kind === 'error' ? err : undefined };
}

test('config: options, then EPICS_* environment, then defaults', () => {
  const d = resolveCaServerConfig({ env: {} });
  assert.equal(d.port, 5064);
  assert.deepEqual(d.interfaces, ['0.0.0.0']);
  assert.equal(d.repeaterPort, 5065);
  assert.equal(d.beaconPeriod, 15);
  assert.equal(d.autoBeaconAddresses, true);
  const e = resolveCaServerConfig({
    env: {
      EPICS_CA_SERVER_PORT: '6064',
      EPICS_CAS_INTF_ADDR_LIST: '127.0.0.1',
      EPICS_CAS_BEACON_ADDR_LIST: '127.0.0.1 127.0.0.2:7000',
      EPICS_CAS_AUTO_BEACON_ADDR_LIST: 'NO',
      EPICS_CA_BEACON_PERIOD: '2.5',
      EPICS_CA_REPEATER_PORT: '6065',
    },
  });
  assert.equal(e.port, 6064);
  assert.deepEqual(e.interfaces, ['127.0.0.1']);
  assert.deepEqual(e.beaconAddresses, [
    { host: '127.0.0.1', port: 6065 },
    { host: '127.0.0.2', port: 7000 },
  ]);
  assert.equal(e.autoBeaconAddresses, false);
  assert.equal(e.beaconPeriod, 2.5);
  assert.equal(resolveCaServerConfig({ env: { EPICS_CA_SERVER_PORT: '6064', EPICS_CAS_SERVER_PORT: '7064' } }).port, 7064);
  assert.equal(resolveCaServerConfig({ env: { EPICS_CA_AUTO_ADDR_LIST: 'NO' } }).autoBeaconAddresses, false);
  assert.deepEqual(resolveCaServerConfig({ env: { EPICS_CA_ADDR_LIST: '10.0.0.255' } }).beaconAddresses, [{ host: '10.0.0.255', port: 5065 }]);
  assert.equal(resolveCaServerConfig({ port: 1234, env: { EPICS_CA_SERVER_PORT: '6064' } }).port, 1234);
  const cas = resolveCaServerConfig({
    env: { EPICS_CAS_BEACON_PORT: '7065', EPICS_CA_REPEATER_PORT: '6065', EPICS_CAS_BEACON_PERIOD: '3', EPICS_CA_BEACON_PERIOD: '9' },
  });
  assert.deepEqual([cas.repeaterPort, cas.beaconPeriod], [7065, 3]);
  // Bad values fall back to the defaults.
  const bad = resolveCaServerConfig({ env: { EPICS_CA_SERVER_PORT: 'abc', EPICS_CA_BEACON_PERIOD: '-1', EPICS_CA_REPEATER_PORT: '70000' } });
  assert.deepEqual([bad.port, bad.beaconPeriod, bad.repeaterPort], [5064, 15, 5065]);
});

test('a taken TCP port falls back to an ephemeral one; UDP stays on the configured port, shared', async () => {
  const { log, lines } = memoryLog();
  const a = await startServer({ source: source(), port: 0 });
  const taken = a.port;
  const b = await startServer({ source: source(), port: taken, log });
  try {
    assert.notEqual(b.port, taken);
    assert.ok(b.port > 0);
    assert.equal(b.udpPort, taken, 'UDP shares the configured port (SO_REUSEADDR)');
    assert.ok(lines.some((l) => l.includes('in use')));
    // A search on the shared port is answered by one of them, with its TCP port.
    const req = concatBytes([
      encodeMessage({ kind: 'version', priority: 0, minorVersion: 13, sequence: 1 }),
      encodeMessage({ kind: 'search', name: 'peer:ai', reply: SEARCH_DONT_REPLY, minorVersion: 13, cid: 5 }),
    ]);
    const replies = await udpExchange(taken, req);
    assert.ok(replies.length >= 1);
    const m = decodeUdp(replies[0]!, 's2c')[1]!;
    assert.ok(m.kind === 'searchReply' && [a.port, b.port].includes(m.port));
    // The fallback server's TCP port works.
    const cl = await TestClient.connect(b.port);
    await cl.waitFor('version');
    cl.close();
  } finally {
    await b.stop();
    await a.stop();
  }
});

test('env-configured port (EPICS_CA_SERVER_PORT) is used', async () => {
  const port = await freePort();
  const server = new CaServer({
    source: source(),
    env: { EPICS_CA_SERVER_PORT: String(port), EPICS_CAS_INTF_ADDR_LIST: '127.0.0.1' },
    beacons: false,
    log: () => {},
  });
  const r = await server.start();
  try {
    assert.equal(r.port, port);
    assert.equal(server.port, port);
  } finally {
    await server.stop();
  }
});

test('UDP search: found, not found (silent unless DO_REPLY), several names per datagram', async () => {
  const server = await startServer({ source: source() });
  try {
    const req = concatBytes([
      encodeMessage({ kind: 'version', priority: 0, minorVersion: 13, sequence: 9 }),
      encodeMessage({ kind: 'search', name: 'peer:ai', reply: SEARCH_DONT_REPLY, minorVersion: 13, cid: 1 }),
      encodeMessage({ kind: 'search', name: 'nope', reply: SEARCH_DONT_REPLY, minorVersion: 13, cid: 2 }),
      encodeMessage({ kind: 'search', name: 'nope2', reply: SEARCH_DO_REPLY, minorVersion: 13, cid: 3 }),
      encodeMessage({ kind: 'search', name: LONG_NAME, reply: SEARCH_DONT_REPLY, minorVersion: 13, cid: 4 }),
    ]);
    const replies = await udpExchange(server.port, req);
    assert.equal(replies.length, 1);
    const ms = decodeUdp(replies[0]!, 's2c');
    assert.deepEqual(ms, [
      { kind: 'version', priority: 0, minorVersion: 13, sequence: 9 },
      { kind: 'searchReply', port: server.port, serverAddress: 0xffffffff, cid: 1, minorVersion: 13 },
      { kind: 'notFound', reply: SEARCH_DO_REPLY, minorVersion: 13, cid: 3 },
      { kind: 'searchReply', port: server.port, serverAddress: 0xffffffff, cid: 4, minorVersion: 13 },
    ]);
    const none = await udpExchange(
      server.port,
      encodeMessage({ kind: 'search', name: 'nope', reply: SEARCH_DONT_REPLY, minorVersion: 13, cid: 1 }),
    );
    assert.equal(none.length, 0);
    // A garbage datagram is dropped without a reply and the server keeps answering.
    assert.equal((await udpExchange(server.port, Uint8Array.of(0, 6, 0xff, 0xff, 1, 2, 3))).length, 0);
    assert.equal((await udpExchange(server.port, req)).length, 1);
  } finally {
    await server.stop();
  }
});

test('TCP search over the circuit, long names, create failure, echo and read sync', async () => {
  await withServer(async (server, _src, cl) => {
    cl.send({ kind: 'search', name: LONG_NAME, reply: SEARCH_DONT_REPLY, minorVersion: 13, cid: 11 });
    assert.deepEqual(await cl.waitFor('searchReply', (m) => m.cid === 11), {
      kind: 'searchReply',
      port: server.port,
      serverAddress: 0xffffffff,
      cid: 11,
    });
    cl.send({ kind: 'search', name: 'missing', reply: SEARCH_DONT_REPLY, minorVersion: 13, cid: 12 });
    cl.send({ kind: 'search', name: 'missing', reply: SEARCH_DO_REPLY, minorVersion: 13, cid: 13 });
    await echoRoundTrip(cl);
    assert.ok(!cl.messages.some((m) => m.kind === 'notFound' && m.cid === 12));
    assert.ok(cl.messages.some((m) => m.kind === 'notFound' && m.cid === 13));
    const ch = await cl.open(LONG_NAME, 1);
    assert.equal(ch.dataType, DBR.LONG);
    assert.equal((await get(cl, ch.sid, DBR.TIME_LONG)).data!.value[0], 123);
    cl.send({ kind: 'createChan', cid: 2, minorVersion: 13, name: 'missing' });
    assert.deepEqual(await cl.waitFor('createChFail'), { kind: 'createChFail', cid: 2 });
    cl.send({ kind: 'readSync' });
    await cl.waitFor('readSync');
    cl.send({ kind: 'clearChannel', sid: ch.sid, cid: 1 });
    assert.deepEqual(await cl.waitFor('clearChannel'), { kind: 'clearChannel', sid: ch.sid, cid: 1 });
  });
});

test('reads convert the native type to the requested DBR type', async () => {
  await withServer(async (_server, _src, cl) => {
    const ai = await cl.open('peer:ai', 1);
    assert.deepEqual(ai, { sid: ai.sid, dataType: DBR.DOUBLE, count: 1, access: 3 });
    assert.deepEqual((await get(cl, ai.sid, DBR.STRING)).data!.value, ['3.250']);
    assert.deepEqual((await get(cl, ai.sid, DBR.LONG)).data!.value, [3]);
    const cl_ = (await get(cl, ai.sid, DBR.CTRL_LONG)).data!;
    assert.equal(cl_.units, 'V');
    assert.equal(cl_.upperDisplay, 10);
    assert.equal(cl_.lowerDisplay, -10);
    assert.equal(cl_.upperAlarm, 9);
    assert.equal(cl_.upperControl, 10);
    const gr = (await get(cl, ai.sid, DBR.GR_FLOAT)).data!;
    assert.equal(gr.precision, 3);
    assert.equal(gr.value[0], 3.25);
    const sts = (await get(cl, ai.sid, DBR.STS_CHAR)).data!;
    assert.deepEqual([sts.status, sts.severity, sts.value[0]], [0, 0, 3]);

    const mbbo = await cl.open('peer:mbbo', 2);
    assert.equal(mbbo.dataType, DBR.ENUM);
    assert.deepEqual((await get(cl, mbbo.sid, DBR.STRING)).data!.value, ['One']);
    assert.deepEqual((await get(cl, mbbo.sid, DBR.DOUBLE)).data!.value, [1]);
    assert.deepEqual((await get(cl, mbbo.sid, DBR.CTRL_ENUM)).data!.enumStrings, ['Zero', 'One', 'Two', 'Three']);
    assert.deepEqual((await get(cl, mbbo.sid, DBR.TIME_STRING)).data!.value, ['One']);

    const str = await cl.open('peer:str', 3);
    assert.equal(str.dataType, DBR.STRING);
    assert.deepEqual((await get(cl, str.sid, DBR.CTRL_STRING)).data!.value, ['hello']);

    const wf = await cl.open('peer:wf', 4);
    assert.equal(wf.count, 16);
    const dyn = await get(cl, wf.sid, DBR.TIME_DOUBLE, 0);
    assert.equal(dyn.count, 4, 'count 0 means the current length');
    assert.deepEqual(dyn.data!.value, [1.5, 2.5, 3.5, 4.5]);
    const full = await get(cl, wf.sid, DBR.DOUBLE, 16);
    assert.equal(full.count, 16);
    assert.deepEqual(full.data!.value.slice(3, 6), [4.5, 0, 0]);
    assert.deepEqual((await get(cl, wf.sid, DBR.STRING, 2)).data!.value, ['1.5', '2.5']);
    assert.equal((await get(cl, wf.sid, DBR.DOUBLE, 17)).status, ECA.BADCOUNT);
    assert.equal((await get(cl, wf.sid, 99)).status, ECA.BADTYPE);
    assert.equal((await put(cl, wf.sid, DBR.PUT_ACKS, [1])).status, ECA.PUTFAIL);

    assert.deepEqual((await get(cl, ai.sid, DBR.CLASS_NAME)).data!.value, ['pvtree']);
    const sa = (await get(cl, ai.sid, DBR.STSACK_STRING)).data!;
    assert.deepEqual([sa.value[0], sa.status, sa.severity, sa.ackt, sa.acks], ['3.250', 0, 0, 0, 0]);
    assert.equal((await get(cl, ai.sid, 39)).status, ECA.BADTYPE);

    const sh = await cl.open('t:short', 5);
    const ctrlShort = (await get(cl, sh.sid, DBR.CTRL_SHORT)).data!;
    assert.deepEqual([ctrlShort.value[0], ctrlShort.units, ctrlShort.upperDisplay, ctrlShort.lowerDisplay], [-5, 'cts', 100, -100]);
    const fl = await cl.open('t:float', 6);
    assert.equal(fl.dataType, DBR.FLOAT);
    assert.deepEqual((await get(cl, fl.sid, DBR.STRING)).data!.value, ['1.50']);
    const ch = await cl.open('t:char', 7);
    assert.deepEqual([ch.dataType, ch.count], [DBR.CHAR, 8]);
    assert.deepEqual((await get(cl, ch.sid, DBR.CHAR, 0)).data!.value, [104, 105, 0]);
  });
});

test('writes: conversion, enums by string and index, read-only denial, failures', async () => {
  await withServer(async (_server, src, cl) => {
    const ao = await cl.open('peer:ao', 1);
    assert.equal((await put(cl, ao.sid, DBR.STRING, ['2.5'])).status, ECA.NORMAL);
    assert.equal((src.lookup('peer:ao') as CaMemoryPv).current, 2.5);
    assert.equal((await put(cl, ao.sid, DBR.LONG, [-7])).status, ECA.NORMAL);
    assert.equal((src.lookup('peer:ao') as CaMemoryPv).current, -7);
    const bad = await put(cl, ao.sid, DBR.STRING, ['not a number']);
    assert.equal(bad.status, ECA.PUTFAIL);
    assert.match(bad.error!.message, /not a number/);
    assert.equal(bad.error!.status, ECA.PUTFAIL);
    assert.equal((src.lookup('peer:ao') as CaMemoryPv).current, -7);

    const mbbo = await cl.open('peer:mbbo', 2);
    assert.equal((await put(cl, mbbo.sid, DBR.STRING, ['Two'])).status, ECA.NORMAL);
    assert.equal((src.lookup('peer:mbbo') as CaMemoryPv).current, 2);
    assert.equal((await put(cl, mbbo.sid, DBR.DOUBLE, [3])).status, ECA.NORMAL);
    assert.equal((src.lookup('peer:mbbo') as CaMemoryPv).current, 3);
    assert.equal((await put(cl, mbbo.sid, DBR.STRING, ['1'])).status, ECA.NORMAL);
    assert.equal((src.lookup('peer:mbbo') as CaMemoryPv).current, 1);
    assert.equal((await put(cl, mbbo.sid, DBR.ENUM, [9])).status, ECA.PUTFAIL);
    assert.equal((await put(cl, mbbo.sid, DBR.STRING, ['Nine'])).status, ECA.PUTFAIL);
    assert.equal((src.lookup('peer:mbbo') as CaMemoryPv).current, 1);

    const str = await cl.open('peer:str', 3);
    assert.equal((await put(cl, str.sid, DBR.DOUBLE, [1.25])).status, ECA.NORMAL);
    assert.equal((src.lookup('peer:str') as CaMemoryPv).current, '1.25');

    const wf = await cl.open('peer:wf', 4);
    assert.equal((await put(cl, wf.sid, DBR.LONG, [1, 2, 3, 4, 5, 6])).status, ECA.NORMAL);
    assert.deepEqual((src.lookup('peer:wf') as CaMemoryPv).current, [1, 2, 3, 4, 5, 6]);

    const ro = await cl.open('ro:long', 5);
    assert.equal(ro.access, 1, 'ACCESS_RIGHTS: read only');
    assert.equal((await put(cl, ro.sid, DBR.LONG, [99])).status, ECA.NOWTACCESS);
    // Plain WRITE gets an ERROR message.
    cl.send({ kind: 'write', dataType: DBR.LONG, count: 1, sid: ro.sid, ioid: 555, data: encodeDbr(DBR.LONG, { value: [98] }) });
    const err = await cl.waitFor('error', (m) => m.request.parameter2 === 555);
    assert.equal(err.status, ECA.NOWTACCESS);
    assert.equal(err.cid, 5);
    assert.equal((src.lookup('ro:long') as CaMemoryPv).current, 7);
  });
});

test('ACCESS_RIGHTS follows run-time changes of writable', async () => {
  await withServer(async (_server, src, cl) => {
    const pv = src.lookup('peer:long') as CaMemoryPv;
    const ch = await cl.open('peer:long', 1);
    assert.equal(ch.access, 3);
    // each wait looks only at messages after the change: the initial ACCESS_RIGHTS already says 3
    let from = cl.messages.length;
    pv.setWritable(false);
    await cl.waitFor('accessRights', (m) => m.cid === 1 && m.access === 1, 3000, from);
    assert.equal((await put(cl, ch.sid, DBR.LONG, [5])).status, ECA.NOWTACCESS);
    assert.equal(pv.current, 42);
    from = cl.messages.length;
    pv.setWritable(true);
    await cl.waitFor('accessRights', (m) => m.cid === 1 && m.access === 3, 3000, from);
    assert.equal((await put(cl, ch.sid, DBR.LONG, [5])).status, ECA.NORMAL);
    assert.equal(pv.current, 5);
    // Unrelated property changes do not resend ACCESS_RIGHTS.
    pv.setMetadata({ units: 'x' });
    await echoRoundTrip(cl);
    assert.equal(cl.messages.filter((m) => m.kind === 'accessRights').length, 3);
  });
});

test('the source sees who is asking', async () => {
  const seen: unknown[] = [];
  const inner = source();
  const server = await startServer({
    source: {
      lookup: (name, client) => {
        seen.push({ name, ...client });
        return inner.lookup(name);
      },
    },
  });
  try {
    const cl = await TestClient.connect(server.port);
    cl.hello();
    await cl.open('peer:ai', 1);
    cl.close();
    const last = seen.at(-1) as { name: string; user: string; host: string; address: string };
    assert.equal(last.name, 'peer:ai');
    assert.equal(last.user, 'tester');
    assert.equal(last.host, 'testhost');
    assert.match(last.address, /^127\.0\.0\.1:\d+$/);
  } finally {
    await server.stop();
  }
});

test('WRITE_NOTIFY is answered only after the write promise settles', async () => {
  let release: (() => void) | undefined;
  let fail: ((e: Error) => void) | undefined;
  const pv = new CaMemoryPv({
    type: 'double',
    value: 0,
    onWrite: (v: CaValue) =>
      new Promise<void | CaValue>((res, rej) => {
        release = () => res(v);
        fail = rej;
      }),
  });
  const server = await startServer({ source: new StaticCaSource({ slow: pv }) });
  const cl = await TestClient.connect(server.port);
  try {
    const ch = await cl.open('slow', 1);
    cl.send({ kind: 'writeNotify', dataType: DBR.DOUBLE, count: 1, sid: ch.sid, ioid: 1, data: encodeDbr(DBR.DOUBLE, { value: [4] }) });
    // the server has read the WRITE_NOTIFY once the echo sent after it comes back
    await echoRoundTrip(cl);
    assert.ok(!cl.messages.some((m) => m.kind === 'writeNotifyReply'), 'no reply while the write is pending');
    release!();
    const r = await cl.waitFor('writeNotifyReply', (m) => m.ioid === 1);
    assert.equal(r.status, ECA.NORMAL);
    assert.equal(pv.current, 4);

    cl.send({ kind: 'writeNotify', dataType: DBR.DOUBLE, count: 1, sid: ch.sid, ioid: 2, data: encodeDbr(DBR.DOUBLE, { value: [5] }) });
    await sleep(50);
    fail!(new Error('interlock is active'));
    const r2 = await cl.waitFor('writeNotifyReply', (m) => m.ioid === 2);
    assert.equal(r2.status, ECA.PUTFAIL);
    const e = await cl.waitFor('error', (m) => m.request.parameter2 === 2);
    assert.equal(e.status, ECA.PUTFAIL);
    assert.match(e.message, /interlock is active/);
    assert.equal(pv.current, 4);
  } finally {
    cl.close();
    await server.stop();
  }
});

test('monitors honour the event mask; cancel stops updates; count 0 follows the length', async () => {
  await withServer(async (_server, src, cl) => {
    const ai = src.lookup('peer:ai') as CaMemoryPv;
    const ch = await cl.open('peer:ai', 1);
    const sub = (id: number, mask: number, dataType: number = DBR.TIME_DOUBLE, count = 1): void =>
      cl.send({ kind: 'eventAdd', dataType, count, sid: ch.sid, subscriptionId: id, mask, low: 0, high: 0, timeout: 0 });
    sub(1, DBE_VALUE);
    sub(2, DBE_ALARM);
    sub(3, DBE_PROPERTY, DBR.CTRL_DOUBLE);
    sub(4, DBE_LOG | DBE_VALUE | DBE_ALARM);
    for (const id of [1, 2, 3, 4]) await cl.waitFor('eventAddReply', (m) => m.subscriptionId === id);
    const counts = (): Record<number, number> => {
      const c: Record<number, number> = { 1: 0, 2: 0, 3: 0, 4: 0 };
      for (const m of cl.messages) if (m.kind === 'eventAddReply') c[m.subscriptionId]!++;
      return c;
    };
    assert.deepEqual(counts(), { 1: 1, 2: 1, 3: 1, 4: 1 }, 'an initial update for every subscription');
    ai.set(5);
    await cl.waitFor('eventAddReply', (m) => m.subscriptionId === 4 && decodeDbr(m.dataType, m.count, m.data).value[0] === 5);
    ai.setAlarm(3, 2);
    await cl.waitFor('eventAddReply', (m) => m.subscriptionId === 2 && decodeDbr(m.dataType, m.count, m.data).severity === 2);
    ai.setMetadata({ units: 'mV' });
    const prop = await cl.waitFor('eventAddReply', (m) => m.subscriptionId === 3 && decodeDbr(m.dataType, m.count, m.data).units === 'mV');
    assert.equal(prop.dataType, DBR.CTRL_DOUBLE);
    await echoRoundTrip(cl);
    assert.deepEqual(counts(), { 1: 2, 2: 2, 3: 2, 4: 3 });

    cl.send({ kind: 'eventCancel', dataType: DBR.TIME_DOUBLE, count: 1, sid: ch.sid, subscriptionId: 1 });
    const cr = await cl.waitFor('eventCancelReply');
    assert.equal(cr.subscriptionId, 1);
    ai.set(6);
    // positive events first: subscription 4 (also DBE_VALUE) hears 6, and an echo round trip after it
    await cl.waitFor('eventAddReply', (m) => m.subscriptionId === 4 && decodeDbr(m.dataType, m.count, m.data).value[0] === 6);
    await echoRoundTrip(cl);
    assert.equal(counts()[1], 2, 'no update after cancel');

    // Dynamic length with count 0.
    const wf = src.lookup('peer:wf') as CaMemoryPv;
    const w = await cl.open('peer:wf', 2);
    cl.send({ kind: 'eventAdd', dataType: DBR.DOUBLE, count: 0, sid: w.sid, subscriptionId: 10, mask: DBE_VALUE, low: 0, high: 0, timeout: 0 });
    const first = await cl.waitFor('eventAddReply', (m) => m.subscriptionId === 10);
    assert.equal(first.count, 4);
    wf.set([1, 2, 3, 4, 5, 6, 7]);
    const second = await cl.waitFor('eventAddReply', (m) => m.subscriptionId === 10 && m.count === 7);
    assert.deepEqual(decodeDbr(second.dataType, second.count, second.data).value, [1, 2, 3, 4, 5, 6, 7]);

    // An empty array: count 0 in the reply, one zero element of room as dbr_size_n() has it.
    wf.set([]);
    const empty = await cl.waitFor('eventAddReply', (m) => m.subscriptionId === 10 && m.count === 0);
    assert.equal(empty.data.length, 8);
    assert.deepEqual(decodeDbr(empty.dataType, empty.count, empty.data).value, []);
    const emptyRead = await get(cl, w.sid, DBR.TIME_DOUBLE, 0);
    assert.deepEqual([emptyRead.count, emptyRead.data!.value], [0, []]);

    // Clearing the channel releases its subscriptions.
    cl.send({ kind: 'clearChannel', sid: w.sid, cid: 2 });
    await cl.waitFor('clearChannel');
    assert.equal(wf.subscriberCount, 0);
  });
});

test('EVENTS_OFF holds monitor updates; EVENTS_ON sends only the latest', async () => {
  await withServer(async (_server, src, cl) => {
    const ai = src.lookup('peer:ai') as CaMemoryPv;
    const ch = await cl.open('peer:ai', 1);
    cl.send({ kind: 'eventAdd', dataType: DBR.DOUBLE, count: 1, sid: ch.sid, subscriptionId: 1, mask: DBE_VALUE, low: 0, high: 0, timeout: 0 });
    await cl.waitFor('eventAddReply');
    cl.send({ kind: 'eventsOff' }, { kind: 'echo' });
    await cl.waitFor('echo');
    for (let i = 0; i < 100; i++) ai.set(i);
    await echoRoundTrip(cl);
    const n = cl.messages.filter((m) => m.kind === 'eventAddReply').length;
    assert.equal(n, 1);
    cl.send({ kind: 'eventsOn' });
    const last = await cl.waitFor('eventAddReply', (m) => decodeDbr(m.dataType, m.count, m.data).value[0] === 99);
    assert.ok(last);
    await echoRoundTrip(cl);
    assert.equal(cl.messages.filter((m) => m.kind === 'eventAddReply').length, 2);
  });
});

test('a bad frame is logged and closes only that connection', async () => {
  const { log, lines } = memoryLog();
  const server = await startServer({ source: source(), log, maxPayloadSize: 4096 });
  try {
    const good = await TestClient.connect(server.port);
    const bad = await TestClient.connect(server.port);
    const gch = await good.open('peer:ai', 1);
    // Header claiming a 1 MiB payload.
    bad.sendRaw(Buffer.from('000fffff000600010000000100000001' + '00100000' + '00000001', 'hex'));
    await bad.waitClosed();
    assert.ok(lines.some((l) => l.startsWith('warn') && l.includes('payload')), lines.join('\n'));
    assert.equal((await get(good, gch.sid, DBR.DOUBLE)).data!.value[0], 3.25);
    good.close();
  } finally {
    await server.stop();
  }
});

test('a client that stops reading never slows others; its monitors squash instead of queueing', async () => {
  const big = new CaMemoryPv({ type: 'double', value: new Float64Array(100000), maxCount: 100000 });
  const src = new StaticCaSource({ big });
  const server = await startServer({ source: src, maxSendQueueBytes: 64 * 1024 * 1024 });
  try {
    // The slow client: a raw socket that subscribes and then never reads.
    const slow = net.connect({ host: '127.0.0.1', port: server.port });
    await new Promise<void>((r) => slow.once('connect', () => r()));
    slow.write(encodeMessage({ kind: 'createChan', cid: 1, minorVersion: 13, name: 'big' }));
    await sleep(100);
    slow.pause();
    slow.write(encodeMessage({ kind: 'eventAdd', dataType: DBR.DOUBLE, count: 0, sid: 1, subscriptionId: 1, mask: DBE_VALUE, low: 0, high: 0, timeout: 0 }));

    const fast = await TestClient.connect(server.port);
    const ch = await fast.open('big', 1);
    fast.send({ kind: 'eventAdd', dataType: DBR.DOUBLE, count: 1, sid: ch.sid, subscriptionId: 7, mask: DBE_VALUE, low: 0, high: 0, timeout: 0 });
    await fast.waitFor('eventAddReply');
    const t0 = Date.now();
    const arr = new Float64Array(100000);
    for (let i = 1; i <= 200; i++) {
      arr[0] = i;
      big.set(arr);
      await new Promise((r) => setImmediate(r));
    }
    await fast.waitFor('eventAddReply', (m) => decodeDbr(m.dataType, m.count, m.data).value[0] === 200, 5000);
    const elapsed = Date.now() - t0;
    assert.ok(elapsed < 5000, `fast client kept up (${elapsed} ms)`);
    // 200 updates of 800 kB each would be 160 MB; the slow connection holds only a few.
    const stats = server.connectionStats();
    const slowStats = stats.find((s) => s.address.endsWith(`:${slow.localPort}`))!;
    assert.ok(slowStats, 'slow connection still open');
    assert.ok(slowStats.queuedBytes < 8 * 800_000, `slow queue bounded (${slowStats.queuedBytes} bytes)`);
    if (process.env.CA_TEST_VERBOSE) console.log({ elapsed, queued: slowStats.queuedBytes });
    slow.destroy();
    fast.close();
  } finally {
    await server.stop();
  }
});

test('a client that never reads its replies is cut off at the send-queue bound', async () => {
  const { log, lines } = memoryLog();
  const big = new CaMemoryPv({ type: 'double', value: new Float64Array(50000), maxCount: 50000 });
  const server = await startServer({ source: new StaticCaSource({ big }), maxSendQueueBytes: 2 * 1024 * 1024, log });
  try {
    const s = net.connect({ host: '127.0.0.1', port: server.port });
    await new Promise<void>((r) => s.once('connect', () => r()));
    s.pause();
    s.write(encodeMessage({ kind: 'createChan', cid: 1, minorVersion: 13, name: 'big' }));
    const reads: Uint8Array[] = [];
    for (let i = 0; i < 200; i++) reads.push(encodeMessage({ kind: 'readNotify', dataType: DBR.DOUBLE, count: 0, sid: 1, ioid: i }));
    s.write(concatBytes(reads));
    s.on('error', () => {});
    for (let i = 0; i < 250 && !lines.some((l) => l.includes('not reading')); i++) await sleep(20);
    assert.ok(lines.some((l) => l.includes('not reading')), lines.join('\n'));
    for (let i = 0; i < 50 && server.connectionCount > 0; i++) await sleep(20);
    assert.equal(server.connectionCount, 0, 'the server dropped it');
    s.destroy();
  } finally {
    await server.stop();
  }
});

test('one update larger than the send-queue bound is still delivered', async () => {
  const n = 300_000; // 2.4 MB of doubles
  const big = new CaMemoryPv({ type: 'double', value: new Float64Array(n).map((_, i) => i), maxCount: n });
  const server = await startServer({ source: new StaticCaSource({ big }), maxSendQueueBytes: 1024 * 1024 });
  try {
    const cl = await TestClient.connect(server.port);
    const ch = await cl.open('big', 1);
    const r = await get(cl, ch.sid, DBR.DOUBLE, 0);
    assert.equal(r.count, n);
    assert.equal(r.data!.value[n - 1], n - 1);
    assert.equal(server.connectionCount, 1);
    cl.close();
  } finally {
    await server.stop();
  }
});

test('client disconnect releases subscriptions; disconnectPv sends SERVER_DISCONN', async () => {
  const src = source();
  const server = await startServer({ source: src });
  try {
    const ai = src.lookup('peer:ai') as CaMemoryPv;
    const cl = await TestClient.connect(server.port);
    const ch = await cl.open('peer:ai', 3);
    cl.send({ kind: 'eventAdd', dataType: DBR.DOUBLE, count: 1, sid: ch.sid, subscriptionId: 1, mask: DBE_VALUE, low: 0, high: 0, timeout: 0 });
    await cl.waitFor('eventAddReply');
    assert.equal(ai.subscriberCount, 2, 'one access-rights watch for the channel, one subscription');
    server.disconnectPv(ai);
    assert.deepEqual(await cl.waitFor('serverDisconn'), { kind: 'serverDisconn', cid: 3 });
    assert.equal(ai.subscriberCount, 0);
    const ch2 = await cl.open('peer:ai', 4);
    cl.send({ kind: 'eventAdd', dataType: DBR.DOUBLE, count: 1, sid: ch2.sid, subscriptionId: 2, mask: DBE_VALUE, low: 0, high: 0, timeout: 0 });
    await cl.waitFor('eventAddReply', (m) => m.subscriptionId === 2);
    assert.equal(ai.subscriberCount, 2);
    cl.close();
    for (let i = 0; i < 50 && ai.subscriberCount > 0; i++) await sleep(10);
    assert.equal(ai.subscriberCount, 0);
    assert.equal(server.connectionCount, 0);
  } finally {
    await server.stop();
  }
});

test('beacons go to the beacon address list at the repeater port', async () => {
  const repeaterPort = await freeUdpPort();
  const rep = dgram.createSocket('udp4');
  const got: CaMessage[] = [];
  rep.on('message', (m) => got.push(...decodeUdp(new Uint8Array(m), 's2c')));
  await new Promise<void>((r) => rep.bind(repeaterPort, '127.0.0.1', () => r()));
  const server = await startServer({
    source: source(),
    beacons: true,
    beaconAddresses: ['127.0.0.1'],
    repeaterPort,
    beaconPeriod: 0.1,
  });
  try {
    for (let i = 0; i < 100 && got.length < 3; i++) await sleep(20);
    assert.ok(got.length >= 3, `got ${got.length} beacons`);
    const b = got[0]!;
    assert.ok(b.kind === 'beacon');
    assert.equal(b.port, server.port);
    assert.equal(b.minorVersion, 13);
    assert.equal(b.serverAddress, 0x7f000001);
    const ids = got.map((m) => (m.kind === 'beacon' ? m.beaconId : -1));
    assert.deepEqual(ids.slice(0, 3), [0, 1, 2]);
  } finally {
    await server.stop();
    rep.close();
  }
});

test('names a client sends cannot forge log lines: control characters are escaped', () => {
  const lines: string[] = [];
  const conn = new CaServerConnection(
    { send: () => true, close: () => {} },
    { source: source(), serverPort: 5064, clientAddress: '127.0.0.1:1', log: (level, msg) => void lines.push(`${level} ${msg}`) },
  );
  conn.start();
  conn.receive(encodeMessage({ kind: 'version', priority: 0, minorVersion: 13, sequence: 0 }));
  conn.receive(encodeMessage({ kind: 'clientName', name: 'evil\nerror ca: forged line' }));
  conn.receive(Uint8Array.from([0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])); // unknown command: logged with the client's name
  const logged = lines.join('\n');
  assert.match(logged, /evil\\x0aerror ca: forged line/, logged);
  assert.ok(lines.every((l) => !l.includes('\n')), 'every log message is one line');
});
