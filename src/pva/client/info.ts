// Introspection: a PV's type (GET_FIELD, as pvxinfo), and the channel list of a server (its
// built-in `server` PV, RPC op=channels, as pvxlist).
import type { FieldDesc, PVStructure } from '../../pvdata/index.ts';
import type { PvaMessage } from '../messages.ts';
import { statusText, type ClientConnection, type OpHandler } from './connection.ts';
import { PvaClientError } from './errors.ts';
import type { Call } from './operation.ts';

class InfoOp implements OpHandler {
  readonly types: OpHandler['types'] = {};

  constructor(
    private readonly conn: ClientConnection,
    private readonly call: Call<FieldDesc>,
  ) {}

  onMessage(m: PvaMessage): void {
    if (m.type !== 'getFieldResponse') return;
    const call = this.call;
    this.conn.unregister(call.ioid);
    if (m.status.type > 1) return call.fail(statusText(m.status));
    if (!m.fieldType) return call.fail('server sent no type');
    call.ok(m.fieldType);
  }

  onClosed(reason: string): void {
    this.call.fail(reason);
  }
}

/** Starts a GET_FIELD of `call`'s channel (one sub-field, or '' for the whole type). */
export function startInfo(conn: ClientConnection, call: Call<FieldDesc>, subField: string): void {
  // GET_FIELD has no DESTROY_REQUEST: a timeout only forgets it
  call.destroyOnTimeout = false;
  conn.register(call.ioid, new InfoOp(conn, call));
  conn.getField(call.sid, call.ioid, subField);
}

/** The channel names in a reply to the `server` PV's op=channels. */
export function channelNames(r: PVStructure): string[] {
  if (r.has('value')) {
    const v = r.get('value');
    if (Array.isArray(v)) return v.map(String);
  }
  throw new PvaClientError(`server: unexpected reply to op=channels`, 'server');
}
