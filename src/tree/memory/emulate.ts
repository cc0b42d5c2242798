// Emulated memory: sparse 4 KiB pages, zero until written. The default backend of a Root.

import { type Memory, type Transaction, failTransaction } from './interface.ts';

/** Options of {@link Emulate}. */
export interface EmulateOptions {
  /** Access width in bytes (Rogue's minWidth); default 4. */
  width?: number;
  /** Largest transaction in bytes; default 1 MiB. */
  maxAccess?: number;
  /** Address space size in bytes; accesses beyond it fail. Default 2^48. */
  size?: number;
}

const PAGE = 4096;

/**
 * Memory in the program (PyRogue's rogue.interfaces.memory.Emulate): a sparse byte space that
 * reads back what was written. The default memory of a Root.
 */
export class Emulate implements Memory {
  readonly minAccess: number;
  readonly maxAccess: number;
  readonly size: number;
  private readonly pages = new Map<number, Uint8Array>();
  /** Transactions served, by type: cheap instrumentation for tests and benches. */
  readonly counts = { read: 0, write: 0, post: 0, verify: 0 };

  constructor(opts: EmulateOptions = {}) {
    this.minAccess = opts.width ?? 4;
    this.maxAccess = opts.maxAccess ?? 1 << 20;
    this.size = opts.size ?? 2 ** 48;
  }

  doTransaction(t: Transaction): Promise<void> {
    this.counts[t.type]++;
    const { address, size } = t;
    if (address < 0 || address + size > this.size) return Promise.reject(failTransaction(t, 'address out of range'));
    if (size > this.maxAccess) return Promise.reject(failTransaction(t, 'transaction larger than maxAccess'));
    if (t.type === 'read' || t.type === 'verify') this.readInto(address, t.data, size);
    else this.writeFrom(address, t.data, size);
    return Promise.resolve();
  }

  /** Synchronous peek, for tests. */
  readBytes(address: number, size: number): Uint8Array {
    const out = new Uint8Array(size);
    this.readInto(address, out, size);
    return out;
  }

  /** Synchronous poke, for tests (e.g. hardware changing a status register). */
  writeBytes(address: number, data: Uint8Array): void {
    this.writeFrom(address, data, data.length);
  }

  private readInto(address: number, out: Uint8Array, size: number): void {
    let done = 0;
    while (done < size) {
      const a = address + done;
      const pageNo = Math.floor(a / PAGE);
      const off = a - pageNo * PAGE;
      const n = Math.min(PAGE - off, size - done);
      const page = this.pages.get(pageNo);
      if (page) out.set(n === PAGE ? page : page.subarray(off, off + n), done);
      else out.fill(0, done, done + n);
      done += n;
    }
  }

  private writeFrom(address: number, src: Uint8Array, size: number): void {
    let done = 0;
    while (done < size) {
      const a = address + done;
      const pageNo = Math.floor(a / PAGE);
      const off = a - pageNo * PAGE;
      const n = Math.min(PAGE - off, size - done);
      let page = this.pages.get(pageNo);
      if (!page) this.pages.set(pageNo, (page = new Uint8Array(PAGE)));
      page.set(done === 0 && n === src.length ? src : src.subarray(done, done + n), off);
      done += n;
    }
  }
}
