// pvtree client ↔ pvtree server on loopback: every operation, pvRequest selection, errors.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PvaCallbackError, PvaClient, PvaClientError, formatDelta, formatTree, type MonitorEvent } from '../../src/pva/client/index.ts';
import { PVStructure, ntScalar, requestOptions, struct } from '../../src/pvdata/index.ts';
import { monitorRequestOf } from './scripted-server.ts';
import { newClient, sleep, startServer, until, type Fixture } from '../cli/fixtures.ts';

describe('PvaClient against PvaServer (loopback)', () => {
  let fx: Fixture;
  let client: PvaClient;
  /** What the client reported through onError (failing user callbacks). */
  const reported: PvaCallbackError[] = [];

  before(async () => {
    fx = await startServer();
    client = newClient(fx.server.udpPort);
    client.onError = (e) => void reported.push(e);
  });
  after(async () => {
    client.close();
    await fx.server.stop();
  });

  it('gets a whole NTScalar, every field marked', async () => {
    const v = await client.get('test:ai');
    assert.equal(v.type.id, 'epics:nt/NTScalar:1.0');
    assert.equal(v.get('value'), 3.25);
    assert.equal(v.get('display.units'), 'V');
    const text = formatDelta(v);
    assert.match(text, /^ {4}value double = 3\.25\n/);
    assert.match(text, /\n {4}display\.units string = "V"\n/);
    assert.match(text, /\n {4}display\.precision int32_t = 3\n/);
  });

  it('selects fields with a pvRequest', async () => {
    const v = await client.get('test:ai', { request: 'field(value)' });
    assert.equal(v.get('value'), 3.25);
    assert.equal(formatDelta(v), '    value double = 3.25\n');
    const w = await client.get('test:ai', { request: 'value,display.units' });
    assert.equal(formatDelta(w), '    value double = 3.25\n    display.units string = "V"\n');
  });

  it('gets arrays, strings and enums', async () => {
    const wf = await client.get('test:wf', { request: 'field(value)' });
    assert.deepEqual(Array.from(wf.get('value') as Float64Array), [1.5, 2.5, 3.5, 4.5]);
    assert.equal(formatDelta(wf), '    value double[] = {4}[1.5, 2.5, 3.5, 4.5]\n');
    const s = await client.get('test:str');
    assert.equal(s.get('value'), 'hello');
    const e = await client.get('test:enum', { request: 'field(value)' });
    assert.equal(
      formatDelta(e),
      '    value.index int32_t = 1\n    value.choices string[] = {4}["Zero", "One", "Two", "Three"]\n',
    );
  });

  it('puts a plain value into `value`', async () => {
    await client.put('test:long', 7);
    assert.equal((await client.get('test:long')).get('value'), 7);
    await client.put('test:long', '8'); // text converts to the field's type
    assert.equal((await client.get('test:long')).get('value'), 8);
    await client.put('test:str', 'hello pva');
    assert.equal((await client.get('test:str')).get('value'), 'hello pva');
  });

  it('puts fields by dotted path, enum by index or by choice name', async () => {
    await client.put('test:enum', { 'value.index': 2 });
    assert.equal((await client.get('test:enum')).get('value.index'), 2);
    await client.put('test:enum', 'Three'); // needs the choices: fetched with PUT 0x40
    assert.equal((await client.get('test:enum')).get('value.index'), 3);
    await client.put('test:enum', 0); // a number goes to the index
    assert.equal((await client.get('test:enum')).get('value.index'), 0);
    await client.put('test:ai', { value: 2.5, 'alarm.message': 'set by test' });
    const v = await client.get('test:ai');
    assert.equal(v.get('value'), 2.5);
    assert.equal(v.get('alarm.message'), 'set by test');
    await client.put('test:wf', { value: '[1, 2, 3]' });
    assert.deepEqual(Array.from((await client.get('test:wf')).get('value') as Float64Array), [1, 2, 3]);
    await client.put('test:ai', 3.25);
  });

  it('rejects bad put input with the PV name', async () => {
    await assert.rejects(client.put('test:enum', 'Nine'), /test:enum: 'Nine' is not one of the choices/);
    await assert.rejects(client.put('test:ai', { nosuch: 1 }), /test:ai: no field 'nosuch'/);
    await assert.rejects(client.put('test:long', 'abc'), /test:long: field 'value'/);
  });

  it('passes a server put error through, naming the PV', async () => {
    await assert.rejects(client.put('test:ro', 5), (e: Error) => {
      assert.ok(e instanceof PvaClientError);
      assert.equal(e.message, 'test:ro: read-only PV');
      return true;
    });
  });

  it('times out on an unknown PV with "not found"', async () => {
    const t0 = Date.now();
    await assert.rejects(client.get('test:nosuch', { timeout: 0.3 }), {
      message: 'test:nosuch: not found (timeout 0.3 s)',
    });
    assert.ok(Date.now() - t0 < 2000);
    // nobody waits for it any more: the client stops searching
    assert.ok(!client.searching.includes('test:nosuch'));
  });

  it('reads the type with info (GET_FIELD)', async () => {
    const t = await client.info('test:ai');
    assert.equal(t.kind, 'structure');
    const text = formatTree(t);
    assert.match(text, /^struct "epics:nt\/NTScalar:1\.0" \{\n {4}double value\n {4}struct "alarm_t" \{\n/);
    assert.match(text, /\n {4}\} timeStamp\n/);
    assert.equal(client.peerOf('test:ai'), `127.0.0.1:${fx.server.tcpPort}`);
  });

  it('calls an RPC PV with an NTURI made of query strings', async () => {
    const r = await client.rpc('test:add', { lhs: '1.5', rhs: '2.25' });
    assert.equal(r.get('value'), 3.75);
    assert.match(formatTree(r), /^struct "epics:nt\/NTScalar:1\.0" \{\n {4}double value = 3\.75\n/);
    // numbers become doubles; the handler does not care
    assert.equal((await client.rpc('test:add', { lhs: 1, rhs: 2 })).get('value'), 3);
    // a structure argument goes as it is
    const arg = new PVStructure(struct('', { query: struct('', { lhs: 'double', rhs: 'double' }) }), {
      query: { lhs: 10, rhs: 5 },
    });
    assert.equal((await client.rpc('test:add', arg)).get('value'), 15);
  });

  it('passes an RPC error through', async () => {
    await assert.rejects(client.rpc('test:add', { lhs: '1' }), { message: 'test:add: need lhs and rhs' });
  });

  it('lists the channels of a server, by address and by search', async () => {
    const names = await client.list(`127.0.0.1:${fx.server.tcpPort}`);
    assert.ok(names.includes('test:ai') && names.includes('test:add'), names.join(','));
    const found = await client.list();
    assert.deepEqual(found, names);
  });

  it('shares one TCP connection among channels of one server', async () => {
    const before = fx.server.connectionCount;
    await Promise.all([client.get('test:ai'), client.get('test:str'), client.info('test:long')]);
    assert.equal(fx.server.connectionCount, before);
    assert.ok(fx.server.connectionCount <= 2); // one searched circuit (+ one direct for list)
  });

  it('monitors: first update complete, then only what changed', async () => {
    const updates: PVStructure[] = [];
    const events: string[] = [];
    const sub = client.monitor('test:mon', (v) => void updates.push(v), {
      onEvent: (e) => events.push(e.type),
    });
    try {
      await until(() => updates.length >= 1, 3000, 'first update');
      assert.equal(updates[0].get('value'), 3.25);
      assert.ok(updates[0].isChanged(updates[0].type.offsetOf('alarm.severity')!));
      fx.pvs.mon.post({ value: 4.5 });
      await until(() => updates.length >= 2, 3000, 'second update');
      assert.equal(formatDelta(updates[1]), '    value double = 4.5\n');
      // the complete value is kept
      assert.equal(updates[1].get('display.units'), 'V');
      assert.deepEqual(events, ['connected']);
    } finally {
      sub.close();
    }
    // a get on the same circuit is answered after the server handled the close (requests are
    // processed in order); a post then, and another get: an update sent for it would arrive first
    await client.get('test:mon');
    fx.pvs.mon.post({ value: 3.25 });
    assert.equal((await client.get('test:mon')).get('value'), 3.25);
    assert.equal(updates.length, 2);
    assert.equal(sub.count, 2);
  });

  it('monitors with field selection', async () => {
    const updates: string[] = [];
    const sub = client.monitor('test:mon', (v) => void updates.push(formatDelta(v)), { request: 'field(value)' });
    try {
      await until(() => updates.length >= 1);
      fx.pvs.mon.post({ value: 5, 'alarm.severity': 1 });
      await until(() => updates.length >= 2);
      fx.pvs.mon.post({ 'alarm.severity': 0 }); // not selected: nothing sent
      // an update for it would reach us before the reply to this get on the same circuit
      assert.equal((await client.get('test:mon')).get('alarm.severity'), 0);
      assert.deepEqual(updates, ['    value double = 3.25\n', '    value double = 5\n']);
    } finally {
      sub.close();
      fx.pvs.mon.post({ value: 3.25 });
    }
  });

  it('pipelined monitor: acknowledges and keeps receiving past the window', async () => {
    const values: number[] = [];
    const sub = client.monitor('test:long', (v) => void values.push(v.get('value') as number), {
      pipeline: true,
      queueSize: 4,
      request: 'field(value)',
    });
    await until(() => values.length >= 1);
    for (let i = 1; i <= 12; i++) {
      fx.pvs.long.post({ value: 100 + i });
      await sleep(15);
    }
    await until(() => values[values.length - 1] === 112, 3000, 'last update');
    // more updates than the window of 4 arrived: the client's acks reopened it
    assert.ok(values.length > 5, `got ${values.length} updates`);
    sub.close();
  });

  it('pipelined monitor with a slow consumer: server holds updates until acknowledged', async () => {
    const values: number[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const sub = client.monitor(
      'test:long',
      async (v) => {
        values.push(v.get('value') as number);
        if (values.length >= 2) await gate; // consumer stalls: no acks
      },
      { pipeline: true, queueSize: 2, request: 'field(value)' },
    );
    await until(() => values.length >= 1);
    for (let i = 1; i <= 6; i++) {
      fx.pvs.long.post({ value: 200 + i });
      await sleep(15);
    }
    // the reply to a get on the same circuit comes after any update the server sent before it
    await client.get('test:long');
    const held = values.length;
    assert.ok(held <= 3, `window of 2 exceeded: ${values.length} updates`);
    release();
    await until(() => values[values.length - 1] === 206, 3000, 'updates after ack');
    sub.close();
  });

  it('queueSize without pipeline is passed in the request', async () => {
    // what the server receives, read by a scripted server
    const seen = await monitorRequestOf({ queueSize: 2 });
    assert.equal(seen.ack, undefined);
    assert.deepEqual(requestOptions(seen.pvRequest ?? undefined).raw, { queueSize: '2' });
    const piped = await monitorRequestOf({ queueSize: 6, pipeline: true, request: 'field(value)' });
    assert.equal(piped.ack, 6);
    assert.deepEqual(requestOptions(piped.pvRequest ?? undefined).raw, { queueSize: '6', pipeline: 'true' });
    // and the real server takes it: updates flow
    const values: number[] = [];
    const sub = client.monitor('test:long', (v) => void values.push(v.get('value') as number), { queueSize: 2 });
    await until(() => values.length >= 1);
    fx.pvs.long.post({ value: 1 });
    await until(() => values[values.length - 1] === 1);
    sub.close();
  });

  it('a failing monitor callback or onEvent listener is reported to onError; the subscription carries on', async () => {
    reported.length = 0;
    const values: number[] = [];
    const sub = client.monitor(
      'test:mon',
      (v) => {
        values.push(v.get('value') as number);
        if (values.length === 1) throw new Error('callback bug');
        if (values.length === 2) return Promise.reject(new Error('async callback bug'));
      },
      {
        onEvent: (e) => {
          if (e.type === 'connected') throw new TypeError('listener bug');
        },
      },
    );
    try {
      await until(() => values.length >= 1 && reported.length >= 2, 3000, 'first update and two reports');
      fx.pvs.mon.post({ value: 6.5 });
      await until(() => reported.length >= 3, 3000, 'the rejected promise reported');
      fx.pvs.mon.post({ value: 7.5 });
      await until(() => values.includes(7.5), 3000, 'updates after the failures');
      const texts = reported.map((e) => e.message).sort();
      assert.deepEqual(texts, [
        'test:mon: monitor callback failed: async callback bug',
        'test:mon: monitor callback failed: callback bug',
        'test:mon: onEvent listener failed: listener bug',
      ]);
      for (const e of reported) {
        assert.ok(e instanceof PvaCallbackError && e instanceof PvaClientError);
        assert.equal(e.pv, 'test:mon');
        assert.ok(e.cause instanceof Error);
      }
      assert.equal(reported.find((e) => e.callback === 'onEvent')?.cause instanceof TypeError, true);
    } finally {
      sub.close();
      reported.length = 0;
      fx.pvs.mon.post({ value: 3.25 });
    }
  });

  it('an onError handler that throws does not stop the client either', async () => {
    const c = newClient(fx.server.udpPort, {});
    const logged: string[] = [];
    const origError = console.error;
    c.onError = () => {
      throw new Error('handler bug');
    };
    console.error = (...a: unknown[]) => void logged.push(a.map(String).join(' '));
    const values: number[] = [];
    const sub = c.monitor('test:mon', (v) => {
      values.push(v.get('value') as number);
      throw new Error('callback bug');
    });
    try {
      await until(() => values.length >= 1, 3000, 'first update');
      fx.pvs.mon.post({ value: 8.5 });
      await until(() => values.includes(8.5), 3000, 'second update');
    } finally {
      console.error = origError;
      sub.close();
      c.close();
      fx.pvs.mon.post({ value: 3.25 });
    }
    assert.ok(logged.some((l) => l.startsWith('pvtree client: test:mon: monitor callback failed: callback bug')), logged.join('\n'));
    assert.ok(logged.some((l) => l.includes('onError handler failed too: Error: handler bug')), logged.join('\n'));
  });

  it('monitor of a PV that does not exist stays quiet (searching) until closed', async () => {
    const events: string[] = [];
    const sub = client.monitor('test:missing', () => {}, { onEvent: (e) => events.push(e.type) });
    await sleep(200);
    assert.deepEqual(events, []);
    assert.ok(client.searching.includes('test:missing'));
    sub.close();
    assert.ok(!client.searching.includes('test:missing'));
  });

  it('a request for fields the PV lacks: server error passed through (get and monitor)', async () => {
    await assert.rejects(client.get('test:ai', { request: 'field(nosuch)' }), (e: Error) => {
      assert.match(e.message, /^test:ai: ./);
      return true;
    });
    const events: MonitorEvent[] = [];
    reported.length = 0;
    const sub = client.monitor('test:ai', () => assert.fail('no update expected'), {
      request: 'field(nosuch)',
      onEvent: (e) => events.push(e),
    });
    await until(() => events.some((e) => e.type === 'error'), 3000, 'error event');
    const err = events.find((e) => e.type === 'error');
    assert.ok(err && err.type === 'error' && /^test:ai: ./.test(err.error.message));
    // an update would have run the callback, whose assert.fail the client reports to onError
    await client.get('test:ai');
    assert.deepEqual(reported.map((e) => e.message), []);
    assert.equal(sub.count, 0);
    sub.close();
  });

  it('a PV removed from the server: monitors see a disconnect, gets no longer find it', async () => {
    const { SharedPV } = await import('../../src/pva/server/index.ts');
    const pv = SharedPV.mailbox().open(new PVStructure(ntScalar('double'), { value: 1 }));
    fx.server.addPV('test:temp', pv);
    const events: string[] = [];
    const values: number[] = [];
    const sub = client.monitor('test:temp', (v) => void values.push(v.get('value') as number), {
      onEvent: (e) => events.push(e.type),
    });
    try {
      await until(() => values.length === 1);
      fx.server.removePV('test:temp');
      await until(() => events.includes('disconnected'), 3000, 'disconnect');
      await assert.rejects(client.get('test:temp', { timeout: 0.3 }), { message: 'test:temp: not found (timeout 0.3 s)' });
      // and it comes back when the PV is added again
      fx.server.addPV('test:temp', SharedPV.mailbox().open(new PVStructure(ntScalar('double'), { value: 2 })));
      await until(() => values.length === 2, 3000, 'resubscribed');
      assert.equal(values[1], 2);
      assert.deepEqual(events, ['connected', 'disconnected', 'connected']);
    } finally {
      sub.close();
      fx.server.removePV('test:temp');
    }
  });

  it('bad pvRequest text is an error naming the PV', async () => {
    await assert.rejects(client.get('test:ai', { request: 'field(value' }), /^PvaClientError: test:ai: /);
  });

  it('rejects operations after close', async () => {
    const c = newClient(fx.server.udpPort);
    const p = c.get('test:nosuch', { timeout: 5 });
    c.close();
    await assert.rejects(p, { message: 'test:nosuch: client closed' });
    await assert.rejects(c.get('test:ai'), { message: 'test:ai: client closed' });
  });

  it('talks to a given server directly, without searching', async () => {
    const c = new PvaClient({ addrList: [], autoAddrList: false, nameServers: [], timeout: 2 });
    try {
      const v = await c.get('test:ai', { server: `127.0.0.1:${fx.server.tcpPort}` });
      assert.equal(v.get('value'), 3.25);
      await assert.rejects(c.get('test:ai', { timeout: 0.2 }), { message: 'test:ai: not found (timeout 0.2 s)' });
    } finally {
      c.close();
    }
  });

  it('searches over TCP through EPICS_PVA_NAME_SERVERS', async () => {
    const c = new PvaClient({
      addrList: [],
      autoAddrList: false,
      nameServers: [`127.0.0.1:${fx.server.tcpPort}`],
      timeout: 2,
      searchInterval: 50,
    });
    try {
      assert.equal((await c.get('test:ai')).get('value'), 3.25);
      // the reply says "any address": the name server's own address is used, and its circuit reused
      assert.equal(c.peerOf('test:ai'), `127.0.0.1:${fx.server.tcpPort}`);
    } finally {
      c.close();
    }
  });

  it('reads configuration from the environment', async () => {
    const { configFromEnv } = await import('../../src/pva/client/index.ts');
    const c = configFromEnv({
      EPICS_PVA_ADDR_LIST: '127.0.0.1 127.0.0.2:6000',
      EPICS_PVA_AUTO_ADDR_LIST: 'NO',
      EPICS_PVA_BROADCAST_PORT: '15076',
      EPICS_PVA_NAME_SERVERS: '127.0.0.1:15075',
      EPICS_PVA_SERVER_PORT: '15075',
    });
    assert.deepEqual(c.addrList, ['127.0.0.1', '127.0.0.2:6000']);
    assert.equal(c.autoAddrList, false);
    assert.equal(c.broadcastPort, 15076);
    assert.deepEqual(c.nameServers, ['127.0.0.1:15075']);
    assert.equal(c.serverPort, 15075);
    const d = configFromEnv({});
    assert.equal(d.broadcastPort, 5076);
    assert.equal(d.serverPort, 5075);
    assert.equal(d.autoAddrList, true);
  });

  it('ntScalar values from the server round-trip through put of a PVStructure', async () => {
    const v = new PVStructure(ntScalar('double'), { value: 9.5 });
    v.clearChanged();
    v.set('value', 9.5);
    await client.put('test:ai', v);
    assert.equal((await client.get('test:ai')).get('value'), 9.5);
    await client.put('test:ai', 3.25);
  });
});
