// One Node timer kept at a sans-I/O engine's next deadline: the shell every SRP layer's socket glue needs.

/** What a sans-I/O engine with deadlines offers its shell. */
export interface DeadlineEngine {
  /** The next time (performance.now() ms) the engine wants `tick`, or Infinity. */
  nextDeadline(): number;
  tick(now: number): void;
}

/** Keeps one timer at `engine.nextDeadline()`; call `arm()` after anything that may move it. */
export class DeadlineTimer {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private at = Infinity;
  private stopped = false;

  constructor(private readonly engine: DeadlineEngine) {}

  /** Sets the timer to the engine's next deadline (keeps it when it already fires in time). */
  arm(): void {
    if (this.stopped) return;
    const at = this.engine.nextDeadline();
    if (this.timer !== undefined && at >= this.at) return;
    this.clear();
    if (at === Infinity) return;
    this.at = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.at = Infinity;
      this.engine.tick(performance.now());
      this.arm();
    }, Math.max(0, Math.ceil(at - performance.now())));
  }

  /** Cancels the timer; `arm()` may set it again. */
  clear(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.at = Infinity;
  }

  /** Cancels the timer for good. */
  stop(): void {
    this.stopped = true;
    this.clear();
  }
}
