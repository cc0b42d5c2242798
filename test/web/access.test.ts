// Access security on the web socket: the EpicsPvServer's ACF gate decides for web clients too
// (anonymous at their address): unreadable PVs are refused at subscribe, `readonly` follows write
// access, writes and command calls are refused (and audited) in the holders as for pvAccess and CA,
// and a reload re-evaluates live subscriptions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Device, LocalCommand, LocalVariable, Root } from '../../src/tree/index.ts';
import { serveWeb, TestClient, type Msg } from './harness.ts';

const ACF = (locked: 'READ' | 'WRITE') => `
ASG(DEFAULT) {
  RULE(1, WRITE)
}
ASG(LOCKED) {
  RULE(1, ${locked})
}
ASG(SECRET) {
  RULE(1, NONE)
}
`;

test('the ACF gate decides for web clients: read refused, readonly, writes and calls refused and audited, reload re-evaluated', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvtree-web-acf-'));
  const acf = join(dir, 'site.acf');
  const audit = join(dir, 'audit.jsonl');
  writeFileSync(acf, ACF('READ'));
  const root = new Root({ name: 'R', pollEn: false });
  const d = new Device({ name: 'D' });
  root.add(d);
  d.add(new LocalVariable({ name: 'free', typeStr: 'Int32', value: 1 }));
  d.add(new LocalVariable({ name: 'locked', typeStr: 'Int32', value: 2, groups: ['Locked'] }));
  d.add(new LocalVariable({ name: 'secret', typeStr: 'Int32', value: 3, groups: ['Secret'] }));
  let runs = 0;
  d.add(new LocalCommand({ name: 'Go', groups: ['Locked'], function: () => ++runs }));
  const s = await serveWeb(root, {}, { acf, audit, asgByGroup: { Locked: 'LOCKED', Secret: 'SECRET' } });
  const c = await TestClient.open(s.wsUrl);
  const PV = (n: string) => `test:R:D:${n}`;
  const isUpdate = (pv: string) => (m: Msg) => m.type === 'update' && m.pv === pv;
  try {
    c.send({ type: 'subscribe', pvs: [PV('free'), PV('locked'), PV('secret'), PV('Go')] });
    assert.equal((await c.next(isUpdate(PV('free')), 'free')).readonly, false);
    assert.equal((await c.next(isUpdate(PV('locked')), 'locked')).readonly, true);
    assert.equal((await c.next(isUpdate(PV('Go')), 'Go')).readonly, true);
    const denied = await c.next((m) => m.type === 'error' && m.pv === PV('secret'), 'the read refusal');
    assert.match(denied.message as string, /read access denied to test:R:D:secret for anonymous@127\.0\.0\.1/);
    assert.equal(c.updates(PV('secret')).length, 0);

    c.send({ type: 'write', pv: PV('free'), value: 10, id: 1 });
    assert.equal((await c.next((m) => m.id === 1, 'the write')).type, 'write');
    assert.equal((root.getNode('R.D.free') as LocalVariable<number>).value, 10);
    c.send({ type: 'write', pv: PV('locked'), value: 20, id: 2 });
    const e2 = await c.next((m) => m.id === 2, 'the refused write');
    assert.equal(e2.type, 'error');
    assert.match(e2.message as string, /write access denied to test:R:D:locked for anonymous@127\.0\.0\.1/);
    assert.equal((root.getNode('R.D.locked') as LocalVariable<number>).value, 2);
    c.send({ type: 'call', pv: PV('Go'), id: 3 });
    assert.match((await c.next((m) => m.id === 3, 'the refused call')).message as string, /write access denied to test:R:D:Go/);
    assert.equal(runs, 0);

    // the audit log has the web writes, allowed and denied, with the protocol
    const lines = readFileSync(audit, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const text = JSON.stringify(lines);
    assert.match(text, /"web"/);
    assert.ok(lines.some((l) => JSON.stringify(l).includes(PV('free'))), 'the allowed write');
    assert.ok(lines.some((l) => JSON.stringify(l).includes(PV('locked')) && JSON.stringify(l).includes('denied')), 'the denied write');

    // reloaded with LOCKED writable: the live subscriptions hear readonly false, and writes pass
    writeFileSync(acf, ACF('WRITE'));
    const n = c.messages.length;
    await s.epics.accessGate!.reload();
    const u = await c.next((m) => m.type === 'update' && m.pv === PV('locked') && m.readonly === false, 'readonly false after the reload', n);
    assert.equal(u.vtype, undefined, 'a delta, not a new first update');
    c.send({ type: 'write', pv: PV('locked'), value: 21, id: 4 });
    assert.equal((await c.next((m) => m.id === 4, 'the write after reload')).type, 'write');
    assert.equal((root.getNode('R.D.locked') as LocalVariable<number>).value, 21);

    // and back: a PV that becomes unreadable is dropped with an error
    writeFileSync(acf, ACF('READ').replace('ASG(DEFAULT) {\n  RULE(1, WRITE)\n}', 'ASG(DEFAULT) {\n  RULE(1, NONE)\n}'));
    const m = c.messages.length;
    await s.epics.accessGate!.reload();
    await c.next((x) => x.type === 'error' && x.pv === PV('free') && /read access denied/.test(x.message as string), 'free dropped', m);
    c.send({ type: 'list' });
    const l = await c.next((x) => x.type === 'list', 'the list', m);
    assert.ok(!(l.pvs as string[]).includes(PV('free')));
  } finally {
    c.close();
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
