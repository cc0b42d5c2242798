// MONITOR: subscribe to a PV. INIT (the type), START, then updates until the subscription is
// closed; pipelined, the client acknowledges updates as its callback consumes them. A subscription
// survives disconnects: it subscribes again when its channel is connected again.
import { PVStructure } from '../../pvdata/index.ts';
import type { OpResponseMsg } from '../messages.ts';
import { Cmd, MONITOR_ACK, MONITOR_START, SUB_DESTROY, SUB_INIT } from '../protocol.ts';
import type { Channel } from './channel.ts';
import type { Circuit } from './circuit.ts';
import { statusText, type OpHandler } from './connection.ts';
import { PvaClientError } from './errors.ts';

export interface MonitorOptions {
  request?: string;
  /** Server-side queue depth (record._options.queueSize); with pipeline, the flow-control window. */
  queueSize?: number;
  /** Flow control: the server sends at most queueSize updates before the client acknowledges. */
  pipeline?: boolean;
  server?: string;
  /** Connection events: 'connected' (with the server), 'disconnected', 'error', 'finished'. */
  onEvent?: (ev: MonitorEvent) => void;
}

export type MonitorEvent =
  | { type: 'connected'; peer: string }
  | { type: 'disconnected' }
  | { type: 'error'; error: PvaClientError }
  | { type: 'finished' };

export interface Subscription {
  readonly name: string;
  /** Updates delivered so far. */
  readonly count: number;
  close(): void;
}

/** What a subscription needs of its client. */
export interface MonitorHost {
  nextIoid(): number;
  /** A user callback failed: report it (PvaClient.onError). */
  callbackFailed(pv: string, callback: 'monitor' | 'onEvent', cause: unknown): void;
  maybeForget(ch: Channel): void;
}

export class MonitorImpl implements Subscription {
  count = 0;
  private ioid = -1;
  private circuit: Circuit | undefined;
  /** The complete value so far (never handed out: each update is delivered as a copy). */
  private full: PVStructure | undefined;
  private unack = 0;
  private readonly ackAt: number;
  private done = false;
  private failed = false;

  constructor(
    private readonly client: MonitorHost,
    private readonly ch: Channel,
    private readonly pvRequest: PVStructure,
    private readonly callback: (value: PVStructure) => void | Promise<void>,
    private readonly pipeline: boolean,
    private readonly queueSize: number,
    private readonly onEvent: ((ev: MonitorEvent) => void) | undefined,
  ) {
    this.ackAt = Math.max(1, Math.floor(queueSize / 2));
  }

  get name(): string {
    return this.ch.name;
  }

  private emit(ev: MonitorEvent): void {
    try {
      this.onEvent?.(ev);
    } catch (e) {
      this.client.callbackFailed(this.ch.name, 'onEvent', e);
    }
  }

  /** (Re)subscribes on the channel's current circuit. */
  start(): void {
    if (this.done || this.failed || this.ioid >= 0) return;
    const c = this.ch.circuit;
    if (!c) return;
    this.circuit = c;
    const ioid = (this.ioid = this.client.nextIoid());
    const sid = this.ch.sid;
    this.full = undefined;
    this.unack = 0;
    const h: OpHandler = {
      types: {},
      onMessage: (m) => {
        if (m.type === 'opResponse') this.onResponse(m, h, sid, ioid, c);
      },
      onClosed: () => {
        /* handled through the channel's disconnect */
      },
    };
    c.conn.register(ioid, h);
    c.conn.opRequest({
      command: Cmd.MONITOR,
      sid,
      ioid,
      subcmd: SUB_INIT | (this.pipeline ? MONITOR_ACK : 0),
      pvRequest: this.pvRequest,
      ack: this.pipeline ? this.queueSize : undefined,
    });
    this.emit({ type: 'connected', peer: this.ch.peer });
  }

  private onResponse(m: OpResponseMsg, h: OpHandler, sid: number, ioid: number, c: Circuit): void {
    if (ioid !== this.ioid) return;
    if (m.subcmd & SUB_INIT) {
      if (m.status && m.status.type > 1) {
        this.failed = true;
        c.conn.destroyRequest(sid, ioid);
        this.ioid = -1;
        this.emit({ type: 'error', error: new PvaClientError(`${this.ch.name}: ${statusText(m.status)}`, this.ch.name) });
        return;
      }
      if (!m.fieldType) return;
      h.types.get = m.fieldType;
      this.full = new PVStructure(m.fieldType);
      // updates are decoded onto a copy of the complete value: each arrives complete
      h.types.base = this.full;
      c.conn.opRequest({ command: Cmd.MONITOR, sid, ioid, subcmd: MONITOR_START });
      return;
    }
    if (m.value && m.changed && this.full) {
      const out = m.value;
      out.changed.clear().or(m.changed);
      this.full.copyChanged(out, m.changed);
      this.full.clearChanged();
      this.count++;
      this.deliver(out, sid, ioid, c);
    }
    if (m.subcmd & SUB_DESTROY) {
      // the server ended the subscription
      c.conn.unregister(ioid);
      this.ioid = -1;
      this.done = true;
      this.ch.subs.delete(this);
      if (m.status && m.status.type > 1) {
        this.emit({ type: 'error', error: new PvaClientError(`${this.ch.name}: ${statusText(m.status)}`, this.ch.name) });
      }
      this.emit({ type: 'finished' });
    }
  }

  /** Runs the callback; failures go to the client's onError. Pipelined: acks once it is done. */
  private deliver(out: PVStructure, sid: number, ioid: number, c: Circuit): void {
    let r: void | Promise<void>;
    try {
      r = this.callback(out);
    } catch (e) {
      this.client.callbackFailed(this.ch.name, 'monitor', e);
      r = undefined;
    }
    if (r && typeof (r as Promise<void>).then === 'function') {
      (r as Promise<void>).then(
        () => {
          if (this.pipeline) this.consumed(sid, ioid, c);
        },
        (e: unknown) => {
          this.client.callbackFailed(this.ch.name, 'monitor', e);
          if (this.pipeline) this.consumed(sid, ioid, c);
        },
      );
    } else if (this.pipeline) this.consumed(sid, ioid, c);
  }

  private consumed(sid: number, ioid: number, c: Circuit): void {
    if (ioid !== this.ioid || c.closed) return;
    this.unack++;
    if (this.unack >= this.ackAt) {
      const n = this.unack;
      this.unack = 0;
      c.conn.opRequest({ command: Cmd.MONITOR, sid, ioid, subcmd: MONITOR_ACK, ack: n });
    }
  }

  /** The channel disconnected: wait for it to come back. */
  lost(wasConnected: boolean): void {
    if (this.ioid >= 0) this.circuit?.conn.unregister(this.ioid);
    this.ioid = -1;
    this.circuit = undefined;
    if (wasConnected && !this.done) this.emit({ type: 'disconnected' });
  }

  closeQuietly(): void {
    this.done = true;
    this.ioid = -1;
  }

  close(): void {
    if (this.done) return;
    this.done = true;
    this.ch.subs.delete(this);
    this.client.maybeForget(this.ch);
    if (this.ioid >= 0 && this.circuit && !this.circuit.closed) {
      this.circuit.conn.destroyRequest(this.ch.sid, this.ioid);
    }
    this.ioid = -1;
  }
}
