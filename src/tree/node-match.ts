// PyRogue's array names: nodes named `Name[0]`, `Name[1]` … (or `Name[1][2]`) form an array that
// keys such as `Name[2]`, `Name[*]`, `Name[:]`, `Name[1:3]` or `Name[::2]` select (Python slice
// rules), as in configuration files and Node.nodeMatch.

import type { Node } from './node.ts';

/** `Name[k1][k2]…` split into the name and the bracket contents; undefined without brackets. */
export function splitArrayKey(key: string): { base: string; keys: string[] } | undefined {
  const open = key.indexOf('[');
  if (open <= 0 || !key.endsWith(']')) return undefined;
  const base = key.slice(0, open);
  const rest = key.slice(open);
  const keys: string[] = [];
  const re = /\[([^[\]]*)\]/gy;
  let m: RegExpExecArray | null;
  let end = 0;
  while ((m = re.exec(rest))) {
    keys.push(m[1].trim());
    end = re.lastIndex;
  }
  if (end !== rest.length || keys.length === 0) return undefined;
  return { base, keys };
}

/**
 * The indices of 0…length-1 a key selects: `*` or `:` (all), `n` or `-n` (one), or a Python
 * slice `a:b`, `a:b:c` (negative and empty bounds allowed). Undefined when the key is malformed.
 */
export function selectIndices(key: string, length: number): number[] | undefined {
  const k = key.trim();
  if (k === '*' || k === ':') return Array.from({ length }, (_, i) => i);
  const int = (s: string): number | undefined => (/^[+-]?\d+$/.test(s.trim()) ? Number(s.trim()) : undefined);
  if (!k.includes(':')) {
    let i = int(k);
    if (i === undefined) return undefined;
    if (i < 0) i += length;
    return i >= 0 && i < length ? [i] : [];
  }
  const parts = k.split(':');
  if (parts.length > 3) return undefined;
  while (parts.length < 3) parts.push('');
  const [a, b, c] = parts.map((p) => (p.trim() === '' ? null : int(p)));
  if (a === undefined || b === undefined || c === undefined) return undefined;
  const step = c ?? 1;
  if (step === 0) return undefined;
  const clamp = (x: number, lo: number, hi: number): number => Math.min(Math.max(x, lo), hi);
  const norm = (x: number | null, dflt: number, lo: number, hi: number): number =>
    x === null ? dflt : clamp(x < 0 ? x + length : x, lo, hi);
  const out: number[] = [];
  if (step > 0) {
    const start = norm(a, 0, 0, length);
    const stop = norm(b, length, 0, length);
    for (let i = start; i < stop; i += step) out.push(i);
  } else {
    const start = norm(a, length - 1, -1, length - 1);
    const stop = norm(b, -1, -1, length - 1);
    for (let i = start; i > stop; i += step) out.push(i);
  }
  return out;
}

type Nested = Map<number, Node | Nested>;

/**
 * Children of `parent` selected by an array key, in key order (PyRogue's nodeMatch over its
 * array nodes). Only children named `base[n]…` with as many numeric indices as the key has
 * brackets are candidates.
 */
export function matchArrayNodes(children: Iterable<Node>, base: string, keys: string[]): Node[] {
  const top: Nested = new Map();
  for (const c of children) {
    const s = splitArrayKey(c.name);
    if (!s || s.base !== base || s.keys.length !== keys.length || !s.keys.every((x) => /^\d+$/.test(x))) continue;
    let level = top;
    s.keys.forEach((x, i) => {
      const n = Number(x);
      if (i === s.keys.length - 1) level.set(n, c);
      else {
        let next = level.get(n);
        if (!(next instanceof Map)) level.set(n, (next = new Map()));
        level = next;
      }
    });
  }
  const out: Node[] = [];
  const walk = (level: Nested, depth: number): void => {
    const length = level.size ? Math.max(...level.keys()) + 1 : 0;
    const idx = selectIndices(keys[depth], length);
    if (!idx) return;
    for (const i of idx) {
      const e = level.get(i);
      if (e === undefined) continue;
      if (depth === keys.length - 1) {
        if (!(e instanceof Map)) out.push(e);
      } else if (e instanceof Map) walk(e, depth + 1);
    }
  };
  walk(top, 0);
  return out;
}
