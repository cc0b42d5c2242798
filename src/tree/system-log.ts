// The Root's SystemLog: errors and warnings the tree reports, kept as PyRogue keeps them — a JSON
// list of entries (newest last, at most maxLog of them) plus the last entry on its own.

/** One entry, with PyRogue's field names (so its GUIs and scripts read pvtree's log unchanged). */
export interface LogEntry {
  /** Seconds since the epoch. */
  created: number;
  /** Where it came from: a node path or a subsystem name. */
  name: string;
  message: string;
  exception: string | null;
  traceBack: string[] | null;
  levelName: 'WARNING' | 'ERROR';
  levelNumber: 30 | 40;
}

/** Level of a SystemLog entry. */
export type LogLevel = 'warning' | 'error';

/** A bounded list of entries: at most maxLog of them, and at most maxBytes of JSON text. */
export class SystemLogBuffer {
  private entries: LogEntry[] = [];
  /** Each entry's JSON text, and their total length (so trimming never re-encodes the list). */
  private texts: string[] = [];
  private bytes = 0;

  constructor(readonly maxLog = 1000, readonly maxBytes = 65536) {
    if (!Number.isInteger(maxLog) || maxLog < 1) throw new RangeError('maxLog must be a positive integer');
  }

  /** Adds an entry (dropping the oldest beyond maxLog or maxBytes) and returns it. */
  add(level: LogLevel, message: string, name: string, error?: Error): LogEntry {
    const e: LogEntry = {
      created: Date.now() / 1000,
      name,
      message,
      exception: error ? error.name : null,
      traceBack: error?.stack ? error.stack.split('\n').slice(1, 11).map((l) => l.trim()) : null,
      levelName: level === 'error' ? 'ERROR' : 'WARNING',
      levelNumber: level === 'error' ? 40 : 30,
    };
    const text = JSON.stringify(e);
    this.entries.push(e);
    this.texts.push(text);
    this.bytes += text.length + 1;
    while (this.entries.length > 1 && (this.entries.length > this.maxLog || this.bytes + 1 > this.maxBytes)) {
      this.entries.shift();
      this.bytes -= this.texts.shift()!.length + 1;
    }
    return e;
  }

  clear(): void {
    this.entries = [];
    this.texts = [];
    this.bytes = 0;
  }

  get size(): number {
    return this.entries.length;
  }

  /** The entries, oldest first. */
  get list(): readonly LogEntry[] {
    return this.entries;
  }

  /** The whole log as SystemLog shows it: a JSON list. */
  json(): string {
    return `[${this.texts.join(',')}]`;
  }
}
