// A client that writes and then reads on one channel reads what it wrote, even when the write to
// the hardware is slow: over Channel Access (pyepics caput without wait, then caget; EPICS base
// caput's `New :` line when PVA_PEER_BIN is set) and over pvAccess (a get sent after a put on the
// same channel). And a slow channel holds back no other channel, connection or protocol.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Device, LocalVariable, RemoteVariable, Root } from '../../src/tree/index.ts';
import { PvaClient } from '../../src/pva/client/index.ts';
import { SKIP_PYEPICS, caEnv, havePyepics, py, serveCa } from './ca-util.ts';
import { SlowMemory } from './slow-memory.ts';
import { waitUntil } from './util.ts';

const SLOW = 'test:R:Slow:Reg';
const FAST = 'test:R:Fast:Reg';
const LOCAL = 'test:R:Local';

/** A register behind slow memory, one behind the root's (fast) emulated memory, a local variable. */
function buildRoot(): { root: Root; slow: SlowMemory } {
  const slow = new SlowMemory();
  const root = new Root({ name: 'R', pollEn: false });
  const s = new Device({ name: 'Slow', memBase: slow });
  s.add(new RemoteVariable({ name: 'Reg', offset: 0, bitSize: 32, base: 'UInt', mode: 'RW' }));
  root.add(s);
  const f = new Device({ name: 'Fast', offset: 0x100 });
  f.add(new RemoteVariable({ name: 'Reg', offset: 0, bitSize: 32, base: 'UInt', mode: 'RW' }));
  root.add(f);
  root.add(new LocalVariable({ name: 'Local', typeStr: 'Int32', value: 3 }));
  return { root, slow };
}

test('CA (pyepics): caput without wait, then caget, reads the value written to slow hardware', { timeout: 90000 }, async (t) => {
  if (!havePyepics) return t.skip(SKIP_PYEPICS);
  const { root, slow } = buildRoot();
  // far longer than the gap between a caput and the caget after it
  slow.writeDelayMs = 500;
  const s = await serveCa(root);
  try {
    const { o } = await py(
      s.caPort,
      `
epics.caput(${JSON.stringify(SLOW)}, 11)
a1 = g(${JSON.stringify(SLOW)})
epics.caput(${JSON.stringify(SLOW)}, 12)
a2 = g(${JSON.stringify(SLOW)})
print(json.dumps({'a1': a1, 'a2': a2}))
`,
    );
    assert.equal(o.a1, 11, 'the caget after caput 11 reads 11, not the value before');
    assert.equal(o.a2, 12, 'the caget after caput 12 reads 12');
    assert.equal(slow.writesDone, 2);
  } finally {
    await s.close();
  }
});

test('CA (pyepics): while a write to slow hardware is in progress, other channels, clients and protocols are answered', { timeout: 90000 }, async (t) => {
  if (!havePyepics) return t.skip(SKIP_PYEPICS);
  const { root, slow } = buildRoot();
  slow.hold();
  const s = await serveCa(root);
  const other = new PvaClient({ addrList: [`127.0.0.1:${s.server.pvaServer!.udpPort}`], autoAddrList: false, nameServers: [], timeout: 10 });
  let whileHeld: Promise<{ waiting: number; pvaSlow: unknown; pvaFast: unknown }> | undefined;
  try {
    const { o } = await py(
      s.caPort,
      `
epics.caput(${JSON.stringify(SLOW)}, 21)
out = {'phase': 'held'}
out['fast'] = g(${JSON.stringify(FAST)})
out['put_fast'] = p(${JSON.stringify(FAST)}, 7)
out['fast_after'] = g(${JSON.stringify(FAST)})
out['local'] = g(${JSON.stringify(LOCAL)})
print(json.dumps(out))
out = {'phase': 'done', 'slow': j(epics.caget(${JSON.stringify(SLOW)}, timeout=30))}
print(json.dumps(out))
`,
      60000,
      (line) => {
        if (!line.includes('"held"')) return;
        // the script has read and written the other channels: the slow write must still be held;
        // pvAccess clients are answered too; then the hardware finishes the write
        whileHeld = (async () => {
          const waiting = slow.waiting;
          const pvaSlow = (await other.get(SLOW)).get('value');
          const pvaFast = (await other.get(FAST)).get('value');
          slow.release();
          return { waiting, pvaSlow, pvaFast };
        })();
      },
    );
    assert.ok(whileHeld, 'the script reached the point where the slow write is held');
    const h = await whileHeld;
    assert.equal(h.waiting, 1, 'the slow write was still in progress while the other channels were answered');
    assert.equal(o.phase, 'done');
    assert.equal(o.slow, 21, 'the caget queued behind the slow write reads its value');
    assert.equal(h.pvaSlow, 0, 'a pvAccess client saw the value before the unfinished write');
    assert.equal(h.pvaFast, 7, 'and the fast register written over CA meanwhile');
  } finally {
    slow.release();
    other.close();
    await s.close();
  }
});

test('pvAccess: a get sent after a put on the same channel sees the put, even when the hardware is slow', { timeout: 60000 }, async () => {
  const { root, slow } = buildRoot();
  slow.writeDelayMs = 300;
  const s = await serveCa(root, { protocols: ['pva'] });
  const client = s.client!;
  try {
    assert.equal((await client.get(SLOW)).get('value'), 0, 'channel connected');
    const put = client.put(SLOW, 31);
    const got = await client.get(SLOW);
    await put;
    assert.equal(got.get('value'), 31);
    assert.equal(slow.writesDone, 1);
  } finally {
    await s.close();
  }
});

test('pvAccess: while a put waits for slow hardware, its channel holds later gets, other channels and clients are answered', { timeout: 60000 }, async () => {
  const { root, slow } = buildRoot();
  const s = await serveCa(root, { protocols: ['pva'] });
  const client = s.client!;
  const other = new PvaClient({ addrList: [`127.0.0.1:${s.server.pvaServer!.udpPort}`], autoAddrList: false, nameServers: [], timeout: 10 });
  try {
    assert.equal((await client.get(SLOW)).get('value'), 0, 'channel connected');
    assert.equal((await client.get(FAST)).get('value'), 0, 'channel connected');
    slow.hold();
    let putDone = false;
    const put = client.put(SLOW, 41).then(() => void (putDone = true));
    await waitUntil(() => slow.waiting === 1, 'the put to reach the slow memory', 20000);
    let slowGot: unknown;
    const get = client.get(SLOW).then((v) => void (slowGot = v.get('value')));
    // a round trip on another channel of the same connection, sent after the get above: when it
    // is answered, the server has received that get
    await client.put(FAST, 8);
    assert.equal((await client.get(FAST)).get('value'), 8);
    assert.equal((await client.get(LOCAL)).get('value'), 3);
    assert.equal((await other.get(SLOW)).get('value'), 0, 'another connection reads the slow channel at once');
    assert.equal(slowGot, undefined, 'the get after the put waits for it');
    assert.equal(putDone, false);
    assert.equal(slow.waiting, 1);
    slow.release();
    await Promise.all([put, get]);
    assert.equal(slowGot, 41);
  } finally {
    slow.release();
    other.close();
    await s.close();
  }
});

const BIN = process.env.PVA_PEER_BIN;
const SKIP_CAPUT =
  BIN && existsSync(join(BIN, 'caput')) ? false : 'set PVA_PEER_BIN to a folder with EPICS base caput to check its New : line';

function caput(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(join(BIN!, 'caput'), args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

test('EPICS base caput prints the value it wrote to slow hardware as New', { skip: SKIP_CAPUT, timeout: 90000 }, async () => {
  const { root, slow } = buildRoot();
  slow.writeDelayMs = 500;
  const s = await serveCa(root, { protocols: ['ca'] });
  const env = await caEnv(s.caPort);
  try {
    let r = await caput([SLOW, '11'], env);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^Old : test:R:Slow:Reg\s+0\s*$/m, r.out);
    assert.match(r.out, /^New : test:R:Slow:Reg\s+11\s*$/m, r.out);
    r = await caput([SLOW, '12'], env);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^Old : test:R:Slow:Reg\s+11\s*$/m, r.out);
    assert.match(r.out, /^New : test:R:Slow:Reg\s+12\s*$/m, r.out);
  } finally {
    await s.close();
  }
});
