// Channel Access end to end (pyepics): metadata (units, precision, display/control/alarm limits),
// alarm status/severity after tree values cross the thresholds, and timestamps in POSIX seconds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Device, LocalVariable, Root } from '../../src/tree/index.ts';
import { SKIP_PYEPICS, havePyepics, py, serveCa } from './ca-util.ts';

function buildRoot(): Root {
  const root = new Root({ name: 'R', pollEn: false });
  const d = new Device({ name: 'D' });
  root.add(d);
  d.add(
    new LocalVariable({
      name: 'temp',
      typeStr: 'Float64',
      value: 20,
      units: 'degC',
      disp: '{:.3f}',
      minimum: -50,
      maximum: 150,
      lowAlarm: 0,
      lowWarning: 5,
      highWarning: 80,
      highAlarm: 90,
    }),
  );
  d.add(new LocalVariable({ name: 'level', typeStr: 'Int32', value: 0, units: 'cts', minimum: -1000, maximum: 1000, lowAlarm: -100, highAlarm: 100 }));
  d.add(new LocalVariable({ name: 'f32', typeStr: 'Float32', value: 0.5, units: 'mm', disp: '{:.2f}' }));
  d.add(new LocalVariable({ name: 'plain', typeStr: 'Float64', value: 1 }));
  return root;
}

test('CA: units, precision, display/control/alarm limits through get_ctrlvars and cainfo', { timeout: 60000 }, async (t) => {
  if (!havePyepics) return t.skip(SKIP_PYEPICS);
  const s = await serveCa(buildRoot());
  try {
    const { o } = await py(
      s.caPort,
      `
P = 'test:R:D:'
out = {}
for n in ['temp', 'level', 'f32', 'plain']:
    pv = epics.PV(P + n, form='ctrl')
    pv.wait_for_connection(5)
    out[n] = j(pv.get_ctrlvars(timeout=5))
    out[n + '_type'] = pv.type
out['temp_str'] = g(P + 'temp', as_string=True)
out['cainfo'] = epics.cainfo(P + 'temp', print_out=False)
print(json.dumps(out))
`,
    );
    const temp = o.temp as Record<string, unknown>;
    assert.equal(o.temp_type, 'ctrl_double');
    assert.equal(temp.units, 'degC');
    assert.equal(temp.precision, 3);
    assert.equal(temp.lower_disp_limit, -50);
    assert.equal(temp.upper_disp_limit, 150);
    assert.equal(temp.lower_ctrl_limit, -50);
    assert.equal(temp.upper_ctrl_limit, 150);
    assert.equal(temp.lower_alarm_limit, 0);
    assert.equal(temp.lower_warning_limit, 5);
    assert.equal(temp.upper_warning_limit, 80);
    assert.equal(temp.upper_alarm_limit, 90);
    assert.equal(o.temp_str, '20.000', 'as_string uses the precision from disp');

    const level = o.level as Record<string, unknown>;
    assert.equal(o.level_type, 'ctrl_long');
    assert.equal(level.units, 'cts');
    assert.equal(level.lower_disp_limit, -1000);
    assert.equal(level.upper_ctrl_limit, 1000);
    assert.equal(level.lower_alarm_limit, -100);
    assert.equal(level.upper_alarm_limit, 100);

    const f32 = o.f32 as Record<string, unknown>;
    assert.equal(o.f32_type, 'ctrl_float');
    assert.equal(f32.units, 'mm');
    assert.equal(f32.precision, 2);

    const plain = o.plain as Record<string, unknown>;
    assert.equal(plain.units, '');
    assert.equal(plain.precision, 0);
    assert.equal(plain.upper_alarm_limit, 'NaN', 'no alarm limits: NaN as an IOC sends');

    const info = String(o.cainfo);
    assert.match(info, /test:R:D:temp/);
    assert.match(info, /count\s*=\s*1/);
    assert.match(info, /type\s*=\s*time_double/);
    assert.match(info, /units\s*=\s*degC/);
    assert.match(info, /precision\s*=\s*3/);
    assert.match(info, /access\s*=\s*read\/write/);
  } finally {
    await s.close();
  }
});

test('CA: alarm status and severity follow tree values across thresholds; timestamps in POSIX seconds', { timeout: 60000 }, async (t) => {
  if (!havePyepics) return t.skip(SKIP_PYEPICS);
  const root = buildRoot();
  const s = await serveCa(root);
  const temp = root.getNode('R.D.temp') as LocalVariable<number>;
  const level = root.getNode('R.D.level') as LocalVariable<number>;
  const steps: [string, number][] = [
    ['temp', 85],
    ['temp', 95],
    ['temp', 3],
    ['temp', -1],
    ['temp', 20],
    ['level', 150],
    ['level', -150],
    ['level', 0],
  ];
  try {
    const setAt: Record<number, number> = {};
    const { o } = await py(
      s.caPort,
      `
P = 'test:R:D:'
steps = ${JSON.stringify(steps)}
pvs = {}
mon = {'temp': [], 'level': []}
def cb(pvname=None, value=None, severity=None, status=None, timestamp=None, **kw):
    mon[pvname.split(':')[-1]].append([float(value), severity, status])
for n in ['temp', 'level']:
    pvs[n] = epics.PV(P + n, form='time', callback=cb, auto_monitor=True)
    pvs[n].wait_for_connection(5)
pvs['temp'].get(timeout=5)
out = {'initial': [pvs['temp'].severity, pvs['temp'].status], 'initial_ts': pvs['temp'].timestamp, 'now0': time.time(), 'steps': []}
for i, (n, v) in enumerate(steps):
    print('SET %d' % i, flush=True)
    t0 = time.time()
    while time.time() - t0 < 5:
        md = pvs[n].get_with_metadata(use_monitor=False, form='time', timeout=5)
        if md['value'] == v:
            break
        time.sleep(0.02)
    out['steps'].append([n, v, j(md['value']), md['severity'], md['status'], md['timestamp'], time.time()])
time.sleep(0.3)
out['mon'] = mon
print(json.dumps(out))
`,
      45000,
      (line) => {
        const m = /^SET (\d+)$/.exec(line);
        if (!m) return;
        const i = Number(m[1]);
        const [n, v] = steps[i];
        setAt[i] = Date.now() / 1000;
        void (n === 'temp' ? temp : level).set(v);
      },
    );
    assert.deepEqual(o.initial, [0, 0]);
    const now0 = o.now0 as number;
    assert.ok(Math.abs((o.initial_ts as number) - now0) < 60, `initial timestamp ${String(o.initial_ts)} is POSIX time near ${now0}`);
    const want: Record<string, [number, number]> = {
      'temp=85': [1, 4], // HIGH, minor
      'temp=95': [2, 3], // HIHI, major
      'temp=3': [1, 6], // LOW
      'temp=-1': [2, 5], // LOLO
      'temp=20': [0, 0],
      'level=150': [2, 3],
      'level=-150': [2, 5],
      'level=0': [0, 0],
    };
    const got = o.steps as [string, number, number, number, number, number, number][];
    assert.equal(got.length, steps.length);
    got.forEach(([n, v, value, sev, stat, ts, pyNow], i) => {
      assert.equal(value, v, `${n} reached ${v}`);
      assert.deepEqual([sev, stat], want[`${n}=${v}`], `${n}=${v}: severity/status`);
      // the variable's update time, as POSIX seconds: after the set was asked for, not after the read
      assert.ok(ts >= setAt[i] - 0.5 && ts <= pyNow + 0.5, `${n}=${v}: timestamp ${ts} between ${setAt[i]} and ${pyNow}`);
    });
    const mon = o.mon as Record<string, [number, number, number][]>;
    const last = (n: string, v: number) => mon[n].filter((x) => x[0] === v).at(-1);
    assert.deepEqual(last('temp', 95), [95, 2, 3], 'monitor sees HIHI/MAJOR');
    assert.deepEqual(last('temp', -1), [-1, 2, 5], 'monitor sees LOLO/MAJOR');
    assert.deepEqual(mon.temp.at(-1), [20, 0, 0], 'monitor sees the alarm clear');
    assert.deepEqual(last('level', -150), [-150, 2, 5]);
  } finally {
    await s.close();
  }
});
