// A board behind SrpV3Memory served over pvAccess: a lost link shows as INVALID / DEVICE alarms
// naming the link on every register PV (polled or not), and the alarms clear when it is back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Device, RemoteVariable, Root } from '../../src/tree/index.ts';
import { SrpV3Memory } from '../../src/tree/memory/srpv3.ts';
import { SrpV3EmulatorServer } from '../../src/srp/emulator-server.ts';
import type { PVStructure } from '../../src/pvdata/index.ts';
import { LossyShim } from '../srp/lossy-shim.ts';
import { serve } from './harness.ts';

const until = async (cond: () => boolean, what: string, ms = 15000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

test('link loss: INVALID/DEVICE with the reason on register PVs, cleared with fresh values on recovery', { timeout: 60000 }, async () => {
  const srv = await new SrpV3EmulatorServer({ packetizer: 2 }).start();
  const shim = await new LossyShim({ serverPort: srv.port }).start();
  const mem = new SrpV3Memory({ host: '127.0.0.1', port: shim.port, packetizer: 2, timeout: 0.5 });
  const root = new Root({ name: 'Board', pollEn: true, memBase: mem, onError: () => {} });
  const d = new Device({ name: 'Regs' });
  root.add(d);
  d.add(
    new RemoteVariable({ name: 'Counter', offset: 0x0, bitSize: 32, base: 'UInt', mode: 'RO', pollInterval: 0.2 }),
    new RemoteVariable({ name: 'Threshold', offset: 0x4, bitSize: 16, base: 'UInt', mode: 'RW' }),
  );
  srv.emulation.write(0x0, Uint8Array.of(7, 0, 0, 0));
  const s = await serve(root);
  const counter: PVStructure[] = [];
  const thresh: PVStructure[] = [];
  const subs = [
    s.client.monitor('test:Board:Regs:Counter', (v) => void counter.push(v.clone())),
    s.client.monitor('test:Board:Regs:Threshold', (v) => void thresh.push(v.clone())),
  ];
  try {
    await mem.waitOpen(10000);
    await s.client.put('test:Board:Regs:Threshold', 300);
    assert.equal(Buffer.from(srv.emulation.read(4, 2)).readUInt16LE(0), 300, 'a put reaches the board');
    await until(() => counter.some((u) => u.get('value') === 7 && u.get('alarm.severity') === 0), 'the polled value');
    shim.blackhole = true;
    const bad = (us: PVStructure[]) => us.find((u) => u.get('alarm.severity') === 3);
    await until(() => !!bad(thresh) && !!bad(counter), 'INVALID alarms on both PVs');
    assert.equal(bad(thresh)!.get('alarm.status'), 1, 'DEVICE');
    assert.match(String(bad(thresh)!.get('alarm.message')), /srpv3:\/\/127\.0\.0\.1:\d+: link down: the peer stopped answering/);
    await assert.rejects(s.client.put('test:Board:Regs:Threshold', 301), /timed out|link down/);
    srv.emulation.write(0x0, Uint8Array.of(8, 0, 0, 0));
    shim.blackhole = false;
    const n = thresh.length;
    await until(() => thresh.length > n && thresh.at(-1)!.get('alarm.severity') === 0, 'Threshold alarm cleared');
    await until(() => counter.at(-1)!.get('alarm.severity') === 0 && counter.at(-1)!.get('value') === 8, 'Counter back with the new value');
    assert.equal(thresh.at(-1)!.get('value'), 300);
    assert.equal(thresh.at(-1)!.get('alarm.message'), '');
  } finally {
    for (const x of subs) x.close();
    await s.close();
    await shim.close();
    await srv.close();
  }
});
