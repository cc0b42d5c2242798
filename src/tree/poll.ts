// Poll queue: variables with a pollInterval are read when due; variables due together that
// share a block cost one transaction. Uses the global setTimeout at call time so tests can
// fake it (node:test mock.timers), and keeps its own clock in ms advanced by the delays it
// scheduled, so fake timers need no fake Date.

import type { BaseVariable } from './variable.ts';
import type { Block } from './block.ts';
import { settleAll } from './device.ts';

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
    this.clock = this.target;
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
      await this.host.updateGroup(() =>
        settleAll([
          ...[...blocks].map((b) => b.read().catch((e: Error) => { this.blockFailed(b, e); throw e; })),
          ...others.map((v) => v.get({ read: true }).then(() => v._setError(undefined), (e: Error) => { v._setError(e); throw e; })),
        ]),
      );
    } catch (e) {
      this.host._reportError(e as Error, 'poll');
    } finally {
      this.busy = false;
      this.cycles++;
    }
    if (this.running) this.schedule();
  }

  private blockFailed(b: Block, e: Error): void {
    for (const m of b.members) m._setError?.(e);
  }
}
