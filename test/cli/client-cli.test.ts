// `pvtree get|put|monitor|call|info|list` run as child processes against an in-process pvtree
// server on loopback; output lines and exit codes checked.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { main } from '../../src/cli/main.ts';
import { startServer, until, type Fixture } from './fixtures.ts';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface Child {
  stdout: string;
  stderr: string;
  done: Promise<Run>;
  kill(sig?: NodeJS.Signals): void;
}

function launch(args: string[], udpPort: number, env: Record<string, string> = {}): Child {
  const p = spawn(process.execPath, ['bin/pvtree.mjs', ...args], {
    cwd: new URL('../..', import.meta.url).pathname,
    env: {
      ...process.env,
      EPICS_PVA_ADDR_LIST: '127.0.0.1',
      EPICS_PVA_AUTO_ADDR_LIST: 'NO',
      EPICS_PVA_BROADCAST_PORT: String(udpPort),
      EPICS_PVA_NAME_SERVERS: '',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const c: Child = {
    stdout: '',
    stderr: '',
    done: new Promise<Run>((resolve) => {
      p.on('close', (code) => resolve({ code, stdout: c.stdout, stderr: c.stderr }));
    }),
    kill: (sig = 'SIGINT') => void p.kill(sig),
  };
  p.stdout.on('data', (d: Buffer) => (c.stdout += d.toString()));
  p.stderr.on('data', (d: Buffer) => (c.stderr += d.toString()));
  return c;
}

const run = (args: string[], udpPort: number, env: Record<string, string> = {}): Promise<Run> =>
  launch(args, udpPort, env).done;

describe('pvtree client CLI (child processes, loopback server)', () => {
  let fx: Fixture;
  let udp: number;

  before(async () => {
    fx = await startServer();
    udp = fx.server.udpPort;
  });
  after(async () => {
    await fx.server.stop();
  });

  it('get prints NAME then indented `field type = value` lines (pvxget)', async () => {
    const r = await run(['get', 'test:ai'], udp);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.equal(lines[0], 'test:ai');
    assert.equal(lines[1], '    value double = 3.25');
    assert.equal(lines[2], '    alarm.severity int32_t = 0');
    assert.ok(lines.includes('    display.description string = "double ai"'));
    assert.ok(lines.some((l) => /^ {4}display\.form\.choices string\[\] = \{\d+\}\[/.test(l)), r.stdout);
    assert.equal(r.stderr, '');
  });

  it('get -r selects fields; several PVs in order', async () => {
    const r = await run(['get', '-r', 'field(value)', 'test:ai', 'test:wf', 'test:enum'], udp);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      'test:ai\n    value double = 3.25\n' +
        'test:wf\n    value double[] = {4}[1.5, 2.5, 3.5, 4.5]\n' +
        'test:enum\n    value.index int32_t = 1\n    value.choices string[] = {4}["Zero", "One", "Two", "Three"]\n',
    );
  });

  it('get -F pvget prints the pvAccessCPP one-line form; -F tree the tree', async () => {
    const r = await run(['get', '-F', 'pvget', '-r', 'field(value)', 'test:ai', 'test:enum', 'test:wf'], udp);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      'test:ai <undefined>              3.25 \n' +
        'test:enum <undefined>              (1) One\n' +
        'test:wf <undefined>              [1.5,2.5,3.5,4.5]\n',
    );
    const t = await run(['get', '-F', 'tree', '-r', 'field(value)', 'test:ai'], udp);
    assert.equal(t.code, 0, t.stderr);
    assert.match(t.stdout, /^test:ai\n {4}struct "epics:nt\/NTScalar:1\.0" \{\n {8}double value = 3\.25\n/);
  });

  it('get of an unknown PV: message naming it on stderr, non-zero exit', async () => {
    const r = await run(['get', '-w', '0.5', 'test:nosuch'], udp);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, 'Error: test:nosuch: not found (timeout 0.5 s)\n');
  });

  it('get with one good and one unknown PV prints the good one and fails', async () => {
    const r = await run(['get', '-w', '0.5', '-r', 'value', 'test:str', 'test:nosuch'], udp);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, 'test:str\n    value string = "hello"\n');
    assert.match(r.stderr, /test:nosuch: not found/);
  });

  it('put NAME value prints Old and New as pvput does; get shows it', async () => {
    // pvput's lines: 'Old : <23-character time>  <value> ' (see test/pva/client-captures.test.ts)
    fx.pvs.long.post({ value: 42 });
    let r = await run(['put', 'test:long', '17'], udp);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Old : .{23} {2}42 \nNew : .{23} {2}17 \n$/);
    assert.equal(fx.pvs.long.current.get('value'), 17);
    const g = await run(['get', '-r', 'field(value)', 'test:long'], udp);
    assert.equal(g.stdout, 'test:long\n    value int32_t = 17\n');
    // -q: the new value alone (pvput -q)
    r = await run(['put', '-q', 'test:long', '18'], udp);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^.{23} {2}18 \n$/);
    // --put-get: the same report from one PUT_GET operation
    r = await run(['put', '--put-get', 'test:long', '19'], udp);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Old : .{23} {2}18 \nNew : .{23} {2}19 \n$/);
    r = await run(['put', '--put-get', '-q', 'test:enum', 'Two'], udp);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^.{23} {2}\(2\) Two\n$/);
    assert.equal(fx.pvs.long.current.get('value'), 19);
    assert.equal(fx.pvs.enum.current.get('value.index'), 2);
  });

  it('put NAME field=value (value.index=2) and strings with spaces', async () => {
    let r = await run(['put', 'test:enum', 'value.index=2'], udp);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fx.pvs.enum.current.get('value.index'), 2);
    r = await run(['put', 'test:enum', 'One'], udp);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fx.pvs.enum.current.get('value.index'), 1);
    r = await run(['put', 'test:str', 'hello pva'], udp);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fx.pvs.str.current.get('value'), 'hello pva');
    r = await run(['put', 'test:long', '--', '-5'], udp);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fx.pvs.long.current.get('value'), -5);
    r = await run(['put', 'test:long', '-6'], udp);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fx.pvs.long.current.get('value'), -6);
  });

  it('put errors: server status passed through, bad value, missing value', async () => {
    let r = await run(['put', 'test:ro', '5'], udp);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'Error: test:ro: read-only PV\n');
    assert.match(r.stdout, /^Old : .{23} {2}1 \n$/); // read before the refused put, as pvput does
    r = await run(['put', '--put-get', 'test:ro', '5'], udp);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'Error: test:ro: read-only PV\n');
    assert.equal(r.stdout, '');
    r = await run(['put', 'test:long', 'abc'], udp);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^Error: test:long: field 'value': /);
    r = await run(['put', 'test:long'], udp);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Error: expected a value or field=value/);
    r = await run(['put', '-w', '0.3', 'test:nosuch', '1'], udp);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'Error: test:nosuch: not found (timeout 0.3 s)\n');
  });

  it('monitor -# 2 prints two updates (complete, then delta) and exits 0', async () => {
    const c = launch(['monitor', '-#', '2', 'test:mon'], udp);
    await until(() => c.stdout.includes('display.units'), 8000, 'first update from the child');
    fx.pvs.mon.post({ value: 8.5 });
    const r = await c.done;
    assert.equal(r.code, 0, r.stderr);
    const blocks = r.stdout.split(/^(?=test:mon\n)/m);
    assert.equal(blocks.length, 2, r.stdout);
    assert.match(blocks[0], /^test:mon\n {4}value double = 3\.25\n {4}alarm\.severity int32_t = 0\n/);
    assert.equal(blocks[1], 'test:mon\n    value double = 8.5\n');
    assert.match(r.stderr, new RegExp(`^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\.\\d{3} test:mon Connected to 127\\.0\\.0\\.1:${fx.server.tcpPort}\\n$`));
    fx.pvs.mon.post({ value: 3.25 });
  });

  it('monitor with pipeline and queue size, request selection, stops on SIGINT', async () => {
    const c = launch(['monitor', '-p', '-q', '2', '-r', 'field(value)', 'test:mon'], udp);
    await until(() => c.stdout.includes('value double'), 8000, 'first update');
    for (let i = 1; i <= 5; i++) {
      fx.pvs.mon.post({ value: i });
      await new Promise((r) => setTimeout(r, 30));
    }
    await until(() => c.stdout.includes('value double = 5\n'), 5000, 'last update');
    c.kill('SIGINT');
    const r = await c.done;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^test:mon\n {4}value double = 3\.25\ntest:mon\n {4}value double = 1\n/);
    fx.pvs.mon.post({ value: 3.25 });
  });

  it('monitor with a request the server refuses exits 1 with the server message', async () => {
    const r = await run(['monitor', '-r', 'field(nosuch)', 'test:ai'], udp);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /\nError: test:ai: ./);
  });

  it('monitor of an unknown PV with -w fails naming it', async () => {
    const r = await run(['monitor', '-w', '0.5', 'test:nosuch'], udp);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Error: test:nosuch: not found \(timeout 0\.5 s\)/);
  });

  it('call NAME a=1 b=2 prints the result tree (pvxcall)', async () => {
    const r = await run(['call', 'test:add', 'lhs=1.5', 'rhs=2.25'], udp);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      'struct "epics:nt/NTScalar:1.0" {\n' +
        '    double value = 3.75\n' +
        '    struct "alarm_t" {\n' +
        '        int32_t severity = 0\n' +
        '        int32_t status = 0\n' +
        '        string message = ""\n' +
        '    } alarm\n' +
        '    struct "time_t" {\n' +
        '        int64_t secondsPastEpoch = 0\n' +
        '        int32_t nanoseconds = 0\n' +
        '        int32_t userTag = 0\n' +
        '    } timeStamp\n' +
        '}\n',
    );
    const bad = await run(['call', 'test:add', 'lhs=1'], udp);
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr, 'Error: test:add: need lhs and rhs\n');
    const usage = await run(['call', 'test:add', 'lhs'], udp);
    assert.equal(usage.code, 1);
    assert.match(usage.stderr, /expected <fld>=<value> not "lhs"/);
  });

  it('info prints "NAME from host:port" and the type (pvxinfo)', async () => {
    const r = await run(['info', 'test:enum'], udp);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      `test:enum from 127.0.0.1:${fx.server.tcpPort}\n` +
        'struct "epics:nt/NTEnum:1.0" {\n' +
        '    struct "enum_t" {\n' +
        '        int32_t index\n' +
        '        string[] choices\n' +
        '    } value\n' +
        '    struct "alarm_t" {\n' +
        '        int32_t severity\n' +
        '        int32_t status\n' +
        '        string message\n' +
        '    } alarm\n' +
        '    struct "time_t" {\n' +
        '        int64_t secondsPastEpoch\n' +
        '        int32_t nanoseconds\n' +
        '        int32_t userTag\n' +
        '    } timeStamp\n' +
        '    struct {\n' +
        '        string description\n' +
        '    } display\n' +
        '}\n',
    );
    const bad = await run(['info', '-w', '0.3', 'test:nosuch'], udp);
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr, 'Error: test:nosuch: not found (timeout 0.3 s)\n');
  });

  it('list host:port prints the channel names; without an address it searches', async () => {
    const r = await run(['list', `127.0.0.1:${fx.server.tcpPort}`], udp);
    assert.equal(r.code, 0, r.stderr);
    const names = r.stdout.trim().split('\n');
    for (const n of ['test:ai', 'test:add', 'test:enum', 'test:mon', 'test:str', 'test:wf']) assert.ok(names.includes(n), n);
    const s = await run(['list'], udp);
    assert.equal(s.code, 0, s.stderr);
    assert.equal(s.stdout, r.stdout);
  });

  it('list of an address where nothing listens fails', async () => {
    const r = await run(['list', '-w', '0.5', '127.0.0.1:1'], udp);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^Error: 127\.0\.0\.1:1: server: /);
  });

  it('name-server search from the environment (EPICS_PVA_NAME_SERVERS)', async () => {
    const r = await run(['get', '-r', 'value', 'test:str'], 1, {
      EPICS_PVA_ADDR_LIST: '',
      EPICS_PVA_NAME_SERVERS: `127.0.0.1:${fx.server.tcpPort}`,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^test:str\n {4}value string = /);
  });
});

describe('pvtree CLI usage (in process)', () => {
  const capture = () => {
    const io = { outText: '', errText: '', out: (s: string) => void (io.outText += s), err: (s: string) => void (io.errText += s) };
    return io;
  };

  for (const cmd of ['get', 'put', 'monitor', 'call', 'info', 'list']) {
    it(`${cmd} -h prints its usage and exits 0`, async () => {
      const io = capture();
      assert.equal(await main([cmd, '-h'], io), 0);
      assert.match(io.outText, new RegExp(`^Usage: pvtree ${cmd} `));
    });
  }

  it('no command: usage on stderr, exit 1; -h: exit 0; unknown command: exit 1', async () => {
    let io = capture();
    assert.equal(await main([], io), 1);
    assert.match(io.errText, /^Usage: pvtree <command>/);
    io = capture();
    assert.equal(await main(['-h'], io), 0);
    assert.match(io.outText, /get {7}Print the value of PVs/);
    io = capture();
    assert.equal(await main(['frob'], io), 1);
    assert.match(io.errText, /^pvtree: unknown command 'frob'/);
  });

  it('bad options are usage errors', async () => {
    let io = capture();
    assert.equal(await main(['get', '-z', 'x'], io), 1);
    assert.match(io.errText, /Error: unknown option '-z'/);
    io = capture();
    assert.equal(await main(['get'], io), 1);
    assert.match(io.errText, /Error: expected a PV name/);
    io = capture();
    assert.equal(await main(['get', '-F', 'json', 'x'], io), 1);
    assert.match(io.errText, /unknown format 'json'/);
  });

  it('serve is dispatched to src/cli/serve.ts (its help, its usage errors)', async () => {
    // child processes: the command's own usage text and exit codes, as a user sees them
    const help = await run(['serve', '--help'], 0);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /^Usage: pvtree serve <tree\.yaml \| module\.ts\|\.js> \[options\]\n/);
    assert.match(help.stdout, /--read-on-get MS/);
    const bad = await run(['serve', '--frob', 'x.yaml'], 0);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^pvtree serve: unknown option '--frob'\n/);
    assert.doesNotMatch(bad.stderr, /not available/);
  });
});
