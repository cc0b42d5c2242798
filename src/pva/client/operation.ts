// One request/response operation (get, put, put-get, rpc, info) from the caller's side: wait for
// the channel within the timeout, start the operation on the channel's circuit, send the first
// executes of a channel's calls in the order the calls started, settle the promise once, and clean
// up on the server when the timeout fires first.
import { parseRequest, type PVStructure } from '../../pvdata/index.ts';
import type { Channel, InLine, Waiter } from './channel.ts';
import type { Circuit } from './circuit.ts';
import { PvaClientError } from './errors.ts';

/** What a call needs of its client. */
export interface CallHost {
  /** Forget a channel nobody waits for any more (it stops being searched for). */
  maybeForget(ch: Channel): void;
  /** Someone now waits for a channel: keep the process alive while it is searched for. */
  updateRef(): void;
  /** A fresh operation id. */
  nextIoid(): number;
}

/** Starts the operation on its channel's circuit; ends in call.ok or call.fail. */
export type Starter<T> = (call: Call<T>, c: Circuit) => void;

const fmtSeconds = (s: number): string => `${Number(s.toFixed(3))} s`;

function timedOut(call: { timedOut(): void }): void {
  call.timedOut();
}

export class Call<T> implements Waiter, InLine {
  /** The operation's id and its channel's sid, from the start on. */
  ioid = -1;
  sid = -1;
  /** When the timeout comes after the start: destroy the operation on the server (else only forget it). */
  destroyOnTimeout = true;
  /** Runs on a freshly initialized operation only (it is the retry after a reused one failed). */
  fresh = false;
  /** See InLine; `inLine`: in its channel's line (started, first execute not sent). */
  turn: (() => void) | undefined;
  private inLine = false;
  private done = false;
  private started = false;
  private circuit: Circuit | undefined;
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly host: CallHost,
    readonly ch: Channel,
    private readonly timeout: number,
    private readonly starter: Starter<T>,
    private readonly onResolve: (v: T) => void,
    private readonly onReject: (e: Error) => void,
  ) {
    if (timeout > 0) this.timer = setTimeout(timedOut, Math.min(timeout * 1000, 0x7fffffff), this);
    if (ch.state === 'connected') this.resolve();
    else {
      ch.waiters.add(this);
      host.updateRef();
    }
  }

  get name(): string {
    return this.ch.name;
  }

  /** The channel is connected: start. */
  resolve(): void {
    if (this.done || this.started) return;
    this.ch.waiters.delete(this);
    this.started = true;
    const c = (this.circuit = this.ch.circuit!);
    this.ioid = this.host.nextIoid();
    this.sid = this.ch.sid;
    this.ch.line.push(this);
    this.inLine = true;
    this.run(c);
  }

  /**
   * Sends the call's first execute (`send`) now if every call started before it on the channel
   * has sent its own or ended, else when that is so. Calls that never use this (put-get, RPC,
   * info) hold the calls after them until they end. An execute after the first (the PUT after
   * its fetch) and a retry's are sent at once.
   */
  inTurn(send: () => void): void {
    if (this.inLine && this.ch.line[0] !== this) {
      this.turn = send;
      return;
    }
    send();
    this.leaveLine();
  }

  private leaveLine(): void {
    if (!this.inLine) return;
    this.inLine = false;
    this.turn = undefined;
    const line = this.ch.line;
    const i = line.indexOf(this);
    if (i < 0) return;
    line.splice(i, 1);
    if (i > 0) return;
    // the head left: the calls now at the front whose executes are ready go, in order
    while (line.length > 0) {
      const next = line[0] as Call<unknown>;
      const send = next.turn;
      if (!send) break;
      line.shift();
      next.inLine = false;
      next.turn = undefined;
      send();
    }
  }

  /**
   * Starts again, once, on a fresh operation (a new ioid; `fresh` set so no kept operation is
   * reused): the operation it ran on was kept from an earlier call and failed. False when it
   * already was retried, is settled, or its channel is no longer on the same circuit.
   */
  retry(): boolean {
    const c = this.circuit;
    if (this.done || this.fresh || !c || this.ch.state !== 'connected' || this.ch.circuit !== c) return false;
    this.fresh = true;
    this.ioid = this.host.nextIoid();
    this.sid = this.ch.sid;
    this.run(c);
    return true;
  }

  /** Starts the operation on circuit `c` (a throw settles the call). */
  private run(c: Circuit): void {
    try {
      this.starter(this, c);
    } catch (e) {
      this.finish(e instanceof Error ? e : new Error(String(e)));
    }
  }

  /** The channel cannot be had. */
  reject(e: Error): void {
    this.finish(e);
  }

  ok(v: T): void {
    this.finish(undefined, v);
  }

  /** Fails with `message`, which does not name the PV (added here). */
  fail(message: string): void {
    this.finish(new PvaClientError(`${this.name}: ${message}`, this.name));
  }

  /** @internal the timeout fired */
  timedOut(): void {
    if (this.done) return;
    const name = this.name;
    const ch = this.ch;
    const t = fmtSeconds(this.timeout);
    let why: string;
    if (this.started) why = `${name}: timeout (${t})`;
    else if (ch.state === 'searching') why = ch.lastError ? `${name}: ${ch.lastError} (timeout ${t})` : `${name}: not found (timeout ${t})`;
    else why = `${name}: not connected to ${ch.peer || ch.server} (timeout ${t})`;
    if (this.started && this.circuit) {
      if (this.destroyOnTimeout) this.circuit.conn.destroyRequest(this.sid, this.ioid);
      else this.circuit.conn.unregister(this.ioid);
    }
    this.finish(new PvaClientError(why, name));
  }

  private finish(e: Error | undefined, v?: T): void {
    if (this.done) return;
    this.done = true;
    if (this.timer) clearTimeout(this.timer);
    this.leaveLine();
    this.ch.waiters.delete(this);
    this.host.maybeForget(this.ch);
    if (e) this.onReject(e);
    else this.onResolve(v as T);
  }
}

/** Parsed pvRequests by their text (parsed once; the structures are only read). */
const requests = new Map<string, PVStructure>();

/** The pvRequest for `text`; an error naming the PV when it does not parse. */
export function pvRequestFor(name: string, text: string | undefined): PVStructure {
  const key = text ?? '';
  let r = requests.get(key);
  if (r) return r;
  try {
    r = parseRequest(key);
  } catch (e) {
    throw new PvaClientError(`${name}: ${(e as Error).message}`, name);
  }
  if (requests.size >= 256) requests.clear();
  requests.set(key, r);
  return r;
}
