// Poll queue: variables with a pollInterval are read when due; variables due together that
// share a block cost one transaction. Uses the global setTimeout at call time so tests can
// fake it (node:test mock.timers), and keeps its own clock in ms advanced by the delays it
// scheduled and by the time each cycle took (Date.now(), which tests may fake too), so as in
// PyRogue the next read is due an interval after a cycle started, not after it ended.

import { BaseVariable } from './variable.ts';
import type { Block } from './block.ts';

/**
 * Most reads a poll cycle has in flight at once. The rest start as those finish, within the same
 * update group: a memory still sees a full pipeline, while a cycle over 100k blocks no longer
 * holds 100k pending reads (their promises and buffers then outlive the young generation and
 * the collector, not the reads, takes most of the cycle).
 */
export const POLL_READS_IN_FLIGHT = 1024;

/**
 * Runs `run` on every item, at most `limit` at once; once all settled, throws like settleAll:
 * the first failure in item order, or an AggregateError of all of them.
 */
async function settleEach<T>(items: readonly T[], run: (x: T) => Promise<unknown>, limit: number): Promise<void> {
  const bad: { i: number; e: unknown }[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      try {
        await run(items[i]);
      } catch (e) {
        bad.push({ i, e });
      }
    }
  };
  const workers: Promise<void>[] = [];
  for (let w = Math.min(limit, items.length); w > 0; w--) workers.push(worker());
  await Promise.all(workers);
  if (bad.length === 0) return;
  bad.sort((a, b) => a.i - b.i);
  if (bad.length === 1) throw bad[0].e;
  const first = bad[0].e as { message?: unknown } | undefined;
  throw new AggregateError(bad.map((b) => b.e), `${bad.length} transactions failed: ${String(first?.message ?? first)}`);
}

interface Bucket { intervalMs: number; due: number; vars: Set<BaseVariable<unknown>> }

export interface PollHost {
  _reportError(e: Error, context: string): void;
  updateGroup<R>(fn: () => Promise<R>): Promise<R>;
}

export class PollQueue {
  private readonly buckets = new Map<number, Bucket>();
  private readonly where = new Map<BaseVariable<unknown>, Bucket>();
  private clock = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private target = 0;
  private running = false;
  private busy = false;
  /** Completed poll cycles (for tests and diagnostics). */
  cycles = 0;

  constructor(private readonly host: PollHost) {}

  /** Add, move or (interval 0) remove a variable. */
  update(v: BaseVariable<unknown>): void {
    const old = this.where.get(v);
    if (old) {
      old.vars.delete(v);
      if (old.vars.size === 0) this.buckets.delete(old.intervalMs);
      this.where.delete(v);
    }
    const ms = Math.round(v.pollInterval * 1000);
    if (ms > 0) {
      let b = this.buckets.get(ms);
      if (!b) this.buckets.set(ms, (b = { intervalMs: ms, due: this.clock + ms, vars: new Set() }));
      b.vars.add(v);
      this.where.set(v, b);
    }
    if (this.running && !this.busy) this.schedule();
  }

  get size(): number { return this.where.size; }

  start(): void {
    if (this.running) return;
    this.running = true;
    for (const b of this.buckets.values()) b.due = this.clock + b.intervalMs;
    this.schedule();
  }

  stop(): void {
    this.running = false;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.running || this.buckets.size === 0) return;
    let next = Infinity;
    for (const b of this.buckets.values()) if (b.due < next) next = b.due;
    this.target = next;
    this.timer = setTimeout(() => { void this.fire(); }, Math.max(0, next - this.clock));
  }

  private async fire(): Promise<void> {
    this.timer = undefined;
    this.clock = Math.max(this.clock, this.target);
    const began = Date.now();
    const blocks = new Set<Block>();
    const others: BaseVariable<unknown>[] = [];
    for (const b of this.buckets.values()) {
      if (b.due > this.clock) continue;
      b.due = this.clock + b.intervalMs;
      for (const v of b.vars) {
        const blk = v._readBlock();
        if (blk) blocks.add(blk);
        else others.push(v);
      }
    }
    this.busy = true;
    try {
      const items: (Block | BaseVariable<unknown>)[] = [...blocks, ...others];
      await this.host.updateGroup(() => settleEach(items, readOne, POLL_READS_IN_FLIGHT));
    } catch (e) {
      this.host._reportError(e as Error, 'poll');
    } finally {
      this.busy = false;
      this.cycles++;
      // the cycle's own time counts: a 1 s interval polls once a second, however long a cycle takes
      const spent = Date.now() - began;
      if (spent > 0) this.clock += spent;
    }
    if (this.running) this.schedule();
  }

}

/** One poll read: a block (its members hear a failure), or a variable read on its own. */
function readOne(x: Block | BaseVariable<unknown>): Promise<void> {
  if (x instanceof BaseVariable) {
    return x.get({ read: true }).then(
      () => x._setError(undefined),
      (e: Error) => {
        x._setError(e);
        throw e;
      },
    );
  }
  return x.read().catch((e: Error) => {
    for (const m of x.members) m._setError?.(e);
    throw e;
  });
}
