// Requests on one CA circuit are answered in order per channel: a read (or a subscription's first
// update) after a write waits for the write, writes are applied one after the other, and nothing of
// another channel or circuit waits. Sans-I/O: CaServerConnection driven with encoded messages, PVs
// whose writes finish only when the test says so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CaMemoryPv,
  CaServerConnection,
  CaStreamDecoder,
  DBE_VALUE,
  DBR,
  ECA,
  StaticCaSource,
  concatBytes,
  decodeDbr,
  encodeDbr,
  encodeMessage,
  type CaMessage,
  type CaValue,
} from '../../src/ca/index.ts';
import { RequestOrder } from '../../src/util/request-order.ts';

/** A promise the test resolves by hand. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

/** Lets every pending promise callback run. */
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

test('RequestOrder: writes one at a time in order; reads wait for the writes before them and overlap each other', async () => {
  const order = new RequestOrder((e) => assert.fail(String(e)));
  const log: string[] = [];
  const w1 = gate();
  const r1 = gate();
  order.write(() => {
    log.push('w1 start');
    return w1.promise.then(() => log.push('w1 end'));
  });
  order.read(() => void log.push('r-after-w1'));
  order.write(() => void log.push('w2'));
  order.read(() => {
    log.push('r1 start');
    return r1.promise.then(() => log.push('r1 end'));
  });
  order.read(() => void log.push('r2'));
  order.write(() => void log.push('w3'));
  await settle();
  assert.deepEqual(log, ['w1 start'], 'everything after a running write waits');
  assert.equal(order.pending, 6);
  w1.open();
  await settle();
  // w2 is synchronous: the reads after it start at once, side by side; w3 waits for the slow read
  assert.deepEqual(log, ['w1 start', 'w1 end', 'r-after-w1', 'w2', 'r1 start', 'r2']);
  r1.open();
  await settle();
  assert.deepEqual(log.slice(6), ['r1 end', 'w3']);
  assert.ok(order.idle);
});

test('RequestOrder: uncontended, a synchronous task runs at once; a failing task is reported and counts as done', async () => {
  const errors: unknown[] = [];
  const order = new RequestOrder((e) => errors.push(e));
  let ran = false;
  order.read(() => void (ran = true));
  assert.equal(ran, true, 'ran synchronously');
  assert.ok(order.idle);
  order.write(() => Promise.reject(new Error('boom')));
  let after = false;
  order.read(() => void (after = true));
  assert.equal(after, false);
  await settle();
  assert.equal(after, true, 'the read after the failed write ran');
  order.write(() => {
    throw new Error('sync boom');
  });
  assert.deepEqual(errors.map((e) => (e as Error).message), ['boom', 'sync boom']);
  assert.ok(order.idle);
});

/** A circuit fed with client messages; `out` holds what the server sent. */
function circuit(source: StaticCaSource) {
  const out: CaMessage[] = [];
  const dec = new CaStreamDecoder('s2c');
  const conn = new CaServerConnection(
    {
      send: (b) => {
        for (const r of dec.push(b)) if (r.ok) out.push(r.message);
        return true;
      },
      close: () => {},
    },
    { source, serverPort: 5064 },
  );
  conn.start();
  const send = (...ms: CaMessage[]) => conn.receive(concatBytes(ms.map((m) => encodeMessage(m))));
  send({ kind: 'version', priority: 0, minorVersion: 13, sequence: 0 });
  let cid = 1;
  const open = (name: string): number => {
    const c = cid++;
    send({ kind: 'createChan', cid: c, minorVersion: 13, name });
    const r = out.find((m) => m.kind === 'createChanReply' && m.cid === c);
    assert.ok(r && r.kind === 'createChanReply', `channel ${name} opened`);
    return r.sid;
  };
  const readReply = (ioid: number) => {
    const r = out.find((m) => m.kind === 'readNotifyReply' && m.ioid === ioid);
    return r && r.kind === 'readNotifyReply' ? decodeDbr(r.dataType, r.count, r.data).value[0] : undefined;
  };
  return { out, send, open, readReply, conn };
}

const write = (sid: number, ioid: number, value: number, notify = false): CaMessage => ({
  kind: notify ? 'writeNotify' : 'write',
  dataType: DBR.DOUBLE,
  count: 1,
  sid,
  ioid,
  data: encodeDbr(DBR.DOUBLE, { value: [value] }),
});
const read = (sid: number, ioid: number): CaMessage => ({ kind: 'readNotify', dataType: DBR.DOUBLE, count: 1, sid, ioid });

/** A PV whose writes each wait for a gate the test opens; `started` lists the values whose write began. */
function slowPv(value: number) {
  const gates: Array<{ promise: Promise<void>; open: () => void }> = [];
  const started: number[] = [];
  const pv = new CaMemoryPv({
    type: 'double',
    value,
    onWrite: async (v: CaValue) => {
      started.push(v as number);
      const g = gate();
      gates.push(g);
      await g.promise;
    },
  });
  return { pv, gates, started };
}

test('CA circuit: a read after a WRITE on the same channel waits for the write and sees its value', async () => {
  const slow = slowPv(0);
  const c = circuit(new StaticCaSource({ slow: slow.pv }));
  const sid = c.open('slow');
  // WRITE then READ_NOTIFY in one chunk, as caput sends them
  c.send(write(sid, 1, 11), read(sid, 2));
  await settle();
  assert.deepEqual(slow.started, [11], 'the write began');
  assert.equal(c.readReply(2), undefined, 'the read is held while the write is in progress');
  slow.gates[0].open();
  await settle();
  assert.equal(c.readReply(2), 11, 'the read shows the value written before it');
});

test('CA circuit: writes are applied one after the other in order; notifies and reads answer in request order', async () => {
  const slow = slowPv(0);
  const c = circuit(new StaticCaSource({ slow: slow.pv }));
  const sid = c.open('slow');
  c.send(write(sid, 1, 1, true), read(sid, 2), write(sid, 3, 2, true), read(sid, 4));
  await settle();
  assert.deepEqual(slow.started, [1], 'the second write waits for the first');
  slow.gates[0].open();
  await settle();
  assert.deepEqual(slow.started, [1, 2]);
  assert.equal(c.readReply(2), 1, 'the read between the writes sees the first');
  assert.equal(c.readReply(4), undefined, 'the last read waits for the second write');
  slow.gates[1].open();
  await settle();
  assert.equal(c.readReply(4), 2);
  assert.equal(slow.pv.current, 2, 'the last write wins');
  const ioids = c.out.filter((m) => m.kind === 'writeNotifyReply' || m.kind === 'readNotifyReply').map((m) => (m as { ioid: number }).ioid);
  assert.deepEqual(ioids, [1, 2, 3, 4], 'replies in request order');
  const statuses = c.out.filter((m) => m.kind === 'writeNotifyReply').map((m) => (m as { status: number }).status);
  assert.deepEqual(statuses, [ECA.NORMAL, ECA.NORMAL]);
});

test('CA circuit: a subscription made after a write starts from the written value', async () => {
  const slow = slowPv(0);
  const c = circuit(new StaticCaSource({ slow: slow.pv }));
  const sid = c.open('slow');
  c.send(write(sid, 1, 5), { kind: 'eventAdd', dataType: DBR.DOUBLE, count: 1, sid, subscriptionId: 9, mask: DBE_VALUE, low: 0, high: 0, timeout: 0 });
  await settle();
  assert.equal(c.out.filter((m) => m.kind === 'eventAddReply').length, 0, 'the subscription waits for the write');
  slow.gates[0].open();
  await settle();
  const first = c.out.find((m) => m.kind === 'eventAddReply');
  assert.ok(first && first.kind === 'eventAddReply');
  assert.equal(decodeDbr(first.dataType, first.count, first.data).value[0], 5);
});

test('CA: a slow channel holds back neither the other channels of its circuit nor other circuits', async () => {
  const slow = slowPv(0);
  const fast = new CaMemoryPv({ type: 'double', value: 1 });
  const source = new StaticCaSource({ slow: slow.pv, fast });
  const c = circuit(source);
  const sSlow = c.open('slow');
  const sFast = c.open('fast');
  c.send(write(sSlow, 1, 11), read(sSlow, 2), write(sFast, 3, 2.5, true), read(sFast, 4));
  // another client reads the slow PV meanwhile
  const other = circuit(source);
  const oSlow = other.open('slow');
  other.send(read(oSlow, 1));
  await settle();
  // all answered while the slow write is still held
  assert.deepEqual(slow.started, [11]);
  assert.equal(slow.gates.length, 1);
  assert.equal(c.readReply(4), 2.5, 'the other channel of the same circuit is answered at once');
  assert.ok(c.out.some((m) => m.kind === 'writeNotifyReply' && m.ioid === 3), 'and its write completed');
  assert.equal(other.readReply(1), 0, 'another circuit reads the slow PV at once (its current value)');
  assert.equal(c.readReply(2), undefined, 'only the read behind the slow write waits');
  slow.gates[0].open();
  await settle();
  assert.equal(c.readReply(2), 11);
});

test('CA circuit: a write that waited is still applied when the client clears the channel or goes away', async () => {
  const slow = slowPv(0);
  const c = circuit(new StaticCaSource({ slow: slow.pv }));
  const sid = c.open('slow');
  c.send(write(sid, 1, 1), write(sid, 2, 2), read(sid, 3));
  c.send({ kind: 'clearChannel', sid, cid: 1 });
  c.conn.close();
  slow.gates[0].open();
  await settle();
  assert.deepEqual(slow.started, [1, 2], 'the queued write ran after the first');
  slow.gates[1].open();
  await settle();
  assert.equal(slow.pv.current, 2, 'the client wrote 2 last: the PV holds 2');
  assert.equal(c.readReply(3), undefined, 'no reply on a cleared channel');
});
