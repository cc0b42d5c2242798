// `pvtree serve --acf` in a child process: a YAML tree naming its ASGs, a group → ASG map, the
// audit file, SIGHUP reloading the rules for connected clients, --read-only, and a bad file that
// stops the start with its position.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PvaClient } from '../../src/pva/client/index.ts';
import { parseServeArgs } from '../../src/cli/serve.ts';
import { loadTreeFromYaml } from '../../src/tree/index.ts';
import { freeUdpPort } from '../util/net.ts';
import { until } from './fixture.ts';

const ROOT = new URL('../..', import.meta.url).pathname;

const TREE = `
root: { name: Board }
variables:
  - { name: Open, value: 0, typeStr: Int32, asg: open }
devices:
  - name: Ctl
    asg: ctl
    variables:
      - { name: Gain, value: 1.5, typeStr: Float64 }
    commands:
      - { name: Bump, action: increment, target: Ctl.Gain }
  - name: Motor
    groups: [Motion]
    variables:
      - { name: Pos, value: 0, typeStr: Int32 }
`;

const ACF = `UAG(ops) {alice}
ASG(DEFAULT) { RULE(1, READ) }
ASG(ctl) {
  RULE(1, READ)
  RULE(1, WRITE) { UAG(ops) }
}
ASG(open) { RULE(1, WRITE) }
ASG(motion) { RULE(1, WRITE) { UAG(ops) } }
`;

interface Child {
  proc: ChildProcess;
  out: () => string;
  udp: number;
  stop(): Promise<number | null>;
}

async function serve(dir: string, extra: string[]): Promise<Child> {
  const udp = await freeUdpPort();
  const proc = spawn(process.execPath, ['bin/pvtree.mjs', 'serve', join(dir, 'tree.yaml'), '--loopback', '--protocols', 'pva', '--base', 'cli', ...extra], {
    cwd: ROOT,
    env: { ...process.env, EPICS_PVAS_SERVER_PORT: '0', EPICS_PVAS_BROADCAST_PORT: String(udp), EPICS_PVAS_BEACON_ADDR_LIST: '127.0.0.1', PVTREE_LOG: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const closed = new Promise<number | null>((r) => proc.once('close', (code) => r(code)));
  await Promise.race([until(() => /Ctrl-C stops/.test(out), 'the server to start', 30000), closed.then(() => undefined)]);
  return {
    proc,
    out: () => out,
    udp,
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGINT');
      return closed;
    },
  };
}

test('pvtree serve --acf: YAML asg, --asg-map, --audit, SIGHUP reload', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvtree-serve-acf-'));
  const clients: PvaClient[] = [];
  let child: Child | undefined;
  try {
    writeFileSync(join(dir, 'tree.yaml'), TREE);
    writeFileSync(join(dir, 'site.acf'), ACF);
    writeFileSync(join(dir, 'asg.yaml'), 'Motion: motion\n');
    const audit = join(dir, 'audit.jsonl');
    child = await serve(dir, ['--acf', join(dir, 'site.acf'), '--asg-map', join(dir, 'asg.yaml'), '--audit', audit]);
    assert.match(child.out(), /Ctrl-C stops/, child.out());
    const client = (user: string): PvaClient => {
      const c = new PvaClient({ addrList: [`127.0.0.1:${child!.udp}`], autoAddrList: false, nameServers: [], timeout: 5, user });
      clients.push(c);
      return c;
    };
    const alice = client('alice');
    const bob = client('bob');
    await alice.put('cli:Board:Ctl:Gain', 2.5);
    await assert.rejects(bob.put('cli:Board:Ctl:Gain', 3), /write access denied to cli:Board:Ctl:Gain for bob@127\.0\.0\.1/);
    await assert.rejects(bob.rpc('cli:Board:Ctl:Bump', {}), /write access denied to cli:Board:Ctl:Bump for bob@127\.0\.0\.1/);
    await alice.rpc('cli:Board:Ctl:Bump', {});
    assert.equal((await bob.get('cli:Board:Ctl:Gain')).get('value'), 3.5);
    await bob.put('cli:Board:Open', 1);
    await assert.rejects(bob.put('cli:Board:Motor:Pos', 1), /write access denied/); // Motion → motion
    await alice.put('cli:Board:Motor:Pos', 1);
    // SIGHUP: bob joins ops; his open connection may write at once
    writeFileSync(join(dir, 'site.acf'), ACF.replace('{alice}', '{alice, bob}'));
    child.proc.kill('SIGHUP');
    await until(() => /loaded .*site\.acf/.test(child!.out()), 'the reload');
    await bob.put('cli:Board:Ctl:Gain', 4.5);
    // a bad file on SIGHUP: logged with its position, the rules stay
    writeFileSync(join(dir, 'site.acf'), 'ASG(DEFAULT) {\n  RULE(1, WRITE) { UAG(x) }\n}\n');
    child.proc.kill('SIGHUP');
    await until(() => /not reloaded, the rules in force stay: .*site\.acf:2:24: no user access group named 'x'/.test(child!.out()), 'the failed reload');
    await bob.put('cli:Board:Ctl:Gain', 5.5);
    const lines = readFileSync(audit, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(
      lines.map((l) => [l.pv, l.user, l.result]),
      [
        ['cli:Board:Ctl:Gain', 'alice', 'ok'],
        ['cli:Board:Ctl:Gain', 'bob', 'denied'],
        ['cli:Board:Ctl:Bump', 'bob', 'denied'],
        ['cli:Board:Ctl:Bump', 'alice', 'ok'],
        ['cli:Board:Open', 'bob', 'ok'],
        ['cli:Board:Motor:Pos', 'bob', 'denied'],
        ['cli:Board:Motor:Pos', 'alice', 'ok'],
        ['cli:Board:Ctl:Gain', 'bob', 'ok'],
        ['cli:Board:Ctl:Gain', 'bob', 'ok'],
      ],
    );
    for (const c of clients.splice(0)) c.close();
    assert.equal(await child.stop(), 0);
    child = undefined;
    // --read-only: nobody writes
    child = await serve(dir, ['--read-only']);
    const carol = client('alice');
    await assert.rejects(carol.put('cli:Board:Open', 2), /write access denied to cli:Board:Open for alice@127\.0\.0\.1/);
    assert.equal((await carol.get('cli:Board:Open')).get('value'), 0);
  } finally {
    for (const c of clients) c.close();
    await child?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('pvtree serve --acf: a bad file stops the start, naming file, line and column', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvtree-serve-acf-'));
  try {
    writeFileSync(join(dir, 'tree.yaml'), TREE);
    writeFileSync(join(dir, 'bad.acf'), 'UAG(ops) {alice}\nASG(DEFAULT) {\n  RULE(1, READ)\n  RULE(1, WRITE) { UAG(opz) }\n}\n');
    const c = await serve(dir, ['--acf', join(dir, 'bad.acf')]);
    assert.equal(await c.stop(), 1);
    assert.match(c.out(), /bad\.acf:4:24: no user access group named 'opz' defined/);
    assert.doesNotMatch(c.out(), /Ctrl-C stops/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('pvtree serve: access security options are checked', () => {
  const cfg = parseServeArgs(['t.yaml', '--acf', 'a.acf', '--acf-macros', 'P=LAB,Q=1', '--audit', 'x.jsonl', '--audit-max-size', '2M', '--check-client-ip']);
  assert.ok(cfg !== 'help');
  assert.equal(cfg.acf, 'a.acf');
  assert.deepEqual(cfg.acfMacros, { P: 'LAB', Q: '1' });
  assert.deepEqual(cfg.audit, { file: 'x.jsonl', maxBytes: 2 * 1024 * 1024 });
  assert.equal(cfg.checkClientIP, true);
  assert.equal(cfg.readOnly, false);
  assert.throws(() => parseServeArgs(['t.yaml', '--acf-macros', 'P=1']), /--acf-macros needs --acf FILE/);
  assert.throws(() => parseServeArgs(['t.yaml', '--audit-max-size', '1M']), /--audit-max-size needs --audit FILE/);
  assert.throws(() => parseServeArgs(['t.yaml', '--audit', 'a', '--audit-max-size', 'lots']), /--audit-max-size takes a size/);
  assert.throws(() => parseServeArgs(['t.yaml', '--acf', 'a', '--acf-macros', 'P']), /--acf-macros: bad macro definition 'P'/);
});

test('YAML trees: asg on the root, devices, variables and commands, inherited', () => {
  const root = loadTreeFromYaml(TREE.replace('root: { name: Board }', 'root: { name: Board, asg: base }'));
  assert.equal(root.asg, 'base');
  assert.equal(root.getNode('Board.Open')!.accessGroup, 'open');
  assert.equal(root.getNode('Board.Ctl')!.asg, 'ctl');
  assert.equal(root.getNode('Board.Ctl.Gain')!.asg, undefined);
  assert.equal(root.getNode('Board.Ctl.Gain')!.accessGroup, 'ctl');
  assert.equal(root.getNode('Board.Ctl.Bump')!.accessGroup, 'ctl');
  assert.equal(root.getNode('Board.Motor.Pos')!.accessGroup, 'base');
  assert.throws(() => loadTreeFromYaml(TREE.replace('asg: ctl', 'asg: [ctl]')), /asg/);
});
