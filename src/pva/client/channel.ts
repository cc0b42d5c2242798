// A channel as the client keeps it: where it is in being found and connected, the circuit it lives
// on, and who waits for it (operations) or follows it (monitors).
import type { Circuit } from './circuit.ts';
import type { MonitorImpl } from './monitor.ts';
import { OpCache } from './reuse.ts';

/** searching (UDP / name servers) → connecting (circuit, CREATE_CHANNEL) → connected; closed: forgotten. */
export type ChannelState = 'searching' | 'connecting' | 'connected' | 'closed';

/** An operation waiting for its channel to connect. */
export interface Waiter {
  /** The channel is connected: start. */
  resolve(): void;
  /** The channel cannot be had (refused by the server, client closed). */
  reject(e: Error): void;
}

/** A started call that has not sent its first execute yet (see Call.inTurn). */
export interface InLine {
  /** Its first execute once that is ready to go: run (and cleared) when its turn comes. */
  turn: (() => void) | undefined;
}

export class Channel {
  state: ChannelState = 'searching';
  circuit: Circuit | undefined;
  sid = -1;
  /** Search backoff: the current interval, and when the next search is due (ms). */
  searchDelay = 0;
  nextSearch = 0;
  readonly waiters = new Set<Waiter>();
  readonly subs = new Set<MonitorImpl>();
  /** Initialized GETs and PUTs kept for the next call with the same request (forgotten on disconnect). */
  readonly idleOps = new OpCache();
  /**
   * Started calls that have not sent their first execute, in the order they started: the executes
   * leave in that order, so a get on a kept operation does not overtake a put still waiting for
   * its INIT reply (the server applies a channel's requests in the order they arrive).
   */
  readonly line: InLine[] = [];
  /** Error from the last create attempt (reported to waiters). */
  lastError: string | undefined;

  constructor(
    readonly name: string,
    readonly cid: number,
    /** 'host:port' when talked to directly, without searching. */
    readonly server: string | undefined,
  ) {}

  get peer(): string {
    return this.circuit ? `${this.circuit.host}:${this.circuit.port}` : '';
  }
}
