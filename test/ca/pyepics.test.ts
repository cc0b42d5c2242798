// End to end with a real Channel Access client: Debian's python3-pyepics (libca).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { CaMemoryPv, StaticCaSource, type CaServer } from '../../src/ca/index.ts';
import { peerSource, sleep, startServer } from './helpers.ts';
import { PY_PRELUDE, SKIP_PYEPICS as SKIP, caEnv as caEnvForPort, havePyepics, lastJson, runPython } from '../util/python.ts';

const caEnv = (server: CaServer, extra: Record<string, string> = {}) => caEnvForPort(server.port, extra);

const LONG_NAME = 'pvtree:demo:' + 'a-rather-long-device-path-segment:'.repeat(4) + 'readback';

function source(): StaticCaSource {
  const src = peerSource();
  src.add(LONG_NAME, new CaMemoryPv({ type: 'double', value: 6.5, metadata: { units: 'K', precision: 1 } }));
  src.add('ro:long', new CaMemoryPv({ type: 'long', value: 7, writable: false }));
  src.add('t:short', new CaMemoryPv({ type: 'short', value: -5, metadata: { units: 'cts', upperDisplay: 100, lowerDisplay: -100 } }));
  src.add('t:float', new CaMemoryPv({ type: 'float', value: 1.5, metadata: { precision: 2, units: 'mm' } }));
  src.add('t:char', new CaMemoryPv({ type: 'char', value: [104, 105, 0], maxCount: 8 }));
  src.add(
    'fail:pv',
    new CaMemoryPv({
      type: 'double',
      value: 0,
      onWrite: () => Promise.reject(new Error('refused by the device')),
    }),
  );
  src.add(
    'slow:pv',
    new CaMemoryPv({
      type: 'double',
      value: 0,
      onWrite: async () => {
        await sleep(300);
      },
    }),
  );
  return src;
}



test('pyepics: caget of every native type, metadata, arrays, long names, cainfo', { timeout: 60000 }, async (t) => {
  if (!havePyepics) return t.skip(SKIP);
  const server = await startServer({ source: source() });
  try {
    const script = `${PY_PRELUDE}
out = {}
out['ai'] = g('peer:ai')
out['ai_str'] = g('peer:ai', as_string=True)
out['long'] = g('peer:long')
out['short'] = g('t:short')
out['float'] = g('t:float')
out['char'] = g('t:char')
out['char_str'] = g('t:char', as_string=True)
out['str'] = g('peer:str')
out['mbbo'] = g('peer:mbbo')
out['mbbo_str'] = g('peer:mbbo', as_string=True)
out['wf'] = g('peer:wf')
out['long_name'] = g(${JSON.stringify(LONG_NAME)})
pv = epics.PV('peer:ai', form='ctrl')
pv.wait_for_connection(5)
out['ai_ctrl'] = j(pv.get_ctrlvars(timeout=5))
out['ai_units'] = pv.units
out['ai_precision'] = pv.precision
out['ai_type'] = pv.type
spv = epics.PV('t:short', form='ctrl')
spv.wait_for_connection(5)
out['short_ctrl'] = j(spv.get_ctrlvars(timeout=5))
e = epics.PV('peer:mbbo')
e.wait_for_connection(5)
out['mbbo_enum_strs'] = j(e.get_ctrlvars(timeout=5).get('enum_strs'))
out['cainfo'] = epics.cainfo('peer:ai', print_out=False)
out['wf_count'] = epics.PV('peer:wf').count
print(json.dumps(out))
`;
    const r = await runPython(script, await caEnv(server), 45000);
    const o = lastJson(r);
    assert.equal(o.ai, 3.25);
    assert.equal(o.ai_str, '3.250');
    assert.equal(o.long, 42);
    assert.equal(o.short, -5);
    assert.equal(o.float, 1.5);
    assert.deepEqual(o.char, [104, 105, 0]);
    assert.equal(o.char_str, 'hi');
    assert.equal(o.str, 'hello');
    assert.equal(o.mbbo, 1);
    assert.equal(o.mbbo_str, 'One');
    assert.deepEqual(o.wf, [1.5, 2.5, 3.5, 4.5]);
    assert.equal(o.long_name, 6.5);
    const ctrl = o.ai_ctrl as Record<string, unknown>;
    assert.equal(ctrl.units, 'V');
    assert.equal(ctrl.precision, 3);
    assert.equal(ctrl.upper_disp_limit, 10);
    assert.equal(ctrl.lower_disp_limit, -10);
    assert.equal(ctrl.upper_alarm_limit, 9);
    assert.equal(ctrl.upper_ctrl_limit, 10);
    assert.equal(ctrl.lower_ctrl_limit, -10);
    assert.equal(o.ai_units, 'V');
    assert.equal(o.ai_precision, 3);
    assert.equal(o.ai_type, 'ctrl_double');
    const sc = o.short_ctrl as Record<string, unknown>;
    assert.equal(sc.units, 'cts');
    assert.equal(sc.upper_disp_limit, 100);
    assert.deepEqual(o.mbbo_enum_strs, ['Zero', 'One', 'Two', 'Three']);
    const info = String(o.cainfo);
    assert.match(info, /peer:ai/);
    assert.match(info, /access\s*=\s*read\/write/);
    assert.match(info, /units\s*=\s*V/);
    assert.match(info, /host\s*=\s*\S+:\d+/);
  } finally {
    await server.stop();
  }
});

test('pyepics: caput(wait=True) of every kind, enum by string and index, read-only denial, failing write', { timeout: 60000 }, async (t) => {
  if (!havePyepics) return t.skip(SKIP);
  const src = source();
  const server = await startServer({ source: src });
  try {
    const script = `${PY_PRELUDE}
out = {}
def p(name, value, **kw):
    try:
        return j(epics.caput(name, value, wait=True, timeout=5, **kw))
    except Exception as e:
        return 'EXC: %s' % e
out['ao'] = p('peer:ao', 2.5)
out['ao_after'] = g('peer:ao')
out['ao_str'] = p('peer:ao', '7.25')
out['ao_after_str'] = g('peer:ao')
out['mbbo_by_str'] = p('peer:mbbo', 'Two')
out['mbbo_after_str'] = g('peer:mbbo')
out['mbbo_by_idx'] = p('peer:mbbo', 3)
out['mbbo_after_idx'] = g('peer:mbbo', as_string=True)
out['str'] = p('peer:str', 'hello ca')
out['str_after'] = g('peer:str')
out['long'] = p('peer:long', -12)
out['long_after'] = g('peer:long')
out['short'] = p('t:short', 300)
out['short_after'] = g('t:short')
out['float'] = p('t:float', 0.125)
out['float_after'] = g('t:float')
out['char'] = p('t:char', 'abc')
out['char_after'] = g('t:char', as_string=True)
out['wf'] = p('peer:wf', [9.5, 8.5, 7.5])
out['wf_after'] = g('peer:wf')
out['long_name'] = p(${JSON.stringify(LONG_NAME)}, 11.5)
out['long_name_after'] = g(${JSON.stringify(LONG_NAME)})
out['ro'] = p('ro:long', 5)
out['ro_after'] = g('ro:long')
ro = epics.PV('ro:long'); ro.wait_for_connection(5)
out['ro_write_access'] = ro.write_access
out['ro_read_access'] = ro.read_access
t0 = time.time()
out['slow'] = p('slow:pv', 3.5)
out['slow_elapsed'] = time.time() - t0
done = {}
def cb(pvname=None, **kw):
    done.update(kw)
    done['called'] = True
ch = ca.create_channel('fail:pv')
ca.connect_channel(ch, timeout=5)
try:
    out['fail_put'] = j(ca.put(ch, 1.0, wait=True, timeout=5))
except Exception as e:
    out['fail_put'] = 'EXC: %s' % e
out['fail_after'] = g('fail:pv')
# A plain put (no wait): libca reports the server's ERROR message through its exception handler.
epics.caput('fail:pv', 2.0, wait=False)
ca.pend_event(0.5)
out['fail_after_nowait'] = g('fail:pv')
print(json.dumps(out))
`;
    const r = await runPython(script, await caEnv(server), 50000);
    const o = lastJson(r);
    assert.equal(o.ao, 1);
    assert.equal(o.ao_after, 2.5);
    assert.equal(o.ao_str, 1);
    assert.equal(o.ao_after_str, 7.25);
    assert.equal(o.mbbo_by_str, 1);
    assert.equal(o.mbbo_after_str, 2);
    assert.equal(o.mbbo_by_idx, 1);
    assert.equal(o.mbbo_after_idx, 'Three');
    assert.equal(o.str_after, 'hello ca');
    assert.equal(o.long_after, -12);
    assert.equal(o.short_after, 300);
    assert.equal(o.float_after, 0.125);
    assert.equal(o.char_after, 'abc');
    assert.deepEqual(o.wf_after, [9.5, 8.5, 7.5]);
    assert.deepEqual((src.lookup('peer:wf') as CaMemoryPv).current, [9.5, 8.5, 7.5]);
    assert.equal(o.long_name_after, 11.5);
    assert.notEqual(o.ro, 1, `read-only put must not succeed: ${String(o.ro)}`);
    assert.equal(o.ro_after, 7);
    assert.equal((src.lookup('ro:long') as CaMemoryPv).current, 7);
    assert.equal(o.ro_write_access, false);
    assert.equal(o.ro_read_access, true);
    assert.equal(o.slow, 1);
    assert.ok((o.slow_elapsed as number) >= 0.25, `caput(wait=True) waited for the write (${String(o.slow_elapsed)} s)`);
    // pyepics returns 1 once the put completes, whatever its status; what matters is that it
    // completed (no -1 timeout), the value did not change, and the server's message reached libca.
    assert.equal(o.fail_put, 1);
    assert.equal(o.fail_after, 0);
    assert.equal(o.fail_after_nowait, 0);
    assert.match(r.stderr, /refused by the device/);
  } finally {
    await server.stop();
  }
});

test('pyepics: camonitor and PV callbacks see values, enums, alarms and array lengths posted by the server side', { timeout: 60000 }, async (t) => {
  if (!havePyepics) return t.skip(SKIP);
  const src = source();
  const server = await startServer({ source: src });
  const ai = src.lookup('peer:ai') as CaMemoryPv;
  const mbbo = src.lookup('peer:mbbo') as CaMemoryPv;
  const ao = src.lookup('peer:ao') as CaMemoryPv;
  const wf = src.lookup('peer:wf') as CaMemoryPv;
  try {
    const script = `${PY_PRELUDE}
seen = []
strs = []
def cb(pvname=None, value=None, char_value=None, **kw):
    if pvname == 'peer:ai':
        seen.append(float(value))
    else:
        strs.append(char_value)
    print('VAL %s %s' % (pvname, value), flush=True)
epics.camonitor('peer:ai', callback=cb)
epics.camonitor('peer:mbbo', callback=cb)
sev = []
def cb_alarm(pvname=None, value=None, severity=None, status=None, **kw):
    sev.append([float(value), severity, status])
ao = epics.PV('peer:ao', callback=cb_alarm, form='time', auto_monitor=True)
ao.wait_for_connection(5)
wf_counts = []
def cb_wf(pvname=None, value=None, **kw):
    wf_counts.append(len(value))
wf = epics.PV('peer:wf', callback=cb_wf, auto_monitor=True)
wf.wait_for_connection(5)
t0 = time.time()
# camonitor() does not call back for the initial value; make sure both are connected and subscribed.
g('peer:ai')
g('peer:mbbo')
ca.pend_event(0.3)
print('READY', flush=True)
while time.time() - t0 < 20 and not (42.5 in seen and 'Three' in strs and any(x[1] == 2 for x in sev) and 6 in wf_counts):
    time.sleep(0.02)
epics.camonitor_clear('peer:ai')
print(json.dumps({'seen': seen, 'strs': strs, 'sev': sev, 'wf_counts': wf_counts}))
`;
    let ready = false;
    const r = await runPython(script, await caEnv(server), 40000, (line) => {
      if (line === 'READY' && !ready) {
        ready = true;
        void (async () => {
          for (const v of [10, 20, 42.5]) {
            ai.set(v);
            await sleep(100);
          }
          mbbo.set(3);
          ao.set(150, { status: 3, severity: 2 });
          wf.set([1, 2, 3, 4, 5, 6]);
        })();
      }
    });
    const o = lastJson(r);
    const seen = o.seen as number[];
    assert.ok(seen.includes(42.5), `saw ${JSON.stringify(seen)}`);
    assert.deepEqual(
      seen.filter((v) => [10, 20, 42.5].includes(v)),
      [10, 20, 42.5],
    );
    assert.ok((o.strs as string[]).includes('Three'), `enum strings ${JSON.stringify(o.strs)}`);
    const sev = o.sev as [number, number, number][];
    assert.deepEqual(sev[0], [1.5, 0, 0], 'PV callback gets the initial value');
    assert.deepEqual(sev.at(-1), [150, 2, 3], 'alarm status/severity reach the client');
    const counts = o.wf_counts as number[];
    assert.equal(counts[0], 4);
    assert.ok(counts.includes(6), `array monitor follows the length: ${JSON.stringify(counts)}`);
  } finally {
    await server.stop();
  }
});

test('pyepics: name resolution over TCP (EPICS_CA_NAME_SERVERS) works too', { timeout: 60000 }, async (t) => {
  if (!havePyepics) return t.skip(SKIP);
  const server = await startServer({ source: source(), udp: false });
  try {
    const script = `${PY_PRELUDE}
print(json.dumps({'ai': g('peer:ai'), 'wf': g('peer:wf'), 'long_name': g(${JSON.stringify(LONG_NAME)})}))
`;
    const env = await caEnv(server, { EPICS_CA_ADDR_LIST: '', EPICS_CA_NAME_SERVERS: `127.0.0.1:${server.port}` });
    const r = await runPython(script, env, 30000);
    const o = lastJson(r);
    // the server's UDP responder is off: None here means the TCP name search failed
    assert.notEqual(o.ai, null, `caget over EPICS_CA_NAME_SERVERS returned None\nstderr: ${r.stderr}`);
    assert.equal(o.ai, 3.25);
    assert.deepEqual(o.wf, [1.5, 2.5, 3.5, 4.5]);
    assert.equal(o.long_name, 6.5);
  } finally {
    await server.stop();
  }
});
