// A failing hardware read shows as an INVALID alarm (NT status DEVICE, the error as the message)
// on polled variables, and clears when the hardware answers again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Device, Emulate, MemoryError, RemoteVariable, Root, type Memory, type Transaction } from '../../src/tree/index.ts';
import type { PVStructure } from '../../src/pvdata/index.ts';
import { serve } from './harness.ts';

/** Emulated memory whose reads fail while `broken` is set. */
class FlakyMemory implements Memory {
  readonly inner = new Emulate();
  readonly minAccess = this.inner.minAccess;
  readonly maxAccess = this.inner.maxAccess;
  broken = false;
  doTransaction(t: Transaction): Promise<void> {
    if (this.broken && t.type === 'read') {
      t.error = 'bus timeout';
      return Promise.reject(new MemoryError('bus timeout', t.address, t.size, t.type));
    }
    return this.inner.doTransaction(t);
  }
}

const until = async (cond: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
};

test('a failed poll raises INVALID/DEVICE with the error, and recovery clears it', { timeout: 20000 }, async () => {
  const mem = new FlakyMemory();
  const root = new Root({ name: 'R', pollEn: true, memBase: mem, onError: () => {} });
  const d = new Device({ name: 'D' });
  root.add(d);
  d.add(new RemoteVariable({ name: 'Status', offset: 0, bitSize: 32, base: 'UInt', mode: 'RO', pollInterval: 0.1 }));
  const s = await serve(root);
  const updates: PVStructure[] = [];
  const sub = s.client.monitor('test:R:D:Status', (v) => void updates.push(v.clone()));
  try {
    await until(() => updates.length > 0);
    assert.equal(updates.at(-1)!.get('alarm.severity'), 0);
    mem.broken = true;
    await until(() => updates.some((u) => u.get('alarm.severity') === 3));
    const bad = updates.find((u) => u.get('alarm.severity') === 3)!;
    assert.equal(bad.get('alarm.status'), 1, 'NT status DEVICE');
    assert.match(String(bad.get('alarm.message')), /bus timeout/);
    const got = await s.client.get('test:R:D:Status');
    assert.equal(got.get('alarm.severity'), 3, 'a get sees the alarm too');
    mem.broken = false;
    const n = updates.length;
    await until(() => updates.length > n && updates.at(-1)!.get('alarm.severity') === 0);
    assert.equal(updates.at(-1)!.get('alarm.message'), '');
  } finally {
    sub.close();
    await s.close();
  }
});
