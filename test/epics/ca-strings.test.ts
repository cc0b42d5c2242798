// Channel Access end to end (pyepics): strings. DBR_STRING holds 39 bytes of UTF-8 and a NUL, so the
// 40-character rule of the README counts bytes: long or non-ASCII strings travel as char arrays;
// values that do not fit a DBR_STRING PV are cut at a character boundary; wide values as strings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Device, LocalVariable, Root } from '../../src/tree/index.ts';
import { SKIP_PYEPICS, havePyepics, py, serveCa } from './ca-util.ts';

const E30 = 'é'.repeat(30); // 30 characters, 60 bytes
const E15 = 'é'.repeat(15); // 15 characters, 30 bytes

function buildRoot(): Root {
  const root = new Root({ name: 'R', pollEn: false });
  const d = new Device({ name: 'D' });
  root.add(d);
  d.add(new LocalVariable({ name: 'utfLong', typeStr: 'str', value: E30 }));
  d.add(new LocalVariable({ name: 'utfShort', typeStr: 'str', value: E15 }));
  d.add(new LocalVariable({ name: 'grow', typeStr: 'str', value: 'short' }));
  d.add(new LocalVariable({ name: 'text', typeStr: 'str', value: 'x'.repeat(45) }));
  d.add(new LocalVariable({ name: 'latin', typeStr: 'str', value: 'l'.repeat(45) }));
  d.add(new LocalVariable({ name: 'units', typeStr: 'UInt8', value: 1, enum: { 0: 'Grad Celsius', 1: 'Ångström', 2: 'µm' } }));
  d.add(new LocalVariable({ name: 'wide', typeStr: 'UInt128', value: 2n ** 100n + 7n }));
  return root;
}

test('CA: UTF-8 strings, long strings as char arrays, truncation at a character boundary, wide values', { timeout: 60000 }, async (t) => {
  if (!havePyepics) return t.skip(SKIP_PYEPICS);
  const root = buildRoot();
  const s = await serveCa(root);
  const node = (n: string) => root.getNode(`R.D.${n}`) as LocalVariable;
  try {
    // a DBR_STRING PV whose value grows past 39 bytes: clients see the first whole characters that fit
    await node('grow').set(E30);
    const { o, r } = await py(
      s.caPort,
      `
P = 'test:R:D:'
# pyepics turns char arrays into strings byte by byte (and strings into code points): decode UTF-8 here
def chars(name):
    b = bytes(epics.caget(name, timeout=5).tolist())
    return b.split(bytes(1))[0].decode('utf-8')
out = {}
for n in ['utfLong', 'utfShort', 'grow', 'text', 'units', 'wide']:
    out[n + '_type'] = ftype(P + n)
    out[n] = chars(P + n) if out[n + '_type'] == 'char' else g(P + n, as_string=True)
out['put_long'] = p(P + 'utfLong', list('Größe über vierzig Bytes: ÄÖÜäöüß ÄÖÜäöüß'.encode('utf-8')) + [0])
out['utfLong_after'] = chars(P + 'utfLong')
out['put_latin1'] = p(P + 'latin', list('ISO 8859-1 bytes, not UTF-8: Größe über vierzig Bytes'.encode('latin-1')) + [0])
out['put_ascii'] = p(P + 'text', 'a plain ASCII string put by pyepics, longer than forty characters')
out['put_short'] = p(P + 'utfShort', 'naïve')
out['put_units'] = p(P + 'units', 'µm')
out['units_after'] = g(P + 'units', as_string=True)
seen = []
def cb(pvname=None, char_value=None, **kw):
    seen.append(char_value)
m = epics.PV(P + 'text', callback=cb, auto_monitor=True)
m.wait_for_connection(5)
t0 = time.time()
while time.time() - t0 < 3 and not seen:
    time.sleep(0.02)
print('READY', flush=True)
t0 = time.time()
while time.time() - t0 < 10 and ('y' * 80) not in seen:
    time.sleep(0.02)
out['seen'] = seen
print(json.dumps(out))
`,
      45000,
      (line) => {
        if (line === 'READY') void node('text').set('y'.repeat(80));
      },
    );
    const ctx = `\nstderr: ${r.stderr}`;
    assert.equal(o.utfLong_type, 'char', '60 bytes of UTF-8: a char array');
    assert.equal(o.utfLong, E30);
    assert.equal(o.utfShort_type, 'string', '30 bytes: a DBR_STRING');
    assert.equal(o.utfShort, E15);
    assert.equal(o.grow_type, 'string');
    assert.equal(o.grow, 'é'.repeat(19), `cut to the 19 whole characters that fit 39 bytes${ctx}`);
    assert.equal(o.text_type, 'char');
    assert.equal(o.text, 'x'.repeat(45));
    assert.equal(o.units_type, 'enum');
    assert.equal(o.units, 'Ångström');
    assert.equal(o.wide_type, 'string', 'wider than 64 bits: the display string');
    assert.equal(o.wide, String(2n ** 100n + 7n));
    assert.equal(o.put_long, 1);
    assert.equal(node('utfLong').value, 'Größe über vierzig Bytes: ÄÖÜäöüß ÄÖÜäöüß');
    assert.equal(o.utfLong_after, 'Größe über vierzig Bytes: ÄÖÜäöüß ÄÖÜäöüß');
    assert.equal(o.put_latin1, 1);
    assert.equal(node('latin').value, 'ISO 8859-1 bytes, not UTF-8: Größe über vierzig Bytes', 'a char array that is not UTF-8 is read as ISO 8859-1');
    assert.equal(o.put_ascii, 1);
    assert.equal(o.put_short, 1);
    assert.equal(node('utfShort').value, 'naïve');
    assert.equal(o.put_units, 1);
    assert.equal(node('units').value, 2, 'enum by a non-ASCII choice name');
    assert.equal(o.units_after, 'µm');
    const seen = o.seen as string[];
    assert.equal(seen[0], 'a plain ASCII string put by pyepics, longer than forty characters');
    assert.ok(seen.includes('y'.repeat(80)), `a char-array monitor follows a longer string: ${JSON.stringify(seen)}`);
  } finally {
    await s.close();
  }
});
