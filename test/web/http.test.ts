// The HTTP side: the tree as JSON, the page and its files (uPlot from its package), and the
// Host / Origin checks that keep other sites' pages away from a loopback server.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Device, LocalCommand, LocalVariable, Root } from '../../src/tree/index.ts';
import type { TreeJson, VariableJson, CommandJson, DeviceJson } from '../../src/web/index.ts';
import { serveWeb, TestClient, type WebServed } from './harness.ts';

function get(port: number, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, type: String(res.headers['content-type']), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function buildRoot(): Root {
  const root = new Root({ name: 'R', pollEn: false });
  const d = new Device({ name: 'D', description: 'a device' });
  root.add(d);
  d.add(new LocalVariable({ name: 'gain', typeStr: 'Float64', value: 1, units: 'dB', minimum: 0, maximum: 10, highAlarm: 9, description: 'the gain', disp: '{:.2f}' }));
  d.add(new LocalVariable({ name: 'mode', typeStr: 'UInt8', value: 0, enum: { 0: 'Off', 3: 'On' }, mode: 'RO' }));
  d.add(new LocalVariable({ name: 'secret', typeStr: 'UInt8', value: 0, groups: ['NoServe'] }));
  d.add(new LocalVariable({ name: 'wave', value: new Float32Array(8), hidden: true }));
  d.add(new LocalCommand<number, number>({ name: 'Go', argType: 'UInt16', function: () => 1 }));
  const sub = new Device({ name: 'Sub' });
  d.add(sub);
  sub.add(new LocalVariable({ name: 'x', typeStr: 'Int32', value: 1 }));
  const empty = new Device({ name: 'OnlySecret' });
  d.add(empty);
  empty.add(new LocalVariable({ name: 'hid', typeStr: 'Int32', value: 1, groups: ['NoServe'] }));
  return root;
}

function find(d: DeviceJson, name: string): DeviceJson | VariableJson | CommandJson | undefined {
  return d.children.find((c) => c.name === name);
}

describe('web HTTP', () => {
  let s: WebServed;
  before(async () => {
    s = await serveWeb(buildRoot());
  });
  after(() => s.close());

  test('GET /api/tree: devices, variables and commands as served, with what the page needs', async () => {
    const r = await get(s.web.port, '/api/tree');
    assert.equal(r.status, 200);
    assert.match(r.type, /application\/json/);
    const t = JSON.parse(r.body) as TreeJson;
    assert.equal(t.root, 'R');
    assert.equal(t.readOnly, false);
    assert.equal(t.systemLog, 'test:R:SystemLog');
    const d = find(t.tree, 'D') as DeviceJson;
    assert.equal(d.kind, 'device');
    assert.equal(d.description, 'a device');
    const gain = find(d, 'gain') as VariableJson;
    assert.deepEqual(
      { ...gain, groups: [...gain.groups] },
      {
        kind: 'variable', name: 'gain', path: 'R.D.gain', description: 'the gain', hidden: false, groups: [],
        pv: 'test:R:D:gain', mode: 'RW', type: 'Float64', editor: 'float', disp: '{:.2f}', units: 'dB',
        minimum: 0, maximum: 10, highAlarm: 9,
      },
    );
    const mode = find(d, 'mode') as VariableJson;
    assert.equal(mode.editor, 'enum');
    assert.deepEqual(mode.enum, ['Off', 'On']);
    assert.equal(mode.mode, 'RO');
    assert.equal(find(d, 'secret'), undefined, 'NoServe is not served, so not shown');
    const wave = find(d, 'wave') as VariableJson;
    assert.equal(wave.hidden, true);
    assert.equal(wave.editor, 'array');
    assert.equal(wave.length, 8);
    const go = find(d, 'Go') as CommandJson;
    assert.equal(go.kind, 'command');
    assert.equal(go.argType, 'UInt16');
    assert.equal(go.editor, 'int');
    assert.equal(go.pv, 'test:R:D:Go');
    // leaves first (with each device's built-ins), then sub-devices
    assert.deepEqual(d.children.map((c) => c.name), ['enable', 'ReadDevice', 'WriteDevice', 'gain', 'mode', 'wave', 'Go', 'Sub', 'OnlySecret']);
    assert.equal(((find(d, 'Sub') as DeviceJson).children[3] as VariableJson).pv, 'test:R:D:Sub:x');
    assert.deepEqual((find(d, 'OnlySecret') as DeviceJson).children.map((c) => c.name), ['enable', 'ReadDevice', 'WriteDevice']);
  });

  test('the page, its modules and uPlot (from the installed package) are served; nothing else', async () => {
    const page = await get(s.web.port, '/');
    assert.equal(page.status, 200);
    assert.match(page.type, /text\/html/);
    assert.match(page.body, /<script type="module" src="static\/app\.js">/);
    const app = await get(s.web.port, '/static/app.js');
    assert.equal(app.status, 200);
    assert.match(app.type, /text\/javascript/);
    const uplot = await get(s.web.port, '/vendor/uPlot.esm.js');
    assert.equal(uplot.status, 200);
    const require = createRequire(import.meta.url);
    assert.equal(uplot.body, readFileSync(require.resolve('uplot/dist/uPlot.esm.js'), 'utf8'));
    assert.equal((await get(s.web.port, '/vendor/uPlot.min.css')).status, 200);
    for (const p of ['/static/../server.ts', '/static/%2e%2e/server.ts', '/static/.hidden', '/vendor/ws', '/nothing', '/static/']) {
      assert.equal((await get(s.web.port, p)).status, 404, p);
    }
    assert.equal((await get(s.web.port, '/api/tree', {}, 'POST')).status, 405);
    assert.equal((await get(s.web.port, '/pvws/pv')).status, 426);
    const head = await get(s.web.port, '/api/tree', {}, 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
  });

  test('a loopback server answers loopback host names only (no DNS rebinding)', async () => {
    assert.equal((await get(s.web.port, '/api/tree', { Host: `localhost:${s.web.port}` })).status, 200);
    assert.equal((await get(s.web.port, '/api/tree', { Host: `[::1]:${s.web.port}` })).status, 200);
    const r = await get(s.web.port, '/api/tree', { Host: `evil.example:${s.web.port}` });
    assert.equal(r.status, 421);
  });

  test('web sockets from pages of other origins are refused; the own page and non-browsers are served', async () => {
    const own = await TestClient.open(s.wsUrl, { origin: `http://127.0.0.1:${s.web.port}` });
    own.send({ type: 'echo' });
    await own.next((m) => m.type === 'echo', 'the echo');
    own.close();
    const plain = await TestClient.open(s.wsUrl);
    plain.close();
    await assert.rejects(TestClient.open(s.wsUrl, { origin: 'http://evil.example' }), /403/);
    await assert.rejects(TestClient.open(s.wsUrl, { headers: { Host: 'evil.example' } }), /421/);
    await assert.rejects(TestClient.open(s.wsUrl.replace('/pvws/pv', '/other')), /404/);
    assert.match(s.log.lines.join('\n'), /origin http:\/\/evil\.example refused/);
  });
});

test('allowedOrigins lets a listed site (or any with *) open the web socket', async () => {
  const s = await serveWeb(buildRoot(), { allowedOrigins: ['https://displays.example'] });
  try {
    const c = await TestClient.open(s.wsUrl, { origin: 'https://displays.example' });
    c.close();
    await assert.rejects(TestClient.open(s.wsUrl, { origin: 'https://other.example' }), /403/);
  } finally {
    await s.close();
  }
});

test('a device with nothing served is left out of /api/tree; no SystemLog when it is not served', async () => {
  const s = await serveWeb(buildRoot(), {}, { excGroups: ['NoServe', 'Builtin'] });
  try {
    const t = JSON.parse((await get(s.web.port, '/api/tree')).body) as TreeJson;
    const d = find(t.tree, 'D') as DeviceJson;
    assert.deepEqual(d.children.map((c) => c.name), ['gain', 'mode', 'wave', 'Go', 'Sub']);
    assert.equal(t.systemLog, null);
  } finally {
    await s.close();
  }
});
