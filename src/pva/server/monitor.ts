// MONITOR operations: subscribe to a SharedPV, send updates filtered by the client's selection,
// squash (with overrun bits) while the client is behind or its pipeline window is shut.
import { BitSet, Writer, encodeStructurePartial, statusError, STATUS_OK, encodeStatus } from '../../pvdata/index.ts';
import { beginMessage, encodeOpResponse, endMessage, type OpRequestMsg } from '../messages.ts';
import { Cmd, SUB_DESTROY, SUB_GET, SUB_GET_PUT, SUB_INIT, SUB_PROCESS } from '../protocol.ts';
import { PVA_ACCESS_READ, type ServerChannel, type ServerConnection } from './connection.ts';
import type { Operation } from './ops.ts';
import { selectionFromRequest, type Selection } from './mask.ts';
import type { PVSubscriber, SharedPV } from './shared-pv.ts';

const scratch = new Writer(true, 1024);

export class MonitorOp implements Operation, PVSubscriber {
  readonly ioid: number;
  private selection: Selection | undefined;
  private running = false;
  private pipeline = false;
  private window = 0;
  /**
   * Updates per write for a producer posting whenever writable, and how many went into the write
   * under way. Pipelined: a quarter of the client's window (clients ack at half). Sending the whole
   * window in one burst makes the client ack it all at once: server and client then take turns
   * instead of overlapping. (Measured with pvxs eatspam and pvtree eat, window 4: one update per
   * write beats two per write, which beats four.) Not pipelined: the requested queueSize (4).
   */
  private burstLimit: number;
  private burst = 0;
  private burstWrite = -1;
  /** Filtered changes not yet sent, and fields that changed again before being sent. */
  private readonly pending = new BitSet();
  private readonly overrun = new BitSet();
  private readonly filtered = new BitSet();
  private unsubscribe: (() => void) | undefined;
  private dead = false;
  private finished = false;
  /** Updates were dropped while the client had no read access: send the whole value when it has again. */
  private muted = false;

  constructor(
    private readonly conn: ServerConnection,
    readonly channel: ServerChannel,
    m: OpRequestMsg,
  ) {
    this.ioid = m.ioid;
    this.window = m.ack ?? 0;
    this.burstLimit = Math.max(1, Math.floor(this.window / 4));
  }

  init(m: OpRequestMsg): void {
    if (this.dead) return;
    const pv = this.channel.pv;
    if ((this.channel.access & PVA_ACCESS_READ) === 0) {
      this.initReply(statusError(this.conn.readDeniedMessage(this.channel)));
      return this.conn.endOperation(this.ioid, false);
    }
    try {
      const { selection, options } = selectionFromRequest(m.pvRequest, pv.type!);
      this.selection = selection;
      this.pipeline = options.pipeline === true;
      // without pipelining only the socket limits a producer: send its queueSize per write
      if (!this.pipeline) this.burstLimit = Math.max(1, options.queueSize ?? 4);
    } catch (e) {
      this.initReply(statusError((e as Error).message));
      return this.conn.endOperation(this.ioid, false);
    }
    this.initReply(STATUS_OK);
    this.unsubscribe = pv.subscribe(this);
  }

  private initReply(status: typeof STATUS_OK): void {
    encodeOpResponse(this.conn.out, {
      command: Cmd.MONITOR,
      ioid: this.ioid,
      subcmd: SUB_INIT,
      status,
      fieldType: this.channel.pv.type,
    });
    this.conn.queueFlush();
  }

  request(m: OpRequestMsg): void {
    if (this.dead || !this.selection) return;
    const sub = m.subcmd;
    if (sub & SUB_GET_PUT && m.ack !== undefined) this.window += m.ack;
    if (sub & SUB_PROCESS) {
      const start = (sub & SUB_GET) !== 0;
      if (start && !this.running) {
        this.running = true;
        // every start begins with the complete current value (nothing was overrun: the client
        // asked not to be sent anything)
        this.pending.or(this.selection.full);
        this.overrun.clear();
      } else if (!start) this.running = false;
    }
    if (sub & SUB_DESTROY) return this.conn.endOperation(this.ioid, false);
    if (this.running && !this.pending.isEmpty() && !this.sendPending()) this.conn.block(this);
    if (this.running && this.pending.isEmpty()) this.channel.pv.notifyWritable();
  }

  /** Can an update go out now without squashing? (a congested client is revisited on drain) */
  ready(): boolean {
    // a subscriber without read access takes nothing, so it holds nobody back
    if (this.muted) return true;
    if (this.dead || !this.running || !this.pending.isEmpty()) return false;
    if (this.pipeline && this.window <= 0) return false;
    if (this.burstWrite === this.conn.writes && this.burst >= this.burstLimit) {
      this.channel.pv.notifyWritableSoon();
      return false;
    }
    if (this.conn.congested()) {
      this.conn.block(this);
      return false;
    }
    return true;
  }

  private canSend(): boolean {
    return this.running && !this.conn.congested() && (!this.pipeline || this.window > 0);
  }

  update(pv: SharedPV, changed: BitSet, batch: Map<string, Buffer>): void {
    // stopped: nothing to keep, the next start sends the complete value
    if (this.dead || !this.selection || !this.running) return;
    if ((this.channel.access & PVA_ACCESS_READ) === 0) {
      this.muted = true;
      return;
    }
    const f = this.selection.filter(changed, this.filtered);
    if (f.isEmpty()) return;
    if (this.pending.isEmpty() && this.canSend()) {
      // the common case: encode once, straight into this connection's output, and let every other
      // subscriber with the same selection copy those bytes (the view stays valid for this flush:
      // output buffers are only reset when the connection flushes, after the tick)
      const body = batch.get(this.selection.key);
      if (body) return this.writeUpdate(body, undefined);
      const w = this.conn.out;
      const start = beginMessage(w, Cmd.MONITOR, true);
      w.u32(this.ioid);
      w.u8(0);
      const from = w.pos;
      w.bitSet(f);
      encodeStructurePartial(w, pv.current, f);
      batch.set(this.selection.key, w.buf.subarray(from, w.pos));
      w.u8(0); // no overrun
      endMessage(w, start);
      this.sent();
      this.conn.queueFlush();
      return;
    }
    // behind: squash into what is pending, noting fields overwritten before being sent
    for (let o = f.nextSetBit(0); o >= 0; o = f.nextSetBit(o + 1)) if (this.pending.get(o)) this.overrun.set(o);
    this.pending.or(f);
    this.conn.block(this);
  }

  /**
   * The client's access on the channel changed: without READ nothing more is sent; with READ
   * again the complete current value goes out (what changed meanwhile was not seen).
   */
  accessChanged(): void {
    if (this.dead || !this.selection) return;
    if ((this.channel.access & PVA_ACCESS_READ) === 0) {
      this.muted = true;
      this.pending.clear();
      this.overrun.clear();
      return;
    }
    if (!this.muted) return;
    this.muted = false;
    if (!this.running) return;
    this.pending.clear();
    this.pending.or(this.selection.full);
    this.overrun.clear();
    if (!this.sendPending()) this.conn.block(this);
  }

  /** Sends what is pending if allowed; true when nothing remains. */
  sendPending(): boolean {
    if (this.dead || this.pending.isEmpty()) return true;
    if ((this.channel.access & PVA_ACCESS_READ) === 0) {
      this.muted = true;
      this.pending.clear();
      return true;
    }
    if (!this.canSend()) return false;
    const pv = this.channel.pv;
    if (!pv.isOpen) return true;
    scratch.reset();
    scratch.bitSet(this.pending);
    encodeStructurePartial(scratch, pv.current, this.pending);
    this.writeUpdate(scratch.bytes(), this.overrun);
    this.pending.clear();
    this.overrun.clear();
    return true;
  }

  private writeUpdate(body: Buffer, overrun: BitSet | undefined): void {
    const w = this.conn.out;
    const start = beginMessage(w, Cmd.MONITOR, true);
    w.u32(this.ioid);
    w.u8(0);
    w.raw(body);
    if (overrun && !overrun.isEmpty()) w.bitSet(overrun);
    else w.u8(0);
    endMessage(w, start);
    this.sent();
    this.conn.queueFlush();
  }

  private sent(): void {
    if (this.pipeline) this.window--;
    if (this.burstWrite !== this.conn.writes) {
      this.burstWrite = this.conn.writes;
      this.burst = 0;
    }
    this.burst++;
  }

  closed(_pv: SharedPV): void {
    // the PV went away: tell the client this subscription is finished
    if (this.dead || this.finished) return;
    this.finished = true;
    this.unsubscribe = undefined;
    const w = this.conn.out;
    const start = beginMessage(w, Cmd.MONITOR, true);
    w.u32(this.ioid);
    w.u8(SUB_DESTROY);
    encodeStatus(w, STATUS_OK);
    endMessage(w, start);
    this.conn.queueFlush();
  }

  cancel(): void {
    this.running = false;
  }

  destroy(): void {
    this.dead = true;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }
}
