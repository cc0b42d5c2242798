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
  /** May share bits with other members that allow it (Rogue's overlapEn). */
  readonly overlapEn?: boolean;
  /** Extra attempts for a failed transaction (Rogue's retryCount); the block takes the largest. */
  readonly retryCount?: number;
  /** Constructed with an explicit initial value, which the first write of the block carries. */
  readonly hasDefault?: boolean;
  /** The block has fresh bits from hardware: decode and notify. `now` is the read time (ms). */
  _blockRead(now: number): void;
  _setBlock(b: Block | undefined): void;
  /** A read of the block failed, or (undefined) the failure ended: members that show hardware errors record it until a good read. */
  _setError?(e: Error | undefined): void;
}

/** Where a block lives: the device resolves its address and memory when a transaction runs. */
export interface BlockHost {
  readonly root?: { _beginUpdate(): void; _endUpdate(): void; _reportWarning?(msg: string, name: string): void } | undefined;
  readonly address: number;
  readonly memory: Memory;
  readonly timeout: number;
  /** False while the device (or a parent) is disabled: transactions are skipped. */
  readonly enabled?: boolean;
  readonly path?: string;
}

/** A hardware access of a block failed (the transaction's error, a verify mismatch, a timeout). */
export class BlockError extends Error {
  override name = 'BlockError';
}

/**
 * Consecutive registers read and written in one memory transaction: the shadow copy of the bytes
 * that the variables and commands placed in it share.
 */
export class Block {
  readonly shadow: Uint8Array;
  readonly view: DataView;
  private readonly woMask: Uint8Array | undefined; // bits reads must not overwrite
  private readonly verifyMask: Uint8Array | undefined;
  private readonly readable: BlockMember[];
  /** Attempts beyond the first for a failed transaction. */
  readonly retryCount: number;
  /**
   * Holds values not yet written to hardware (Rogue's stale flag): set when a member is staged
   * without a write, cleared when a write starts. A block starts stale when a writable member was
   * given an initial `value` (as Rogue's defaults), so initWrite or the first WriteAll / config load
   * writes it; registers nobody gave a value are not written with zeros.
   */
  stale: boolean;
  // Transactions on one block run one at a time (PyRogue's block lock): a write's verify must
  // not see a later write, and a read must not land between a write and its verify.
  // Uncontended, taking the lock costs no promise.
  private _busy = false;
  private readonly _waiters: (() => void)[] = [];
  // Bits a member encoded for a write that has not copied the shadow yet: a read completing
  // meanwhile (its transaction started first) must not overwrite them.
  private _staged: Uint8Array | undefined;
  private _masks: Map<BlockMember, Uint8Array> | undefined;

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
    const exclusive = new Uint8Array(size);
    const shared = new Uint8Array(size);
    const noVerify = new Uint8Array(size);
    let retry = 0;
    for (const m of members) {
      m.field.bind(m.offset - offset);
      m._setBlock(this);
      // bits claimed twice are an error unless both claims allow overlap (Rogue's overlapEn)
      const mine = new Uint8Array(size);
      m.field.markBits(mine);
      const where = m.overlapEn ? shared : exclusive;
      for (let i = 0; i < size; i++) {
        if (mine[i] & (exclusive[i] | (m.overlapEn ? 0 : shared[i]))) {
          throw new BlockError(`${host.path ?? 'device'}: bits of ${nameOf(m)} overlap another variable at byte ${offset + i} (set overlapEn on both to share bits)`);
        }
        where[i] |= mine[i];
      }
      if (m.mode === 'WO') m.field.markBits((wo ??= new Uint8Array(size)));
      if (m.verifyEn && m.mode === 'RW') m.field.markBits((vf ??= new Uint8Array(size)));
      else m.field.markBits(noVerify);
      if ((m.retryCount ?? 0) > retry) retry = m.retryCount!;
    }
    // a bit shared with a variable that must not be verified is not verified (as Rogue)
    if (vf) for (let i = 0; i < size; i++) vf[i] &= ~noVerify[i];
    this.woMask = wo;
    this.verifyMask = vf;
    this.retryCount = retry;
    this.stale = members.some((m) => m.hasDefault && m.mode !== 'RO');
    this.readable = members.filter((m) => m.mode !== 'WO');
  }

  /** Absolute byte address. */
  readonly address: number;
  private readonly memory: Memory;
  private readonly timeout: number;

  private tran(type: Transaction['type'], address: number, data: Uint8Array): Transaction {
    return { type, address, size: data.length, data, timeout: this.timeout };
  }

  /** A memory may report failure by rejecting or (Rogue style) by only setting `error`. */
  private static check(t: Transaction): void {
    if (t.error !== undefined) throw new MemoryError(t.error, t.address, t.size, t.type);
  }

  /**
   * One transaction over the whole block, or, when the block is larger than the memory's
   * maxAccess, several (each at most maxAccess bytes, aligned to minAccess), issued together.
   */
  private async xfer(type: Transaction['type'], data: Uint8Array): Promise<void> {
    const mem = this.memory;
    const max = mem.maxAccess;
    if (this.size <= max) {
      const t = this.tran(type, this.address, data);
      await mem.doTransaction(t);
      Block.check(t);
      return;
    }
    const step = Math.max(mem.minAccess, Math.floor(max / mem.minAccess) * mem.minAccess);
    const ts: Transaction[] = [];
    for (let off = 0; off < this.size; off += step) ts.push(this.tran(type, this.address + off, data.subarray(off, Math.min(this.size, off + step))));
    const rs = await Promise.allSettled(ts.map((t) => mem.doTransaction(t)));
    for (const r of rs) if (r.status === 'rejected') throw r.reason;
    for (const t of ts) Block.check(t);
  }

  /** Run `op`, again up to retryCount times while it fails. */
  private async attempt(what: string, op: () => Promise<void>): Promise<void> {
    for (let n = 0; ; n++) {
      try {
        await op();
        return;
      } catch (e) {
        if (n >= this.retryCount) throw e;
        this.host.root?._reportWarning?.(`${what} at 0x${this.address.toString(16)}: try ${n + 1} of ${this.retryCount + 1} failed: ${(e as Error).message}`, this.host.path ?? 'block');
      }
    }
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

  /**
   * @internal `m` just encoded a value its caller is about to write: keep those bits over any
   * read that completes before the write copies the shadow.
   */
  _stage(m: BlockMember): void {
    if (!this._busy) return; // the write takes the lock at once: nothing can land in between
    let mask = (this._masks ??= new Map()).get(m);
    if (!mask) {
      mask = new Uint8Array(this.size);
      m.field.markBits(mask);
      this._masks.set(m, mask);
    }
    const st = (this._staged ??= new Uint8Array(this.size));
    for (let i = 0; i < mask.length; i++) st[i] |= mask[i];
  }

  /** False while the owning device is disabled: no transaction is issued. */
  get enabled(): boolean {
    return this.host.enabled !== false;
  }

  /** Read the block; on success merge into the shadow (keeping WO bits) and update members. Skipped while disabled. */
  async read(): Promise<void> {
    if (this.readable.length === 0 || !this.enabled) return;
    if (this._busy) await this._wait();
    else this._busy = true;
    try {
      const data = new Uint8Array(this.size);
      await this.attempt('read', () => this.xfer('read', data));
      const wo = this.woMask;
      const st = this._staged;
      if (wo || st) {
        for (let i = 0; i < data.length; i++) {
          const keep = (wo ? wo[i] : 0) | (st ? st[i] : 0);
          this.shadow[i] = (this.shadow[i] & keep) | (data[i] & ~keep);
        }
      } else this.shadow.set(data);
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

  /**
   * Write the shadow as it is when the transaction starts (a copy: later stages can't leak in),
   * then verify. Clears `stale`; while the device is disabled nothing is written (as Rogue).
   */
  async write(verify = true, type: 'write' | 'post' = 'write'): Promise<void> {
    if (this._busy) await this._wait();
    else this._busy = true;
    try {
      this.stale = false;
      this._staged = undefined; // what was staged goes out with this write
      if (!this.enabled) return;
      const data = this.shadow.slice();
      const vm = this.verifyMask;
      await this.attempt(type, async () => {
        await this.xfer(type, data);
        if (verify && vm && type === 'write') {
          const got = new Uint8Array(this.size);
          await this.xfer('verify', got);
          for (let i = 0; i < data.length; i++) {
            if ((got[i] ^ data[i]) & vm[i]) {
              throw new MemoryError(`verify error at byte ${i}: wrote 0x${data[i].toString(16)}, read 0x${got[i].toString(16)}`, this.address, this.size, 'verify');
            }
          }
        }
      });
    } finally {
      this._release();
    }
  }
}

function nameOf(m: BlockMember): string {
  return (m as { path?: string }).path ?? (m as { name?: string }).name ?? 'a member';
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
