// A Hub adds an address offset in front of another memory (Rogue's memory Hub).

import type { Memory, Transaction } from './interface.ts';

/** Options of a {@link Hub}. */
export interface HubOptions {
  offset?: number;
  memBase: Memory;
}

/**
 * Memory at an offset into another memory (Rogue's memory Hub): passes transactions on with the
 * offset added.
 */
export class Hub implements Memory {
  readonly offset: number;
  readonly memBase: Memory;

  constructor(opts: HubOptions) {
    this.offset = opts.offset ?? 0;
    this.memBase = opts.memBase;
  }

  get minAccess(): number { return this.memBase.minAccess; }
  get maxAccess(): number { return this.memBase.maxAccess; }
  // a Hub is transparent to the lifecycle and link state of the memory behind it
  get linkUp(): boolean | undefined { return this.memBase.linkUp; }
  start(): void | Promise<void> { return this.memBase.start?.(); }
  stop(): void | Promise<void> { return this.memBase.stop?.(); }
  onLinkChange(listener: (up: boolean, detail: string) => void): () => void {
    return this.memBase.onLinkChange?.(listener) ?? (() => {});
  }

  async doTransaction(t: Transaction): Promise<void> {
    const down: Transaction = { type: t.type, address: t.address + this.offset, size: t.size, data: t.data, timeout: t.timeout };
    try {
      await this.memBase.doTransaction(down);
    } finally {
      if (down.error !== undefined) t.error = down.error;
    }
  }
}
