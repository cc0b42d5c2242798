// The EPICS long-string convention: a string PV `NAME` is also served as `NAME.$`, a DBR_CHAR array
// holding the whole value as NUL-terminated UTF-8 (an IOC does the same for every DBF_STRING field:
// `rec.VAL$`, and `rec.$` for lsi/lso). DBR_STRING carries at most 39 bytes and a NUL, so `NAME.$` is
// how a CA client (`caget -S NAME.$`, pyepics `caget('NAME.$', as_string=True)`) reads a longer value.

import type { CaClientInfo, CaNativeType, CaPv, CaPvMetadata, CaPvSnapshot, CaValue, CaWriteContext } from './source.ts';

/** The suffix that names a PV's long-string view. */
export const LONG_STRING_SUFFIX = '.$';

/**
 * Smallest element count (bytes, NUL included) of a long-string view. 4096 holds any practical
 * status text or file path, and a DBR_CTRL_CHAR of that size stays far below the 16384-byte default
 * of the clients' EPICS_CA_MAX_ARRAY_BYTES; clients that ask for count 0 (caget, camonitor, pyepics)
 * receive only the current length anyway.
 */
export const CA_LONG_STRING_MIN_COUNT = 4096;

/**
 * Element count for a long-string view whose value is `bytes` bytes of UTF-8 now: the minimum, or
 * twice the current size plus its NUL when that is larger (room to grow). CA fixes a channel's
 * element count when it connects, so a value that later outgrows this is cut (see textToChars).
 */
export function longStringCount(bytes: number, minCount = CA_LONG_STRING_MIN_COUNT): number {
  return Math.max(minCount, 2 * (bytes + 1));
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * `text` as NUL-terminated UTF-8 of at most `maxCount` bytes. A longer text is cut at a character
 * boundary (never half a UTF-8 sequence) so that the NUL still fits; `truncated` says whether it was.
 */
export function textToChars(text: string, maxCount: number): { chars: Uint8Array; truncated: boolean } {
  const b = utf8.encode(text);
  if (b.length + 1 <= maxCount) {
    const chars = new Uint8Array(b.length + 1);
    chars.set(b);
    return { chars, truncated: false };
  }
  let end = Math.max(0, maxCount - 1);
  while (end > 0 && (b[end]! & 0xc0) === 0x80) end--;
  const chars = new Uint8Array(end + 1);
  chars.set(b.subarray(0, end));
  return { chars, truncated: true };
}

/**
 * A written char array as text: the bytes up to the first NUL, decoded as UTF-8, or, when they are
 * not valid UTF-8, one character per byte (ISO 8859-1), as clients that send a string's code points
 * do (pyepics). A string (a DBR_STRING written to a string PV) is returned as is.
 */
export function charsToText(v: CaValue): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return v === 0 ? '' : String.fromCharCode(v & 0xff);
  const a = v as ArrayLike<number | string>;
  let end = 0;
  while (end < a.length && Number(a[end]) !== 0) end++;
  const bytes = new Uint8Array(end);
  for (let i = 0; i < end; i++) bytes[i] = Number(a[i]) & 0xff;
  try {
    return fromUtf8.decode(bytes);
  } catch {
    let out = '';
    for (const b of bytes) out += String.fromCharCode(b);
    return out;
  }
}

/** Settings of a `NAME.$` long-string view of a PV. */
export interface CaLongStringOptions {
  /** Element count; default longStringCount() of the base PV's value now. */
  maxCount?: number;
  /** Called once, the first time a value is longer than maxCount - 1 bytes and had to be cut. */
  onTruncated?: (bytes: number, maxCount: number) => void;
}

/**
 * The `NAME.$` view of a string PV (native type 'string', one element): a DBR_CHAR array of the full
 * value, with the base PV's alarm, timestamp, access rights and monitors. A write is decoded to text
 * (see charsToText) and handed to the base PV's write() as a string.
 */
export class CaLongStringPv implements CaPv {
  readonly nativeType: CaNativeType = 'char';
  readonly maxCount: number;
  readonly refresh?: () => Promise<void>;
  private lastText: string | undefined;
  private lastChars: Uint8Array = new Uint8Array(1);
  private warned = false;
  private readonly onTruncated: CaLongStringOptions['onTruncated'];

  constructor(
    readonly base: CaPv,
    options: CaLongStringOptions = {},
  ) {
    if (base.nativeType !== 'string' || base.maxCount !== 1) throw new Error('a long-string view needs a scalar string PV');
    this.maxCount = options.maxCount ?? longStringCount(utf8.encode(String(base.snapshot().value)).length);
    this.onTruncated = options.onTruncated;
    const r = base.refresh;
    if (r) this.refresh = () => r.call(base);
    const a = base.accessRights;
    if (a) this.accessRights = (client) => a.call(base, client);
  }

  /** The base PV's per-client access, when it has one (access security applies to NAME.$ too). */
  readonly accessRights?: (client: CaClientInfo) => number;

  get writable(): boolean {
    return this.base.writable;
  }

  /** The base PV's units and limits (a client asking DBR_CTRL_CHAR gets them); never enum states. */
  metadata(): CaPvMetadata {
    const m = { ...this.base.metadata() };
    delete m.enumStrings;
    return m;
  }

  snapshot(): CaPvSnapshot {
    const s = this.base.snapshot();
    return { value: this.chars(String(s.value)), status: s.status, severity: s.severity, timestamp: s.timestamp };
  }

  write(value: CaValue, context: CaWriteContext): Promise<void> {
    return this.base.write(charsToText(value), context);
  }

  subscribe(listener: (events: number) => void): () => void {
    return this.base.subscribe(listener);
  }

  /** The encoded value, kept while the text is unchanged (every monitor of an update shares it). */
  private chars(text: string): Uint8Array {
    if (text === this.lastText) return this.lastChars;
    const { chars, truncated } = textToChars(text, this.maxCount);
    if (truncated && !this.warned) {
      this.warned = true;
      this.onTruncated?.(utf8.encode(text).length, this.maxCount);
    }
    this.lastText = text;
    this.lastChars = chars;
    return chars;
  }
}

/** The long-string view of `pv` when it is a scalar string PV, else undefined. */
export function longStringView(pv: CaPv, options: CaLongStringOptions = {}): CaLongStringPv | undefined {
  return pv.nativeType === 'string' && pv.maxCount === 1 ? new CaLongStringPv(pv, options) : undefined;
}
