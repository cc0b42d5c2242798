import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { Root, Device, LocalVariable, RemoteVariable, type Protocol } from '../../src/tree/index.ts';
import { SpyMemory, flush } from './helpers.ts';

test('lifecycle: protocols start after the tree runs and stop before it stops', async () => {
  const root = new Root({ name: 'Root', pollEn: false });
  const log: string[] = [];
  const proto = (n: string): Protocol => ({
    start: async (r) => { log.push(`${n}.start running=${r.running}`); },
    stop: async () => { log.push(`${n}.stop running=${root.running}`); },
  });
  root.addProtocol(proto('A'));
  root.addProtocol(proto('B'));
  assert.equal(root.running, false);
  await root.start();
  assert.equal(root.running, true);
  assert.throws(() => root.addProtocol(proto('C')), /before start/);
  await assert.rejects(root.start(), /already running/);
  await root.stop();
  assert.equal(root.running, false);
  assert.deepEqual(log, ['A.start running=true', 'B.start running=true', 'B.stop running=true', 'A.stop running=true']);
});

test('a failing protocol start stops those already started', async () => {
  const root = new Root({ pollEn: false });
  const log: string[] = [];
  root.addProtocol({ start: () => { log.push('a'); }, stop: () => { log.push('a.stop'); } });
  root.addProtocol({ start: () => { throw new Error('port in use'); } });
  await assert.rejects(root.start(), /port in use/);
  assert.deepEqual(log, ['a', 'a.stop']);
  assert.equal(root.running, false);
});

test('async dispose stops the root', async () => {
  let stopped = false;
  {
    const root = new Root({ pollEn: false });
    root.addProtocol({ stop: () => { stopped = true; } });
    await root.start();
    await root[Symbol.asyncDispose]();
    assert.equal(root.running, false);
  }
  assert.ok(stopped);
});

test('initWrite / initRead on start', async () => {
  const mem = new SpyMemory();
  const root = new Root({ memBase: mem, pollEn: false, initWrite: true, initRead: true });
  const dev = new Device({ name: 'D' });
  dev.add(new RemoteVariable({ name: 'V', offset: 0, value: 0x55 }), new RemoteVariable({ name: 'S', offset: 4, mode: 'RO' }));
  root.add(dev);
  await root.start();
  assert.equal(mem.inner.readBytes(0, 1)[0], 0x55);
  assert.deepEqual(mem.log.map((x) => `${x.type}@${x.address}`), ['write@0', 'verify@0', 'read@0', 'read@4']);
  await root.stop();
});

function pollTree() {
  const mem = new SpyMemory();
  const root = new Root({ memBase: mem, pollEn: true });
  const dev = new Device({ name: 'Dev' });
  const a = new RemoteVariable({ name: 'A', offset: 0, bitSize: 8, pollInterval: 1 });
  const b = new RemoteVariable({ name: 'B', offset: 1, bitSize: 8, pollInterval: 1 }); // same block as A
  const c = new RemoteVariable({ name: 'C', offset: 8, pollInterval: 0.5 });
  const d = new RemoteVariable({ name: 'D', offset: 12 }); // not polled
  let lgets = 0;
  const l = new LocalVariable({ name: 'L', value: 0, pollInterval: 2, localGet: () => ++lgets });
  dev.add(a, b, c, d, l);
  root.add(dev);
  return { mem, root, dev, a, b, c, d, l, lgets: () => lgets };
}

async function tick(ms: number): Promise<void> {
  // advance in small steps so each fired poll can finish and reschedule
  for (let t = 0; t < ms; t += 50) {
    mock.timers.tick(50);
    await flush();
  }
}

test('polling cadence with fake timers; due variables grouped into block reads', async (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  const { mem, root, a, c, l, lgets } = pollTree();
  root.onError = (e) => { throw e; };
  await root.start();
  mem.clear();
  await tick(450);
  assert.equal(mem.count('read'), 0);
  await tick(100); // t=0.5s: C only
  assert.deepEqual(mem.log.map((x) => x.address), [8]);
  await tick(500); // t=1.0s: C, and A+B in one read
  assert.deepEqual(mem.log.map((x) => x.address).sort(), [0, 8, 8]);
  assert.equal(lgets(), 0);
  await tick(1000); // t=2.0s: C twice more, A/B once more, L once
  assert.equal(mem.log.filter((x) => x.address === 8).length, 4);
  assert.equal(mem.log.filter((x) => x.address === 0).length, 2);
  assert.equal(lgets(), 1);
  assert.equal(l.value, 1);
  // a hardware change shows up on the next poll and notifies
  const seen: unknown[] = [];
  a.addListener((_p, vv) => seen.push(vv.value));
  mem.inner.writeBytes(0, new Uint8Array([33]));
  await tick(1000);
  assert.deepEqual(seen, [33]);
  // changing an interval moves the variable
  c.pollInterval = 0;
  mem.clear();
  await tick(1000);
  assert.deepEqual(mem.log.map((x) => x.address), [0]);
  // disabling polling stops hardware traffic
  root.pollEn = false;
  mem.clear();
  await tick(5000);
  assert.equal(mem.count(), 0);
  root.pollEn = true;
  await tick(1000);
  assert.equal(mem.count(), 1);
  await root.stop();
  mem.clear();
  await tick(5000);
  assert.equal(mem.count(), 0, 'no traffic after stop');
});

test('poll errors are reported and recorded on the variables, polling continues', async (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  const { mem, root, a, b, c } = pollTree();
  const errs: string[] = [];
  root.onError = (e, ctx) => errs.push(`${ctx}: ${e.message}`);
  await root.start();
  mem.failWhen = (tr) => (tr.address === 0 ? 'timeout' : undefined);
  mem.inner.writeBytes(8, new Uint8Array([4]));
  await tick(1000);
  assert.ok(errs.length >= 1 && /timeout/.test(errs[0]), errs.join());
  assert.match(String(a.lastError?.message), /timeout/);
  assert.match(String(b.lastError?.message), /timeout/);
  assert.equal(c.value, 4, 'the healthy block was still read');
  mem.failWhen = undefined;
  await tick(1000);
  assert.equal(a.lastError, undefined);
  await root.stop();
});

test('stop leaves no timer keeping the process alive', async () => {
  const { root } = pollTree();
  await root.start();
  await root.stop();
  // if a timer were left, node:test would report this file as hanging; check the handle count too
  const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles();
  assert.ok(!handles.some((h) => (h as { constructor: { name: string } }).constructor.name === 'Timeout'));
});
