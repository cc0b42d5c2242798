// RPC: call a PV with an argument (an NTURI made of query fields, or any structure). INIT, one RPC
// with the argument, then DESTROY_REQUEST.
import { PVStructure, Structure, scalar, type AnyValue, type Member } from '../../pvdata/index.ts';
import type { PvaMessage } from '../messages.ts';
import { Cmd, SUB_INIT } from '../protocol.ts';
import { statusText, type ClientConnection, type OpHandler } from './connection.ts';
import type { Call } from './operation.ts';

class RpcOp implements OpHandler {
  readonly types: OpHandler['types'] = {};

  constructor(
    private readonly conn: ClientConnection,
    private readonly call: Call<PVStructure>,
    private readonly arg: PVStructure,
  ) {}

  onMessage(m: PvaMessage): void {
    if (m.type !== 'opResponse') return;
    const { conn, call } = this;
    if (m.status && m.status.type > 1) {
      conn.destroyRequest(call.sid, call.ioid);
      return call.fail(statusText(m.status));
    }
    if (m.subcmd & SUB_INIT) {
      conn.opRequest({ command: Cmd.RPC, sid: call.sid, ioid: call.ioid, subcmd: 0, argument: { type: this.arg.type, value: this.arg } });
    } else {
      conn.destroyRequest(call.sid, call.ioid);
      call.ok(resultStructure(m.result ?? null));
    }
  }

  onClosed(reason: string): void {
    this.call.fail(reason);
  }
}

/** Starts an RPC of `call`'s channel with `arg`; the result is always a structure (see resultStructure). */
export function startRpc(conn: ClientConnection, call: Call<PVStructure>, pvRequest: PVStructure, arg: PVStructure): void {
  conn.register(call.ioid, new RpcOp(conn, call, arg));
  conn.opRequest({ command: Cmd.RPC, sid: call.sid, ioid: call.ioid, subcmd: SUB_INIT, pvRequest });
}

/** An NTURI for an RPC call, query fields typed by their JS values. */
export function ntUri(path: string, query: Record<string, unknown>): PVStructure {
  const q: Member[] = Object.entries(query).map(([k, v]) => ({
    name: k,
    type: scalar(
      typeof v === 'number' ? 'double' : typeof v === 'boolean' ? 'boolean' : typeof v === 'bigint' ? 'long' : 'string',
    ),
  }));
  const t = new Structure('epics:nt/NTURI:1.0', [
    { name: 'scheme', type: scalar('string') },
    { name: 'authority', type: scalar('string') },
    { name: 'path', type: scalar('string') },
    { name: 'query', type: new Structure('', q) },
  ]);
  const v = new PVStructure(t, { scheme: '', authority: '', path });
  for (const [k, x] of Object.entries(query)) v.set(`query.${k}`, typeof x === 'object' && x !== null ? String(x) : x);
  v.markAll();
  return v;
}

/** An RPC result as a structure: a structure as it is, anything else as the `value` of one, nothing as an empty one. */
function resultStructure(r: AnyValue | null): PVStructure {
  if (!r) return new PVStructure(new Structure('', []));
  if (r.value instanceof PVStructure) return r.value;
  const t = new Structure('', [{ name: 'value', type: r.type }]);
  const v = new PVStructure(t);
  v.setAt(1, r.value);
  return v;
}
