// RSSI reliable link, one end (client or server), sans-I/O: segments in, segments out, payloads
// delivered in order, on a clock the caller passes in. After Rogue's rssi/Controller.cpp and the
// RUDP draft: SYN handshake with negotiated parameters, 8-bit sequence and acknowledge numbers,
// per-segment retransmission up to maxRetransmissions, cumulative acknowledgement (after
// maxCumulativeAck segments or cumulativeAckTimeout), sequenced NUL keep-alives after a third of
// the null timeout without traffic, out-of-order segments held within the window, the BUSY flag
// (a busy peer gets no new data and no retransmissions), RST both ways.
//
// Liveness: the link is lost when a segment was sent maxRetransmissions times without an ACK and
// the peer has not been heard for longer than its NUL period, when nothing arrives for
// `deadAfterNulls` null timeouts, or on a RST. A client then re-opens it on its
// own: SYNs every tryPeriod, doubling up to maxTryPeriod while unanswered.

import {
  RSSI_HEADER_BYTES, RSSI_SYN_BYTES, RssiHeaderError, type RssiHeader, type RssiParams,
  readRssiHeader, restampRssiHeader, writeRssiHeader,
} from './rssi-header.ts';

export type RssiState = 'closed' | 'wait-syn' | 'open';

export interface RssiOptions {
  /** Server end: waits for a SYN and answers it. Default false (client: sends SYNs). */
  server?: boolean;
  /** A segment to hand to the transport (may not be modified by the callee; it may be kept). */
  send(segment: Uint8Array): void;
  /** An in-order payload from the peer (a view valid during the call). */
  deliver(payload: Uint8Array): void;
  /** The link opened (with the parameters both ends use) or closed (with why). */
  onState?(open: boolean, detail: string): void;
  /** Offered parameters; defaults are Rogue's (and SURF firmware's). */
  params?: Partial<RssiParams>;
  /** First SYN retry period and its cap while unanswered, ms (default 100 and 1000). */
  tryPeriod?: number;
  maxTryPeriod?: number;
  /** The link is lost after this many null timeouts without any segment from the peer (default 3). */
  deadAfterNulls?: number;
  /** First sequence number (default 100, as Rogue). */
  initialSequence?: number;
  /**
   * Send no new data while the peer says BUSY (default false: as Rogue, BUSY only pauses
   * retransmissions and the window bounds new data).
   */
  holdWhileBusy?: boolean;
}

/** Rogue's defaults (MAX_NUM_OUTS_SEG_G … in firmware): 32 segments, 20 ms retransmission, 5 ms ack, 1 s null. */
export const RSSI_DEFAULT_PARAMS: RssiParams = {
  version: 1,
  chk: true,
  maxOutstandingSegments: 32,
  maxSegmentSize: 1464,
  retransmissionTimeout: 20,
  cumulativeAckTimeout: 5,
  nullTimeout: 1000,
  maxRetransmissions: 15,
  maxCumulativeAck: 2,
  timeoutUnit: 3,
  connectionId: 0x78,
};

export interface RssiStats {
  /** Times the link opened / was lost. */
  opened: number;
  downCount: number;
  txSegments: number;
  rxSegments: number;
  retransmissions: number;
  /** Segments dropped: bad header, duplicate, outside the window, wrong state. */
  dropped: number;
  duplicates: number;
  outOfOrder: number;
  remoteBusyCount: number;
  synSent: number;
  resetsReceived: number;
}

interface TxEntry {
  seg: Uint8Array;
  sentAt: number;
  count: number;
}

const mod = (n: number): number => n & 0xff;

export class RssiConnection {
  readonly server: boolean;
  private readonly out: RssiOptions['send'];
  private readonly deliverCb: RssiOptions['deliver'];
  private readonly stateCb: RssiOptions['onState'];
  /** What this end offers. */
  readonly local: RssiParams;
  /** What the link uses once open. */
  current: RssiParams;
  private _state: RssiState = 'closed';
  private running = false;
  readonly stats: RssiStats = {
    opened: 0, downCount: 0, txSegments: 0, rxSegments: 0, retransmissions: 0, dropped: 0, duplicates: 0,
    outOfOrder: 0, remoteBusyCount: 0, synSent: 0, resetsReceived: 0,
  };

  // times in ms derived from current
  private retranMs = 0;
  private cumAckMs = 0;
  private nullMs = 0;
  private readonly tryPeriod: number;
  private readonly maxTryPeriod: number;
  private readonly deadAfterNulls: number;
  private readonly holdWhileBusy: boolean;
  private tryNow: number;
  private nextSynAt = 0;

  // transmit side
  private locSequence: number;
  private lastAckRx = 0;
  private readonly txList: (TxEntry | undefined)[] = new Array(256);
  private inFlight = 0;
  private readonly queue: Uint8Array[] = [];
  private lastTx = 0;
  private lastSeqTx = 0;
  private synSent: Uint8Array | undefined; // server: the SYN-ACK, resent for a duplicate SYN
  private synSeq = 0; // client: the sequence number of this connection attempt's SYN

  // receive side
  private nextSeqRx = 0;
  private ackPend = 0;
  private ackDue = Infinity;
  private lastRx = 0;
  private remBusy = false;
  private readonly ooo = new Map<number, Uint8Array | null>();
  private peerSyn = -1; // sequence of the peer's SYN that opened the link

  constructor(opts: RssiOptions) {
    this.server = opts.server ?? false;
    this.out = opts.send;
    this.deliverCb = opts.deliver;
    this.stateCb = opts.onState;
    this.local = { ...RSSI_DEFAULT_PARAMS, ...opts.params };
    const l = this.local;
    if (l.maxOutstandingSegments < 1 || l.maxOutstandingSegments > 128) throw new RangeError('maxOutstandingSegments must be 1…128');
    if (l.maxSegmentSize <= RSSI_SYN_BYTES || l.maxSegmentSize > 0xffff) throw new RangeError('maxSegmentSize must be 25…65535');
    if (l.maxRetransmissions < 1 || l.maxCumulativeAck < 1 || l.retransmissionTimeout < 1 || l.nullTimeout < 1 || l.cumulativeAckTimeout < 1) {
      throw new RangeError('RSSI timeouts and counts must be at least 1');
    }
    this.current = { ...l };
    this.applyTimes();
    this.tryPeriod = opts.tryPeriod ?? 100;
    this.maxTryPeriod = Math.max(this.tryPeriod, opts.maxTryPeriod ?? 1000);
    this.tryNow = this.tryPeriod;
    this.deadAfterNulls = opts.deadAfterNulls ?? 3;
    this.holdWhileBusy = opts.holdWhileBusy ?? false;
    this.locSequence = mod(opts.initialSequence ?? 100);
  }

  get state(): RssiState { return this._state; }
  get isOpen(): boolean { return this._state === 'open'; }
  /** Largest payload per segment on the open link (the peer's and our segment size, less the header). */
  get maxPayload(): number {
    return Math.min(this.current.maxSegmentSize, this.local.maxSegmentSize) - RSSI_HEADER_BYTES;
  }
  /** The peer said it is busy (no new data goes out). */
  get remoteBusy(): boolean { return this.remBusy; }
  /** Payloads waiting for room in the window. */
  get queued(): number { return this.queue.length; }
  /** Segments sent and not yet acknowledged. */
  get unacked(): number { return this.inFlight; }

  private applyTimes(): void {
    const c = this.current;
    const ms = 10 ** (3 - c.timeoutUnit);
    this.retranMs = c.retransmissionTimeout * ms;
    this.cumAckMs = c.cumulativeAckTimeout * ms;
    this.nullMs = c.nullTimeout * ms;
  }

  /** Start: a client sends its first SYN now; a server waits for one. */
  start(now: number): void {
    this.running = true;
    this.tryNow = this.tryPeriod;
    this.nextSynAt = now;
    if (this.server) this._state = 'wait-syn';
    this.tick(now);
  }

  /** Stop: a RST to the peer if the link is up, then closed for good (until start). */
  stop(now: number, reason = 'closed locally'): void {
    if (this._state !== 'closed' || this.running) {
      if (this._state === 'open') this.sendControl({ rst: true }, now);
      this.running = false;
      this.down(reason, false);
    }
  }

  /**
   * Queue a payload for the peer (at most maxPayload bytes). Returns false when the link is not
   * open (the payload is dropped, as Rogue does).
   */
  sendData(payload: Uint8Array, now: number): boolean {
    if (this._state !== 'open') return false;
    if (payload.length > this.maxPayload) throw new RangeError(`RSSI payload of ${payload.length} bytes exceeds the segment payload of ${this.maxPayload}`);
    this.queue.push(payload);
    this.pump(now);
    return true;
  }

  private windowFree(): boolean {
    return this.inFlight < this.current.maxOutstandingSegments && !(this.holdWhileBusy && this.remBusy);
  }

  private pump(now: number): void {
    while (this.queue.length && this.windowFree()) {
      const p = this.queue.shift()!;
      const seg = new Uint8Array(RSSI_HEADER_BYTES + p.length);
      seg.set(p, RSSI_HEADER_BYTES);
      this.transmit(seg, { ack: true }, true, now);
    }
  }

  /** Build the header in `seg`, track it for retransmission when sequenced, and send it. */
  private transmit(seg: Uint8Array, flags: Partial<RssiHeader>, sequenced: boolean, now: number): void {
    const h: RssiHeader = {
      syn: !!flags.syn, ack: !!flags.ack, rst: !!flags.rst, nul: !!flags.nul, busy: false,
      sequence: this.locSequence, acknowledge: mod(this.nextSeqRx - 1), params: flags.params,
    };
    writeRssiHeader(seg, h);
    if (sequenced) {
      this.lastSeqTx = now;
      this.txList[this.locSequence] = { seg, sentAt: now, count: 1 };
      this.locSequence = mod(this.locSequence + 1);
      this.inFlight++;
    }
    if (h.ack) {
      this.ackPend = 0;
      this.ackDue = Infinity;
    }
    this.lastTx = now;
    this.stats.txSegments++;
    this.out(seg);
  }

  private sendControl(flags: Partial<RssiHeader>, now: number, sequenced = false): void {
    const seg = new Uint8Array(flags.syn ? RSSI_SYN_BYTES : RSSI_HEADER_BYTES);
    this.transmit(seg, flags, sequenced, now);
  }

  /** A datagram from the transport. */
  receive(datagram: Uint8Array, now: number): void {
    let header: RssiHeader, length: number;
    try {
      ({ header, length } = readRssiHeader(datagram));
    } catch (e) {
      if (!(e instanceof RssiHeaderError)) throw e;
      this.stats.dropped++;
      return;
    }
    if (!this.running) {
      this.stats.dropped++;
      return;
    }
    this.stats.rxSegments++;
    const h = header;
    if (h.rst) {
      this.stats.resetsReceived++;
      if (this._state !== 'closed') this.down('the peer reset the link', true, now);
      return;
    }
    if (h.syn) return this.receiveSyn(h, datagram, now);
    if (this._state !== 'open') {
      this.stats.dropped++;
      return;
    }
    this.lastRx = now;
    if (h.busy && !this.remBusy) this.stats.remoteBusyCount++;
    this.remBusy = h.busy;
    if (h.ack) this.receiveAck(h.acknowledge);
    if (h.nul || datagram.length > length) this.receiveData(h, datagram.subarray(length), now);
    this.pump(now);
  }

  private receiveSyn(h: RssiHeader, datagram: Uint8Array, now: number): void {
    const p = h.params!;
    if (this.server) {
      if (h.ack) {
        this.stats.dropped++;
        return;
      }
      if (this._state === 'open' && h.sequence === this.peerSyn && this.synSent) {
        // a duplicate of the SYN we answered: answer it again
        this.stats.duplicates++;
        this.lastTx = now;
        this.out(this.synSent);
        return;
      }
      if (this._state === 'open') this.down('the peer opened a new connection', false, now);
      // take the client's timing, the smaller window and segment size
      this.current = {
        ...p,
        version: this.local.version,
        chk: this.local.chk,
        maxOutstandingSegments: Math.max(1, Math.min(p.maxOutstandingSegments, this.local.maxOutstandingSegments)),
        maxSegmentSize: Math.min(p.maxSegmentSize, this.local.maxSegmentSize),
        connectionId: this.local.connectionId,
      };
      this.applyTimes();
      this.resetLink(now);
      this.peerSyn = h.sequence;
      this.nextSeqRx = mod(h.sequence + 1);
      const seg = new Uint8Array(RSSI_SYN_BYTES);
      this.transmit(seg, { syn: true, ack: true, params: this.current }, false, now);
      // the SYN-ACK takes a sequence number; the client's first ACK implicitly covers it
      this.lastAckRx = this.locSequence;
      this.locSequence = mod(this.locSequence + 1);
      this.synSent = seg;
      this.open(now);
      return;
    }
    // client: a SYN-ACK answers our SYN
    if (!h.ack) {
      this.stats.dropped++;
      return;
    }
    if (this._state === 'open') {
      if (h.sequence === this.peerSyn) {
        this.stats.duplicates++;
        return;
      }
      this.stats.dropped++;
      this.down('the peer answered a SYN that was not ours', true, now);
      return;
    }
    if (this._state !== 'wait-syn') {
      this.stats.dropped++;
      return;
    }
    this.current = { ...p };
    if (this.current.maxOutstandingSegments < 1) this.current.maxOutstandingSegments = 1;
    this.applyTimes();
    this.resetLink(now);
    this.peerSyn = h.sequence;
    this.nextSeqRx = mod(h.sequence + 1);
    // the SYN-ACK acknowledges our SYN (Rogue's server does not fill in the acknowledge number)
    this.sendControl({ ack: true }, now);
    this.open(now);
  }

  private resetLink(now: number): void {
    this.txList.fill(undefined);
    this.inFlight = 0;
    this.lastAckRx = mod(this.locSequence - 1);
    this.ooo.clear();
    this.ackPend = 0;
    this.ackDue = Infinity;
    this.remBusy = false;
    this.lastRx = now;
    this.lastSeqTx = now;
  }

  private open(now: number): void {
    this._state = 'open';
    this.tryNow = this.tryPeriod;
    this.lastRx = now;
    this.stats.opened++;
    const c = this.current;
    this.stateCb?.(true, `RSSI link open: ${c.maxOutstandingSegments} segments of ${c.maxSegmentSize} bytes, retransmission ${this.retranMs} ms, null ${this.nullMs} ms`);
  }

  /** Release everything up to and including `ackNo`, if it acknowledges something in flight. */
  private receiveAck(ackNo: number): void {
    const n = mod(ackNo - this.lastAckRx);
    if (n === 0 || n > this.inFlight) return;
    for (let i = 1; i <= n; i++) {
      const s = mod(this.lastAckRx + i);
      this.txList[s] = undefined;
    }
    this.inFlight -= n;
    this.lastAckRx = ackNo;
  }

  private receiveData(h: RssiHeader, payload: Uint8Array, now: number): void {
    const d = mod(h.sequence - this.nextSeqRx);
    if (d === 0) {
      this.accept(h.nul ? null : payload, now);
      while (this.ooo.size) {
        const next = this.ooo.get(this.nextSeqRx);
        if (next === undefined) break;
        this.ooo.delete(this.nextSeqRx);
        this.accept(next, now);
      }
    } else if (d <= this.local.maxOutstandingSegments) {
      if (this.ooo.has(h.sequence)) {
        this.stats.duplicates++;
        this.stats.dropped++;
      } else {
        this.stats.outOfOrder++;
        this.ooo.set(h.sequence, h.nul ? null : payload.slice());
      }
    } else {
      // already delivered (our ACK was lost, or a duplicated datagram): acknowledge again now
      this.stats.duplicates++;
      this.stats.dropped++;
      this.sendControl({ ack: true }, now);
    }
  }

  private accept(payload: Uint8Array | null, now: number): void {
    this.nextSeqRx = mod(this.nextSeqRx + 1);
    this.ackPend++;
    if (this.ackDue === Infinity) this.ackDue = now + this.cumAckMs;
    if (payload) this.deliverCb(payload);
    // a NUL is answered at once (it probes the link); data once maxCumulativeAck are pending
    if (this._state === 'open' && this.ackPend > 0 && (payload === null || this.ackPend >= this.current.maxCumulativeAck)) {
      this.sendControl({ ack: true }, now);
    }
  }

  /** The link is gone: tell the peer (RST) when asked, drop everything, schedule a reconnect (client). */
  private down(reason: string, sendRst: boolean, now = 0): void {
    const wasOpen = this._state === 'open';
    if (sendRst && wasOpen) this.sendControl({ rst: true }, now);
    this.resetLink(now);
    this.queue.length = 0;
    this.synSent = undefined;
    this.peerSyn = -1;
    this._state = this.server && this.running ? 'wait-syn' : 'closed';
    this.nextSynAt = now + this.tryNow;
    if (wasOpen) {
      this.stats.downCount++;
      this.stateCb?.(false, reason);
    }
  }

  /**
   * When a NUL keep-alive is due: a third of the null timeout after the last segment sent (as
   * Rogue); a client counts only sequenced segments, so its NULs probe a silent peer even while
   * it acknowledges the peer's own NULs.
   */
  private nullDue(): number {
    if (this.inFlight) return Infinity;
    return (this.server ? this.lastTx : this.lastSeqTx) + this.nullMs / 3;
  }

  /** Earliest time (ms) tick() has something to do. */
  nextDeadline(): number {
    if (!this.running) return Infinity;
    if (this._state !== 'open') return this.server ? Infinity : this.nextSynAt;
    let t = Math.min(this.ackDue, this.nullDue(), this.lastRx + this.nullMs * this.deadAfterNulls);
    if (!this.remBusy && this.inFlight) {
      for (let i = 1; i <= this.inFlight; i++) {
        const e = this.txList[mod(this.lastAckRx + i)];
        if (e && e.sentAt + this.retranMs < t) t = e.sentAt + this.retranMs;
      }
    }
    return t;
  }

  /** Run timers due at `now`: SYN retries, acknowledgements, keep-alives, retransmissions, liveness. */
  tick(now: number): void {
    if (!this.running) return;
    if (this._state !== 'open') {
      if (!this.server && now >= this.nextSynAt) {
        if (this._state === 'wait-syn') {
          // a retry of the same connection attempt: the same sequence number, so a server that
          // answered the first SYN late sees a duplicate, not a new connection
          this.tryNow = Math.min(this.maxTryPeriod, this.tryNow * 2);
          this.locSequence = this.synSeq;
        } else {
          this.synSeq = this.locSequence;
        }
        this.current = { ...this.local };
        this.applyTimes();
        this.resetLink(now);
        this.sendControl({ syn: true, params: this.local }, now, true);
        this.stats.synSent++;
        this._state = 'wait-syn';
        this.nextSynAt = now + this.tryNow;
      }
      return;
    }
    if (now >= this.lastRx + this.nullMs * this.deadAfterNulls) {
      this.down(`no segment from the peer for ${((now - this.lastRx) / 1000).toFixed(1)} s`, true, now);
      return;
    }
    if (!this.remBusy) {
      for (let i = 1; i <= this.inFlight; i++) {
        const s = mod(this.lastAckRx + i);
        const e = this.txList[s];
        if (!e || now < e.sentAt + this.retranMs) continue;
        if (e.count >= this.current.maxRetransmissions) {
          // A live peer that has nothing to send acknowledges only with its next NUL (Rogue does
          // not acknowledge a duplicate again): the link is lost when the peer was also silent
          // for longer than its NUL period, or after four times the count in any case.
          const silent = now - this.lastRx >= this.nullMs / 3 + 2 * this.retranMs;
          if (silent || e.count >= 4 * this.current.maxRetransmissions) {
            this.down(`the peer stopped answering: segment ${s} sent ${e.count} times without an acknowledgement`, true, now);
            return;
          }
        }
        e.count++;
        e.sentAt = now;
        restampRssiHeader(e.seg, mod(this.nextSeqRx - 1), false);
        this.ackPend = 0;
        this.ackDue = Infinity;
        this.lastTx = now;
        this.stats.retransmissions++;
        this.stats.txSegments++;
        this.out(e.seg);
      }
    }
    if (now >= this.ackDue && this.ackPend > 0) this.sendControl({ ack: true }, now);
    if (now >= this.nullDue() && this.windowFree()) this.sendControl({ ack: true, nul: true }, now, true);
  }
}
