// A small getopt: short options with or without values (-r req, -rreq, -w5, -# 3), long options
// (--request=req, --count 3), options whose value may be left out (--dump, --dump=FILE, --dump FILE),
// '--' ends options. Arguments that look like negative numbers are positional (so `pvtree put X -5`
// works).

export interface OptSpec {
  /** Short letter (or '#'). */
  short?: string;
  long: string;
  /**
   * Takes a value. 'optional': `--name=VALUE`, `--name VALUE` or `--name` alone (then the option is
   * `true`); a separate VALUE is claimed only when the command still gets its positional arguments
   * without it (see ParseOptions.positionals).
   */
  value?: boolean | 'optional';
}

export interface ParseOptions {
  /**
   * How many positional arguments the command takes. An argument after an optional-value option
   * is that option's value when more positionals than this were given, else it stays positional:
   * with 1, `serve tree.yaml --dump map.txt` dumps to map.txt, `serve --dump tree.yaml` to stdout.
   */
  positionals?: number;
}

export interface Parsed {
  opts: Map<string, string | true>;
  positional: string[];
}

export class UsageError extends Error {}

export function parseArgs(argv: string[], specs: OptSpec[], po: ParseOptions = {}): Parsed {
  const opts = new Map<string, string | true>();
  const positional: string[] = [];
  /** Optional-value options followed by a bare argument: that argument's index in `positional`. */
  const candidates: Array<{ long: string; at: number }> = [];
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
      if (s.value === 'optional') {
        if (eq >= 0) opts.set(s.long, a.slice(eq + 1));
        else {
          opts.set(s.long, true);
          const next = argv[i + 1];
          if (next !== undefined && !isOption(next)) candidates.push({ long: s.long, at: positional.length });
        }
      } else if (s.value) {
        const v: string | undefined = eq < 0 ? argv[++i] : a.slice(eq + 1);
        if (v === undefined) throw new UsageError(`option '--${name}' needs a value`);
        opts.set(s.long, v);
      } else {
        if (eq >= 0) throw new UsageError(`option '--${name}' takes no value`);
        opts.set(s.long, true);
      }
      continue;
    }
    if (isOption(a)) {
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
  // claim values for optional-value options from the right while there are positionals to spare
  let spare = po.positionals === undefined ? 0 : positional.length - po.positionals;
  for (let k = candidates.length - 1; k >= 0 && spare > 0; k--, spare--) {
    const [v] = positional.splice(candidates[k].at, 1);
    opts.set(candidates[k].long, v);
  }
  return { opts, positional };
}

/** An option word (not '-' alone, not a negative number). */
function isOption(a: string): boolean {
  return a.startsWith('-') && a.length > 1 && !/^-[\d.]/.test(a);
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
