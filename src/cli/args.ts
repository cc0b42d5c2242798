// A small getopt: short options with or without values (-r req, -rreq, -w5, -# 3), long options
// (--request=req, --count 3), '--' ends options. Arguments that look like negative numbers are
// positional (so `pvtree put X -5` works).

export interface OptSpec {
  /** Short letter (or '#'). */
  short?: string;
  long: string;
  /** Takes a value. */
  value?: boolean;
}

export interface Parsed {
  opts: Map<string, string | true>;
  positional: string[];
}

export class UsageError extends Error {}

export function parseArgs(argv: string[], specs: OptSpec[]): Parsed {
  const opts = new Map<string, string | true>();
  const positional: string[] = [];
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short!, s]));
  const byLong = new Map(specs.map((s) => [s.long, s]));
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = a.slice(2, eq < 0 ? undefined : eq);
      const s = byLong.get(name);
      if (!s) throw new UsageError(`unknown option '--${name}'`);
      if (s.value) {
        let v: string | undefined = eq < 0 ? argv[++i] : a.slice(eq + 1);
        if (v === undefined) throw new UsageError(`option '--${name}' needs a value`);
        opts.set(s.long, v);
      } else opts.set(s.long, true);
      continue;
    }
    if (a.startsWith('-') && a.length > 1 && !/^-[\d.]/.test(a)) {
      for (let k = 1; k < a.length; k++) {
        const s = byShort.get(a[k]);
        if (!s) throw new UsageError(`unknown option '-${a[k]}'`);
        if (s.value) {
          let v = a.slice(k + 1);
          if (v === '') {
            v = argv[++i];
            if (v === undefined) throw new UsageError(`option '-${a[k]}' needs a value`);
          }
          opts.set(s.long, v);
          break;
        }
        opts.set(s.long, true);
      }
      continue;
    }
    positional.push(a);
  }
  return { opts, positional };
}

export function numberOpt(p: Parsed, long: string, dflt: number): number {
  const v = p.opts.get(long);
  if (v === undefined || v === true) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`bad value '${v}' for --${long}`);
  return n;
}

export function stringOpt(p: Parsed, long: string): string | undefined {
  const v = p.opts.get(long);
  return typeof v === 'string' ? v : undefined;
}
