// The npm package as a user gets it: `npm pack` (which builds dist/ through `prepare`), the tarball
// installed into an empty project offline, then used from a plain .mjs program (a tree with Local
// and Remote variables and a command, served by EpicsPvServer on loopback and read back with the
// package's client), from TypeScript (type-checked against the shipped declarations alone) and from
// the command line (`npx pvtree get`), all without tsx, which is a development dependency only.
//
// Offline means from this checkout: a fresh, empty npm cache, and the package's runtime
// dependencies packed from the checkout's node_modules (what `npm ci` installed), so the test
// needs no registry and no warm cache.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeUdpPort } from '../util/net.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const require = createRequire(import.meta.url);
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const NPX = process.platform === 'win32' ? 'npx.cmd' : 'npx';

interface PackedFile {
  path: string;
}

const pkgJson = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  dependencies?: Record<string, string>;
  exports: Record<string, string | Record<string, string>>;
};

let work = '';
let cache = '';
let project = '';
let tarball = '';
let packed: PackedFile[] = [];

/** The environment of every child: loopback EPICS, the temporary npm cache, none of the test runner's switches. */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // under `npm test`, npm's own variables (npm_config_local_prefix=<checkout> …) must not steer the
  // nested npm commands toward the checkout
  for (const k of Object.keys(env)) if (k.startsWith('npm_') || k === 'INIT_CWD') delete env[k];
  delete env.PVTREE_FROM_SOURCE; // the installed package must run its own dist/
  delete env.NODE_OPTIONS;
  return { ...env, npm_config_cache: cache, npm_config_update_notifier: 'false', ...extra };
}

function run(cmd: string, args: string[], cwd: string, extra: Record<string, string> = {}, timeout = 180_000): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd, env: childEnv(extra), encoding: 'utf8', timeout });
  if (r.error) throw r.error;
  return r;
}

function ok(r: SpawnSyncReturns<string>, what: string): string {
  assert.equal(r.status, 0, `${what} failed (status ${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** The package's runtime dependencies and theirs, as installed in the checkout. */
function runtimeClosure(deps: Record<string, string> | undefined, from: string, out = new Map<string, string>()): Map<string, string> {
  for (const name of Object.keys(deps ?? {})) {
    if (out.has(name)) continue;
    const dir = [join(from, 'node_modules', name), join(ROOT, 'node_modules', name)].find((d) => existsSync(join(d, 'package.json')));
    assert.ok(dir, `runtime dependency ${name} is not installed in the checkout (run npm ci)`);
    out.set(name, dir);
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    runtimeClosure(pkg.dependencies, dir, out);
  }
  return out;
}

function filesUnder(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) filesUnder(p, out);
    else out.push(p);
  }
  return out;
}

describe('the npm package', { timeout: 600_000 }, () => {
  before(() => {
    work = mkdtempSync(join(tmpdir(), 'pvtree-pack-'));
    cache = join(work, 'npm-cache');
    project = join(work, 'project');
    const tarballs = join(work, 'tarballs');
    mkdirSync(tarballs);
    mkdirSync(project);

    // npm pack runs `prepare`: dist/ is rebuilt from the current sources (incrementally)
    const out = ok(run(NPM, ['pack', '--json', '--pack-destination', tarballs], ROOT, {}, 400_000), 'npm pack');
    const info = JSON.parse(out.slice(out.indexOf('['))) as Array<{ filename: string; files: PackedFile[] }>;
    tarball = join(tarballs, info[0].filename);
    packed = info[0].files;

    const depTarballs: string[] = [];
    for (const [name, dir] of runtimeClosure(pkgJson.dependencies, ROOT)) {
      const depOut = ok(run(NPM, ['pack', '--json', '--ignore-scripts', '--pack-destination', tarballs, dir], work), `npm pack ${name}`);
      depTarballs.push(join(tarballs, (JSON.parse(depOut.slice(depOut.indexOf('['))) as Array<{ filename: string }>)[0].filename));
    }
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'pvtree-user', version: '1.0.0', private: true, type: 'module' }));
    ok(run(NPM, ['install', '--offline', '--no-audit', '--no-fund', tarball, ...depTarballs], project), 'npm install --offline');
  });

  after(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('ships the compiled code, declarations, README and examples: no tests, no TypeScript sources', () => {
    const paths = packed.map((f) => f.path);
    for (const p of ['README.md', 'package.json', 'bin/pvtree.mjs', 'dist/cli/pvtree.js', 'examples/demo.ts', 'examples/board.yaml']) {
      assert.ok(paths.includes(p), `${p} is in the tarball`);
    }
    for (const [sub, target] of Object.entries(pkgJson.exports)) {
      if (typeof target === 'string') continue;
      for (const cond of ['types', 'default']) assert.ok(paths.includes(target[cond].slice(2)), `exports['${sub}'].${cond} ${target[cond]} is in the tarball`);
    }
    assert.deepEqual(paths.filter((p) => p.startsWith('test/') || /\.test\.[cm]?[jt]s$/.test(p) || p.startsWith('src/')), [], 'no tests, no sources');
    // TypeScript only as declarations and the example tree (which users serve, the runtime never imports it)
    assert.deepEqual(paths.filter((p) => /\.[cm]?ts$/.test(p) && !/\.d\.ts$/.test(p)), ['examples/demo.ts']);
    assert.ok(!paths.some((p) => p.endsWith('.tsbuildinfo')), 'no build state');
    // files the code reads at run time (the web page) ship beside the compiled modules
    for (const f of filesUnder(join(ROOT, 'src')).map((p) => p.slice(ROOT.length + 'src/'.length))) {
      if (!/\.(ts|md)$/.test(f)) assert.ok(paths.includes(`dist/${f}`), `dist/${f} is in the tarball`);
    }
  });

  it('installs offline into an empty project, without tsx, and its modules import no .ts file', () => {
    const dir = join(project, 'node_modules', 'pvtree');
    assert.ok(existsSync(join(dir, 'dist', 'index.js')));
    assert.ok(!existsSync(join(project, 'node_modules', 'tsx')), 'tsx is not installed with pvtree');
    // static imports and re-exports start a line in compiled code; doc comments (' * import …') do not count
    const importsTs = /^(?:import|export)\b[^;]*\bfrom\s*['"][^'"]+\.[cm]?ts['"]|^(?!\s*(?:\*|\/\/|\/\*)).*\bimport\s*\(\s*['"][^'"]+\.[cm]?ts['"]/m;
    const jsFiles = filesUnder(join(dir, 'dist')).filter((p) => p.endsWith('.js'));
    assert.ok(jsFiles.length > 10, 'compiled modules are installed');
    for (const f of jsFiles) assert.doesNotMatch(readFileSync(f, 'utf8'), importsTs, `${f} imports a .ts file`);
  });

  it('the command line bundle holds the client commands only: no tree, servers or YAML until `serve` runs', () => {
    const bundle = readFileSync(join(project, 'node_modules', 'pvtree', 'dist', 'cli', 'pvtree.js'), 'utf8');
    const modules = [...bundle.matchAll(/^\/\/ (src\/\S+\.ts)$/gm)].map((m) => m[1]);
    assert.ok(modules.includes('src/pva/client/client.ts') && modules.includes('src/cli/client-commands.ts'), modules.join(' '));
    assert.deepEqual(modules.filter((m) => /^src\/(tree|epics|ca|pva\/server\/(server|connection))\b|serve\.ts$/.test(m)), []);
    const imports = [...bundle.matchAll(/^import .* from "([^"]+)";$/gm)].map((m) => m[1]);
    assert.deepEqual(imports.filter((i) => !i.startsWith('node:')), [], 'only Node built-ins are imported up front');
    assert.match(bundle, /import\("\.\/serve\.js"\)/, 'serve is imported from dist/cli/serve.js when it runs');
  });

  it('(a) a plain .mjs program builds a tree, serves it with EpicsPvServer and reads it back with the client', async () => {
    writeFileSync(join(project, 'app.mjs'), APP);
    const udpPort = await freeUdpPort();
    const p = spawn(process.execPath, ['app.mjs', String(udpPort)], { cwd: project, env: childEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((r) => p.on('close', (code) => r(code)));
    try {
      const line = await new Promise<string>((resolve, reject) => {
        const t = setInterval(() => {
          const m = /^READY (.*)$/m.exec(out);
          if (m) resolve(m[1]);
          else if (p.exitCode !== null) reject(new Error(`app.mjs exited ${p.exitCode}:\n${out}\n${err}`));
        }, 50);
        void exited.finally(() => setTimeout(() => clearInterval(t), 100));
      });
      const r = JSON.parse(line) as Record<string, unknown>;
      assert.equal(r.gain, 1.5, 'LocalVariable read back over pvAccess');
      assert.equal(r.units, 'dB');
      assert.equal(r.reg, 0x1234, 'RemoteVariable written and read back through emulated memory');
      assert.equal(r.count, 5, 'the command ran with its argument');
      assert.ok((r.pvs as string[]).includes('pkg:Pkg:Dev:Gain'), String(r.pvs));

      // (c) the command line of the installed package, against the same server
      const env = { EPICS_PVA_ADDR_LIST: '127.0.0.1', EPICS_PVA_AUTO_ADDR_LIST: 'NO', EPICS_PVA_BROADCAST_PORT: String(udpPort), EPICS_PVA_NAME_SERVERS: '' };
      const get = run(NPX, ['--offline', 'pvtree', 'get', '-r', 'field(value)', 'pkg:Pkg:Dev:Gain'], project, env, 60_000);
      assert.equal(ok(get, 'npx pvtree get'), 'pkg:Pkg:Dev:Gain\n    value double = 1.5\n');
      const put = run(NPX, ['--offline', 'pvtree', 'put', '-q', 'pkg:Pkg:Dev:Reg', '77'], project, env, 60_000);
      assert.match(ok(put, 'npx pvtree put'), /\b77\s*$/);
    } finally {
      p.stdin.end(); // app.mjs stops its tree and exits
      const code = await exited;
      assert.equal(code, 0, `app.mjs: ${out}\n${err}`);
    }
  });

  it('(b) a TypeScript consumer type-checks against the shipped declarations alone', () => {
    writeFileSync(join(project, 'consumer.ts'), CONSUMER);
    writeFileSync(join(project, 'readme-board.ts'), readmeExample('ts', '// board.ts'));
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noEmit: true,
          skipLibCheck: false, // the shipped .d.ts files themselves must be valid
          types: ['node'],
          typeRoots: [join(ROOT, 'node_modules', '@types')],
        },
        files: ['consumer.ts', 'readme-board.ts'],
      }),
    );
    const tsc = require.resolve('typescript/bin/tsc');
    const r = run(process.execPath, [tsc, '-p', 'tsconfig.json', '--listFiles'], project);
    ok(r, 'tsc');
    const pvtreeFiles = r.stdout.split('\n').filter((f) => f.includes('/node_modules/pvtree/'));
    assert.ok(pvtreeFiles.length > 0 && pvtreeFiles.every((f) => f.endsWith('.d.ts')), `only declarations of pvtree:\n${pvtreeFiles.join('\n')}`);
    assert.ok(!r.stdout.includes(join(ROOT, 'src')), 'nothing from the checkout\'s sources');
  });

  it("the README's JavaScript example serves its tree; the installed CLI reads it", { timeout: 120_000 }, async () => {
    writeFileSync(join(project, 'board.mjs'), readmeExample('js', '// board.mjs'));
    const udpPort = await freeUdpPort();
    const env = {
      EPICS_PVAS_INTF_ADDR_LIST: '127.0.0.1', EPICS_PVAS_SERVER_PORT: '0', EPICS_PVAS_BROADCAST_PORT: String(udpPort),
      EPICS_PVAS_BEACON_ADDR_LIST: '127.0.0.1', EPICS_PVAS_AUTO_BEACON_ADDR_LIST: 'NO',
      EPICS_CAS_INTF_ADDR_LIST: '127.0.0.1', EPICS_CAS_SERVER_PORT: '0', EPICS_CAS_BEACON_ADDR_LIST: '127.0.0.1', EPICS_CAS_AUTO_BEACON_ADDR_LIST: 'NO',
      EPICS_PVA_ADDR_LIST: '127.0.0.1', EPICS_PVA_AUTO_ADDR_LIST: 'NO', EPICS_PVA_BROADCAST_PORT: String(udpPort), EPICS_PVA_NAME_SERVERS: '',
      PVTREE_LOG: 'warn',
    };
    const p = spawn(process.execPath, ['board.mjs'], { cwd: project, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    p.stdout.on('data', (d: Buffer) => (log += d.toString()));
    p.stderr.on('data', (d: Buffer) => (log += d.toString()));
    const exited = new Promise<void>((r) => p.on('close', () => r()));
    try {
      // the server is up once a get answers (each get searches for up to 2 s)
      let out = '';
      for (let i = 0; i < 20 && p.exitCode === null; i++) {
        const r = run(NPX, ['--offline', 'pvtree', 'get', '-w', '2', '-r', 'field(value)', 'lab:Lab:Board:Gain'], project, env, 60_000);
        if (r.status === 0) {
          out = r.stdout;
          break;
        }
      }
      assert.equal(out, 'lab:Lab:Board:Gain\n    value double = 1.5\n', log);
    } finally {
      p.kill('SIGTERM');
      await exited;
    }
  });

  it('`pvtree serve --http` from the installed package serves the web page and its vendored uPlot', { timeout: 120_000 }, async (t) => {
    const help = run(NPX, ['--offline', 'pvtree', 'serve', '--help'], project, {}, 60_000);
    if (!ok(help, 'pvtree serve --help').includes('--http')) return t.skip('this pvtree has no --http option');
    const udpPort = await freeUdpPort();
    const env = { EPICS_PVAS_SERVER_PORT: '0', EPICS_PVAS_BROADCAST_PORT: String(udpPort), PVTREE_LOG: 'warn' };
    const tree = join(project, 'node_modules', 'pvtree', 'examples', 'board.yaml');
    const p = spawn(NPX, ['--offline', 'pvtree', 'serve', tree, '--loopback', '--protocols', 'pva', '--http', '127.0.0.1:0'], {
      cwd: project,
      env: childEnv(env),
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // npx and its child node: one process group to stop
    });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<void>((r) => p.on('close', () => r()));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setInterval(() => {
          const m = /web (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
          if (m) resolve(m[1]);
          else if (p.exitCode !== null) reject(new Error(`pvtree serve exited ${p.exitCode}: ${out}`));
        }, 50);
        void exited.finally(() => setTimeout(() => clearInterval(timer), 100));
      });
      const page = await fetch(url);
      assert.equal(page.status, 200, out);
      assert.match(await page.text(), /<html/i);
      const uplot = await fetch(new URL('vendor/uPlot.esm.js', url));
      assert.equal(uplot.status, 200, 'uPlot comes from the installed uplot package');
      await uplot.arrayBuffer();
    } finally {
      if (p.pid) process.kill(-p.pid, 'SIGINT');
      await exited;
    }
  });

  it('serving a TypeScript tree without tsx says what to install', () => {
    writeFileSync(join(project, 'tree.ts'), "import { Root } from 'pvtree';\nexport const root: Root = new Root({ name: 'T' });\n");
    const r = run(NPX, ['--offline', 'pvtree', 'serve', 'tree.ts', '--loopback'], project, {}, 60_000);
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /tree\.ts is TypeScript.*npm install --save-dev tsx/);
  });
});

/** The README's code block in `lang` whose first line is `firstLine`. */
function readmeExample(lang: string, firstLine: string): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('```' + lang + '\n' + firstLine);
  assert.ok(start >= 0, `the README has a ${lang} block starting '${firstLine}'`);
  const body = readme.slice(start + lang.length + 4);
  return body.slice(0, body.indexOf('```'));
}

/** (a): the program a JavaScript user writes. argv[2]: the UDP search port. */
const APP = `import { Root, Device, LocalVariable, RemoteVariable, LocalCommand, EpicsPvServer, PvaClient, consoleLogger } from 'pvtree';

const udpPort = Number(process.argv[2]);
const root = new Root({ name: 'Pkg' });                // emulated memory
const dev = new Device({ name: 'Dev', offset: 0x100 });
root.add(dev);
dev.add(new RemoteVariable({ name: 'Reg', offset: 0x0, bitSize: 16, bitOffset: 0, base: 'UInt', mode: 'RW' }));
dev.add(new LocalVariable({ name: 'Gain', value: 1.5, units: 'dB' }));
dev.add(new LocalVariable({ name: 'Count', value: 0 }));
dev.add(new LocalCommand({
  name: 'Add', argType: 'Int32',
  function: async ({ dev, arg }) => { const c = dev.node('Count'); await c.set((await c.get()) + arg); },
}));
const server = new EpicsPvServer({
  base: 'pkg', root,
  pva: { interfaces: ['127.0.0.1'], tcpPort: 0, udpPort, beaconAddrs: [] },
  ca: { interfaces: ['127.0.0.1'], port: 0, beacons: false },
  logger: consoleLogger('app', 'warn'),
});
root.addProtocol(server);
await root.start();

const client = new PvaClient({ addrList: ['127.0.0.1'], autoAddrList: false, broadcastPort: udpPort, nameServers: [] });
const gain = await client.get('pkg:Pkg:Dev:Gain');
await client.put('pkg:Pkg:Dev:Reg', 0x1234);
const reg = await client.get('pkg:Pkg:Dev:Reg', { request: 'field(value)' });
await client.rpc('pkg:Pkg:Dev:Add', { arg: '5' });
const count = await client.get('pkg:Pkg:Dev:Count', { request: 'field(value)' });
client.close();
const plain = (_k, v) => (typeof v === 'bigint' ? Number(v) : v);
console.log('READY ' + JSON.stringify({
  gain: gain.get('value'), units: gain.get('display.units'), reg: reg.get('value'), count: count.get('value'),
  pvs: Object.values(server.list()),
}, plain));
process.stdin.resume();
process.stdin.on('end', async () => { await root.stop(); process.exit(0); });
`;

/** (b): a TypeScript user's code; the @ts-expect-error lines fail if the declarations were loose. */
const CONSUMER = `import { Root, Device, LocalVariable, RemoteVariable, LocalCommand, EpicsPvServer, PvaClient, type PVStructure } from 'pvtree';
import { Emulate, type Mode } from 'pvtree/tree';
import { PvaServer, SharedPV } from 'pvtree/pva';
import { PVStructure as Value, ntScalar, struct } from 'pvtree/pvdata';
import { CaServer } from 'pvtree/ca';
import { EpicsPvHolder } from 'pvtree/epics';

const root: Root = new Root({ name: 'Typed', memBase: new Emulate() });
const dev = new Device({ name: 'Dev' });
root.add(dev);
const gain = new LocalVariable({ name: 'Gain', value: 1.5, units: 'dB' });
dev.add(gain);
dev.add(new RemoteVariable({ name: 'Reg', offset: 0, bitSize: 8, base: 'UInt' }));
dev.add(new LocalCommand<number, void>({ name: 'Go', argType: 'Int32', function: ({ arg }) => void arg }));
root.addProtocol(new EpicsPvServer({ base: 'typed', root, protocols: ['pva'] }));

async function read(client: PvaClient): Promise<number> {
  const v: PVStructure = await client.get('typed:Typed:Dev:Gain', { request: 'field(value)', timeout: 2 });
  return v.get('value') as number;
}
const v: Mode = 'RO';
const s = struct('demo_t', { value: 'double' });
void [read, v, s, Value, PvaServer, SharedPV, ntScalar, CaServer, EpicsPvHolder];

// @ts-expect-error a node needs its options object
new Device();
// @ts-expect-error 'WR' is not a mode
new LocalVariable({ name: 'Bad', value: 0, mode: 'WR' });
// @ts-expect-error protocols are 'pva' and 'ca'
new EpicsPvServer({ base: 'x', root, protocols: ['http'] });
// @ts-expect-error get takes a PV name
void new PvaClient().get(42);
`;
