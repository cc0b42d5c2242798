// Minimal leveled logger; servers take one so tests and embedding applications can silence or capture it.

/**
 * A leveled logger. Servers take one, so a program can silence, redirect or capture their
 * messages.
 */
export interface Logger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

const LEVELS = { debug: 0, info: 1, warn: 2, error: 3, silent: 4 } as const;
/** Least severe level a {@link consoleLogger} prints (`silent`: nothing). */
export type LogLevel = keyof typeof LEVELS;

/**
 * Logs timestamped lines at or above `level` (default from PVTREE_LOG, else 'info') to `write`
 * (default stderr).
 */
export function consoleLogger(
  prefix = 'pvtree',
  level: LogLevel = (process.env.PVTREE_LOG as LogLevel) || 'info',
  write: (line: string) => void = (line) => void process.stderr.write(line),
): Logger {
  const min = LEVELS[level] ?? 1;
  const at = (l: LogLevel) => (msg: string) => {
    if (LEVELS[l] >= min) write(`${new Date().toISOString()} ${l.toUpperCase()} ${prefix}: ${msg}\n`);
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** A logger that keeps lines in memory (for tests). */
export function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const at = (l: string) => (msg: string) => void lines.push(`${l}: ${msg}`);
  return { lines, debug: () => {}, info: at('info'), warn: at('warn'), error: at('error') };
}
