// GET, PUT, PUT_GET and RPC operations of one channel on one connection.
import {
  BitSet,
  PVStructure,
  statusError,
  STATUS_OK,
  type AnyValue,
  typeEquals,
  type RequestOptions,
  type Status,
  type Structure,
} from '../../pvdata/index.ts';
import { encodeOpResponse, type OpRequestMsg } from '../messages.ts';
import { CMD_NAME, Cmd, STALE_PV_CLOSED, STALE_TYPE_CHANGED, SUB_DESTROY, SUB_GET, SUB_GET_PUT, SUB_INIT } from '../protocol.ts';
import { PVA_ACCESS_READ, type ServerChannel, type ServerConnection } from './connection.ts';
import { selectionFromRequest, type Selection } from './mask.ts';
import { MonitorOp } from './monitor.ts';
import type { RpcResult } from './shared-pv.ts';

export interface Operation {
  readonly ioid: number;
  readonly channel: ServerChannel;
  /** A further request (execute, get, ack, destroy flag…) on this operation. */
  request(m: OpRequestMsg): void;
  cancel(): void;
  destroy(): void;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Creates the operation for an INIT request (the caller registers it, then calls initOperation). */
export function createOperation(conn: ServerConnection, channel: ServerChannel, m: OpRequestMsg): Operation & { init(m: OpRequestMsg): void } {
  return m.command === Cmd.MONITOR ? new MonitorOp(conn, channel, m) : new SimpleOp(conn, channel, m);
}

/** Answers the INIT once the PV is open: at once when it is, so requests pipelined behind it find it ready. */
export function initOperation(op: Operation & { init(m: OpRequestMsg): void }, m: OpRequestMsg): void {
  if (op.channel.pv.isOpen) op.init(m);
  else op.channel.pv.whenOpen().then(() => op.init(m));
}

/** State shared by the request/response operations. */
export class SimpleOp implements Operation {
  readonly ioid: number;
  readonly command: Cmd.GET | Cmd.PUT | Cmd.PUT_GET | Cmd.RPC;
  selection: Selection | undefined;
  options: RequestOptions = { raw: {} };
  /** The PV's type its INIT reply told the client (the client encodes puts and decodes replies with it). */
  private initType: Structure | undefined;
  private dead = false;
  /** Executes of this operation submitted and not finished. */
  private executing = 0;

  constructor(
    private readonly conn: ServerConnection,
    readonly channel: ServerChannel,
    m: OpRequestMsg,
  ) {
    this.ioid = m.ioid;
    this.command = m.command as SimpleOp['command'];
  }

  private get pv() {
    return this.channel.pv;
  }

  private reply(subcmd: number, status: Status, extra: { value?: PVStructure; changed?: BitSet; result?: RpcResult } = {}): void {
    if (this.dead || this.conn.isClosed) return;
    let result: AnyValue | null | undefined;
    if (extra.result instanceof PVStructure) result = { type: extra.result.type, value: extra.result };
    else result = extra.result ?? undefined;
    encodeOpResponse(this.conn.out, {
      command: this.command,
      ioid: this.ioid,
      subcmd,
      status,
      fieldType: subcmd & SUB_INIT ? this.pv.type : undefined,
      getType: subcmd & SUB_INIT && this.command === Cmd.PUT_GET ? this.pv.type : undefined,
      value: extra.value,
      changed: extra.changed,
      result: this.command === Cmd.RPC && !(subcmd & SUB_INIT) ? (result ?? null) : undefined,
    });
    this.conn.queueFlush();
  }

  init(m: OpRequestMsg): void {
    if (this.dead) return;
    if (this.command === Cmd.RPC && !this.pv.handlers.onRpc) {
      this.reply(m.subcmd, statusError('RPC not supported by this PV'));
      return this.conn.endOperation(this.ioid, false);
    }
    try {
      const { selection, options } = selectionFromRequest(m.pvRequest, this.pv.type!, this.command === Cmd.PUT_GET ? 'getField' : 'field');
      this.selection = selection;
      this.options = options;
    } catch (e) {
      this.conn.ctx.log.debug(`${this.conn.peer}: ${this.channel.name}: ${errorText(e)}`);
      this.reply(m.subcmd, statusError(errorText(e)));
      return this.conn.endOperation(this.ioid, false);
    }
    this.initType = this.pv.type;
    this.reply(m.subcmd, STATUS_OK);
  }

  /**
   * The type the client knows this operation by (undefined before its INIT): the PV's type when
   * the PV was closed and opened again with an equal one, else the one its INIT told. Puts are
   * decoded with it.
   */
  clientType(): Structure | undefined {
    const t = this.pv.type;
    const known = this.initType;
    if (!known) return t;
    if (t && t !== known && typeEquals(t, known)) this.initType = t;
    return this.initType;
  }

  /** True when the request applies a put (the rest only read, or run an RPC). */
  private isPut(m: OpRequestMsg): boolean {
    if (this.command === Cmd.PUT) return !(m.subcmd & SUB_GET);
    if (this.command === Cmd.PUT_GET) return !(m.subcmd & (SUB_GET | SUB_GET_PUT));
    return false;
  }

  /**
   * An execute runs in the channel's request order: a get waits for the puts sent before it on
   * this channel, puts are applied one at a time in order. A second execute of this same operation
   * sent before the first finished waits for everything before it, so its replies stay in order.
   */
  request(m: OpRequestMsg): void {
    if (m.subcmd & SUB_INIT || !this.selection) return;
    const put = this.isPut(m);
    const barrier = put || this.executing > 0;
    this.executing++;
    const run = (): Promise<void> =>
      this.execute(m, put).finally(() => {
        this.executing--;
      });
    if (barrier) this.channel.order.write(run);
    else this.channel.order.read(run);
  }

  /**
   * A put that waited its turn is applied even if the operation was destroyed meanwhile (the
   * client sent it; a server that applies puts on arrival would have); only its reply is dropped.
   */
  private async execute(m: OpRequestMsg, put: boolean): Promise<void> {
    if (this.dead && !put) return;
    const sub = m.subcmd;
    const pv = this.pv;
    try {
      // reads need READ (a put's and put-get's writes are decided by the PV's handlers)
      if ((this.command === Cmd.GET || (!put && this.command !== Cmd.RPC)) && (this.channel.access & PVA_ACCESS_READ) === 0) {
        throw new Error(this.conn.readDeniedMessage(this.channel));
      }
      // the PV was closed, or closed and opened with another type, since the INIT: values of the
      // type the client knows can no longer be sent or applied (it must INIT again)
      if (this.command !== Cmd.RPC && pv.type !== this.clientType()) {
        throw new Error(pv.isOpen ? STALE_TYPE_CHANGED : STALE_PV_CLOSED);
      }
      switch (this.command) {
        case Cmd.GET:
          if (pv.handlers.onGet) await pv.handlers.onGet(pv);
          this.reply(sub, STATUS_OK, { value: pv.current, changed: this.selection!.full });
          break;
        case Cmd.PUT:
          if (sub & SUB_GET) {
            this.reply(sub, STATUS_OK, { value: pv.current, changed: this.selection!.full });
          } else {
            await this.doPut(m);
            this.reply(sub, STATUS_OK);
          }
          break;
        case Cmd.PUT_GET:
          if (sub & SUB_GET) {
            this.reply(sub, STATUS_OK, { value: pv.current, changed: this.selection!.full });
          } else if (sub & SUB_GET_PUT) {
            this.reply(sub, STATUS_OK, { value: pv.current, changed: BitSet.of(0) });
          } else {
            await this.doPut(m);
            this.reply(sub, STATUS_OK, { value: pv.current, changed: this.selection!.full });
          }
          break;
        case Cmd.RPC: {
          const result = await pv.handlers.onRpc!(pv, m.argument ?? null, { channel: this.channel.name, peer: this.conn.peer, client: this.conn.client });
          this.reply(sub, STATUS_OK, { result: result ?? null });
          break;
        }
      }
    } catch (e) {
      this.conn.ctx.log.info(`${this.conn.peer}: ${CMD_NAME[this.command]} ${this.channel.name} failed: ${errorText(e)}`);
      this.reply(sub, statusError(errorText(e)));
    }
    if (sub & SUB_DESTROY) this.conn.endOperation(this.ioid, false);
  }

  private async doPut(m: OpRequestMsg): Promise<void> {
    const pv = this.pv;
    if (!m.value || !m.changed) throw new Error('put carries no value');
    if (!pv.handlers.onPut) throw new Error('put not supported by this PV');
    await pv.handlers.onPut(pv, {
      value: m.value,
      changed: m.changed,
      channel: this.channel.name,
      peer: this.conn.peer,
      client: this.conn.client,
      options: this.options,
    });
  }

  cancel(): void {
    // replies of a cancelled execute are still sent; nothing is held to drop
  }

  destroy(): void {
    this.dead = true;
  }
}

export { STATUS_OK };
