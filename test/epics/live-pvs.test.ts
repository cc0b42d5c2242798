// What a served PV holds only while a client uses it: its SharedPV and pvData values are made on
// first use and dropped when the last client leaves; a later client gets the same PV as before.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Device, LocalCommand, LocalVariable, Root } from '../../src/tree/index.ts';
import { PvaClient } from '../../src/pva/client/index.ts';
import type { EpicsCommandHolder, EpicsPvHolder } from '../../src/epics/index.ts';
import { serve } from './harness.ts';
import { waitUntil } from './util.ts';

function buildRoot(): { root: Root; v: LocalVariable<number>; neg: LocalVariable<number> } {
  const root = new Root({ name: 'R', pollEn: false });
  const d = new Device({ name: 'D' });
  root.add(d);
  const v = new LocalVariable<number>({ name: 'v', typeStr: 'Float64', value: 1.5, units: 'V' });
  // limits a UInt8 cannot show: reported, not shown
  const neg = new LocalVariable<number>({ name: 'neg', typeStr: 'UInt8', value: 3, minimum: -1, maximum: 300 });
  const cmd = new LocalCommand<number, number>({ name: 'Go', argType: 'Int32', function: ({ arg }) => arg ?? 0 });
  d.add(v, neg, cmd);
  return { root, v, neg };
}

test('a PV is made live by a client and idle again when the client leaves; the next client sees the same PV', async () => {
  const { root, v } = buildRoot();
  const s = await serve(root);
  try {
    const h = s.server.holder('test:R:D:v') as EpicsPvHolder;
    assert.equal(h.isLive, false, 'idle before any client');
    assert.equal((await s.client.get('test:R:D:v')).get('value'), 1.5);
    assert.equal(h.isLive, true, 'live while the client has its channel');
    s.client.close();
    await waitUntil(() => !h.isLive, 'the PV idle once the client left');
    await v.set(2.5);
    const c2 = new PvaClient({ addrList: [`127.0.0.1:${s.server.pvaServer!.udpPort}`], autoAddrList: false, nameServers: [], timeout: 3 });
    try {
      const got = await c2.get('test:R:D:v');
      assert.equal(got.get('value'), 2.5, 'the value set while idle');
      assert.equal(got.get('display.units'), 'V');
      // a monitor on the new channel hears tree changes
      const seen: number[] = [];
      const sub = c2.monitor('test:R:D:v', (val) => void seen.push(val.get('value') as number));
      await waitUntil(() => seen.length === 1, 'the first monitor update');
      await v.set(3.5);
      await waitUntil(() => seen.includes(3.5), 'the monitor hears a tree change');
      sub.close();
    } finally {
      c2.close();
    }
    await waitUntil(() => !h.isLive, 'idle again after the second client');
  } finally {
    await s.close();
  }
});

test('a limit the wire type cannot hold is reported once, not each time a client makes the PV anew', async () => {
  const { root } = buildRoot();
  const s = await serve(root);
  try {
    const h = s.server.holder('test:R:D:neg') as EpicsPvHolder;
    const count = (): number => s.log.lines.filter((l) => l.startsWith('warn') && l.includes('test:R:D:neg') && l.includes('minimum -1')).length;
    await s.client.get('test:R:D:neg');
    assert.equal(count(), 1);
    s.client.close();
    await waitUntil(() => !h.isLive, 'the PV idle once the client left');
    const c2 = new PvaClient({ addrList: [`127.0.0.1:${s.server.pvaServer!.udpPort}`], autoAddrList: false, nameServers: [], timeout: 3 });
    try {
      assert.equal((await c2.get('test:R:D:neg')).get('display.limitLow'), 0, 'still not shown');
      assert.equal(h.isLive, true);
    } finally {
      c2.close();
    }
    assert.equal(count(), 1, 'reported once');
  } finally {
    await s.close();
  }
});

test("a command's PV keeps showing the last put after its clients left", async () => {
  const { root } = buildRoot();
  const s = await serve(root);
  try {
    const h = s.server.holder('test:R:D:Go') as EpicsCommandHolder;
    await s.client.put('test:R:D:Go', 7);
    s.client.close();
    const c2 = new PvaClient({ addrList: [`127.0.0.1:${s.server.pvaServer!.udpPort}`], autoAddrList: false, nameServers: [], timeout: 3 });
    try {
      assert.equal((await c2.get('test:R:D:Go')).get('value'), 7);
      assert.equal(h.lastPut?.value, 7);
    } finally {
      c2.close();
    }
  } finally {
    await s.close();
  }
});
