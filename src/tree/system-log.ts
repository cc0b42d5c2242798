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

export type LogLevel = 'warning' | 'error';

/** A bounded list of entries. */
export class SystemLogBuffer {
  private entries: LogEntry[] = [];

  constructor(readonly maxLog = 1000) {
    if (!Number.isInteger(maxLog) || maxLog < 1) throw new RangeError('maxLog must be a positive integer');
  }

  /** Adds an entry (dropping the oldest beyond maxLog) and returns it. */
  add(level: LogLevel, message: string, name: string, error?: Error): LogEntry {
    const e: LogEntry = {
      created: Date.now() / 1000,
      name,
      message,
      exception: error ? error.name : null,
      traceBack: error?.stack ? error.stack.split('\n').slice(1).map((l) => l.trim()) : null,
      levelName: level === 'error' ? 'ERROR' : 'WARNING',
      levelNumber: level === 'error' ? 40 : 30,
    };
    this.entries.push(e);
    if (this.entries.length > this.maxLog) this.entries.splice(0, this.entries.length - this.maxLog);
    return e;
  }

  clear(): void {
    this.entries = [];
  }

  get size(): number {
    return this.entries.length;
  }

  /** The whole log as SystemLog shows it: a JSON list. */
  json(): string {
    return JSON.stringify(this.entries);
  }
}
