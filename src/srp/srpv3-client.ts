// SRPv3 transaction engine, the client side (sans-I/O): turns memory transactions into request
// frames, matches response frames to them by 32-bit transaction id (in any order), checks them
// as Rogue's SrpV3::acceptFrame does, and expires them on a clock the caller passes in.
//
// The caller hands frames out through `send` while the link is up and calls tick(now) at
// nextDeadline(); nothing here owns a socket or a timer.

import {
  SRP_HEADER_BYTES, SRP_MAX_BYTES, SRP_MIN_BYTES, SRP_TAIL_BYTES, SrpFrameError, SrpOpcode,
  type SrpHeader, type SrpOpcodeValue, decodeSrpResponse, encodeSrpRequest, srpStatusMessage,
} from './srpv3.ts';

export type SrpTransactionType = 'read' | 'write' | 'post' | 'verify';

/** One register access handed to the engine. */
export interface SrpTransaction {
  readonly type: SrpTransactionType;
  readonly address: number;
  readonly size: number;
  /** Source of writes/posts; destination of reads/verifies. */
  readonly data: Uint8Array;
  /** Milliseconds from submit until the transaction fails (each retry gets a fresh period). */
  readonly timeoutMs: number;
  /** Called once: with undefined on success, with a message on failure. */
  done(error: string | undefined): void;
}

export interface SrpV3ClientOptions {
  /** Hands a request frame to the link (the frame may be reused after the call returns). */
  send(frame: Uint8Array): void;
  /** Extra attempts after a timeout (a fresh id each time). Default 0. */
  retries?: number;
  /** Hardware bus timeout in 100 ms units, sent in every request (Rogue's default 10). */
  hwTimeout?: number;
  /** First transaction id (default 1; ids skip 0 when they wrap). */
  firstId?: number;
}

interface Pending {
  id: number;
  tran: SrpTransaction;
  opcode: SrpOpcodeValue;
  deadline: number;
  retriesLeft: number;
  /** Sent and waiting for its response (false while queued for the link). */
  sent: boolean;
}

/** Counters for diagnostics and tests. */
export interface SrpV3ClientStats {
  sent: number;
  completed: number;
  failed: number;
  timeouts: number;
  retries: number;
  /** Responses whose id matched no pending transaction (late, duplicated or foreign). */
  unmatched: number;
  /** Frames too short or otherwise undecodable. */
  malformed: number;
}

const OPCODE: Record<SrpTransactionType, SrpOpcodeValue> = {
  read: SrpOpcode.read, verify: SrpOpcode.read, write: SrpOpcode.write, post: SrpOpcode.post,
};

export class SrpV3Client {
  private readonly out: SrpV3ClientOptions['send'];
  private readonly retries: number;
  private readonly hwTimeout: number;
  private nextId: number;
  private readonly pending = new Map<number, Pending>();
  /** Submitted while the link was down, oldest first. */
  private readonly waiting: Pending[] = [];
  private linkUp = false;
  private linkReason = 'link not open yet';
  private earliest = Infinity;
  readonly stats: SrpV3ClientStats = { sent: 0, completed: 0, failed: 0, timeouts: 0, retries: 0, unmatched: 0, malformed: 0 };
  private readonly header: SrpHeader = { opcode: 0, id: 0, address: 0, size: 0, hwTimeout: 0, ignoreMemResp: false };

  constructor(opts: SrpV3ClientOptions) {
    this.out = opts.send;
    this.retries = opts.retries ?? 0;
    this.hwTimeout = opts.hwTimeout ?? 10;
    this.nextId = (opts.firstId ?? 1) >>> 0 || 1;
    if (!Number.isInteger(this.retries) || this.retries < 0) throw new RangeError('retries must be a non-negative integer');
    if (!Number.isInteger(this.hwTimeout) || this.hwTimeout < 0 || this.hwTimeout > 255) throw new RangeError('hwTimeout must be 0…255 (100 ms units)');
  }

  /** Transactions submitted and not yet finished (sent or waiting for the link). */
  get outstanding(): number { return this.pending.size + this.waiting.length; }

  /**
   * Start a transaction at time `now` (ms). Misaligned or oversized requests fail at once,
   * as in Rogue. While the link is down the request waits (its timeout running) and goes out
   * when setLink(true) is called.
   */
  submit(tran: SrpTransaction, now: number): void {
    const { address, size } = tran;
    if (address % SRP_MIN_BYTES !== 0) return this.fail(tran, `transaction address 0x${address.toString(16)} is not aligned to ${SRP_MIN_BYTES} bytes`);
    if (size % SRP_MIN_BYTES !== 0 || size < SRP_MIN_BYTES) return this.fail(tran, `transaction size ${size} is not a multiple of ${SRP_MIN_BYTES} bytes`);
    if (size > SRP_MAX_BYTES) return this.fail(tran, `transaction size ${size} exceeds the SRPv3 maximum of ${SRP_MAX_BYTES} bytes`);
    if (tran.data.length < size) return this.fail(tran, `transaction buffer of ${tran.data.length} bytes is smaller than its size ${size}`);
    const p: Pending = { id: 0, tran, opcode: OPCODE[tran.type], deadline: now + tran.timeoutMs, retriesLeft: this.retries, sent: false };
    if (p.deadline < this.earliest) this.earliest = p.deadline;
    if (this.linkUp) this.transmit(p);
    else this.waiting.push(p);
  }

  /**
   * The link came up (send everything waiting) or went down (`reason` is named in failures).
   * Transactions sent and still waiting for their response when the link goes down cannot be
   * answered any more: each is queued again while it has retries left, else fails at once.
   */
  setLink(up: boolean, reason?: string, now = 0): void {
    const was = this.linkUp;
    this.linkUp = up;
    if (!up) {
      this.linkReason = reason ?? 'link down';
      if (!was) return;
      const lost = [...this.pending.values()];
      this.pending.clear();
      for (const p of lost) {
        if (p.retriesLeft > 0) {
          p.retriesLeft--;
          p.sent = false;
          p.deadline = Math.max(p.deadline, now + p.tran.timeoutMs);
          this.stats.retries++;
          this.waiting.push(p);
        } else {
          this.fail(p.tran, `${this.linkReason} before the response arrived`);
        }
      }
      return;
    }
    while (this.linkUp && this.waiting.length) this.transmit(this.waiting.shift()!);
  }

  private allocId(): number {
    let id = this.nextId;
    while (this.pending.has(id)) id = (id + 1) >>> 0 || 1;
    this.nextId = (id + 1) >>> 0 || 1;
    return id;
  }

  private transmit(p: Pending): void {
    const t = p.tran;
    p.id = this.allocId();
    const h = this.header;
    h.opcode = p.opcode;
    h.id = p.id;
    h.address = t.address;
    h.size = t.size;
    h.hwTimeout = this.hwTimeout;
    const isWrite = p.opcode === SrpOpcode.write || p.opcode === SrpOpcode.post;
    const frame = encodeSrpRequest(h, isWrite ? t.data.subarray(0, t.size) : undefined);
    this.stats.sent++;
    const posted = p.opcode === SrpOpcode.post;
    if (!posted) {
      p.sent = true;
      this.pending.set(p.id, p);
    }
    try {
      this.out(frame);
    } catch (e) {
      this.pending.delete(p.id);
      this.fail(t, `could not send: ${(e as Error).message}`);
      return;
    }
    if (posted) {
      // a posted write has no response: done once handed to the link (as Rogue)
      this.stats.completed++;
      t.done(undefined);
    }
  }

  /** A frame arrived from the link. Returns false when it matched no transaction. */
  receive(frame: Uint8Array): boolean {
    let r;
    try {
      r = decodeSrpResponse(frame);
    } catch (e) {
      if (!(e instanceof SrpFrameError)) throw e;
      this.stats.malformed++;
      return false;
    }
    const p = this.pending.get(r.id);
    if (!p) {
      this.stats.unmatched++;
      return false;
    }
    const t = p.tran;
    // word 0 must echo ours except the capability bits 13:10 (Rogue's 0xFFFFC3FF mask)
    const expect0 = (3 | (p.opcode << 8) | (this.hwTimeout << 24)) >>> 0;
    if ((r.word0 & 0xffffc3ff) >>> 0 !== expect0 || r.address !== t.address || r.size !== t.size) {
      this.pending.delete(r.id);
      this.fail(t, `received SRPv3 response did not match the request (id ${r.id}, address 0x${r.address.toString(16)}, size ${r.size}, word0 0x${r.word0.toString(16)})`);
      return true;
    }
    this.pending.delete(r.id);
    // the status first: a peer reporting an error may stop the data early
    const bad = srpStatusMessage(r.status);
    if (bad) {
      this.fail(t, bad);
    } else if (frame.length !== SRP_HEADER_BYTES + t.size + SRP_TAIL_BYTES) {
      this.fail(t, `received SRPv3 response of ${frame.length} bytes, expected ${SRP_HEADER_BYTES + t.size + SRP_TAIL_BYTES} (id ${r.id})`);
    } else {
      if (p.opcode === SrpOpcode.read) t.data.set(r.data);
      this.stats.completed++;
      t.done(undefined);
    }
    return true;
  }

  /** Earliest time (ms) tick() has work, or Infinity. */
  nextDeadline(): number {
    return this.earliest;
  }

  /** Expire (or retry) transactions whose deadline passed. */
  tick(now: number): void {
    if (now < this.earliest) return;
    let earliest = Infinity;
    const retry: Pending[] = [];
    for (const [id, p] of this.pending) {
      if (p.deadline <= now) {
        this.pending.delete(id);
        this.timedOut(p, now, retry);
      } else if (p.deadline < earliest) earliest = p.deadline;
    }
    for (let i = 0; i < this.waiting.length; ) {
      const p = this.waiting[i];
      if (p.deadline <= now) {
        this.waiting.splice(i, 1);
        this.timedOut(p, now, retry);
      } else {
        if (p.deadline < earliest) earliest = p.deadline;
        i++;
      }
    }
    this.earliest = earliest;
    for (const p of retry) {
      if (p.deadline < this.earliest) this.earliest = p.deadline;
      if (this.linkUp) this.transmit(p);
      else this.waiting.push(p);
    }
  }

  private timedOut(p: Pending, now: number, retry: Pending[]): void {
    this.stats.timeouts++;
    if (p.retriesLeft > 0) {
      p.retriesLeft--;
      p.sent = false;
      p.deadline = now + p.tran.timeoutMs;
      this.stats.retries++;
      retry.push(p);
      return;
    }
    const ms = p.tran.timeoutMs;
    const why = p.sent ? (this.linkUp ? 'no response' : `no response, ${this.linkReason}`) : `never sent, ${this.linkReason}`;
    this.fail(p.tran, `transaction timed out after ${ms / 1000} s (${why})`);
  }

  /** Fail every transaction now (closing). */
  abortAll(reason: string): void {
    const all = [...this.pending.values(), ...this.waiting];
    this.pending.clear();
    this.waiting.length = 0;
    this.earliest = Infinity;
    for (const p of all) this.fail(p.tran, reason);
  }

  private fail(t: SrpTransaction, message: string): void {
    this.stats.failed++;
    t.done(message);
  }
}
