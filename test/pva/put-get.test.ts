// PUT_GET from the pvtree client: put and read back in one operation, against pvtree's server.
// (Against real pvxs / pvAccessCPP programs: test/interop/put-get.test.ts.)
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PvaClient, PvaClientError, formatDelta } from '../../src/pva/client/index.ts';
import { PVStructure, ntScalar } from '../../src/pvdata/index.ts';
import { SharedPV } from '../../src/pva/server/index.ts';
import { newClient, startServer, type Fixture } from '../cli/fixtures.ts';

describe('PvaClient.putGet against PvaServer (loopback)', () => {
  let fx: Fixture;
  let client: PvaClient;

  before(async () => {
    fx = await startServer();
    // a setpoint whose device clamps what it is given: the read-back differs from what was sent
    const clamped = new SharedPV({
      onPut: (pv, op) => {
        const asked = op.value.get('value') as number;
        pv.post({ value: Math.min(asked, 10) });
      },
    }).open(new PVStructure(ntScalar('double'), { value: 1 }));
    fx.server.addPV('test:clamped', clamped);
    client = newClient(fx.server.udpPort);
  });
  after(async () => {
    client.close();
    await fx.server.stop();
  });

  it('returns the value the put left, in the get structure', async () => {
    const r = await client.putGet('test:long', 17);
    assert.equal(r.value.get('value'), 17);
    assert.equal(r.before, undefined);
    assert.equal(fx.pvs.long.current.get('value'), 17);
    assert.equal(r.value.type.id, 'epics:nt/NTScalar:1.0');
  });

  it('reads back what the device made of the value, not what was sent', async () => {
    const r = await client.putGet('test:clamped', 25, { readBefore: true });
    assert.equal(r.before?.get('value'), 1);
    assert.equal(r.value.get('value'), 10);
  });

  it('readBefore: the value just before the put, from the same operation', async () => {
    await client.put('test:str', 'first');
    const r = await client.putGet('test:str', 'second', { readBefore: true });
    assert.equal(r.before?.get('value'), 'first');
    assert.equal(r.value.get('value'), 'second');
  });

  it('getField(...) selects what is read back', async () => {
    const r = await client.putGet('test:ai', 4.5, { request: 'putField(value)getField(value)' });
    assert.equal(formatDelta(r.value), '    value double = 4.5\n');
    await client.put('test:ai', 3.25);
  });

  it('an enum by choice name: the choices are fetched in the same operation (GET_PUT)', async () => {
    const r = await client.putGet('test:enum', 'Three', { readBefore: true });
    assert.equal(r.before?.get('value.index'), 1);
    assert.equal(r.value.get('value.index'), 3);
    await assert.rejects(client.putGet('test:enum', 'Nine'), /^PvaClientError: test:enum: 'Nine' is not one of the choices \[Zero, One, Two, Three\]$/);
    await client.put('test:enum', 1);
  });

  it('a put the server refuses fails with its message, naming the PV; nothing is left open', async () => {
    await assert.rejects(client.putGet('test:ro', 5, { readBefore: true }), (e: Error) => {
      assert.ok(e instanceof PvaClientError);
      assert.equal(e.message, 'test:ro: read-only PV');
      return true;
    });
    assert.equal(fx.pvs.ro.current.get('value'), 1);
    // the channel and circuit still work afterwards
    assert.equal((await client.putGet('test:long', 18)).value.get('value'), 18);
  });

  it('an unknown PV times out with "not found"', async () => {
    await assert.rejects(client.putGet('test:nosuch', 1, { timeout: 0.3 }), { message: 'test:nosuch: not found (timeout 0.3 s)' });
  });
});
