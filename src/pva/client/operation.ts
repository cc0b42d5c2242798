// One request/response operation (get, put, put-get, rpc, info) from the caller's side: wait for
// the channel within the timeout, start the operation on the channel's circuit, settle the promise
// once, and clean up on the server when the timeout fires first.
import { parseRequest, type PVStructure } from '../../pvdata/index.ts';
import type { Channel, Waiter } from './channel.ts';
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

export class Call<T> implements Waiter {
  /** The operation's id and its channel's sid, from the start on. */
  ioid = -1;
  sid = -1;
  /** When the timeout comes after the start: destroy the operation on the server (else only forget it). */
  destroyOnTimeout = true;
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
