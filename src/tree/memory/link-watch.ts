// Memories of a running tree: started with the Root and stopped with it, and, for memories
// reached over a link (SrpV3Memory), the link's state shown on the variables behind it: while
// the link is down every remote variable of an enabled device carries a LinkDownError (served as
// an INVALID alarm, as a failed poll is); when it is back their blocks are read again (as
// ReadAll would), which clears the error with fresh values.

import type { Block } from '../block.ts';
import { type Memory, LinkDownError } from './interface.ts';

/** What the watcher needs of a Root (kept structural: no import cycle with root.ts). */
export interface LinkWatchHost {
  readonly memory: Memory;
  allBlocks(recurse?: boolean): Block[];
  readonly deviceList: readonly { readonly memBase: Memory | undefined }[];
  updateGroup<R>(fn: () => Promise<R>): Promise<R>;
  _reportError(e: Error, context: string): void;
}

/** A readable name for a memory: its own toString, the memory behind a Hub, else its class. */
export function describeMemory(m: Memory): string {
  const s = String(m);
  if (s !== '[object Object]') return s;
  const base = (m as { memBase?: Memory }).memBase;
  return base ? describeMemory(base) : m.constructor?.name ?? 'memory';
}

/**
 * The memories of a running Root: started and stopped with it; while a link (SrpV3Memory) is down
 * the remote variables behind it carry a LinkDownError, and their blocks are read again when it is
 * back.
 */
export class MemoryLinks {
  private readonly memories: Memory[] = [];
  private readonly offs: (() => void)[] = [];
  private readonly marked = new Map<Memory, Set<Block>>();
  private stopped = false;

  constructor(private readonly host: LinkWatchHost) {}

  /** Every distinct memory the tree uses (the root's, devices' memBase, and those blocks reach). */
  private collect(): Memory[] {
    const set = new Set<Memory>([this.host.memory]);
    for (const d of this.host.deviceList) if (d.memBase) set.add(d.memBase);
    for (const b of this.host.allBlocks(true)) set.add(b.host.memory);
    return [...set];
  }

  /** Start the memories, listen to their links, and mark variables behind a link that is not up yet. */
  async start(): Promise<void> {
    for (const m of this.collect()) {
      await m.start?.();
      this.memories.push(m);
      if (m.onLinkChange) {
        this.offs.push(m.onLinkChange((up, detail) => (up ? this.up(m) : this.down(m, detail))));
        if (m.linkUp === false) this.down(m, 'not connected yet');
      }
    }
  }

  private blocksOf(m: Memory): Block[] {
    return this.host.allBlocks(true).filter((b) => b.host.memory === m);
  }

  private down(m: Memory, detail: string): void {
    if (this.stopped) return;
    const err = new LinkDownError(describeMemory(m), detail);
    let set = this.marked.get(m);
    if (!set) this.marked.set(m, (set = new Set()));
    for (const b of this.blocksOf(m)) {
      if (!b.enabled) continue;
      set.add(b);
      for (const mem of b.members) mem._setError?.(err);
    }
  }

  private up(m: Memory): void {
    const set = this.marked.get(m);
    this.marked.delete(m);
    if (!set || this.stopped) return;
    const blocks = [...set];
    for (const b of blocks) {
      // a block that cannot be read now (disabled since) just drops the link error
      if (!b.enabled || b.members.every((x) => x.mode === 'WO')) for (const x of b.members) x._setError?.(undefined);
    }
    const reads = blocks.filter((b) => b.enabled && b.members.some((x) => x.mode !== 'WO'));
    if (!reads.length) return;
    this.host
      .updateGroup(async () => {
        const rs = await Promise.allSettled(reads.map((b) => b.read()));
        rs.forEach((r, i) => {
          if (r.status === 'rejected') for (const x of reads[i].members) x._setError?.(r.reason as Error);
        });
        const bad = rs.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (bad) throw bad.reason;
      })
      .catch((e: Error) => this.host._reportError(e, `reading ${describeMemory(m)} after its link came back`));
  }

  /** Stop listening and stop the memories (in reverse order). */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const off of this.offs.splice(0)) off();
    let first: unknown;
    for (const m of this.memories.splice(0).reverse()) {
      try { await m.stop?.(); } catch (e) { first ??= e; }
    }
    if (first) throw first;
  }
}
