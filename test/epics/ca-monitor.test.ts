// Channel Access end to end (pyepics): monitors see tree updates; a put over pvAccess reaches a CA
// monitor and a caput reaches a pvAccess monitor — one set of holders serves both protocols.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Device, LocalCommand, LocalVariable, Root } from '../../src/tree/index.ts';
import { SKIP_PYEPICS, havePyepics, py, serveCa } from './ca-util.ts';
import { collect, sleep } from './util.ts';

function buildRoot(): Root {
  const root = new Root({ name: 'R', pollEn: false });
  const d = new Device({ name: 'D' });
  root.add(d);
  d.add(new LocalVariable({ name: 'gain', typeStr: 'Float64', value: 0.5, highAlarm: 100 }));
  d.add(new LocalVariable({ name: 'mode', typeStr: 'UInt8', value: 0, enum: { 0: 'Off', 1: 'On', 5: 'Auto' } }));
  d.add(new LocalVariable({ name: 'wave', value: new Float32Array([0, 0, 0, 0]) }));
  d.add(new LocalVariable({ name: 'label', typeStr: 'str', value: 'start' }));
  d.add(new LocalVariable({ name: 'count', typeStr: 'Int32', value: 0 }));
  d.add(new LocalCommand<number, number>({ name: 'cmd', argType: 'Int32', function: ({ arg }) => arg ?? 0 }));
  return root;
}

test('CA: PV callbacks and camonitor see tree updates, pvAccess puts, and caputs reach pvAccess monitors', { timeout: 90000 }, async (t) => {
  if (!havePyepics) return t.skip(SKIP_PYEPICS);
  const root = buildRoot();
  const s = await serveCa(root);
  const client = s.client!;
  const node = (n: string) => root.getNode(`R.D.${n}`) as LocalVariable;
  const pvaGain = collect(client, 'test:R:D:gain');
  const pvaLabel = collect(client, 'test:R:D:label');
  const pvaCount = collect(client, 'test:R:D:count');
  const pvaCmd = collect(client, 'test:R:D:cmd');
  try {
    await pvaGain.next();
    await pvaLabel.next();
    await pvaCount.next();
    await pvaCmd.next();
    let feeder: Promise<void> | undefined;
    let caputs: Promise<void> | undefined;
    const { o, r } = await py(
      s.caPort,
      `
P = 'test:R:D:'
seen = {'gain': [], 'mode': [], 'wave': [], 'label': [], 'count': [], 'cmd': []}
sev = []
def cb(pvname=None, value=None, char_value=None, severity=None, **kw):
    n = pvname.split(':')[-1]
    if n == 'mode':
        seen[n].append(char_value)
    elif n == 'label':
        seen[n].append(value)
    elif n == 'wave':
        seen[n].append(j(value))
    else:
        seen[n].append(float(value))
    if n == 'gain':
        sev.append([float(value), severity])
pvs = {}
for n in ['gain', 'mode', 'wave', 'label', 'cmd', 'count']:
    # ctrl form for the enum: its callbacks then carry the choice name as char_value
    pvs[n] = epics.PV(P + n, callback=cb, auto_monitor=True, form='ctrl' if n == 'mode' else 'time')
    pvs[n].wait_for_connection(5)
lines = []
epics.camonitor(P + 'count', writer=lambda s: lines.append(s))
g(P + 'count')
ca.pend_event(0.3)
print('READY', flush=True)
def until(cond, secs=15):
    t0 = time.time()
    while time.time() - t0 < secs and not cond():
        time.sleep(0.02)
    return cond()
out = {}
out['tree_seen'] = until(lambda: 1.25 in seen['gain'] and -4.0 in seen['gain'] and 'Auto' in seen['mode']
    and [1.0, 2.0, 3.0, 4.0] in seen['wave'] and 3.0 in seen['count'])
print('TREE-SEEN', flush=True)
out['pva_seen'] = until(lambda: 6.5 in seen['gain'] and 'On' in seen['mode'] and 'from pva' in seen['label']
    and [9.0, 8.0] in [w[:2] for w in seen['wave']] and 7.0 in seen['cmd'])
out['caput_gain'] = p(P + 'gain', 150.0)
out['caput_label'] = p(P + 'label', 'from ca')
out['caput_count'] = p(P + 'count', 11)
out['caput_cmd'] = p(P + 'cmd', 12)
print('CAPUT-DONE', flush=True)
until(lambda: 150.0 in seen['gain'] and 11.0 in seen['count'] and 12.0 in seen['cmd'], 5)
time.sleep(0.2)
epics.camonitor_clear(P + 'count')
out['seen'] = seen
out['sev'] = sev
out['lines'] = lines
print(json.dumps(out))
`,
      60000,
      (line) => {
        if (line === 'READY') {
          feeder = (async () => {
            await node('gain').set(1.25);
            await sleep(50);
            await node('gain').set(-4);
            await node('mode').set(5);
            await node('wave').set(Float32Array.of(1, 2, 3, 4));
            for (const v of [1, 2, 3]) await node('count').set(v);
          })();
        } else if (line === 'TREE-SEEN') {
          caputs = (async () => {
            await client.put('test:R:D:gain', 6.5);
            await client.put('test:R:D:mode', 'On');
            await client.put('test:R:D:label', 'from pva');
            await client.put('test:R:D:wave', [9, 8, 7, 6]);
            await client.put('test:R:D:cmd', 7);
          })();
        }
      },
    );
    await feeder;
    await caputs;
    const ctx = `\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
    assert.equal(o.tree_seen, true, `CA monitors saw the tree updates${ctx}`);
    assert.equal(o.pva_seen, true, `CA monitors saw the pvAccess puts${ctx}`);
    const seen = o.seen as Record<string, unknown[]>;
    assert.deepEqual(
      (seen.gain as number[]).filter((v) => [1.25, -4, 6.5, 150].includes(v)),
      [1.25, -4, 6.5, 150],
      'gain updates in order',
    );
    assert.equal(seen.gain[0], 0.5, 'the first callback carries the initial value');
    assert.deepEqual(seen.count.filter((v) => (v as number) >= 1), [1, 2, 3, 11], 'every count update, in order');
    const sev = o.sev as [number, number][];
    assert.deepEqual(sev.find((x) => x[0] === 150), [150, 2], 'the caput crossing highAlarm arrives with MAJOR');
    const lines = o.lines as string[];
    assert.ok(lines.some((l) => /test:R:D:count\s+\S+ \S+\s+3\b/.test(l)), `camonitor lines: ${JSON.stringify(lines)}`);
    // caputs reach the tree and the pvAccess monitors
    assert.equal(o.caput_gain, 1);
    assert.equal(node('gain').value, 150);
    assert.equal(node('label').value, 'from ca');
    await pvaGain.next((v) => v.get('value') === 150);
    await pvaLabel.next((v) => v.get('value') === 'from ca');
    const c = await pvaCount.next((v) => v.get('value') === 11);
    assert.ok(c);
    assert.equal(o.caput_cmd, 1);
    await pvaCmd.next((v) => v.get('value') === 12);
    assert.deepEqual(seen.cmd, [0, 7, 12], 'a command PV shows the puts of both protocols');
    assert.ok(lines.some((l) => /test:R:D:count\s+\S+ \S+\s+11\b/.test(l)), 'camonitor sees the caput');
    const g = await pvaGain.next((v) => v.get('value') === 150);
    assert.equal(g.get('alarm.severity'), 2, 'pvAccess monitor sees the alarm the caput raised');
  } finally {
    pvaGain.close();
    pvaLabel.close();
    pvaCount.close();
    pvaCmd.close();
    await s.close();
  }
});

test('CA: a DBE_ALARM-only subscription gets the initial value and then only alarm changes', { timeout: 60000 }, async (t) => {
  if (!havePyepics) return t.skip(SKIP_PYEPICS);
  const root = new Root({ name: 'R', pollEn: false });
  const d = new Device({ name: 'D' });
  root.add(d);
  d.add(new LocalVariable({ name: 'temp', typeStr: 'Float64', value: 20, highWarning: 80, highAlarm: 90 }));
  const s = await serveCa(root);
  const temp = root.getNode('R.D.temp') as LocalVariable;
  let feeder: Promise<void> | undefined;
  try {
    const { o } = await py(
      s.caPort,
      `
ev = []
def cb(value=None, status=None, severity=None, **kw):
    ev.append([float(value), severity, status])
ch = ca.create_channel('test:R:D:temp', connect=True)
ca.connect_channel(ch, timeout=5)
cb_ref = ca.create_subscription(ch, mask=dbr.DBE_ALARM, use_time=True, callback=cb)
t0 = time.time()
while time.time() - t0 < 5 and not ev:
    time.sleep(0.02)
print('READY', flush=True)
t0 = time.time()
while time.time() - t0 < 10 and len(ev) < 4:
    time.sleep(0.02)
time.sleep(0.3)
print(json.dumps({'ev': ev}))
`,
      30000,
      (line) => {
        if (line !== 'READY') return;
        feeder = (async () => {
          for (const v of [21, 85, 86, 95, 96, 22, 23]) {
            await temp.set(v);
            await sleep(50);
          }
        })();
      },
    );
    await feeder;
    assert.deepEqual(o.ev, [
      [20, 0, 0],
      [85, 1, 4],
      [95, 2, 3],
      [22, 0, 0],
    ]);
  } finally {
    await s.close();
  }
});
