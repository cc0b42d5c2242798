// Serves the same holders over Channel Access: adapts each holder to the CA source interface,
// choosing the native DBR type CA clients know (see the README's type table). The adapters are made
// when a client looks a name up, so an idle PV costs the CA side nothing but what start-up noted
// of its strings.
import {
  CaServer,
  DBE_ALARM,
  DBE_LOG,
  DBE_VALUE,
  LONG_STRING_SUFFIX,
  longStringCount,
  longStringView,
  type CaNativeType,
  type CaPv,
  type CaPvMetadata,
  type CaPvSnapshot,
  type CaServerOptions,
  type CaSource,
  type CaValue,
  type CaWriteContext,
  type CaClientInfo,
} from '../ca/index.ts';
import type { AccessGate } from '../security/index.ts';
import { accessBits, caRequester } from './access.ts';
import type { Logger } from '../pva/server/index.ts';
import { EpicsCommandHolder, EpicsPvHolder } from './holder.ts';
import { displayFormOf, alarmOf } from './type-map.ts';
import type { ScalarType } from '../pvdata/index.ts';
import type { PvKind } from './type-map.ts';

/** CA strings hold at most 39 characters and a NUL; longer ones travel as char arrays. */
const CA_STRING_MAX = 40;
const MAX_ENUM_STATES = 16;
const MAX_ENUM_STRING = 25;

/** The DBR type a pvData scalar type is served as (CA has no 64-bit or unsigned 32-bit integers). */
export function caTypeOf(t: ScalarType): CaNativeType {
  switch (t) {
    case 'boolean':
      return 'enum';
    case 'byte':
    case 'short':
      return 'short';
    case 'ubyte':
      return 'char';
    case 'ushort':
    case 'int':
      return 'long';
    case 'float':
      return 'float';
    case 'string':
      return 'string';
    default: // uint, long, ulong, double
      return 'double';
  }
}

const utf8 = new TextEncoder();
const utf8Length = (s: string): number => utf8.encode(s).length;
/** Whether `s` is CA_STRING_MAX bytes of UTF-8 or more (a UTF-16 unit is 1 to 3 bytes: most need no encoding). */
const longForCa = (s: string): boolean =>
  s.length >= CA_STRING_MAX || (s.length * 3 >= CA_STRING_MAX && utf8Length(s) >= CA_STRING_MAX);

function timestampOf(ms: number): CaPvSnapshot['timestamp'] {
  const t = ms || Date.now();
  return { secondsPastEpoch: Math.floor(t / 1000), nanoseconds: Math.round((t % 1000) * 1e6) };
}

const toNum = (x: unknown): number => (typeof x === 'bigint' ? Number(x) : typeof x === 'boolean' ? (x ? 1 : 0) : Number(x));

/** A tree variable as a CA PV. */
class VariableCaPv implements CaPv {
  readonly nativeType: CaNativeType;
  readonly maxCount: number;
  /**
   * A string 40 bytes or more long at start: CA clients get its long-string view (a char array)
   * under the plain name too, as before `NAME.$` existed.
   */
  readonly startsLong: boolean;
  private readonly enumAsString: boolean;
  /** Present only with read-on-get, so plain reads stay synchronous. */
  readonly refresh?: () => Promise<void>;

  /** Per-client rights, present with access security: the gate's answer, without WRITE when RO. */
  readonly accessRights?: (client: CaClientInfo) => number;

  constructor(
    private readonly h: EpicsPvHolder,
    startsLong = false,
    gate?: AccessGate,
  ) {
    if (gate) this.accessRights = (c) => accessBits(gate.rights(h.resource, caRequester(c))) & (h.writable ? 3 : 1);
    if (h.readsOnGet) this.refresh = () => h.readOnGet();
    const k = h.kind;
    const v = h.variable;
    if (k.kind === 'enum') {
      this.enumAsString = h.choices.length > MAX_ENUM_STATES || h.choices.some((c) => utf8Length(c) > MAX_ENUM_STRING);
      this.nativeType = this.enumAsString ? 'string' : 'enum';
      this.maxCount = 1;
      this.startsLong = false;
    } else if (k.kind === 'display' || (k.kind === 'scalar' && k.type === 'string' && !k.array)) {
      this.enumAsString = false;
      this.startsLong = startsLong;
      this.nativeType = 'string';
      this.maxCount = 1;
    } else {
      this.enumAsString = false;
      this.startsLong = false;
      this.nativeType = caTypeOf(k.type);
      this.maxCount = k.array ? Math.max(1, v.nativeType.length ?? 1) : 1;
    }
  }

  get writable(): boolean {
    return this.h.writable;
  }

  metadata(): CaPvMetadata {
    const v = this.h.variable;
    if (this.nativeType === 'enum') {
      return { enumStrings: this.h.kind.kind === 'enum' ? this.h.choices : ['False', 'True'] };
    }
    const n = (x: number | bigint | undefined) => (x === undefined || x === null ? undefined : Number(x));
    return {
      units: v.units ?? '',
      precision: displayFormOf(v.disp).precision,
      lowerDisplay: n(v.minimum) ?? 0,
      upperDisplay: n(v.maximum) ?? 0,
      lowerControl: n(v.minimum) ?? 0,
      upperControl: n(v.maximum) ?? 0,
      lowerAlarm: n(v.lowAlarm) ?? NaN,
      lowerWarning: n(v.lowWarning) ?? NaN,
      upperWarning: n(v.highWarning) ?? NaN,
      upperAlarm: n(v.highAlarm) ?? NaN,
    };
  }

  snapshot(): CaPvSnapshot {
    const h = this.h;
    const vv = h.variable.getVariableValue(false);
    const a = alarmOf(vv.status, vv.severity, vv.error);
    let value: CaValue;
    const raw = vv.value;
    if (h.kind.kind === 'enum') {
      const pv = h.toPvValue(raw) as { index: number };
      value = this.enumAsString ? h.choices[pv.index] ?? '' : pv.index;
    } else if (this.nativeType === 'string') {
      // a string array (str[n]) is DBR_STRING with n elements; everything else one string
      value = h.kind.kind === 'display' ? vv.valueDisp : h.kind.array ? Array.from(raw as ArrayLike<unknown>, (x) => String(x ?? '')) : String(raw);
    } else if (typeof raw === 'object' && raw !== null) value = Array.from(raw as ArrayLike<unknown>, toNum);
    else value = toNum(raw);
    return { value, status: a.caStatus, severity: a.severity as 0 | 1 | 2 | 3, timestamp: timestampOf(vv.updated) };
  }

  async write(value: CaValue, ctx: CaWriteContext): Promise<void> {
    const h = this.h;
    await h.set(h.fromPlainValue(value as number | string | ArrayLike<number | string>), caRequester(ctx));
  }

  subscribe(listener: (events: number) => void): () => void {
    return this.h.subscribe((e) => listener((e.value ? DBE_VALUE | DBE_LOG : 0) | (e.alarm ? DBE_ALARM : 0)));
  }
}

/** A command as a CA PV: writing it runs the command with the written value. */
class CommandCaPv implements CaPv {
  readonly nativeType: CaNativeType;
  readonly maxCount = 1;
  readonly writable = true;

  /** Per-client rights, present with access security (running a command needs WRITE). */
  readonly accessRights?: (client: CaClientInfo) => number;

  constructor(
    private readonly h: EpicsCommandHolder,
    /** When serving started: the timestamp until the first put. */
    private readonly startMs = Date.now(),
    gate?: AccessGate,
  ) {
    this.nativeType = caTypeOf(h.argType.type);
    if (gate) this.accessRights = (c) => accessBits(gate.rights(h.resource, caRequester(c)));
  }

  metadata(): CaPvMetadata {
    return this.nativeType === 'enum' ? { enumStrings: ['False', 'True'] } : { units: '', precision: 0 };
  }

  /** The last value put over either protocol (else the default argument), in the native type. */
  snapshot(): CaPvSnapshot {
    const last = this.h.lastPut;
    const raw = last ? last.value : this.h.command.defaultArg;
    let value: CaValue;
    if (this.nativeType === 'string') value = raw === undefined || raw === null ? '' : String(raw);
    else if (typeof raw === 'object' && raw !== null) value = Array.from(raw as ArrayLike<unknown>, toNum)[0] ?? 0;
    else {
      const n = raw === undefined || raw === null ? 0 : toNum(raw);
      value = Number.isNaN(n) ? 0 : n;
    }
    return { value, status: 0, severity: 0, timestamp: timestampOf(last?.ms ?? this.startMs) };
  }

  async write(value: CaValue, ctx: CaWriteContext): Promise<void> {
    let arg: unknown = typeof value === 'number' || typeof value === 'string' ? value : Array.from(value as ArrayLike<number>);
    if (this.h.argType.type === 'boolean' && typeof arg === 'number') arg = arg !== 0;
    await this.h.put(arg, caRequester(ctx));
  }

  subscribe(listener: (events: number) => void): () => void {
    return this.h.subscribe(() => listener(DBE_VALUE | DBE_LOG));
  }
}

/** A variable whose CA value is a string (str, or a value shown as its display string), as VariableCaPv decides. */
function isCaString(k: PvKind): boolean {
  return k.kind === 'display' || (k.kind === 'scalar' && k.type === 'string' && !k.array);
}

/** The CA adapter of a holder (`startsLong`: see VariableCaPv; `startMs`: when serving started). */
export function caPvOf(h: EpicsPvHolder | EpicsCommandHolder, startsLong = false, startMs?: number, gate?: AccessGate): CaPv {
  return h instanceof EpicsPvHolder ? new VariableCaPv(h, startsLong, gate) : new CommandCaPv(h, startMs, gate);
}

/** The Channel Access half of an EpicsPvServer. */
export class CaFrontend {
  private server: CaServer | undefined;
  private holders: ReadonlyMap<string, EpicsPvHolder | EpicsCommandHolder> = new Map();
  /**
   * UTF-8 bytes at start of the string PVs whose value was 40 bytes or more long then (variables:
   * exactly those that start long); sizes their long-string views. Every other string starts short.
   */
  private readonly startBytes = new Map<string, number>();
  /** PVs whose value was cut for CA once already (warned about). */
  private readonly truncated = new Set<string>();
  private readonly startMs = Date.now();

  constructor(
    private readonly opts: Partial<CaServerOptions>,
    private readonly log: Logger,
    /** Access security: per-client rights and checked writes. */
    private readonly gate?: AccessGate,
  ) {}

  get caServer(): CaServer | undefined {
    return this.server;
  }

  /**
   * Notes what CA needs of a PV from the moment serving starts: how long its string value is now.
   * The server calls it for every PV as it walks the tree, before start().
   */
  note(name: string, h: EpicsPvHolder | EpicsCommandHolder): void {
    if (h instanceof EpicsPvHolder) {
      // only str variables and values wider than 64 bits can be CA strings
      const ti = h.variable.typeInfo;
      if (ti.base !== 'String' && !(ti.bits > 64)) return;
      if (!isCaString(h.kind)) return;
      const v = h.variable;
      const raw = v.value;
      const disp = v.valueDisp;
      // the limits are in bytes of UTF-8, as sent
      if (!longForCa(disp) && !(typeof raw === 'string' && longForCa(raw))) return;
      this.startBytes.set(name, utf8Length(h.kind.kind === 'display' ? disp : String(raw)));
    } else {
      if (caTypeOf(h.argType.type) !== 'string') return;
      const d = h.command.defaultArg;
      const text = d === undefined || d === null ? '' : String(d);
      if (longForCa(text)) this.startBytes.set(name, utf8Length(text));
    }
  }

  async start(holders: ReadonlyMap<string, EpicsPvHolder | EpicsCommandHolder>): Promise<void> {
    this.holders = holders;
    const source: CaSource = { lookup: (name) => this.lookup(name) };
    const log = this.log;
    this.server = new CaServer({
      log: (level, msg) => (level === 'error' ? log.error(msg) : level === 'warn' ? log.warn(msg) : level === 'info' ? log.info(msg) : log.debug(msg)),
      ...this.opts,
      source,
    });
    const { port } = await this.server.start();
    log.info(`Channel Access server on port ${port}`);
  }

  /**
   * A name's CA PV, made for this lookup: a served holder's adapter (a string long at start: its
   * long-string view), or `NAME.$`, the long-string view of a PV whose CA value is a string.
   */
  private lookup(name: string): CaPv | undefined {
    const h = this.holders.get(name);
    if (h) {
      const pv = caPvOf(h, this.startBytes.has(name), this.startMs, this.gate);
      return pv instanceof VariableCaPv && pv.startsLong ? (this.view(name, pv) ?? pv) : pv;
    }
    if (!name.endsWith(LONG_STRING_SUFFIX)) return undefined;
    const base = name.slice(0, -LONG_STRING_SUFFIX.length);
    const bh = this.holders.get(base);
    return bh ? this.view(base, caPvOf(bh, this.startBytes.has(base), this.startMs, this.gate)) : undefined;
  }

  /** `NAME.$`: the whole value as a char array, for every PV whose CA value is a string (README). */
  private view(name: string, pv: CaPv): CaPv | undefined {
    const onTruncated = (bytes: number, max: number): void => {
      if (this.truncated.has(name)) return;
      this.truncated.add(name);
      this.log.warn(`ca: ${name} is ${bytes} bytes long; CA clients get its first ${max - 1} bytes as a char array (${name}${LONG_STRING_SUFFIX})`);
    };
    return longStringView(pv, { maxCount: longStringCount(this.startBytes.get(name) ?? 0), onTruncated });
  }

  async stop(): Promise<void> {
    await this.server?.stop();
    this.server = undefined;
  }
}
