// A poll cycle over more blocks than POLL_READS_IN_FLIGHT keeps at most that many reads pending,
// still reads every due block once, and reports failures as before.
import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { Root, Device, RemoteVariable, Emulate, MemoryError, type Memory, type Transaction } from '../../src/tree/index.ts';
import { POLL_READS_IN_FLIGHT } from '../../src/tree/poll.ts';
import { flush } from './helpers.ts';

/** Holds every transaction until pump() answers it from an Emulate; counts reads in flight. */
class HeldMemory implements Memory {
  readonly inner = new Emulate();
  readonly minAccess = 4;
  readonly maxAccess = 1 << 20;
  private held: { t: Transaction; done: (e?: Error) => void }[] = [];
  inFlight = 0;
  maxInFlight = 0;
  readonly reads = new Map<number, number>();
  failAt = new Set<number>();

  doTransaction(t: Transaction): Promise<void> {
    if (t.type !== 'read') return this.inner.doTransaction(t);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    this.reads.set(t.address, (this.reads.get(t.address) ?? 0) + 1);
    return new Promise((resolve, reject) => this.held.push({ t, done: (e) => (e ? reject(e) : resolve()) }));
  }

  /** Answers what is held now; returns how many. */
  pump(): number {
    const now = this.held;
    this.held = [];
    for (const { t, done } of now) {
      this.inFlight--;
      if (this.failAt.has(t.address)) {
        t.error = 'no answer';
        done(new MemoryError('no answer', t.address, t.size, t.type));
      } else {
        this.inner.doTransaction(t).then(() => done(), done);
      }
    }
    return now.length;
  }
}

test('a poll cycle over many blocks keeps at most POLL_READS_IN_FLIGHT reads pending and reads each block once', async (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  const n = 2 * POLL_READS_IN_FLIGHT + 5;
  const mem = new HeldMemory();
  const root = new Root({ memBase: mem, pollEn: true });
  const dev = new Device({ name: 'Dev' });
  const vars: RemoteVariable<number>[] = [];
  // one 32-bit register per word: one block each
  for (let i = 0; i < n; i++) vars.push(new RemoteVariable<number>({ name: `R${i}`, offset: i * 4, mode: 'RO', pollInterval: 1 }));
  dev.add(...vars);
  root.add(dev);
  const errors: string[] = [];
  root.onError = (e, ctx) => errors.push(`${ctx}: ${e.message}`);
  await root.start();
  for (let i = 0; i < n; i++) mem.inner.writeBytes(i * 4, new Uint8Array([i & 0xff, i >> 8, 0, 0]));
  mem.failAt = new Set([8, 4 * (n - 1), 4 * POLL_READS_IN_FLIGHT]);
  const heard = new Set<string>();
  for (const v of vars) v.addListener((path) => heard.add(path));

  mock.timers.tick(1000);
  await flush();
  assert.equal(mem.inFlight, POLL_READS_IN_FLIGHT, 'the cycle started with a full pipeline');
  let answered = 0;
  for (let round = 0; round < 20 && answered < n; round++) {
    answered += mem.pump();
    await flush();
  }
  assert.equal(answered, n, 'every block was read');
  assert.equal(mem.maxInFlight, POLL_READS_IN_FLIGHT, 'never more reads pending than the bound');
  for (let i = 0; i < n; i++) assert.equal(mem.reads.get(i * 4), 1, `block at ${i * 4} read once`);
  await flush();
  // the changed values reached listeners at the end of the cycle; the failed ones carry the error
  assert.equal(vars[5].value, 5);
  assert.equal(vars[n - 2].value, (n - 2) & 0xffff);
  // listeners heard every variable but R0 (still 0): a new value, or for three, a read failure
  assert.equal(heard.size, n - 1);
  assert.ok(!heard.has(vars[0].path));
  for (const i of [2, n - 1, POLL_READS_IN_FLIGHT]) assert.match(String(vars[i].lastError?.message), /no answer/);
  assert.equal(vars[3].lastError, undefined);
  assert.equal(errors.length, 1, errors.join('\n'));
  assert.match(errors[0], /^poll: 3 transactions failed: no answer \(read address 0x8 /);
  await root.stop();
});

test('the next poll is due an interval after a cycle started, however long the cycle took (as PyRogue)', async (t) => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  t.after(() => mock.timers.reset());
  // reads take 300 ms
  const inner = new Emulate();
  const starts: number[] = [];
  const slow: Memory = {
    minAccess: 4,
    maxAccess: 1 << 20,
    doTransaction: (tr) => {
      if (tr.type === 'read') starts.push(Date.now());
      return new Promise((res, rej) => setTimeout(() => inner.doTransaction(tr).then(res, rej), tr.type === 'read' ? 300 : 0));
    },
  };
  const root = new Root({ memBase: slow, pollEn: true });
  const dev = new Device({ name: 'Dev' });
  dev.add(new RemoteVariable({ name: 'R', offset: 0, mode: 'RO', pollInterval: 1 }));
  root.add(dev);
  root.onError = (e) => {
    throw e;
  };
  await root.start();
  const t0 = Date.now();
  for (let ms = 0; ms < 3600; ms += 50) {
    mock.timers.tick(50);
    await flush();
  }
  assert.deepEqual(
    starts.map((s) => s - t0),
    [1000, 2000, 3000],
    'reads start every second (a cycle that waited 1 s after the last one ended would start at 1000, 2300, 3600)',
  );
  await root.stop();
});
