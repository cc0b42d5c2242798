// GET: read a PV. INIT (the server answers with the type), one GET, then DESTROY_REQUEST.
import type { PVStructure } from '../../pvdata/index.ts';
import type { PvaMessage } from '../messages.ts';
import { Cmd, SUB_INIT } from '../protocol.ts';
import { statusText, type ClientConnection, type OpHandler } from './connection.ts';
import type { Call } from './operation.ts';

class GetOp implements OpHandler {
  readonly types: OpHandler['types'] = {};

  constructor(
    private readonly conn: ClientConnection,
    private readonly call: Call<PVStructure>,
  ) {}

  onMessage(m: PvaMessage): void {
    if (m.type !== 'opResponse') return;
    const { conn, call } = this;
    if (m.status && m.status.type > 1) {
      conn.destroyRequest(call.sid, call.ioid);
      return call.fail(statusText(m.status));
    }
    if (m.subcmd & SUB_INIT) {
      if (!m.fieldType) return call.fail('server sent no type');
      this.types.get = m.fieldType;
      conn.opRequest({ command: Cmd.GET, sid: call.sid, ioid: call.ioid, subcmd: 0 });
    } else {
      conn.destroyRequest(call.sid, call.ioid);
      if (!m.value) return call.fail('reply without a value');
      call.ok(m.value);
    }
  }

  onClosed(reason: string): void {
    this.call.fail(reason);
  }
}

/** Starts a GET of `call`'s channel: the value comes with the fields the request selects marked changed. */
export function startGet(conn: ClientConnection, call: Call<PVStructure>, pvRequest: PVStructure): void {
  conn.register(call.ioid, new GetOp(conn, call));
  conn.opRequest({ command: Cmd.GET, sid: call.sid, ioid: call.ioid, subcmd: SUB_INIT, pvRequest });
}
