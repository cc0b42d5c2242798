// PvFeed: one served PV as the web clients see it. Listens to its holder while anyone is
// subscribed and tells the subscribers that it changed; the JSON of the current state is built at
// most once per change, when the first subscriber sends it, and shared by every client.
import { EpicsCommandHolder, EpicsPvHolder, alarmOf, displayFormOf, type PvKind } from '../epics/index.ts';
import {
  metadataFragment,
  severityName,
  timeFragment,
  valueFragment,
  vtypeOf,
  type PvwsMetadata,
} from './pvws-json.ts';

/** A served PV's holder: a tree variable or a command. */
export type Holder = EpicsPvHolder | EpicsCommandHolder;

/** Someone holding a subscription to a feed (a client session's entry for one PV). */
export interface FeedSubscriber {
  /** The feed has a new state; called synchronously from the tree update. */
  feedChanged(): void;
}

const defined = <T>(x: T | undefined | null): T | undefined => (x === null ? undefined : x);

export class PvFeed {
  /** The PV's kind as pvData serves it (a command: its argument's type). */
  readonly kind: PvKind;
  private readonly subs = new Set<FeedSubscriber>();
  private stopListening: (() => void) | undefined;
  private gen = 1;
  private builtGen = 0;
  private _body = '';
  private _severity = 'NONE';
  private _status = '';
  private _meta: string | undefined;
  private deltaGen = 0;
  private _delta: Buffer = Buffer.alloc(0);
  private readonly nameJson: string;
  private readonly startMs = Date.now();
  private readonly onChange = (): void => {
    this.gen++;
    for (const s of this.subs) s.feedChanged();
  };

  constructor(
    /** The served PV name. */
    readonly name: string,
    readonly holder: Holder,
  ) {
    this.kind = holder instanceof EpicsPvHolder ? holder.kind : { kind: 'scalar', type: holder.argType.type, array: holder.argType.array };
    this.nameJson = JSON.stringify(name);
  }

  /**
   * The whole update message for a client that has everything but the value and time (no
   * metadata, severity, status or access change), as UTF-8: made once per change and sent to
   * every such client as it is.
   */
  get delta(): Buffer {
    if (this.deltaGen !== this.gen) {
      const body = this.body;
      this.deltaGen = this.gen;
      this._delta = Buffer.from(`{"type":"update","pv":${this.nameJson},${body}}`);
    }
    return this._delta;
  }

  /** Whether the PV takes writes at all (RO variables do not; commands do). */
  get writable(): boolean {
    return this.holder instanceof EpicsPvHolder ? this.holder.writable : true;
  }

  get subscriberCount(): number {
    return this.subs.size;
  }

  add(s: FeedSubscriber): void {
    this.subs.add(s);
    if (!this.stopListening) {
      const h = this.holder;
      if (h instanceof EpicsPvHolder) {
        // the variable itself (its updates, alarms, device enable): the pvAccess side stays idle
        const v = h.variable;
        v.addListener(this.onChange);
        this.stopListening = () => v.delListener(this.onChange);
      } else this.stopListening = h.subscribe(this.onChange);
      this.gen++; // anything may have changed while nobody listened
    }
  }

  delete(s: FeedSubscriber): void {
    this.subs.delete(s);
    if (this.subs.size === 0 && this.stopListening) {
      this.stopListening();
      this.stopListening = undefined;
    }
  }

  /** Ends every subscription's link to the holder (the server is stopping). */
  close(): void {
    this.subs.clear();
    this.stopListening?.();
    this.stopListening = undefined;
  }

  /** A number that changes whenever the state does. */
  get generation(): number {
    return this.gen;
  }

  /** The value and time fields of the current state, e.g. `"value":1.5,"seconds":…,"nanos":…`. */
  get body(): string {
    this.build();
    return this._body;
  }

  /** The current severity name (NONE, MINOR, MAJOR, INVALID). */
  get severity(): string {
    this.build();
    return this._severity;
  }

  /** The current alarm message ('' when none: HIHI, DISABLE, a hardware error …). */
  get status(): string {
    this.build();
    return this._status;
  }

  /** The metadata fields of the first update (vtype, units, limits, labels …), each after a comma. */
  get meta(): string {
    this._meta ??= metadataFragment(this.metadata());
    return this._meta;
  }

  private build(): void {
    if (this.builtGen === this.gen) return;
    this.builtGen = this.gen;
    const h = this.holder;
    if (h instanceof EpicsPvHolder) {
      const vv = h.variable.getVariableValue(false);
      const a = alarmOf(vv.status, vv.severity, vv.error);
      this._severity = severityName(a.severity);
      this._status = a.message;
      const k = this.kind.kind;
      const v = k === 'enum' || k === 'display' ? h.toPvValue(vv.value) : vv.value;
      this._body = `${valueFragment(this.kind, v, h.choices)},${timeFragment(vv.updated || Date.now())}`;
    } else {
      const last = h.lastPut;
      const v = last ? last.value : h.command.defaultArg ?? (this.kind.kind === 'scalar' && this.kind.type === 'string' ? '' : 0);
      this._severity = 'NONE';
      this._status = '';
      this._body = `${valueFragment(this.kind, v)},${timeFragment(last?.ms ?? this.startMs)}`;
    }
  }

  private metadata(): PvwsMetadata {
    const h = this.holder;
    const m: PvwsMetadata = { vtype: vtypeOf(this.kind) };
    if (h instanceof EpicsCommandHolder) {
      m.description = h.command.description ?? '';
      if (this.kind.kind === 'scalar' && this.kind.type === 'boolean') m.labels = ['False', 'True'];
      return m;
    }
    const v = h.variable;
    m.description = v.description ?? '';
    const k = this.kind;
    if (k.kind === 'enum') m.labels = h.choices;
    else if (k.kind === 'scalar' && k.type === 'boolean') m.labels = ['False', 'True'];
    else if (k.kind === 'scalar' && k.type !== 'string') {
      m.units = v.units ?? '';
      m.precision = displayFormOf(v.disp).precision;
      m.min = defined(v.minimum);
      m.max = defined(v.maximum);
      m.warn_low = defined(v.lowWarning);
      m.warn_high = defined(v.highWarning);
      m.alarm_low = defined(v.lowAlarm);
      m.alarm_high = defined(v.highAlarm);
    } else if (v.units) m.units = v.units;
    return m;
  }
}
