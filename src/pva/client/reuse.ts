// Initialized GET and PUT operations kept open between calls, so that the next get or put with the
// same pvRequest on the same channel is one round trip (the execute alone) instead of two (INIT,
// then the execute), as pvAccessCPP's ChannelGet/ChannelPut are executed again.
import type { PVStructure } from '../../pvdata/index.ts';
import type { PvaMessage } from '../messages.ts';
import { SUB_INIT } from '../protocol.ts';
import type { ClientConnection, OpHandler } from './connection.ts';
import type { Call } from './operation.ts';

/** An initialized GET or PUT operation that no call is using, open on the server. */
export interface IdleOp {
  readonly kind: 'get' | 'put';
  /** The pvRequest text it was initialized with. */
  readonly request: string;
  readonly conn: ClientConnection;
  readonly sid: number;
  readonly ioid: number;
  /** Ends it on the server (DESTROY_REQUEST) and forgets it locally. */
  destroy(): void;
}

/** How many initialized operations one channel keeps idle at most (all kinds and requests). */
export const MAX_IDLE_OPS = 4;

/**
 * A channel's idle operations, least recently used first. An operation is taken out while a call
 * uses it (so one call at a time uses it) and put back when that call succeeded; a call that finds
 * none for its kind and request initializes a fresh one. At most {@link MAX_IDLE_OPS} stay open on
 * the server: putting back one more ends the least recently used.
 */
export class OpCache {
  private readonly idle: IdleOp[] = [];

  /** Idle operations kept now. */
  get size(): number {
    return this.idle.length;
  }

  /** An idle operation of this kind and request on this channel instance (conn, sid), taken out; or undefined. */
  take(kind: IdleOp['kind'], request: string, conn: ClientConnection, sid: number): IdleOp | undefined {
    const idle = this.idle;
    for (let i = idle.length - 1; i >= 0; i--) {
      const op = idle[i];
      if (op.kind !== kind || op.request !== request) continue;
      idle.splice(i, 1);
      // kept from an earlier circuit or channel instance (normally forgotten on disconnect): unusable
      if (op.conn !== conn || op.sid !== sid || conn.state !== 'ready') continue;
      return op;
    }
    return undefined;
  }

  /** Puts an operation back after a successful call; the least recently used one ends when there are too many. */
  keep(op: IdleOp): void {
    if (op.conn.state !== 'ready') return;
    this.idle.push(op);
    if (this.idle.length > MAX_IDLE_OPS) this.idle.shift()!.destroy();
  }

  /** The circuit or channel is gone (or the client closing): forget every idle operation without a word to the server. */
  forget(): void {
    this.idle.length = 0;
  }

  /** Ends every idle operation on the server (the channel is being closed while its circuit stays up). */
  destroyAll(): void {
    const ops = this.idle.splice(0);
    for (const op of ops) op.destroy();
  }
}

/**
 * What a GET and a PUT kept between calls have in common: one call at a time uses it, it is
 * initialized once (INIT) and executed again by later calls, put back in its channel's cache when a
 * call succeeds, and ended on the server when one fails.
 */
export abstract class KeptOp<T> implements OpHandler, IdleOp {
  abstract readonly kind: IdleOp['kind'];
  readonly types: OpHandler['types'] = {};
  /** The call using it; undefined while it is idle (a stray reply is then ignored). */
  protected call: Call<T> | undefined;
  /** The call runs on it after an earlier call initialized it. */
  protected reused = false;

  constructor(
    readonly conn: ClientConnection,
    protected readonly cache: OpCache,
    readonly sid: number,
    readonly ioid: number,
    readonly request: string,
  ) {}

  /** Sends the INIT of `command` for `call` (its execute follows the INIT reply). */
  protected sendInit(call: Call<T>, command: number, pvRequest: PVStructure): void {
    this.call = call;
    this.conn.register(this.ioid, this);
    this.conn.opRequest({ command, sid: this.sid, ioid: this.ioid, subcmd: SUB_INIT, pvRequest });
  }

  /** `call` runs on it again, without an INIT. */
  protected takeFor(call: Call<T>): void {
    this.call = call;
    this.reused = true;
    call.ioid = this.ioid;
  }

  destroy(): void {
    this.call = undefined;
    this.conn.destroyRequest(this.sid, this.ioid);
  }

  /** The call is done with it: kept on the channel for the next call with the same request. */
  protected release(): void {
    this.call = undefined;
    this.reused = false;
    this.cache.keep(this);
  }

  /**
   * It failed: it ends on the server. A reused one may be stale (the PV's type changed since its
   * INIT): the channel's other kept operations end too and the call runs once more on a fresh one.
   */
  protected failed(call: Call<T>, message: string): void {
    const reused = this.reused;
    this.destroy();
    if (!reused) return call.fail(message);
    this.cache.destroyAll();
    if (!call.retry()) call.fail(message);
  }

  abstract onMessage(m: PvaMessage): void;

  onUndecodable(reason: string): void {
    if (this.call) this.failed(this.call, reason);
  }

  onClosed(reason: string): void {
    const call = this.call;
    this.call = undefined;
    call?.fail(reason);
  }
}
