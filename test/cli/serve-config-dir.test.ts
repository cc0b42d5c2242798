// `pvtree serve --config-dir DIR`: file paths given to the Root's built-in commands over EPICS must
// resolve inside DIR (default: the current directory); a path escaping it is refused with a clear error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseServeArgs, serveCommand, type ServeConfig } from '../../src/cli/serve.ts';
import type { CliIO } from '../../src/cli/client-commands.ts';
import { PvaClient } from '../../src/pva/client/index.ts';
import { until } from './fixtures.ts';

const TREE = 'examples/board.yaml';

function env(): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('EPICS_') && k !== 'PVTREE_LOG') e[k] = v;
  return {
    ...e, EPICS_PVAS_SERVER_PORT: '0', EPICS_PVAS_BROADCAST_PORT: '0', EPICS_PVAS_INTF_ADDR_LIST: '127.0.0.1',
    EPICS_PVAS_BEACON_ADDR_LIST: '127.0.0.1', EPICS_PVAS_AUTO_BEACON_ADDR_LIST: 'NO', PVTREE_LOG: 'warn',
  };
}

test('--config-dir is parsed (absent: undefined, meaning the current directory)', () => {
  assert.equal((parseServeArgs([TREE]) as ServeConfig).configDir, undefined);
  assert.equal((parseServeArgs([TREE, '--config-dir', 'cfg']) as ServeConfig).configDir, 'cfg');
  assert.equal((parseServeArgs(['--config-dir=/srv/cfg', TREE]) as ServeConfig).configDir, '/srv/cfg');
});

test('a --config-dir that is not a directory stops serve with a clear error', async () => {
  let out = '';
  let err = '';
  const io: CliIO = { out: (s) => void (out += s), err: (s) => void (err += s), env: env(), interrupt: new Promise<void>(() => undefined) };
  assert.equal(await serveCommand([TREE, '--protocols', 'pva', '--config-dir', '/nonexistent-pvtree-dir'], io), 1);
  assert.match(err, /^pvtree serve: --config-dir \/nonexistent-pvtree-dir: not a directory$/m);
  assert.equal(out, '');
});

test('served: SaveConfig and LoadConfig by RPC work inside --config-dir and are refused outside it', { timeout: 30000 }, async () => {
  const base = mkdtempSync(join(tmpdir(), 'pvtree-serve-cfg-'));
  const dir = join(base, 'cfg');
  mkdirSync(dir);
  writeFileSync(join(base, 'outside.yml'), 'Board:\n  Settings:\n    Gain: 9.0\n');
  let out = '';
  let err = '';
  let stop!: () => void;
  const io: CliIO = { out: (s) => void (out += s), err: (s) => void (err += s), env: env(), interrupt: new Promise<void>((r) => (stop = r)) };
  const done = serveCommand([TREE, '--base', 'lab', '--protocols', 'pva', '--config-dir', dir], io);
  const client = new PvaClient({ addrList: [], autoAddrList: false, nameServers: [], timeout: 5 });
  try {
    await until(() => /Ctrl-C stops/.test(out) || err !== '', 20000, 'the server to start');
    const m = /pvAccess TCP (\d+)/.exec(out);
    assert.ok(m, out + err);
    const server = `127.0.0.1:${m[1]}`;
    await client.put('lab:Board:Settings:Gain', 2.5, { server });
    const saved = await client.rpc('lab:Board:SaveConfig', { arg: 'board.yml' }, { server });
    assert.equal(saved.get('value'), join(dir, 'board.yml'));
    assert.match(readFileSync(join(dir, 'board.yml'), 'utf8'), /\n {4}Gain: 2.50\n/);
    await client.put('lab:Board:Settings:Gain', 1, { server });
    await client.rpc('lab:Board:LoadConfig', { arg: 'board.yml' }, { server });
    assert.equal((await client.get('lab:Board:Settings:Gain', { server })).get('value'), 2.5);
    for (const bad of ['../outside.yml', join(base, 'outside.yml')]) {
      await assert.rejects(client.rpc('lab:Board:LoadConfig', { arg: bad }, { server }), /outside the config directory/);
    }
    await assert.rejects(client.rpc('lab:Board:SaveConfig', { arg: '../written.yml' }, { server }), /outside the config directory/);
    assert.equal((await client.get('lab:Board:Settings:Gain', { server })).get('value'), 2.5);
  } finally {
    client.close();
    stop();
    assert.equal(await done, 0, err);
    rmSync(base, { recursive: true, force: true });
  }
});
