// GET: read a PV. The first get with a pvRequest on a channel sends INIT (the server answers with
// the type), then the GET; the operation is then kept on the channel (reuse.ts), and the next get
// with the same request there sends only the GET: one round trip.
import type { PVStructure } from '../../pvdata/index.ts';
import type { PvaMessage } from '../messages.ts';
import { Cmd, SUB_INIT } from '../protocol.ts';
import { statusText, type ClientConnection, type OpHandler } from './connection.ts';
import type { Call } from './operation.ts';
import { retryStale, type IdleOp, type OpCache } from './reuse.ts';

class GetOp implements OpHandler, IdleOp {
  readonly kind = 'get';
  readonly types: OpHandler['types'] = {};
  /** The call using it; undefined while it is idle (a stray reply is then ignored). */
  private call: Call<PVStructure> | undefined;
  /** The call runs on it after an earlier call initialized it. */
  private reused = false;

  constructor(
    readonly conn: ClientConnection,
    private readonly cache: OpCache,
    readonly sid: number,
    readonly ioid: number,
    readonly request: string,
  ) {}

  /** Initializes it on the server for `call` (the GET follows the INIT reply). */
  init(call: Call<PVStructure>, pvRequest: PVStructure): void {
    this.call = call;
    this.conn.register(this.ioid, this);
    this.conn.opRequest({ command: Cmd.GET, sid: this.sid, ioid: this.ioid, subcmd: SUB_INIT, pvRequest });
  }

  /** Runs `call` on it again: the GET alone. */
  execute(call: Call<PVStructure>): void {
    this.call = call;
    this.reused = true;
    call.ioid = this.ioid;
    call.inTurn(this.sendGet);
  }

  /** The GET (in its call's turn: see Call.inTurn). */
  private readonly sendGet = (): void => {
    this.conn.opRequest({ command: Cmd.GET, sid: this.sid, ioid: this.ioid, subcmd: 0 });
  };

  destroy(): void {
    this.call = undefined;
    this.conn.destroyRequest(this.sid, this.ioid);
  }

  /**
   * It failed: it ends on the server. A reused one may be stale (the PV's type changed since its
   * INIT): the channel's other kept operations end too and the call runs once more on a fresh one.
   */
  private failed(call: Call<PVStructure>, message: string): void {
    const reused = this.reused;
    this.destroy();
    if (!retryStale(reused, this.cache, call)) call.fail(message);
  }

  onMessage(m: PvaMessage): void {
    const call = this.call;
    if (!call || m.type !== 'opResponse') return;
    if (m.status && m.status.type > 1) return this.failed(call, statusText(m.status));
    if (m.subcmd & SUB_INIT) {
      if (!m.fieldType) return this.failed(call, 'server sent no type');
      this.types.get = m.fieldType;
      call.inTurn(this.sendGet);
    } else {
      if (!m.value) return this.failed(call, 'reply without a value');
      this.call = undefined;
      this.reused = false;
      this.cache.keep(this);
      call.ok(m.value);
    }
  }

  onUndecodable(reason: string): void {
    if (this.call) this.failed(this.call, reason);
  }

  onClosed(reason: string): void {
    const call = this.call;
    this.call = undefined;
    call?.fail(reason);
  }
}

/**
 * Starts a GET of `call`'s channel: the value comes with the fields the request selects marked
 * changed. `request` is the pvRequest text: a GET kept on the channel for it is executed again.
 */
export function startGet(conn: ClientConnection, call: Call<PVStructure>, pvRequest: PVStructure, request: string): void {
  const cache = call.ch.idleOps;
  const kept = call.fresh ? undefined : cache.take('get', request, conn, call.sid);
  if (kept instanceof GetOp) return kept.execute(call);
  kept?.destroy();
  new GetOp(conn, cache, call.sid, call.ioid, request).init(call, pvRequest);
}
