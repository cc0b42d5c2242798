// `pvtree serve … --http [HOST:]PORT` and `--http-read-only`: parsing, and the demo served in a
// child process as the README runs it, reached over HTTP and the pvws web socket.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { parseServeArgs } from '../../src/cli/serve.ts';
import { UsageError } from '../../src/cli/args.ts';
import { TestClient } from './harness.ts';

const ROOT = new URL('../..', import.meta.url).pathname;

test('--http takes [HOST:]PORT (host 127.0.0.1 by default); --http-read-only and --http-throttle MS need it', () => {
  const p = (...a: string[]) => parseServeArgs(['t.yaml', ...a]);
  assert.deepEqual((p('--http', '8080') as { http: unknown }).http, { host: '127.0.0.1', port: 8080, readOnly: false });
  assert.deepEqual((p('--http', '0.0.0.0:9000', '--http-read-only') as { http: unknown }).http, { host: '0.0.0.0', port: 9000, readOnly: true });
  assert.deepEqual((p('--http=[::1]:8081') as { http: unknown }).http, { host: '::1', port: 8081, readOnly: false });
  assert.deepEqual((p('--http', 'localhost:0') as { http: unknown }).http, { host: 'localhost', port: 0, readOnly: false });
  assert.equal((p() as { http: unknown }).http, undefined);
  for (const bad of ['', 'abc', '70000', 'host:', ':80', '1.2.3.4:port']) {
    assert.throws(() => p('--http', bad), (e: Error) => e instanceof UsageError && /--http takes \[HOST:\]PORT/.test(e.message), bad);
  }
  assert.throws(() => p('--http-read-only'), (e: Error) => e instanceof UsageError && /--http-read-only needs --http/.test(e.message));
  assert.deepEqual((p('--http', '8080', '--http-throttle', '250') as { http: unknown }).http, { host: '127.0.0.1', port: 8080, readOnly: false, throttleMs: 250 });
  assert.throws(() => p('--http-throttle', '250'), (e: Error) => e instanceof UsageError && /--http-throttle needs --http/.test(e.message));
  for (const bad of ['', '-1', 'x']) {
    assert.throws(() => p('--http', '8080', '--http-throttle', bad), (e: Error) => e instanceof UsageError && /--http-throttle takes a number/.test(e.message), bad);
  }
});

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    request(url, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    })
      .on('error', reject)
      .end();
  });
}

test('pvtree serve examples/demo.ts --loopback --http: the page, the tree and live values; read-only refuses writes', async () => {
  const child = spawn(
    process.execPath,
    ['bin/pvtree.mjs', 'serve', 'examples/demo.ts', '--loopback', '--protocols', 'pva', '--http', '0', '--http-read-only'],
    { cwd: ROOT, env: { ...process.env, EPICS_PVAS_SERVER_PORT: '0', EPICS_PVAS_BROADCAST_PORT: '0', PVTREE_LOG: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const closed = new Promise<number | null>((r) => child.on('close', r));
  try {
    const t0 = Date.now();
    while (!/web (http:\/\/127\.0\.0\.1:\d+\/) \(read-only\)/.test(out)) {
      if (Date.now() - t0 > 30000 || child.exitCode !== null) throw new Error(`the server did not start: ${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const url = /web (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out)![1];
    const page = await get(url);
    assert.equal(page.status, 200);
    assert.match(page.body, /static\/app\.js/);
    const tree = JSON.parse((await get(`${url}api/tree`)).body) as { root: string; readOnly: boolean };
    assert.equal(tree.root, 'Demo');
    assert.equal(tree.readOnly, true);
    const c = await TestClient.open(`${url.replace('http', 'ws')}pvws/pv`);
    try {
      c.send({ type: 'subscribe', pvs: ['pvtree:Demo:Fpga:Uptime'] });
      const first = await c.next((m) => m.type === 'update', 'Uptime', 0, 20000);
      assert.equal(first.readonly, true);
      await c.next((m) => m.type === 'update' && m.value !== first.value, 'Uptime counting', 0, 20000);
      c.send({ type: 'write', pv: 'pvtree:Demo:Environment:FanSpeed', value: 10, id: 1 });
      assert.match((await c.next((m) => m.id === 1, 'the refusal')).message as string, /read-only web server/);
    } finally {
      c.close();
    }
  } finally {
    child.kill('SIGINT');
    await closed;
  }
});
