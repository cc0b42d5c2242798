// Access security over Channel Access with pyepics run as two OS users: root (in UAG ops) and
// nobody (in UAG guests). The CA user name is the client's login, sent in CLIENT_NAME; CA
// clients see their rights through ACCESS_RIGHTS, also when a CALC input or a reload moves them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { caEnv, havePyepics, lastJson, PY_PRELUDE, PYTHON, SKIP_PYEPICS } from '../util/python.ts';
import { SITE_ACF, SKIP_OTHER_USER, runAs, serveSecured, until, type Secured } from './fixture.ts';

const SKIP = !havePyepics ? SKIP_PYEPICS : SKIP_OTHER_USER;

let s: Secured;
let env: NodeJS.ProcessEnv;

before(async () => {
  if (SKIP) return;
  s = await serveSecured();
  env = await caEnv(s.server.caServer!.port);
});

after(async () => {
  await s?.close();
});

/** Reads and writes as a user; prints one JSON object. */
const PROBE = `${PY_PRELUDE}
import getpass
def t(f):
    try:
        return j(f())
    except Exception as e:
        return 'EXC: %s' % e
def acc(name):
    ch = ca.create_channel(name, connect=True)
    ca.connect_channel(ch, timeout=5)
    return [bool(ca.read_access(ch)), bool(ca.write_access(ch))]
out = {'user': getpass.getuser()}
out['gain_access'] = acc('sec:Root:Dev:Gain')
out['gain_put'] = t(lambda: epics.caput('sec:Root:Dev:Gain', 6.5, wait=True, timeout=5))
out['gain'] = g('sec:Root:Dev:Gain')
out['go_put'] = t(lambda: epics.caput('sec:Root:Dev:Go', 7, wait=True, timeout=5))
out['label_put'] = t(lambda: epics.caput('sec:Root:Dev:Label.$', 'set by ' + out['user'], wait=True, timeout=5))
out['label'] = t(lambda: epics.caget('sec:Root:Dev:Label.$', as_string=True, timeout=5))
out['secret_access'] = acc('sec:Root:Secret')
out['secret'] = t(lambda: epics.caget('sec:Root:Secret', timeout=3))
out['count_access'] = acc('sec:Root:Dev:Count')[1]
print(json.dumps(out))
`;

test('Channel Access as two OS users: one writes, the other is refused; reads follow READ', { skip: SKIP }, async () => {
  await s.client('alice').put('sec:Root:Dev:Gain', 1.5);
  const asRoot = lastJson(await runAs(undefined, PYTHON, ['-u', '-c', PROBE], env, 60000));
  assert.equal(asRoot.user, 'root');
  assert.deepEqual(asRoot.gain_access, [true, true]);
  assert.equal(asRoot.gain_put, 1);
  assert.equal(asRoot.gain, 6.5);
  assert.equal(asRoot.go_put, 1);
  assert.equal(asRoot.label_put, 1);
  assert.equal(asRoot.label, 'set by root');
  assert.deepEqual(asRoot.secret_access, [true, true]);
  assert.equal(asRoot.secret, 42);
  assert.equal(asRoot.count_access, false); // RO: no WRITE in ACCESS_RIGHTS, whoever asks
  await s.client('alice').put('sec:Root:Dev:Gain', 2.5);
  const asNobody = lastJson(await runAs('nobody', PYTHON, ['-u', '-c', PROBE], env, 60000));
  assert.equal(asNobody.user, 'nobody');
  assert.deepEqual(asNobody.gain_access, [true, false]);
  assert.match(String(asNobody.gain_put), /^EXC: .*Write access denied/);
  assert.equal(asNobody.gain, 2.5); // unchanged
  assert.match(String(asNobody.go_put), /^EXC: .*Write access denied/);
  assert.match(String(asNobody.label_put), /^EXC: .*Write access denied/); // NAME.$ follows NAME
  assert.equal(asNobody.label, 'set by root');
  assert.deepEqual(asNobody.secret_access, [false, false]);
  assert.match(String(asNobody.secret), /^EXC: .*Read access denied/);
  // audited: root's CA writes, with the user and host the client sent
  const lines = readFileSync(s.audit, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const ca = lines.filter((l) => l.protocol === 'ca');
  assert.deepEqual(ca.map((l) => [l.pv, l.op, l.user, l.new, l.result]), [
    ['sec:Root:Dev:Gain', 'put', 'root', 6.5, 'ok'],
    ['sec:Root:Dev:Go', 'call', 'root', 7, 'ok'],
    ['sec:Root:Dev:Label', 'put', 'root', 'set by root', 'ok'],
  ]);
  assert.ok(ca.every((l) => typeof l.host === 'string' && l.host !== ''));
});

/** Connects to Gain and Watched, prints every access change as a JSON line, until told enough. */
const WATCH = `${PY_PRELUDE}
import getpass
events = []
def cb(read_access, write_access, pv=None):
    print(json.dumps({'pv': pv.pvname, 'read': bool(read_access), 'write': bool(write_access)}), flush=True)
gain = epics.PV('sec:Root:Dev:Gain', access_callback=cb)
watched = epics.PV('sec:Root:Watched', access_callback=cb, auto_monitor=True)
gain.wait_for_connection(5)
watched.wait_for_connection(5)
print(json.dumps({'ready': getpass.getuser()}), flush=True)
end = time.time() + 50
while time.time() < end:
    time.sleep(0.05)
`;

test('Channel Access: a CALC input and a reload move ACCESS_RIGHTS of connected clients', { skip: SKIP }, async () => {
  const alice = s.client('alice');
  await alice.put('sec:Root:Interlock', 0);
  const lines: Array<Record<string, unknown>> = [];
  const watcher = runAs('nobody', PYTHON, ['-u', '-c', WATCH], env, 60000, (l) => {
    if (l.startsWith('{')) lines.push(JSON.parse(l) as Record<string, unknown>);
  });
  const rootLines: Array<Record<string, unknown>> = [];
  const rootWatcher = runAs(undefined, PYTHON, ['-u', '-c', WATCH], env, 60000, (l) => {
    if (l.startsWith('{')) rootLines.push(JSON.parse(l) as Record<string, unknown>);
  });
  try {
    await until(() => lines.some((l) => l.ready) && rootLines.some((l) => l.ready), 'both watchers connected', 30000);
    const last = (ls: Array<Record<string, unknown>>, pv: string) => [...ls].reverse().find((l) => l.pv === pv);
    assert.deepEqual(last(rootLines, 'sec:Root:Dev:Gain'), { pv: 'sec:Root:Dev:Gain', read: true, write: true });
    assert.deepEqual(last(lines, 'sec:Root:Dev:Gain'), { pv: 'sec:Root:Dev:Gain', read: true, write: false });
    assert.deepEqual(last(lines, 'sec:Root:Watched'), { pv: 'sec:Root:Watched', read: true, write: false });
    // the interlock: root loses write on Gain, nobody loses read on Watched, at once
    await alice.put('sec:Root:Interlock', 1);
    await until(() => last(rootLines, 'sec:Root:Dev:Gain')?.write === false, "root's ACCESS_RIGHTS without write");
    await until(() => last(lines, 'sec:Root:Watched')?.read === false, "nobody's ACCESS_RIGHTS without read");
    await alice.put('sec:Root:Interlock', 0);
    await until(() => last(rootLines, 'sec:Root:Dev:Gain')?.write === true, "root's write access back");
    await until(() => last(lines, 'sec:Root:Watched')?.read === true, "nobody's read access back");
    // a reload: guests may write Dev now
    writeFileSync(s.acf, SITE_ACF.replace('UAG(ops) {alice, root}', 'UAG(ops) {alice, root, nobody}'));
    await s.server.reloadAcf();
    await until(() => last(lines, 'sec:Root:Dev:Gain')?.write === true, "nobody's write access after the reload");
    writeFileSync(s.acf, SITE_ACF);
    await s.server.reloadAcf();
    await until(() => last(lines, 'sec:Root:Dev:Gain')?.write === false, "nobody's write access gone after the second reload");
  } finally {
    watcher.kill();
    rootWatcher.kill();
    await Promise.all([watcher, rootWatcher]);
  }
});

test('Channel Access: HAG by 127.0.0.1 matches the address only with checkClientIP (asCheckClientIP)', { skip: SKIP }, async () => {
  const script = `${PY_PRELUDE}
print(json.dumps({'put': p('sec:Root:Lab', 3), 'lab': g('sec:Root:Lab')}))
`;
  // the claimed host name is not 127.0.0.1: refused
  const byName = lastJson(await runAs('nobody', PYTHON, ['-u', '-c', script], env, 60000));
  assert.match(String(byName.put), /Write access denied/);
  const t = await serveSecured({ checkClientIP: true });
  try {
    const byIp = lastJson(await runAs('nobody', PYTHON, ['-u', '-c', script], await caEnv(t.server.caServer!.port), 60000));
    assert.equal(byIp.put, 1);
    assert.equal(byIp.lab, 3);
    const line = JSON.parse(readFileSync(t.audit, 'utf8').trim().split('\n').at(-1)!) as Record<string, unknown>;
    assert.deepEqual([line.user, line.host, line.result], ['nobody', '127.0.0.1', 'ok']);
  } finally {
    await t.close();
  }
});
