// A Block is one contiguous, access-aligned span of a device's memory holding the remote
// variables (and command registers) that share words. One block = one transaction.

import type { Field } from './field.ts';
import type { Mode } from './types.ts';
import { type Memory, type Transaction, MemoryError } from './memory/interface.ts';

/** Anything with bits in a block: RemoteVariable and RemoteCommand. */
export interface BlockMember {
  readonly mode: Mode;
  readonly field: Field;
  /** Byte offset relative to the owning device. */
  readonly offset: number;
  readonly verifyEn: boolean;
  /** The block has fresh bits from hardware: decode and notify. `now` is the read time (ms). */
  _blockRead(now: number): void;
  _setBlock(b: Block | undefined): void;
}

/** Where a block lives: the device resolves its address and memory when a transaction runs. */
export interface BlockHost {
  readonly root?: { _beginUpdate(): void; _endUpdate(): void } | undefined;
  readonly address: number;
  readonly memory: Memory;
  readonly timeout: number;
}

export class Block {
  readonly shadow: Uint8Array;
  readonly view: DataView;
  private readonly woMask: Uint8Array | undefined; // bits reads must not overwrite
  private readonly verifyMask: Uint8Array | undefined;
  private readonly readable: BlockMember[];
  // Transactions on one block run one at a time (PyRogue's block lock): a write's verify must
  // not see a later write, and a read must not land between a write and its verify.
  // Uncontended, taking the lock costs no promise.
  private _busy = false;
  private readonly _waiters: (() => void)[] = [];

  constructor(
    readonly host: BlockHost,
    /** Byte offset relative to the device. */
    readonly offset: number,
    readonly size: number,
    readonly members: readonly BlockMember[],
  ) {
    // Fixed once blocks exist: they can only be built when the device reaches a memory.
    this.address = host.address + offset;
    this.memory = host.memory;
    this.timeout = host.timeout;
    this.shadow = new Uint8Array(size);
    this.view = new DataView(this.shadow.buffer);
    let wo: Uint8Array | undefined;
    let vf: Uint8Array | undefined;
    for (const m of members) {
      m.field.bind(m.offset - offset);
      m._setBlock(this);
      if (m.mode === 'WO') m.field.markBits((wo ??= new Uint8Array(size)));
      if (m.verifyEn && m.mode === 'RW') m.field.markBits((vf ??= new Uint8Array(size)));
    }
    this.woMask = wo;
    this.verifyMask = vf;
    this.readable = members.filter((m) => m.mode !== 'WO');
  }

  /** Absolute byte address. */
  readonly address: number;
  private readonly memory: Memory;
  private readonly timeout: number;

  private tran(type: Transaction['type'], data: Uint8Array): Transaction {
    return { type, address: this.address, size: this.size, data, timeout: this.timeout };
  }

  /** A memory may report failure by rejecting or (Rogue style) by only setting `error`. */
  private static check(t: Transaction): void {
    if (t.error !== undefined) throw new MemoryError(t.error, t.address, t.size, t.type);
  }

  private _wait(): Promise<void> {
    return new Promise((r) => this._waiters.push(r));
  }

  /** Hand the lock to the next waiter, or free it. */
  private _release(): void {
    const next = this._waiters.shift();
    if (next) next();
    else this._busy = false;
  }

  /** Read the block; on success merge into the shadow (keeping WO bits) and update members. */
  async read(): Promise<void> {
    if (this.readable.length === 0) return;
    if (this._busy) await this._wait();
    else this._busy = true;
    try {
      const t = this.tran('read', new Uint8Array(this.size));
      await this.memory.doTransaction(t);
      Block.check(t);
      const data = t.data;
      const wo = this.woMask;
      if (wo) for (let i = 0; i < data.length; i++) this.shadow[i] = (this.shadow[i] & wo[i]) | (data[i] & ~wo[i]);
      else this.shadow.set(data);
      // decode every member before anyone is told, so links see a consistent block
      const now = Date.now();
      const root = this.host.root;
      root?._beginUpdate();
      try {
        for (const m of this.readable) m._blockRead(now);
      } finally {
        root?._endUpdate();
      }
    } finally {
      this._release();
    }
  }

  /** Write the shadow as it is when the transaction starts (a copy: later stages can't leak in), then verify. */
  async write(verify = true, type: 'write' | 'post' = 'write'): Promise<void> {
    if (this._busy) await this._wait();
    else this._busy = true;
    try {
      const mem = this.memory;
      const data = this.shadow.slice();
      const w = this.tran(type, data);
      await mem.doTransaction(w);
      Block.check(w);
      const vm = this.verifyMask;
      if (verify && vm && type === 'write') {
        const t = this.tran('verify', new Uint8Array(this.size));
        await mem.doTransaction(t);
        Block.check(t);
        for (let i = 0; i < data.length; i++) {
          if ((t.data[i] ^ data[i]) & vm[i]) {
            throw new MemoryError(`verify error at byte ${i}: wrote 0x${data[i].toString(16)}, read 0x${t.data[i].toString(16)}`, t.address, t.size, 'verify');
          }
        }
      }
    } finally {
      this._release();
    }
  }
}

/** Group members into blocks: members whose access-aligned spans overlap share a block. */
export function buildBlocks(host: BlockHost, members: BlockMember[], minAccess: number): Block[] {
  const spans = members.map((m) => {
    const s = m.offset + m.field.byteStart;
    const e = m.offset + m.field.byteEnd;
    return { m, start: Math.floor(s / minAccess) * minAccess, end: Math.ceil(e / minAccess) * minAccess };
  });
  spans.sort((a, b) => a.start - b.start || a.end - b.end);
  const blocks: Block[] = [];
  let cur: typeof spans = [];
  let start = 0, end = -1;
  const flush = (): void => {
    if (cur.length) blocks.push(new Block(host, start, end - start, cur.map((x) => x.m)));
    cur = [];
  };
  for (const sp of spans) {
    if (cur.length && sp.start < end) {
      cur.push(sp);
      end = Math.max(end, sp.end);
    } else {
      flush();
      cur = [sp];
      start = sp.start;
      end = sp.end;
    }
  }
  flush();
  return blocks;
}
