// Channel Access end to end (pyepics): caput(wait=True) into the tree: RW and WO accept, RO is
// refused (access rights and the put), enums by name and index, arrays, long strings, limits, commands.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Device, LocalCommand, LocalVariable, RemoteVariable, Root } from '../../src/tree/index.ts';
import { SKIP_PYEPICS, havePyepics, py, serveCa } from './ca-util.ts';

const LONG_STR = 'a string longer than forty characters, served as a char array';

function buildRoot(calls: unknown[]): Root {
  const root = new Root({ name: 'R', pollEn: false });
  const d = new Device({ name: 'D' });
  root.add(d);
  d.add(new LocalVariable({ name: 'rw', typeStr: 'Int32', value: 1, mode: 'RW' }));
  d.add(new LocalVariable({ name: 'wo', typeStr: 'Int32', value: 1, mode: 'WO' }));
  d.add(new LocalVariable({ name: 'ro', typeStr: 'Int32', value: 7, mode: 'RO' }));
  d.add(new LocalVariable({ name: 'f64', typeStr: 'Float64', value: 0 }));
  d.add(new LocalVariable({ name: 'u64', typeStr: 'UInt64', value: 0 }));
  d.add(new LocalVariable({ name: 'u8', typeStr: 'UInt8', value: 3 }));
  d.add(new LocalVariable({ name: 'lim', typeStr: 'Int32', value: 10, minimum: 0, maximum: 100 }));
  d.add(new LocalVariable({ name: 'flim', typeStr: 'Float64', value: 1.5, minimum: -2, maximum: 2 }));
  d.add(new LocalVariable({ name: 'mode', typeStr: 'UInt8', value: 0, enum: { 0: 'Off', 1: 'On', 5: 'Auto' } }));
  d.add(new LocalVariable({ name: 'flag', typeStr: 'Bool', value: false }));
  d.add(new LocalVariable({ name: 'ebig', typeStr: 'UInt8', value: 0, enum: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [i, `State${i}`])) }));
  d.add(new LocalVariable({ name: 'label', typeStr: 'str', value: 'hello' }));
  d.add(new LocalVariable({ name: 'text', typeStr: 'str', value: LONG_STR }));
  d.add(new LocalVariable({ name: 'af32', value: new Float32Array([0, 0, 0]) }));
  d.add(new LocalVariable({ name: 'au8', typeStr: 'UInt8[4]', value: [0, 0, 0, 0] }));
  d.add(new LocalVariable({ name: 'ai16', value: new Int16Array([0, 0, 0]) }));
  d.add(
    new LocalCommand<number, number>({
      name: 'cmd',
      argType: 'Int32',
      function: ({ arg }) => {
        calls.push(arg);
        return (arg ?? 0) * 2;
      },
    }),
  );
  d.add(
    new LocalCommand<string, string>({
      name: 'scmd',
      argType: 'str',
      function: ({ arg }) => {
        calls.push(arg);
        return arg ?? '';
      },
    }),
  );
  d.add(
    new LocalCommand<number, number>({
      name: 'fcmd',
      argType: 'Float64',
      function: ({ arg }) => {
        calls.push(arg);
        return 0;
      },
    }),
  );
  return root;
}

test('CA: caput(wait=True) changes the tree; RO refused; enums, arrays, strings, limits, commands', { timeout: 90000 }, async (t) => {
  if (!havePyepics) return t.skip(SKIP_PYEPICS);
  const calls: unknown[] = [];
  const root = buildRoot(calls);
  const s = await serveCa(root);
  const val = (name: string) => (root.getNode(`R.D.${name}`) as LocalVariable).value;
  try {
    const { o, r } = await py(
      s.caPort,
      `
P = 'test:R:D:'
out = {}
out['rw'] = p(P + 'rw', 42)
out['rw_after'] = g(P + 'rw')
out['wo'] = p(P + 'wo', 43)
out['f64'] = p(P + 'f64', 2.75)
out['f64_str'] = p(P + 'f64', '7.25')
out['u64'] = p(P + 'u64', 2**40 + 5)
out['u8'] = p(P + 'u8', 250)
out['mode_by_name'] = p(P + 'mode', 'Auto')
out['mode_after_name'] = g(P + 'mode', as_string=True)
out['flag_by_name'] = p(P + 'flag', 'True')
out['label'] = p(P + 'label', 'hello ca')
out['label_after'] = g(P + 'label')
out['text'] = p(P + 'text', 'another long string, well beyond forty characters long')
out['text_after'] = g(P + 'text', as_string=True)
out['af32'] = p(P + 'af32', [1.5, -2.5, 4.0])
out['af32_after'] = g(P + 'af32')
out['au8'] = p(P + 'au8', [9, 8, 7, 255])
out['ai16'] = p(P + 'ai16', [-300, 0, 300])
ro = epics.PV(P + 'ro'); ro.wait_for_connection(5)
out['ro_write_access'] = ro.write_access
out['ro_read_access'] = ro.read_access
rw = epics.PV(P + 'rw'); rw.wait_for_connection(5)
out['rw_write_access'] = rw.write_access
out['ro'] = p(P + 'ro', 5)
# the channel-level put: libca itself refuses without write access
ch = ca.create_channel(P + 'ro', connect=True)
ca.connect_channel(ch, timeout=5)
try:
    out['ro_raw'] = j(ca.put(ch, 6, wait=True, timeout=5))
except Exception as e:
    out['ro_raw'] = 'EXC: %s' % e
out['ro_after'] = g(P + 'ro')
out['lim'] = p(P + 'lim', 500)
out['lim_after'] = g(P + 'lim')
out['lim_ok'] = p(P + 'lim', 100)
out['flim'] = p(P + 'flim', -2.5)
out['flim_after'] = g(P + 'flim')
out['cmd'] = p(P + 'cmd', 21)
out['scmd'] = p(P + 'scmd', 'go')
out['fcmd'] = p(P + 'fcmd', 0.25)
print(json.dumps(out))
`,
      60000,
    );
    const ctx = `\nstderr: ${r.stderr}`;
    for (const k of ['rw', 'wo', 'f64', 'f64_str', 'u64', 'u8', 'mode_by_name', 'flag_by_name', 'label', 'text', 'af32', 'au8', 'ai16', 'lim_ok', 'cmd', 'scmd', 'fcmd'])
      assert.equal(o[k], 1, `caput ${k} completes: ${String(o[k])}${ctx}`);
    assert.equal(val('rw'), 42);
    assert.equal(o.rw_after, 42);
    assert.equal(val('wo'), 43, 'WO accepts');
    assert.equal(val('f64'), 7.25, 'a string put goes through the parser');
    assert.equal(val('u64'), 2 ** 40 + 5);
    assert.equal(val('u8'), 250);
    assert.equal(val('mode'), 5, 'enum by choice name → key');
    assert.equal(o.mode_after_name, 'Auto');
    assert.equal(val('flag'), true, 'Bool by name');
    assert.equal(val('label'), 'hello ca');
    assert.equal(o.label_after, 'hello ca');
    assert.equal(val('text'), 'another long string, well beyond forty characters long', 'long string through the char array');
    assert.equal(o.text_after, 'another long string, well beyond forty characters long');
    assert.deepEqual(Array.from(val('af32') as Float32Array), [1.5, -2.5, 4]);
    assert.deepEqual(o.af32_after, [1.5, -2.5, 4]);
    assert.deepEqual(Array.from(val('au8') as ArrayLike<number>), [9, 8, 7, 255]);
    assert.deepEqual(Array.from(val('ai16') as ArrayLike<number>), [-300, 0, 300]);
    // read-only: no write access, the put is refused, the tree keeps its value
    assert.equal(o.ro_write_access, false);
    assert.equal(o.ro_read_access, true);
    assert.equal(o.rw_write_access, true);
    assert.notEqual(o.ro, 1, `RO caput must not report success: ${String(o.ro)}`);
    assert.equal(o.ro_after, 7);
    assert.equal(val('ro'), 7);
    // out of range: refused, unchanged
    assert.equal(o.lim_after, 10, 'out-of-range put leaves the value');
    assert.equal(val('lim'), 100, 'in-range put accepted');
    assert.equal(o.flim_after, 1.5);
    assert.equal(val('flim'), 1.5);
    assert.ok(s.log.lines.some((l) => /lim/.test(l) && /outside/.test(l)), `the refusal is logged: ${s.log.lines.join('\n')}`);
    // commands: the put runs them with the value
    assert.deepEqual(calls, [21, 'go', 0.25]);
  } finally {
    await s.close();
  }
});

test('CA: enum put by index, and by an index out of range (refused)', { timeout: 60000 }, async (t) => {
  if (!havePyepics) return t.skip(SKIP_PYEPICS);
  const root = buildRoot([]);
  const s = await serveCa(root);
  const val = (name: string) => (root.getNode(`R.D.${name}`) as LocalVariable).value;
  try {
    const { o } = await py(
      s.caPort,
      `
P = 'test:R:D:'
out = {}
out['idx2'] = p(P + 'mode', 2)
out['after2'] = g(P + 'mode')
out['after2_str'] = g(P + 'mode', as_string=True)
out['idx1'] = p(P + 'mode', 1)
out['after1_str'] = g(P + 'mode', as_string=True)
out['bad'] = p(P + 'mode', 7)
out['after_bad'] = g(P + 'mode', as_string=True)
out['flag1'] = p(P + 'flag', 1)
out['flag_str'] = g(P + 'flag', as_string=True)
out['flag0'] = p(P + 'flag', 'False')
out['ebig_type'] = ftype(P + 'ebig')
out['ebig_name'] = p(P + 'ebig', 'State17')
out['ebig_after'] = g(P + 'ebig')
out['ebig_bad'] = p(P + 'ebig', 'NoSuchState')
out['ebig_after_bad'] = g(P + 'ebig')
print(json.dumps(out))
`,
    );
    assert.equal(o.idx2, 1);
    assert.equal(o.after2, 2);
    assert.equal(o.after2_str, 'Auto');
    assert.equal(o.after1_str, 'On');
    assert.equal(o.after_bad, 'On', 'index 7 of 3 choices refused');
    assert.equal(val('mode'), 1);
    assert.equal(o.flag_str, 'True');
    assert.equal(val('flag'), false);
    // more than 16 choices: a DBR_STRING PV taking choice names
    assert.equal(o.ebig_type, 'string');
    assert.equal(o.ebig_name, 1);
    assert.equal(o.ebig_after, 'State17');
    assert.equal(o.ebig_after_bad, 'State17', 'an unknown choice name is refused');
    assert.equal(val('ebig'), 17);
  } finally {
    await s.close();
  }
});

test('CA: caput(wait=True) completes only after the tree set and the hardware write', { timeout: 60000 }, async (t) => {
  if (!havePyepics) return t.skip(SKIP_PYEPICS);
  const root = new Root({ name: 'R', pollEn: false });
  const d = new Device({ name: 'D' });
  root.add(d);
  const writes: number[] = [];
  d.add(
    new LocalVariable<number>({
      name: 'slow',
      typeStr: 'Int32',
      value: 0,
      localSet: async ({ value }) => {
        await new Promise((r) => setTimeout(r, 300));
        writes.push(value);
      },
    }),
  );
  d.add(new RemoteVariable({ name: 'reg', offset: 0x10, bitSize: 16, base: 'UInt', mode: 'RW' }));
  const s = await serveCa(root);
  try {
    const { o } = await py(
      s.caPort,
      `
t0 = time.time()
out = {'slow': p('test:R:D:slow', 5)}
out['elapsed'] = time.time() - t0
out['reg'] = p('test:R:D:reg', 4660)
out['reg_after'] = g('test:R:D:reg')
print(json.dumps(out))
`,
    );
    assert.equal(o.slow, 1);
    assert.ok((o.elapsed as number) >= 0.25, `caput waited for the write (${String(o.elapsed)} s)`);
    assert.deepEqual(writes, [5]);
    assert.equal(o.reg, 1);
    assert.equal(o.reg_after, 4660);
    assert.equal(await (root.getNode('R.D.reg') as RemoteVariable).get({ read: true }), 4660, 'in the (emulated) hardware');
  } finally {
    await s.close();
  }
});
