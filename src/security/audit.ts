// The audit log: one JSON object per line for every write and command call it is given, appended
// to a file that is rotated by size (FILE → FILE.1 → FILE.2 …, the oldest dropped).
import { closeSync, existsSync, fstatSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';

/** One audited operation. */
export interface AuditRecord {
  /** ISO 8601 time the operation finished (or was refused). */
  time: string;
  /** PV name as the client used it. */
  pv: string;
  /** Tree path of the variable or command. */
  path: string;
  /** 'pva', 'ca', 'web' … */
  protocol: string;
  /** 'put' (a variable written), 'call' (a command run by RPC or by a put). */
  op: 'put' | 'call';
  user: string;
  host: string;
  /** The value before the write (variables only). */
  old?: unknown;
  /** The value written, or the command's argument. */
  new?: unknown;
  /** 'ok', 'denied', or 'error'. */
  result: 'ok' | 'denied' | 'error';
  /** Why it was refused or failed. */
  error?: string;
  /** The access security group that decided. */
  asg?: string;
  /** The rule that granted the write had TRAPWRITE. */
  trap?: boolean;
}

export interface AuditLogOptions {
  /** Rotate when the file would grow beyond this many bytes (default 10 MiB). */
  maxBytes?: number;
  /** Rotated files kept besides the current one (default 5). */
  keep?: number;
}

/** Values as JSON: bigints as decimal strings, typed arrays as arrays, long arrays cut. */
const MAX_ELEMENTS = 1000;
function jsonValue(_k: string, v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
    const a = Array.from(v as unknown as ArrayLike<number | bigint>, (x) => (typeof x === 'bigint' ? x.toString() : x));
    return a.length > MAX_ELEMENTS ? [...a.slice(0, MAX_ELEMENTS), `… ${a.length - MAX_ELEMENTS} more`] : a;
  }
  if (Array.isArray(v) && v.length > MAX_ELEMENTS) return [...v.slice(0, MAX_ELEMENTS), `… ${v.length - MAX_ELEMENTS} more`];
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  return v;
}

/** Serialises one record as a line of JSON (no newline). */
export function auditLine(r: AuditRecord): string {
  return JSON.stringify(r, jsonValue);
}

/** An append-only JSON-lines file, rotated by size. Writes are synchronous, so lines keep their order. */
export class AuditLog {
  readonly maxBytes: number;
  readonly keep: number;
  private fd: number | undefined;
  private size = 0;

  constructor(
    readonly file: string,
    opts: AuditLogOptions = {},
  ) {
    this.maxBytes = opts.maxBytes ?? 10 * 1024 * 1024;
    this.keep = Math.max(1, opts.keep ?? 5);
    this.open();
  }

  private open(): void {
    this.fd = openSync(this.file, 'a', 0o640);
    this.size = fstatSync(this.fd).size;
  }

  /** Appends one record; rotates first when it would not fit. */
  write(r: AuditRecord): void {
    const line = auditLine(r) + '\n';
    const bytes = Buffer.byteLength(line);
    if (this.size > 0 && this.size + bytes > this.maxBytes) this.rotate();
    if (this.fd === undefined) this.open();
    writeSync(this.fd!, line);
    this.size += bytes;
  }

  /** FILE.(keep-1) → FILE.keep (dropping the oldest) … FILE → FILE.1, then a fresh FILE. */
  rotate(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    const oldest = `${this.file}.${this.keep}`;
    if (existsSync(oldest)) rmSync(oldest);
    for (let i = this.keep - 1; i >= 1; i--) {
      const from = `${this.file}.${i}`;
      if (existsSync(from)) renameSync(from, `${this.file}.${i + 1}`);
    }
    if (existsSync(this.file)) renameSync(this.file, `${this.file}.1`);
    this.open();
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
