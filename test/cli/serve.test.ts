// `pvtree serve` options: --dump in every position and form, checked option values, and the
// command run in-process (through CliIO, with its own environment) and as a child process.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.ts';
import { parseServeArgs, serveCommand, type ServeConfig } from '../../src/cli/serve.ts';
import type { CliIO } from '../../src/cli/client-commands.ts';
import { PvaClient } from '../../src/pva/client/index.ts';
import { UsageError } from '../../src/cli/args.ts';
import { until } from './fixtures.ts';
import { freeUdpPort } from '../util/net.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const TREE = 'examples/board.yaml';


function parsed(argv: string[]): ServeConfig {
  const c = parseServeArgs(argv);
  assert.notEqual(c, 'help');
  return c as ServeConfig;
}

describe('pvtree serve: parsing', () => {
  it('--dump FILE, --dump=FILE and --dump alone, before and after the tree', () => {
    const cases: Array<[string[], { file?: string } | undefined]> = [
      [[TREE], undefined],
      [[TREE, '--dump', 'map.txt'], { file: 'map.txt' }],
      [['--dump', 'map.txt', TREE], { file: 'map.txt' }],
      [[TREE, '--dump=map.txt'], { file: 'map.txt' }],
      [['--dump=map.txt', TREE], { file: 'map.txt' }],
      [[TREE, '--dump'], { file: undefined }],
      [['--dump', TREE], { file: undefined }], // the only positional is the tree
      [['--dump', '--loopback', TREE], { file: undefined }],
      [[TREE, '--dump', '--base', 'lab'], { file: undefined }],
      [['--base', 'lab', TREE, '--dump', 'map.txt', '--loopback'], { file: 'map.txt' }],
      [['--loopback', '--dump', 'map.txt', '--base', 'lab', TREE], { file: 'map.txt' }],
      [['--dump', 'map.txt', '--', TREE], { file: 'map.txt' }],
    ];
    for (const [argv, dump] of cases) {
      const c = parsed(argv);
      assert.equal(c.tree, TREE, argv.join(' '));
      assert.deepEqual(c.dump, dump, argv.join(' '));
    }
    const c = parsed(['--base', 'lab', TREE, '--dump', 'map.txt', '--loopback']);
    assert.equal(c.base, 'lab');
    assert.equal(c.loopback, true);
  });

  it('typed options: groups, protocols, read-on-get; bad values are usage errors that say why', () => {
    const c = parsed([TREE, '--inc-groups', 'A, B', '--protocols', 'pva', '--read-on-get', '250', '--pv-map', 'm.yaml']);
    assert.deepEqual(c.incGroups, ['A', 'B']);
    assert.equal(c.excGroups, undefined);
    assert.deepEqual(c.protocols, ['pva']);
    assert.equal(c.readOnGetMs, 250);
    assert.equal(c.pvMapFile, 'm.yaml');
    assert.deepEqual(parsed([TREE]).protocols, ['pva', 'ca']);
    const bad: Array<[string[], RegExp]> = [
      [[TREE, '--read-on-get', 'soon'], /^--read-on-get takes a number of milliseconds \(0 or more\), not 'soon'$/],
      [[TREE, '--read-on-get', '-5'], /not '-5'/],
      [[TREE, '--read-on-get='], /not ''/],
      [[TREE, '--protocols', 'pva,http'], /^--protocols takes pva, ca or pva,ca, not 'pva,http'$/],
      [[], /^give a tree file or module$/],
      [[TREE, 'other.yaml'], /^give exactly one tree file or module, not 'examples\/board.yaml' 'other.yaml'$/],
      [[TREE, '--dump', 'a.txt', 'b.txt'], /^give exactly one tree file or module/],
      [[TREE, '--dump='], /^--dump= needs a file name/],
      [[TREE, '--loopback=yes'], /^option '--loopback' takes no value$/],
      [[TREE, '--nosuch'], /^unknown option '--nosuch'$/],
    ];
    for (const [argv, re] of bad) {
      assert.throws(() => parseServeArgs(argv), (e: Error) => e instanceof UsageError && re.test(e.message), argv.join(' '));
    }
    assert.equal(parseServeArgs(['-h']), 'help');
  });
});

interface Captured extends CliIO {
  outText: string;
  errText: string;
  stop(): void;
}

function capture(env: NodeJS.ProcessEnv): Captured {
  let stop!: () => void;
  const io: Captured = {
    outText: '',
    errText: '',
    out: (s) => void (io.outText += s),
    err: (s) => void (io.errText += s),
    env,
    interrupt: new Promise<void>((r) => (stop = r)),
    stop: () => stop(),
  };
  return io;
}

/** Loopback, free ports, no beacons leaving 127.0.0.1; nothing of this process's EPICS_* settings. */
async function serverEnv(): Promise<NodeJS.ProcessEnv> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('EPICS_') && k !== 'PVTREE_LOG') env[k] = v;
  return {
    ...env,
    EPICS_PVAS_SERVER_PORT: '0',
    // a named port: one taken as ephemeral (0) is not shared, not even with a beacon listener
    EPICS_PVAS_BROADCAST_PORT: String(await freeUdpPort()),
    EPICS_PVAS_INTF_ADDR_LIST: '127.0.0.1',
    EPICS_PVAS_BEACON_ADDR_LIST: '127.0.0.1',
    EPICS_PVAS_AUTO_BEACON_ADDR_LIST: 'NO',
    EPICS_PVAS_BEACON_PERIOD: '0.2',
    PVTREE_LOG: 'warn',
  };
}

const dumpLines = (text: string): string[] => text.trimEnd().split('\n').sort();

/** The first datagram sent to 127.255.255.255:port (where beacons go). */
async function firstDatagram(port: number): Promise<Buffer> {
  const u = createSocket({ type: 'udp4', reuseAddr: true });
  try {
    const got = new Promise<Buffer>((r) => u.once('message', (msg) => r(msg)));
    await new Promise<void>((r) => u.bind({ port, address: '127.255.255.255', exclusive: false }, () => r()));
    let timer: NodeJS.Timeout | undefined;
    return await Promise.race([got, new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error('no beacon in 10 s')), 10000)))]).finally(() => clearTimeout(timer));
  } finally {
    u.close();
  }
}

describe('npm run demo', () => {
  it('runs what the README runs: serve examples/demo.ts --loopback', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    const [node, bin, cmd, ...args] = pkg.scripts.demo.split(/\s+/);
    assert.deepEqual([node, bin, cmd], ['node', 'bin/pvtree.mjs', 'serve']);
    assert.ok(existsSync(join(ROOT, bin)), bin);
    const c = parsed(args);
    assert.equal(c.tree, 'examples/demo.ts');
    assert.ok(existsSync(join(ROOT, c.tree)), c.tree);
    assert.equal(c.loopback, true);
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    assert.ok(readme.includes(`npx pvtree serve ${args.join(' ')}`), 'the README set-up runs the same tree and options');
  });
});

describe('pvtree serve: running', () => {
  it('in-process: `serve TREE --dump FILE` writes the map; output and environment through CliIO', { timeout: 30000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pvtree-serve-'));
    const envBefore = JSON.stringify(process.env);
    try {
      const file = join(dir, 'map.txt');
      const io = capture(await serverEnv());
      const done = main(['serve', TREE, '--base', 'lab', '--protocols', 'pva', '--loopback', '--read-on-get', '100', '--dump', file], io);
      await until(() => /pvAccess TCP \d+ UDP \d+/.test(io.outText) || io.errText !== '', 20000, 'the server to start');
      const m = /serving (\d+) PVs of 'Board'; pvAccess TCP (\d+) UDP (\d+)\. Ctrl-C stops\.\n$/.exec(io.outText);
      assert.ok(m, io.outText + io.errText);
      const lines = dumpLines(readFileSync(file, 'utf8'));
      assert.equal(lines.length, Number(m[1]));
      assert.ok(lines.includes('lab:Board:Settings:Gain -> Board.Settings.Gain'), lines.join('\n'));
      // --loopback beacons to loopback's broadcast address, where clients of this host listen
      const beacon = await firstDatagram(Number(m[3]));
      assert.equal(beacon[3], 0x00, 'a BEACON'); // command byte of the header
      assert.ok(beacon[2] & 0x40, 'sent by a server');
      // the served tree answers on the port it printed
      const client = new PvaClient({ addrList: [], autoAddrList: false, nameServers: [], timeout: 5 });
      try {
        const v = await client.get('lab:Board:Settings:Gain', { server: `127.0.0.1:${m[2]}` });
        assert.equal(v.get('value'), 1.5);
      } finally {
        client.close();
      }
      io.stop();
      assert.equal(await done, 0);
      assert.match(io.outText, /pvtree: stopped\n$/);
      // --loopback went to the servers through their own environment, not into process.env
      assert.equal(JSON.stringify(process.env), envBefore);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('in-process: `--dump` alone prints the map through CliIO before the serving line', { timeout: 30000 }, async () => {
    const io = capture(await serverEnv());
    const done = serveCommand(['--dump', TREE, '--base', 'lab', '--protocols', 'pva'], io);
    await until(() => /Ctrl-C stops/.test(io.outText) || io.errText !== '', 20000, 'the server to start');
    io.stop();
    assert.equal(await done, 0, io.errText);
    const [dump, serving] = io.outText.split('pvtree: serving');
    assert.equal(dumpLines(dump).length, Number(/^ (\d+) PVs/.exec(serving)![1]));
    assert.ok(dump.includes('lab:Board:Regs:Version -> Board.Regs.Version\n'), dump);
  });

  it('in-process: a dump file that cannot be written fails the command and stops the server', { timeout: 30000 }, async () => {
    const io = capture(await serverEnv());
    const status = await serveCommand([TREE, '--protocols', 'pva', '--dump=/nonexistent-dir/map.txt'], io);
    assert.equal(status, 1);
    assert.match(io.errText, /^pvtree serve: --dump \/nonexistent-dir\/map\.txt: ENOENT/m);
    assert.match(io.outText, /pvtree: stopped\n$/);
  });

  it('bad --read-on-get is refused before anything starts', async () => {
    const io = capture(await serverEnv());
    assert.equal(await serveCommand([TREE, '--read-on-get', 'fast'], io), 1);
    assert.match(io.errText, /^pvtree serve: --read-on-get takes a number of milliseconds \(0 or more\), not 'fast'\nUsage: pvtree serve/);
    assert.equal(io.outText, '');
  });

  it('child process: `pvtree serve examples/board.yaml --dump map.txt` (the order Rogue users write)', { timeout: 60000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pvtree-serve-'));
    try {
      const file = join(dir, 'map.txt');
      const p = spawn(process.execPath, ['bin/pvtree.mjs', 'serve', TREE, '--loopback', '--protocols', 'pva', '--dump', file], {
        cwd: ROOT,
        env: await serverEnv(),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      p.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const closed = new Promise<number | null>((r) => p.on('close', (code) => r(code)));
      await until(() => /Ctrl-C stops/.test(out) || p.exitCode !== null, 40000, 'the server to start');
      const n = Number(/serving (\d+) PVs of 'Board'/.exec(out)![1]);
      const lines = dumpLines(readFileSync(file, 'utf8'));
      assert.equal(lines.length, n);
      assert.ok(lines.includes('pvtree:Board:Settings:Gain -> Board.Settings.Gain'), lines.join('\n'));
      p.kill('SIGINT');
      assert.equal(await closed, 0, out);
      assert.match(out, /pvtree: stopped\n$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
