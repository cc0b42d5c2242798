// Access security over pvAccess with the pvtree client presenting different accounts ("ca"
// authentication): puts, RPCs, command puts, gets and monitors follow the rules; a CALC input
// flips access at run time; audit lines; a reload changes the rights of connected clients.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import type { PVStructure } from '../../src/pvdata/index.ts';
import { SITE_ACF, serveSecured, until } from './fixture.ts';

const val = (s: PVStructure): unknown => s.get('value');

test('pvAccess: one account may write, the other is refused on put, RPC and command put; reads follow READ', async () => {
  const s = await serveSecured();
  try {
    const alice = s.client('alice');
    const bob = s.client('bob');
    // put
    await alice.put('sec:Root:Dev:Gain', 2.5);
    await assert.rejects(bob.put('sec:Root:Dev:Gain', 9.5), { message: 'sec:Root:Dev:Gain: write access denied to sec:Root:Dev:Gain for bob@127.0.0.1' });
    assert.equal(val(await bob.get('sec:Root:Dev:Gain')), 2.5); // nothing changed; bob may read
    // inherited from the device, two levels down
    await alice.put('sec:Root:Dev:Sub:Offset', 7);
    await assert.rejects(bob.put('sec:Root:Dev:Sub:Offset', 8), /write access denied to sec:Root:Dev:Sub:Offset for bob@127.0.0.1/);
    // RPC and a put to a command: commands are actions, they need WRITE
    const r = await alice.rpc('sec:Root:Dev:Go', { arg: 3 });
    assert.equal(r.get('value'), 'went 3');
    await assert.rejects(bob.rpc('sec:Root:Dev:Go', { arg: 4 }), /write access denied to sec:Root:Dev:Go for bob@127.0.0.1/);
    await assert.rejects(bob.put('sec:Root:Dev:Go', 4), /write access denied to sec:Root:Dev:Go for bob@127.0.0.1/);
    // put-get: refused as a put
    await assert.rejects(bob.putGet('sec:Root:Dev:Gain', 1), /write access denied/);
    // a read-only variable stays read-only for everyone
    await assert.rejects(alice.put('sec:Root:Dev:Count', 5), /sec:Root:Dev:Count is read-only/);
    // NONE: no get, no monitor
    assert.equal(val(await alice.get('sec:Root:Secret')), 42);
    await assert.rejects(bob.get('sec:Root:Secret'), { message: 'sec:Root:Secret: read access denied to sec:Root:Secret for bob@127.0.0.1' });
    const errors: string[] = [];
    const sub = bob.monitor('sec:Root:Secret', () => assert.fail('bob must not see Secret'), {
      onEvent: (e) => {
        if (e.type === 'error') errors.push(e.error.message);
      },
    });
    await until(() => errors.length > 0, 'the refused monitor');
    assert.match(errors[0], /read access denied to sec:Root:Secret for bob@127.0.0.1/);
    sub.close();
    // a tree group mapped to an ASG (asgByGroup): Axis is in Motion → secret
    await assert.rejects(bob.get('sec:Root:Axis'), /read access denied/);
    await alice.put('sec:Root:Axis', 1);
    // HAG by address: every pvAccess client on 127.0.0.1 may write Lab
    await bob.put('sec:Root:Lab', 5);
    // an account 'domain/alice' is alice, as pvxs takes the part after the last '/'
    await s.client('LAB/alice').put('sec:Root:Dev:Gain', 3.5);
    // the server keeps serving
    assert.equal(val(await bob.get('sec:Root:Dev:Gain')), 3.5);
    // the audit: allowed and denied writes, JSON lines
    const lines = readFileSync(s.audit, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const gain = lines.filter((l) => l.pv === 'sec:Root:Dev:Gain');
    assert.deepEqual(
      gain.map((l) => [l.protocol, l.op, l.user, l.host, l.old, l.new, l.result, l.path, l.asg, l.trap ?? false]),
      [
        ['pva', 'put', 'alice', '127.0.0.1', 1.5, 2.5, 'ok', 'Root.Dev.Gain', 'ctl', true],
        ['pva', 'put', 'bob', '127.0.0.1', 2.5, 9.5, 'denied', 'Root.Dev.Gain', 'ctl', false],
        ['pva', 'put', 'bob', '127.0.0.1', 2.5, 1, 'denied', 'Root.Dev.Gain', 'ctl', false],
        ['pva', 'put', 'alice', '127.0.0.1', 2.5, 3.5, 'ok', 'Root.Dev.Gain', 'ctl', true],
      ],
    );
    const go = lines.filter((l) => l.pv === 'sec:Root:Dev:Go').map((l) => [l.op, l.user, l.new, l.result]);
    assert.deepEqual(go, [
      ['call', 'alice', 3, 'ok'],
      ['call', 'bob', 4, 'denied'],
      ['call', 'bob', 4, 'denied'],
    ]);
    assert.ok(lines.every((l) => typeof l.time === 'string' && !Number.isNaN(Date.parse(l.time as string))));
  } finally {
    await s.close();
  }
});

test('pvAccess: a CALC input flips write and read access at run time; monitors go quiet and come back', async () => {
  const s = await serveSecured();
  try {
    const alice = s.client('alice');
    const bob = s.client('bob');
    await alice.put('sec:Root:Dev:Gain', 2);
    // bob watches Watched, readable while Interlock is 0
    const seen: number[] = [];
    const sub = bob.monitor('sec:Root:Watched', (v) => void seen.push(Number(v.get('value'))));
    await until(() => seen.length === 1, "bob's first update");
    await alice.put('sec:Root:Watched', 1);
    await until(() => seen.length === 2, "bob's second update");
    await alice.put('sec:Root:Interlock', 1);
    // the interlock is on: alice may not write Dev, bob may not read Watched
    await assert.rejects(alice.put('sec:Root:Dev:Gain', 3), /write access denied to sec:Root:Dev:Gain for alice@127.0.0.1/);
    await assert.rejects(bob.get('sec:Root:Watched'), /read access denied to sec:Root:Watched for bob@127.0.0.1/);
    await alice.put('sec:Root:Watched', 2);
    await alice.put('sec:Root:Watched', 3);
    await alice.put('sec:Root:Interlock', 0);
    // read access is back: the complete current value, and nothing of what happened meanwhile
    await until(() => seen.length === 3, "bob's update once he may read again");
    assert.deepEqual(seen, [0, 1, 3]);
    await alice.put('sec:Root:Dev:Gain', 4);
    assert.equal(val(await bob.get('sec:Root:Dev:Gain')), 4);
    sub.close();
  } finally {
    await s.close();
  }
});

test('pvAccess: a reload changes the rights of connected clients; a bad file keeps the rules in force', async () => {
  const s = await serveSecured();
  try {
    const bob = s.client('bob');
    await assert.rejects(bob.put('sec:Root:Dev:Gain', 5), /write access denied/);
    const seen: number[] = [];
    const sub = bob.monitor('sec:Root:Watched', (v) => void seen.push(Number(v.get('value'))));
    await until(() => seen.length === 1, 'the first update');
    // bob joins ops; Watched becomes invisible to guests
    writeFileSync(s.acf, SITE_ACF.replace('UAG(ops) {alice, root}', 'UAG(ops) {alice, root, bob}'));
    await s.server.reloadAcf();
    await bob.put('sec:Root:Dev:Gain', 5); // the same connection, now allowed
    writeFileSync(s.acf, SITE_ACF.replace('RULE(1, READ) { CALC("A=0") }', 'RULE(1, NONE)'));
    await s.server.reloadAcf();
    await assert.rejects(bob.get('sec:Root:Watched'), /read access denied/);
    await assert.rejects(bob.put('sec:Root:Dev:Gain', 6), /write access denied/);
    // a file with an error: the reload fails with its position, the rules stay
    writeFileSync(s.acf, 'ASG(DEFAULT) {\n  RULE(1, WRITE) { UAG(everyone) }\n}\n');
    await assert.rejects(s.server.reloadAcf(), /site\.acf:2:24: no user access group named 'everyone' defined/);
    await assert.rejects(bob.put('sec:Root:Dev:Gain', 6), /write access denied/);
    // the reload command PV does the same (ASG ACF is not defined: DEFAULT, READ for bob)
    writeFileSync(s.acf, SITE_ACF);
    await assert.rejects(bob.rpc('sec:ACF:Reload', {}), /write access denied to sec:ACF:Reload for bob@127.0.0.1/);
    writeFileSync(s.acf, SITE_ACF + 'ASG(ACF) {\n  RULE(1, WRITE) { UAG(guests) }\n}\n');
    await assert.rejects(bob.rpc('sec:ACF:Reload', {}), /write access denied/); // the file is not loaded yet
    await s.server.reloadAcf();
    const r = await bob.rpc('sec:ACF:Reload', {});
    assert.match(String(r.get('value')), /^reloaded .*site\.acf$/);
    assert.equal(seen[0], 0);
    sub.close();
  } finally {
    await s.close();
  }
});

test('pvAccess: --read-only, and an audit of every write without a file', async () => {
  const s = await serveSecured({ acf: undefined, readOnly: true });
  try {
    const alice = s.client('alice');
    await assert.rejects(alice.put('sec:Root:Dev:Gain', 5), { message: 'sec:Root:Dev:Gain: write access denied to sec:Root:Dev:Gain for alice@127.0.0.1' });
    await assert.rejects(alice.rpc('sec:Root:Dev:Go', { arg: 1 }), /write access denied/);
    assert.equal(val(await alice.get('sec:Root:Secret')), 42); // no file: every PV readable
    const lines = readFileSync(s.audit, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(lines.map((l) => [l.pv, l.result]), [
      ['sec:Root:Dev:Gain', 'denied'],
      ['sec:Root:Dev:Go', 'denied'],
    ]);
  } finally {
    await s.close();
  }
  const t = await serveSecured({ acf: undefined });
  try {
    // only an audit file: everything allowed, everything logged
    await t.client('bob').put('sec:Root:Secret', 1);
    const line = JSON.parse(readFileSync(t.audit, 'utf8').trim()) as Record<string, unknown>;
    assert.deepEqual([line.pv, line.user, line.old, line.new, line.result], ['sec:Root:Secret', 'bob', 42, 1, 'ok']);
  } finally {
    await t.close();
  }
});
