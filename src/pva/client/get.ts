// GET: read a PV. The first get with a pvRequest on a channel sends INIT (the server answers with
// the type), then the GET; the operation is then kept on the channel (reuse.ts), and the next get
// with the same request there sends only the GET: one round trip.
import type { PVStructure } from '../../pvdata/index.ts';
import type { PvaMessage } from '../messages.ts';
import { Cmd, SUB_INIT } from '../protocol.ts';
import { statusText, type ClientConnection } from './connection.ts';
import type { Call } from './operation.ts';
import { KeptOp } from './reuse.ts';

class GetOp extends KeptOp<PVStructure> {
  readonly kind = 'get';

  /** Initializes it on the server for `call` (the GET follows the INIT reply). */
  init(call: Call<PVStructure>, pvRequest: PVStructure): void {
    this.sendInit(call, Cmd.GET, pvRequest);
  }

  /** Runs `call` on it again: the GET alone. */
  execute(call: Call<PVStructure>): void {
    this.takeFor(call);
    call.inTurn(this.sendGet);
  }

  /** The GET (in its call's turn: see Call.inTurn). */
  private readonly sendGet = (): void => {
    this.conn.opRequest({ command: Cmd.GET, sid: this.sid, ioid: this.ioid, subcmd: 0 });
  };

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
      this.release();
      call.ok(m.value);
    }
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
