// pvws's own JavaScript client (pvws.js with its base64.js, from an ornl-epics/pvws checkout named
// by PVWS_JS_DIR: the folder holding both files, src/main/webapp/js in the repository) run
// unchanged against pvtree: subscribe, merged metadata and deltas, its base64 array decoding,
// list, echo, write, clear. Skipped when PVWS_JS_DIR is not set (pvws's code is not part of pvtree).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createContext, runInContext } from 'node:vm';
import WebSocket from 'ws';
import { Device, LocalVariable, Root } from '../../src/tree/index.ts';
import { serveWeb } from './harness.ts';

const dir = process.env.PVWS_JS_DIR;
const have = dir !== undefined && existsSync(join(dir, 'pvws.js')) && existsSync(join(dir, 'base64.js'));

type Msg = Record<string, unknown>;

test('pvws.js, pvws\'s own client, works against pvtree unchanged', { skip: !have && 'set PVWS_JS_DIR to the folder holding pvws.js and base64.js (ornl-epics/pvws src/main/webapp/js)' }, async () => {
  const root = new Root({ name: 'R', pollEn: false });
  const d = new Device({ name: 'D' });
  root.add(d);
  const f = new LocalVariable({ name: 'f', typeStr: 'Float64', value: 1.25, units: 'mm', disp: '{:.2f}', highAlarm: 10 });
  d.add(f);
  d.add(new LocalVariable({ name: 'mode', typeStr: 'UInt8', value: 1, enum: { 0: 'Off', 1: 'On' } }));
  d.add(new LocalVariable({ name: 'text', value: 'hello' }));
  d.add(new LocalVariable({ name: 'dbl', value: new Float64Array([1.5, -2]) }));
  d.add(new LocalVariable({ name: 'flt', value: new Float32Array([0.5, 3]) }));
  d.add(new LocalVariable({ name: 'i32', typeStr: 'Int32[2]', value: [-7, 70000] }));
  d.add(new LocalVariable({ name: 'i16', typeStr: 'Int16[2]', value: [-300, 300] }));
  d.add(new LocalVariable({ name: 'i8', typeStr: 'Int8[2]', value: [-5, 5] }));
  d.add(new LocalVariable({ name: 'u8', typeStr: 'UInt8[2]', value: [200, 1] }));
  d.add(new LocalVariable({ name: 'u32', typeStr: 'UInt32[2]', value: [4000000000, 1] }));
  const s = await serveWeb(root);
  const got: Msg[] = [];
  const states: boolean[] = [];
  // its timers (idle check, reconnect) must not keep the test alive
  const unref = <T extends { unref(): T }>(t: T): T => t.unref();
  const ctx = createContext({
    WebSocket,
    console: { log() {}, error() {} },
    setTimeout: (fn: () => void, ms: number) => unref(setTimeout(fn, ms)),
    setInterval: (fn: () => void, ms: number) => unref(setInterval(fn, ms)),
    clearInterval,
    clearTimeout,
    // pvws.js tests `pvs.constructor !== Array`: this test's arrays must pass as arrays
    Array,
  });
  runInContext(readFileSync(join(dir!, 'base64.js'), 'utf8'), ctx);
  runInContext(readFileSync(join(dir!, 'pvws.js'), 'utf8'), ctx);
  ctx.url = s.wsUrl;
  ctx.onState = (up: boolean) => states.push(up);
  // pvws.js hands the same merged object again on every update: keep a copy of each
  ctx.onMessage = (m: Msg) => got.push(JSON.parse(JSON.stringify(m)) as Msg);
  const pvws = runInContext('const p = new PVWS(url, onState, onMessage); p.open(); p', ctx) as {
    subscribe(pvs: string[]): void;
    clear(pvs: string[]): void;
    list(): void;
    write(pv: string, v: unknown): void;
    close(): void;
    socket: WebSocket;
    reconnect_ms: number;
  };
  const until = async <T>(fn: () => T | undefined, what: string): Promise<T> => {
    const t0 = Date.now();
    for (;;) {
      const r = fn();
      if (r !== undefined) return r;
      if (Date.now() - t0 > 10000) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(got.slice(-3))}`);
      await new Promise((res) => setTimeout(res, 10));
    }
  };
  const last = (pv: string) => [...got].reverse().find((m) => m.type === 'update' && m.pv === pv);
  try {
    await until(() => (states.includes(true) ? true : undefined), 'the connection');
    const names = ['f', 'mode', 'text', 'dbl', 'flt', 'i32', 'i16', 'i8', 'u8', 'u32'].map((n) => `test:R:D:${n}`);
    pvws.subscribe(names);
    for (const n of names) await until(() => last(n), n);
    const F = last('test:R:D:f')!;
    assert.equal(F.value, 1.25);
    assert.equal(F.units, 'mm');
    assert.equal(F.precision, 2);
    assert.equal(F.alarm_high, 10);
    assert.equal(F.severity, 'NONE');
    assert.equal(F.readonly, false);
    assert.equal(last('test:R:D:mode')!.text, 'On');
    assert.deepEqual(last('test:R:D:mode')!.labels, ['Off', 'On']);
    assert.equal(last('test:R:D:text')!.text, 'hello');
    // pvws.js's own decoding of the base64 arrays
    const arrays: [string, number[]][] = [['dbl', [1.5, -2]], ['flt', [0.5, 3]], ['i32', [-7, 70000]], ['i16', [-300, 300]], ['i8', [-5, 5]], ['u8', [200, 1]], ['u32', [4000000000, 1]]];
    for (const [n, v] of arrays) assert.deepEqual(last(`test:R:D:${n}`)!.value, v, n);

    // a delta merges into the full value: metadata still there
    const n0 = got.length;
    await f.set(11);
    const merged = await until(() => got.slice(n0).find((m) => m.pv === 'test:R:D:f'), 'the delta');
    assert.equal(merged.value, 11);
    assert.equal(merged.severity, 'MAJOR');
    assert.equal(merged.units, 'mm');

    pvws.write('test:R:D:f', 2.5);
    await until(() => (f.value === 2.5 ? true : undefined), 'the write');
    pvws.write('test:R:D:mode', 'Off');
    await until(() => ((root.getNode('R.D.mode') as LocalVariable<number>).value === 0 ? true : undefined), 'the enum write by label');
    pvws.list();
    const l = await until(() => got.find((m) => m.type === 'list'), 'the list');
    assert.deepEqual([...(l.pvs as string[])].sort(), [...names].sort());
    pvws.clear(['test:R:D:f']);
    pvws.list();
    await until(() => (got.filter((m) => m.type === 'list').length === 2 ? true : undefined), 'the second list');
    assert.ok(!(got.filter((m) => m.type === 'list')[1].pvs as string[]).includes('test:R:D:f'));
  } finally {
    pvws.reconnect_ms = 600_000; // pvws.js reconnects after a close: not here
    pvws.close();
    await s.close();
  }
});
