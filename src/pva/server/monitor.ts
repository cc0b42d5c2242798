// MONITOR operations: subscribe to a SharedPV, send updates filtered by the client's selection,
// squash (with overrun bits) while the client is behind, its pipeline window is shut, or this
// turn's fan-out budget is spent (see fanout.ts).
//
// An update is encoded once for every subscriber with the same selection, straight into the first
// one's output, and the others copy those bytes; an update carrying large arrays is encoded once
// into a buffer of its own (SharedBody) that every subscriber's socket writes as it is: each array
// element is copied once per update, however many subscribers there are. Held-back updates are
// shared the same way during a fan-out turn.
import { BitSet, encodeStructurePartial, statusError, STATUS_OK, encodeStatus } from '../../pvdata/index.ts';
import { beginMessage, encodeOpResponse, endMessage, type OpRequestMsg } from '../messages.ts';
import { Cmd, SUB_DESTROY, SUB_GET, SUB_GET_PUT, SUB_INIT, SUB_PROCESS } from '../protocol.ts';
import { PVA_ACCESS_READ, type ServerChannel, type ServerConnection } from './connection.ts';
import type { Operation } from './ops.ts';
import { selectionFromRequest, type Selection } from './mask.ts';
import { LARGE_UPDATE, SharedBody, arrayBytes } from './shared-body.ts';
import type { EncodingBatch, PVSubscriber, SharedPV } from './shared-pv.ts';


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
  private readonly filteredOverrun = new BitSet();
  /**
   * Where the pending changes began: 2 × the PV's version then, plus 1 when they began with the
   * complete value. Subscribers with the same selection and start hold the same pending and
   * overrun bits (both follow from the same updates), so they can share one encoding.
   */
  private since = 0;
  /** @internal Waiting in its connection's queue (see ServerConnection.block). */
  held = false;
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
        this.fullUpdate();
      } else if (!start) this.running = false;
    }
    if (sub & SUB_DESTROY) return this.conn.endOperation(this.ioid, false);
    if (this.running && !this.pending.isEmpty() && (this.conn.fanout.spent || !this.sendPending())) this.conn.block(this);
    if (this.running && this.pending.isEmpty()) this.channel.pv.notifyWritable();
  }

  /** What goes out next is the complete current value (and nothing was overrun). */
  private fullUpdate(): void {
    this.pending.clear();
    this.pending.or(this.selection!.full);
    this.overrun.clear();
    this.since = 2 * this.channel.pv.version + 1;
  }

  /** Can an update go out now without squashing? (a congested client is revisited on drain) */
  ready(): boolean {
    // a subscriber without read access takes nothing, so it holds nobody back
    if (this.muted) return true;
    if (this.dead || !this.running || !this.pending.isEmpty()) return false;
    if (this.pipeline && this.window <= 0) return false;
    if ((this.burstWrite === this.conn.writes && this.burst >= this.burstLimit) || this.conn.fanout.spent) {
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

  update(pv: SharedPV, changed: BitSet, batch: EncodingBatch, overrun?: BitSet): void {
    // stopped: nothing to keep, the next start sends the complete value
    if (this.dead || !this.selection || !this.running) return;
    if ((this.channel.access & PVA_ACCESS_READ) === 0) {
      this.muted = true;
      return;
    }
    const f = this.selection.filter(changed, this.filtered);
    if (f.isEmpty()) return;
    // fields the PV itself squashed while the fan-out budget held it back
    const o = overrun ? this.selection.filter(overrun, this.filteredOverrun) : undefined;
    if (this.pending.isEmpty() && this.canSend() && !this.conn.fanout.spent) {
      // the common case: encode once, straight into this connection's output, and let every other
      // subscriber with the same selection reuse those bytes (the view stays valid for this flush:
      // output buffers are only reset when the connection flushes, after the tick, and large ones
      // are never reused)
      const body = batch.get(this.selection.key);
      if (body) return this.writeUpdate(body, o);
      batch.set(this.selection.key, this.encodeUpdate(f, o));
      return;
    }
    // behind: squash into what is pending, noting fields overwritten before being sent
    this.conn.fanout.chargeMark();
    if (this.pending.isEmpty()) this.since = 2 * pv.version;
    else for (let o = f.nextSetBit(0); o >= 0; o = f.nextSetBit(o + 1)) if (this.pending.get(o)) this.overrun.set(o);
    this.pending.or(f);
    if (o) this.overrun.or(o);
    // a shut pipeline window reopens with the client's ack (request), which sends this
    if (!this.pipeline || this.window > 0) this.conn.block(this);
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
    this.fullUpdate();
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
    const fan = this.conn.fanout;
    // during a fan-out turn, subscribers holding the same changes share their encoding
    const body = fan.serving ? pv.encodingFor(this.selection!.key, this.since) : undefined;
    if (body) this.writeUpdate(body, this.overrun);
    else {
      const made = this.encodeUpdate(this.pending, this.overrun);
      if (fan.serving && pv.keepEncoding(this.selection!.key, this.since, made)) fan.hold(pv);
    }
    this.pending.clear();
    this.overrun.clear();
    return true;
  }

  /**
   * Encodes an update of `fields` into this connection's output (large arrays: into a SharedBody
   * it queues); returns the body, for subscribers holding the same changes.
   */
  private encodeUpdate(fields: BitSet, overrun: BitSet | undefined): Buffer | SharedBody {
    const value = this.channel.pv.current;
    const arrays = arrayBytes(value, fields);
    if (arrays >= LARGE_UPDATE) {
      const shared = SharedBody.encode(value, fields, arrays);
      this.conn.fanout.charge(shared.bytes.length);
      this.writeUpdate(shared, overrun);
      return shared;
    }
    const w = this.conn.out;
    const start = beginMessage(w, Cmd.MONITOR, true);
    w.u32(this.ioid);
    w.u8(0);
    const from = w.pos;
    w.bitSet(fields);
    encodeStructurePartial(w, value, fields);
    const body = w.buf.subarray(from, w.pos);
    if (overrun && !overrun.isEmpty()) w.bitSet(overrun);
    else w.u8(0);
    endMessage(w, start);
    this.conn.fanout.charge(body.length);
    this.sent();
    this.conn.queueFlush();
    return body;
  }

  /** Sends an update whose body is already encoded: copied, or a SharedBody queued as it is. */
  private writeUpdate(body: Buffer | SharedBody, overrun: BitSet | undefined): void {
    const w = this.conn.out;
    const shared = body instanceof SharedBody;
    const n = shared ? body.bytes.length : body.length;
    const start = beginMessage(w, Cmd.MONITOR, true);
    // the size first: appendShared takes the header's bytes as they are
    const ob = overrun && !overrun.isEmpty() ? overrun.byteLength() : 0;
    w.patchU32(start + 4, 5 + n + (ob === 0 ? 1 : (ob < 254 ? 1 : 5) + ob));
    w.u32(this.ioid);
    w.u8(0);
    if (shared) this.conn.appendShared(body);
    else {
      w.raw(body);
      this.conn.fanout.charge(n);
    }
    if (ob) w.bitSet(overrun!);
    else w.u8(0);
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
