// The monitor fan-out budget: how much monitor sending one turn of the event loop may do, and the
// connections whose held-back updates wait for the next turn.
//
// Monitor updates normally go out at once, in the microtask after the post. Under overload (more
// updates offered than the process can send) that would let fan-out fill whole turns of the event
// loop, and a get, put or RPC waiting on a socket would wait behind it. So every update sent counts
// against a budget (and every subscription marked, at a quarter), and the time the turn's fan-out
// has taken is looked at as it goes (1 ms by default). Once either is spent, a PV's posts
// only merge into the PV's pending changes (squashed: memory stays bounded) and the PV queues here;
// a subscription that cannot send marks the changes pending (squashed again) and its connection
// queues here. The budget is renewed in the check phase (setImmediate), after the poll phase has
// read and answered requests; the queued connections then send round-robin, a quota each, then the
// queued PVs go out to their subscribers, until the budget is spent again; whatever remains waits
// for the next turn. So each turn serves requests first and then does a bounded amount of fan-out,
// and no connection or PV waits for another to be served in full.
import type { SharedPV } from './shared-pv.ts';

/** What the budget asks of a connection with held-back updates. */
export interface FanoutSender {
  /**
   * Sends held-back updates, at most `quota`, while the client takes them and the budget lasts.
   * True when some could still go (quota or budget ran out); false when none are left or the
   * client is congested (its drain brings it back).
   */
  sendQueued(quota: number): boolean;
}

/** Held-back updates one connection sends before the next connection's turn. */
const QUOTA = 64;

/** A PV whose posts wait for a turn (SharedPV). */
export interface DeferredFlush {
  /** Sends the squashed pending changes to the subscribers now. */
  flushDeferred(): void;
}

/** Work units between two looks at the clock. */
const CLOCK_EVERY = 128;

export class FanoutBudget {
  /** Work charged since the turn began: one per update, plus one per 8 KiB copied. */
  private used = 0;
  /** When the first work of this turn was charged (-1: none yet), and when to look at the clock next. */
  private startedAt = -1;
  private clockAt = CLOCK_EVERY;
  private timeUp = false;
  private turnQueued = false;
  private readonly waiting = new Set<FanoutSender>();
  private readonly pvs = new Set<DeferredFlush>();
  /** PVs holding encodings for the turn under way (released when it ends). */
  private readonly holding: SharedPV[] = [];
  private inTurn = false;

  /**
   * @param limit work per turn (updates sent, plus one per 8 KiB copied, plus a quarter per
   *   subscription marked).
   * @param limitMs time per turn: whichever limit is reached first ends the turn's fan-out. Time
   *   is what a waiting request feels; a count alone would mean shorter turns (and more of them,
   *   each with its socket writes) the cheaper an update gets.
   */
  constructor(
    public limit = 8192,
    public limitMs = 1,
  ) {}

  /** True once this turn's fan-out is done: further updates wait for the next turn. */
  get spent(): boolean {
    return this.timeUp || this.used >= this.limit;
  }

  /** Looks at the clock every CLOCK_EVERY units of work. */
  private clock(): void {
    if (this.startedAt < 0) this.startedAt = performance.now();
    else if (this.used >= this.clockAt) {
      this.clockAt = this.used + CLOCK_EVERY;
      if (performance.now() - this.startedAt >= this.limitMs) this.timeUp = true;
    }
  }

  /** True while the queued connections are being served (encodings may be shared). */
  get serving(): boolean {
    return this.inTurn;
  }

  /** Counts an update sent now, with the bytes copied for it. */
  charge(bytes: number): void {
    this.used += 1 + (bytes >>> 13);
    this.clock();
    this.queueTurn();
  }

  /** Counts a subscription marked with changes to send later. */
  chargeMark(): void {
    this.used += 0.25;
    this.clock();
    this.queueTurn();
  }

  /** A PV's changes wait for the next turn (its posts squash into them meanwhile). */
  deferFlush(pv: DeferredFlush): void {
    this.pvs.add(pv);
    this.queueTurn();
  }

  /** A connection holds back updates it could send: serve it in the next turn. */
  wake(conn: FanoutSender): void {
    if (this.inTurn && this.waiting.has(conn)) return;
    this.waiting.add(conn);
    this.queueTurn();
  }

  /** A PV keeps an encoding for this turn; it is told to drop it when the turn ends. */
  hold(pv: SharedPV): void {
    this.holding.push(pv);
  }

  private queueTurn(): void {
    if (this.turnQueued) return;
    this.turnQueued = true;
    setImmediate(this.turn);
  }

  private readonly turn = (): void => {
    this.turnQueued = false;
    this.used = 0;
    this.startedAt = -1;
    this.clockAt = CLOCK_EVERY;
    this.timeUp = false;
    this.inTurn = true;
    try {
      while (!this.spent && (this.waiting.size || this.pvs.size)) {
        // held-back updates first (the oldest changes); a Set visits entries re-added while it is
        // iterated: that is the round robin
        for (const c of this.waiting) {
          if (this.spent) break;
          this.waiting.delete(c);
          if (c.sendQueued(QUOTA)) this.waiting.add(c);
        }
        for (const pv of this.pvs) {
          if (this.spent) break;
          this.pvs.delete(pv);
          pv.flushDeferred();
        }
      }
    } finally {
      this.inTurn = false;
      for (const pv of this.holding) pv.dropEncodings();
      this.holding.length = 0;
    }
    if (this.waiting.size || this.pvs.size) this.queueTurn();
  };
}

/** The budget every connection of this process shares unless its server is given another. */
export const processFanout = new FanoutBudget();
