// PUT_GET: write a PV and read it back in one operation, so the value read is the one this put left
// (not one a later writer made, as a separate GET could see). The exchange on an open channel:
//   INIT (pvRequest 'putField(...)getField(...)')  → put type and get type
//   [GET_GET 0x40 → the value before the put]      (readBefore)
//   [GET_PUT 0x80 → the put structure's current value] (only to turn an enum choice name into an index)
//   PUT_GET (the put value)                         → the get structure after the put
// Not every server implements it: pvxs (softIocPVX, QSRV2) ignores PUT_GET requests altogether, so
// the operation runs into its timeout there; pvtree's server and pvAccessCPP's pvDatabase answer.
import type { PVStructure, Structure } from '../../pvdata/index.ts';
import { Cmd, SUB_GET, SUB_GET_PUT, SUB_INIT } from '../protocol.ts';
import { statusText, type ClientConnection, type OpHandler } from './connection.ts';
import { buildPutValue, needsCurrent, type PutInput } from './put.ts';

/** What a PUT_GET returns. */
export interface PutGetResult {
  /** The PV read back after the put, in the get structure (fields as getField(...) selects). */
  value: PVStructure;
  /** With `readBefore`: the PV read in the same operation just before the put. */
  before?: PVStructure;
}

/** One PUT_GET on an open channel: where to send, what to write, and how it ends. */
export interface PutGetSpec {
  conn: ClientConnection;
  sid: number;
  ioid: number;
  pvRequest: PVStructure;
  input: PutInput;
  readBefore: boolean;
  ok(r: PutGetResult): void;
  /** `message` does not name the PV (the caller adds it). */
  fail(message: string): void;
}

type Stage = 'init' | 'before' | 'current' | 'put';

/** Starts the operation (its handler registered under `ioid`); ends in `ok` or `fail`. */
export function startPutGet(s: PutGetSpec): void {
  const { conn, sid, ioid } = s;
  let stage: Stage = 'init';
  let putType: Structure | undefined;
  let before: PVStructure | undefined;
  const fail = (msg: string): void => {
    conn.destroyRequest(sid, ioid);
    s.fail(msg);
  };
  const send = (current?: PVStructure): void => {
    let v: PVStructure;
    try {
      v = buildPutValue(putType!, s.input, current);
    } catch (e) {
      return fail((e as Error).message);
    }
    stage = 'put';
    conn.opRequest({ command: Cmd.PUT_GET, sid, ioid, subcmd: 0, value: v, changed: v.changed });
  };
  /** After INIT and the optional read-before: fetch what the put value needs, or put. */
  const prepare = (): void => {
    if (needsCurrent(putType!, s.input)) {
      stage = 'current';
      conn.opRequest({ command: Cmd.PUT_GET, sid, ioid, subcmd: SUB_GET_PUT });
    } else send();
  };
  const h: OpHandler = {
    types: {},
    onMessage: (m) => {
      if (m.type !== 'opResponse') return;
      if (m.status && m.status.type > 1) return fail(statusText(m.status));
      switch (stage) {
        case 'init':
          if (!m.fieldType || !m.getType) return fail('server sent no put or get type');
          putType = h.types.put = m.fieldType;
          h.types.get = m.getType;
          if (s.readBefore) {
            stage = 'before';
            conn.opRequest({ command: Cmd.PUT_GET, sid, ioid, subcmd: SUB_GET });
          } else prepare();
          return;
        case 'before':
          if (!m.value) return fail('reply without a value');
          before = m.value;
          return prepare();
        case 'current':
          return send(m.value);
        case 'put':
          conn.destroyRequest(sid, ioid);
          if (!m.value) return s.fail('reply without a value');
          return s.ok(before ? { value: m.value, before } : { value: m.value });
      }
    },
    onClosed: (r) => s.fail(r),
  };
  conn.register(ioid, h);
  conn.opRequest({ command: Cmd.PUT_GET, sid, ioid, subcmd: SUB_INIT, pvRequest: s.pvRequest });
}
