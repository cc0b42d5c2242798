// What the client hands out: every monitor update is a complete value of its own (later updates and
// the caller's own changes to it do not leak between them), and many operations in flight on one
// circuit each get their own answer.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PvaClient } from '../../src/pva/client/index.ts';
import { PVStructure, ntScalar } from '../../src/pvdata/index.ts';
import { PvaServer, SharedPV, memoryLogger } from '../../src/pva/server/index.ts';
import { until } from '../cli/fixtures.ts';

describe('PvaClient values', () => {
  let server: PvaServer;
  let client: PvaClient;
  let at: string;
  const pvs: SharedPV[] = [];

  before(async () => {
    server = new PvaServer({ interfaces: ['127.0.0.1'], tcpPort: 0, udpPort: 0, beaconAddrs: [], logger: memoryLogger() });
    for (let i = 0; i < 64; i++) {
      const pv = SharedPV.mailbox().open(new PVStructure(ntScalar('double', { display: true }), { value: i, display: { units: 'V' } }));
      pvs.push(pv);
      server.addPV(`v:${i}`, pv);
    }
    await server.start();
    at = `127.0.0.1:${server.tcpPort}`;
    client = new PvaClient({ addrList: [], autoAddrList: false, timeout: 20 });
  });
  after(async () => {
    client.close();
    await server.stop();
  });

  it('each monitor update is complete and its own: later updates and changes made to it do not leak', async () => {
    const got: PVStructure[] = [];
    const sub = client.monitor('v:0', (v) => void got.push(v), { server: at });
    await until(() => got.length === 1, 10_000, 'first update');
    got[0].set('display.units', 'changed by the caller');
    pvs[0].post({ value: 100 });
    await until(() => got.length === 2, 10_000, 'second update');
    pvs[0].post({ value: 200, display: { units: 'A' } });
    await until(() => got.length === 3, 10_000, 'third update');
    sub.close();
    assert.deepEqual(got.map((v) => v.get('value')), [0, 100, 200], 'earlier values keep theirs');
    assert.deepEqual(got.map((v) => v.get('display.units')), ['changed by the caller', 'V', 'A']);
    assert.deepEqual(got[1].changed.toArray(), [got[1].type.offsetOf('value')], 'only what the update carried is marked');
    assert.deepEqual(got[2].changed.toArray(), [got[2].type.offsetOf('value'), got[2].type.offsetOf('display.units')]);
  });

  it('64 puts and then 64 gets in flight on one circuit each get their own answer', async () => {
    await Promise.all(pvs.map((_, i) => client.put(`v:${i}`, 1000 + i, { server: at })));
    const values = await Promise.all(pvs.map((_, i) => client.get(`v:${i}`, { server: at })));
    assert.deepEqual(values.map((v) => v.get('value')), pvs.map((_, i) => 1000 + i));
    // and the same PV 64 times at once
    const same = await Promise.all(Array.from({ length: 64 }, () => client.get('v:7', { server: at })));
    assert.ok(same.every((v) => v.get('value') === 1007 && v.get('display.units') === 'V'));
  });
});
