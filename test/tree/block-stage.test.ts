// A set issued while a read of the same block is in flight (a slow memory: a board over the
// network) writes the new value: the read completing first must not overwrite the staged bits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Device, Emulate, RemoteVariable, Root, type Memory, type Transaction } from '../../src/tree/index.ts';

/** Emulated memory whose reads wait until the test releases them. */
class SlowReads implements Memory {
  readonly inner = new Emulate();
  readonly minAccess = 4;
  readonly maxAccess = 4096;
  private readonly held: (() => void)[] = [];
  async doTransaction(t: Transaction): Promise<void> {
    if (t.type === 'read') {
      // the data is taken now (the hardware state when the read was served) and delivered later
      await this.inner.doTransaction(t);
      await new Promise<void>((r) => this.held.push(r));
      return;
    }
    await this.inner.doTransaction(t);
  }
  get waiting(): number { return this.held.length; }
  release(): void { for (const r of this.held.splice(0)) r(); }
}

async function held(mem: SlowReads): Promise<void> {
  for (let i = 0; i < 1000 && mem.waiting === 0; i++) await new Promise((r) => setImmediate(r));
  assert.equal(mem.waiting, 1, 'the read is in flight');
}

test('a read in flight does not undo a set staged behind it (set and post)', async () => {
  const mem = new SlowReads();
  const root = new Root({ name: 'R', memBase: mem, pollEn: false, builtins: false });
  const d = new Device({ name: 'D' });
  root.add(d);
  const a = new RemoteVariable({ name: 'A', offset: 0, bitSize: 16, base: 'UInt', mode: 'RW' });
  const b = new RemoteVariable({ name: 'B', offset: 0, bitSize: 16, bitOffset: 16, base: 'UInt', mode: 'RW' });
  d.add(a, b);
  await root.start();
  try {
    mem.inner.writeBytes(0, Uint8Array.of(1, 0, 2, 0)); // A = 1, B = 2 in hardware
    const reading = a.get();
    await held(mem);
    const setting = a.set(0x1234, { verify: false });
    mem.release();
    await reading;
    await setting;
    assert.deepEqual([...mem.inner.readBytes(0, 4)], [0x34, 0x12, 2, 0], 'A written, B as read from hardware');
    assert.equal(a.value, 0x1234);
    const reading2 = b.get();
    await held(mem);
    const posting = a.post(0x55);
    mem.release();
    await reading2;
    await posting;
    assert.deepEqual([...mem.inner.readBytes(0, 4)], [0x55, 0, 2, 0]);
    // with nothing in flight a read takes the hardware value as before
    mem.inner.writeBytes(0, Uint8Array.of(9, 0, 8, 0));
    const r = a.get();
    await held(mem);
    mem.release();
    assert.equal(await r, 9);
  } finally {
    mem.release();
    await root.stop();
  }
});
