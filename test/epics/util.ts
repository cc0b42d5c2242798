// Helpers for the bridge tests: monitor collectors, changed-field paths, polling waits.
import assert from 'node:assert/strict';
import type { PVStructure, FieldDesc, Structure } from '../../src/pvdata/index.ts';
import type { PvaClient, MonitorEvent } from '../../src/pva/client/index.ts';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it is truthy (or throws after `timeoutMs`). */
export async function waitUntil(fn: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const t0 = Date.now();
  while (!fn()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** Dotted paths of the bits set in a value's `changed` set (as the update carried them). */
export function changedPaths(v: PVStructure): string[] {
  const out: string[] = [];
  const L = v.type.layout;
  for (let o = v.changed.nextSetBit(0); o >= 0 && o < L.length; o = v.changed.nextSetBit(o + 1)) out.push(L[o].path);
  return out;
}

/** Leaf paths covered by the changed set (a marked structure covers all its leaves). */
export function changedLeaves(v: PVStructure): string[] {
  const out: string[] = [];
  const L = v.type.layout;
  for (let i = 1; i < L.length; i++) if (L[i].type.kind !== 'structure' && v.isChanged(i)) out.push(L[i].path);
  return out;
}

/** Top-level field names touched by the update. */
export function changedTop(v: PVStructure): string[] {
  const s = new Set<string>();
  for (const p of changedLeaves(v)) s.add(p.split('.')[0]);
  return [...s].sort();
}

export interface Collector {
  readonly values: PVStructure[];
  readonly events: MonitorEvent[];
  /** Waits until an update at index >= from satisfies pred; returns it. */
  next(pred?: (v: PVStructure) => boolean, from?: number, timeoutMs?: number): Promise<PVStructure>;
  close(): void;
}

/** Subscribes and records every update and connection event. */
export function collect(client: PvaClient, name: string): Collector {
  const values: PVStructure[] = [];
  const events: MonitorEvent[] = [];
  const sub = client.monitor(name, (v) => void values.push(v), { onEvent: (e) => void events.push(e) });
  return {
    values,
    events,
    async next(pred = () => true, from = 0, timeoutMs = 3000) {
      let found: PVStructure | undefined;
      await waitUntil(() => {
        for (let i = from; i < values.length; i++) {
          if (pred(values[i])) {
            found = values[i];
            return true;
          }
        }
        return false;
      }, `an update of ${name}`, timeoutMs);
      return found!;
    },
    close: () => sub.close(),
  };
}

/** Scalar type of a structure's field (e.g. 'value'), or 'array of <type>'. */
export function fieldType(t: FieldDesc, path = 'value'): string {
  assert.equal(t.kind, 'structure');
  const f = (t as Structure).typeAt(path);
  assert.ok(f, `field ${path} present`);
  if (f.kind === 'scalar') return f.type;
  if (f.kind === 'scalarArray') return `${f.type}[]`;
  return f.kind === 'structure' ? `struct ${f.id}` : f.kind;
}

/** Asserts that a promise rejects with a message matching every regexp. */
export async function rejectsMatching(p: Promise<unknown>, ...res: RegExp[]): Promise<Error> {
  let err: Error | undefined;
  try {
    await p;
  } catch (e) {
    err = e as Error;
  }
  assert.ok(err, 'expected a rejection');
  for (const re of res) assert.match(err.message, re);
  return err;
}
