// Serves the same holders over Channel Access: adapts each holder to the CA source interface,
// choosing the native DBR type CA clients know (see the README's type table).
import {
  CaServer,
  DBE_ALARM,
  DBE_LOG,
  DBE_VALUE,
  LONG_STRING_SUFFIX,
  StaticCaSource,
  longStringView,
  type CaNativeType,
  type CaPv,
  type CaPvMetadata,
  type CaPvSnapshot,
  type CaServerOptions,
  type CaValue,
  type CaWriteContext,
} from '../ca/index.ts';
import type { Logger } from '../pva/server/index.ts';
import { EpicsCommandHolder, EpicsPvHolder } from './holder.ts';
import { displayFormOf, alarmOf } from './type-map.ts';
import type { ScalarType } from '../pvdata/index.ts';

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

  constructor(private readonly h: EpicsPvHolder) {
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
      // the limits are in bytes of UTF-8, as sent
      this.startsLong = utf8Length(h.variable.valueDisp) >= CA_STRING_MAX || (typeof v.value === 'string' && utf8Length(v.value) >= CA_STRING_MAX);
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
    } else if (this.nativeType === 'string') value = h.kind.kind === 'display' ? vv.valueDisp : String(raw);
    else if (typeof raw === 'object' && raw !== null) value = Array.from(raw as ArrayLike<unknown>, toNum);
    else value = toNum(raw);
    return { value, status: a.caStatus, severity: a.severity as 0 | 1 | 2 | 3, timestamp: timestampOf(vv.updated) };
  }

  async write(value: CaValue, _ctx: CaWriteContext): Promise<void> {
    const h = this.h;
    await h.set(h.fromPlainValue(value as number | string | ArrayLike<number | string>));
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
  private readonly startMs = Date.now();

  constructor(private readonly h: EpicsCommandHolder) {
    this.nativeType = caTypeOf(h.argType.type);
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

  async write(value: CaValue): Promise<void> {
    let arg: unknown = typeof value === 'number' || typeof value === 'string' ? value : Array.from(value as ArrayLike<number>);
    if (this.h.argType.type === 'boolean' && typeof arg === 'number') arg = arg !== 0;
    await this.h.put(arg);
  }

  subscribe(listener: (events: number) => void): () => void {
    return this.h.subscribe(() => listener(DBE_VALUE | DBE_LOG));
  }
}

export function caPvOf(h: EpicsPvHolder | EpicsCommandHolder): CaPv {
  return h instanceof EpicsPvHolder ? new VariableCaPv(h) : new CommandCaPv(h);
}

/** The Channel Access half of an EpicsPvServer. */
export class CaFrontend {
  private server: CaServer | undefined;

  constructor(
    private readonly opts: Partial<CaServerOptions>,
    private readonly log: Logger,
  ) {}

  get caServer(): CaServer | undefined {
    return this.server;
  }

  async start(holders: ReadonlyMap<string, EpicsPvHolder | EpicsCommandHolder>): Promise<void> {
    const source = new StaticCaSource();
    const log = this.log;
    for (const [name, h] of holders) {
      const pv = caPvOf(h);
      // `NAME.$`: the whole value as a char array, for every PV whose CA value is a string (README)
      const dollar = name + LONG_STRING_SUFFIX;
      const onTruncated = (bytes: number, max: number): void =>
        log.warn(`ca: ${name} is ${bytes} bytes long; CA clients get its first ${max - 1} bytes as a char array (${dollar})`);
      const view = longStringView(pv, { onTruncated });
      source.add(name, view && pv instanceof VariableCaPv && pv.startsLong ? view : pv);
      if (view && !holders.has(dollar)) source.add(dollar, view);
    }
    this.server = new CaServer({
      log: (level, msg) => (level === 'error' ? log.error(msg) : level === 'warn' ? log.warn(msg) : level === 'info' ? log.info(msg) : log.debug(msg)),
      ...this.opts,
      source,
    });
    const { port } = await this.server.start();
    log.info(`Channel Access server on port ${port}`);
  }

  async stop(): Promise<void> {
    await this.server?.stop();
    this.server = undefined;
  }
}
