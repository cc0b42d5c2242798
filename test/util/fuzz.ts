// Case counts and seeds of the seeded fuzz tests. A default run takes seconds; a long run scales
// every count: PVTREE_FUZZ_SCALE=50 PVTREE_FUZZ_SEED=7 node scripts/run-tests.mjs fuzz
// (bench/README.md lists the counts.)
import { prng } from './prng.ts';

/** Multiplier of every fuzz case count (PVTREE_FUZZ_SCALE, at least 1). */
export const FUZZ_SCALE = Math.max(1, Number(process.env.PVTREE_FUZZ_SCALE ?? 1) || 1);
/** Added to every fuzz seed (PVTREE_FUZZ_SEED), for runs over other inputs. */
export const FUZZ_SEED = Number(process.env.PVTREE_FUZZ_SEED ?? 0) || 0;

/** The number of cases to run for a default count of `n`. */
export const cases = (n: number): number => Math.round(n * FUZZ_SCALE);

/** Seeded random choices. */
export class Rand {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = prng(seed + FUZZ_SEED);
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)];
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
}
