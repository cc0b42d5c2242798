// Read-on-get over Channel Access: a caget of a value older than maxAgeMs reads hardware first,
// as a pvAccess get does (through the CaPv.refresh hook the CA server awaits before READ_NOTIFY).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LocalVariable, Root } from '../../src/tree/index.ts';
import { SKIP_PYEPICS, havePyepics, py, serveCa } from './ca-util.ts';

test(
  'CA: with readOnGet, cagets farther apart than maxAgeMs read the hardware each time',
  { timeout: 60000 },
  async (t) => {
    if (!havePyepics) return t.skip(SKIP_PYEPICS);
    let calls = 0;
    const root = new Root({ name: 'R', pollEn: false });
    root.add(new LocalVariable({ name: 'cnt', typeStr: 'Int32', value: 0, localGet: () => ++calls }));
    const s = await serveCa(root, { readOnGet: { maxAgeMs: 50 } });
    try {
      const { o } = await py(s.caPort, `
a = g('test:R:cnt')
time.sleep(0.2)
b = g('test:R:cnt')
print(json.dumps({'a': a, 'b': b}))
`);
      assert.ok(calls >= 2, `hardware read on each caget (${calls} reads)`);
      assert.notEqual(o.a, o.b);
    } finally {
      await s.close();
    }
  },
);
