// Test helpers: a memory that records transactions and fails on demand.
import { Emulate, type Memory, type Transaction, MemoryError } from '../../src/tree/index.ts';

export class SpyMemory implements Memory {
  readonly inner: Emulate;
  readonly log: { type: string; address: number; size: number }[] = [];
  /** Return a message to fail the transaction. */
  failWhen: ((t: Transaction) => string | undefined) | undefined;
  /** Flip bits on reads of this kind (simulate a register that doesn't keep what is written). */
  stuckBits: { address: number; mask: number } | undefined;

  constructor(width = 4) {
    this.inner = new Emulate({ width });
  }
  get minAccess(): number { return this.inner.minAccess; }
  get maxAccess(): number { return this.inner.maxAccess; }

  async doTransaction(t: Transaction): Promise<void> {
    this.log.push({ type: t.type, address: t.address, size: t.size });
    const msg = this.failWhen?.(t);
    if (msg) {
      t.error = msg;
      throw new MemoryError(msg, t.address, t.size, t.type);
    }
    await this.inner.doTransaction(t);
    const s = this.stuckBits;
    if (s && (t.type === 'read' || t.type === 'verify') && s.address >= t.address && s.address < t.address + t.size) {
      t.data[s.address - t.address] &= ~s.mask;
    }
  }

  count(type?: string): number {
    return type ? this.log.filter((x) => x.type === type).length : this.log.length;
  }

  clear(): void { this.log.length = 0; }
}

/** Let pending promise chains run (fake timers do not touch setImmediate here). */
export function flush(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}
