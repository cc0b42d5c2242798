// End to end: `pvtree serve examples/demo.ts --loopback` in one child process, the client tools in
// others, all on 127.0.0.1 with free ports picked for this run.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { until } from './fixtures.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const haveServe = existsSync(`${ROOT}src/cli/serve.ts`) && existsSync(`${ROOT}examples/demo.ts`);

async function freeTcpPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function freeUdpPort(): Promise<number> {
  const u = createSocket('udp4');
  await new Promise<void>((r) => u.bind(0, '127.0.0.1', () => r()));
  const port = u.address().port;
  await new Promise<void>((r) => u.close(() => r()));
  return port;
}

function run(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['bin/pvtree.mjs', ...args], { cwd: ROOT, env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('pvtree serve + client tools (child processes)', { skip: !haveServe && 'serve or the demo is missing' }, () => {
  let server: ChildProcess;
  let out = '';
  let tcp = 0;
  let udp = 0;
  let env: Record<string, string> = {};

  before(async () => {
    tcp = await freeTcpPort();
    udp = await freeUdpPort();
    server = spawn(process.execPath, ['bin/pvtree.mjs', 'serve', 'examples/demo.ts', '--loopback', '--protocols', 'pva'], {
      cwd: ROOT,
      env: {
        ...process.env,
        EPICS_PVAS_SERVER_PORT: String(tcp),
        EPICS_PVAS_BROADCAST_PORT: String(udp),
        EPICS_PVAS_BEACON_ADDR_LIST: '127.0.0.1',
        PVTREE_LOG: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    server.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    server.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    await until(() => /pvAccess TCP \d+ UDP \d+/.test(out), 20000, 'the server to start');
    const m = /pvAccess TCP (\d+) UDP (\d+)/.exec(out)!;
    tcp = Number(m[1]);
    udp = Number(m[2]);
    env = {
      EPICS_PVA_ADDR_LIST: '127.0.0.1',
      EPICS_PVA_AUTO_ADDR_LIST: 'NO',
      EPICS_PVA_BROADCAST_PORT: String(udp),
      EPICS_PVA_NAME_SERVERS: '',
    };
  });

  after(async () => {
    if (server && server.exitCode === null) {
      const done = new Promise((r) => server.once('close', r));
      server.kill('SIGINT');
      await done;
    }
  });

  it('list, get, info and monitor the served tree', async () => {
    const l = await run(['list', `127.0.0.1:${tcp}`], env);
    assert.equal(l.code, 0, l.stderr);
    const names = l.stdout.trim().split('\n');
    assert.ok(names.length > 0);
    const searched = await run(['list'], env);
    assert.equal(searched.stdout, l.stdout);

    const name = 'pvtree:Demo:Control:RunCount'; // changes only when a run starts
    assert.ok(names.includes(name), l.stdout);
    const g = await run(['get', name], env);
    assert.equal(g.code, 0, g.stderr);
    assert.match(g.stdout, new RegExp(`^${name}\\n {4}\\S+ \\S+( = .*)?\\n`));

    const i = await run(['info', name], env);
    assert.equal(i.code, 0, i.stderr);
    assert.match(i.stdout, new RegExp(`^${name} from 127\\.0\\.0\\.1:${tcp}\\nstruct `));

    // the first monitor update prints the whole value, as get does (this PV does not change by itself)
    const m = await run(['monitor', '-#', '1', '-w', '10', name], env);
    assert.equal(m.code, 0, m.stderr);
    assert.equal(m.stdout, g.stdout);

    // a polled counter: the first update in full, the next one only what changed, counting up
    const up = 'pvtree:Demo:Fpga:Uptime';
    const u = await run(['monitor', '-#', '2', '-w', '10', up], env);
    assert.equal(u.code, 0, u.stderr);
    const blocks = u.stdout.split(new RegExp(`^${up}\n`, 'm')).slice(1);
    assert.equal(blocks.length, 2, u.stdout);
    const valueOf = (b: string) => Number(/^ {4}value uint32_t = (\d+)$/m.exec(b)?.[1]);
    assert.match(blocks[0], /^ {4}display\.description string = "Seconds since power-up/m, 'the first update is complete');
    assert.doesNotMatch(blocks[1], /display\./, 'the second update carries only what changed');
    assert.ok(valueOf(blocks[1]) > valueOf(blocks[0]), `Uptime counts up: ${valueOf(blocks[0])} then ${valueOf(blocks[1])}`);

    const bad = await run(['get', '-w', '0.5', 'pvtree:no:such:pv'], env);
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr, 'Error: pvtree:no:such:pv: not found (timeout 0.5 s)\n');
  });
});
