// dump(): one `pvName -> path` line per served PV, to a file or to stdout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Device, LocalCommand, LocalVariable, Root } from '../../src/tree/index.ts';
import { serve } from './harness.ts';

function buildRoot(): Root {
  const root = new Root({ name: 'R', pollEn: false });
  const d = new Device({ name: 'D' });
  root.add(d);
  d.add(new LocalVariable({ name: 'a', typeStr: 'Int32', value: 1 }));
  d.add(new LocalVariable({ name: 'b', typeStr: 'Float64', value: 2 }));
  d.add(new LocalVariable({ name: 'skip', typeStr: 'Int32', value: 2, groups: 'NoServe' }));
  d.add(new LocalCommand({ name: 'c', function: () => undefined }));
  return root;
}

// the user's own PVs: these tests leave the Root's built-ins out with the group rule a user would use
const WANT = ['test:R:D:a -> R.D.a', 'test:R:D:b -> R.D.b', 'test:R:D:c -> R.D.c'];

test('dump(file) writes one "pvName -> path" line per PV', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvtree-dump-'));
  const s = await serve(buildRoot(), { excGroups: ['NoServe', 'Builtin'] });
  try {
    const file = join(dir, 'pvs.txt');
    const text = s.server.dump(file);
    const written = readFileSync(file, 'utf8');
    assert.equal(written, text);
    assert.ok(written.endsWith('\n'));
    assert.deepEqual(written.trimEnd().split('\n').sort(), WANT);
  } finally {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('dump() without a file prints to stdout', async () => {
  const s = await serve(buildRoot(), { excGroups: ['NoServe', 'Builtin'] });
  const out: string[] = [];
  const orig = process.stdout.write;
  try {
    process.stdout.write = ((chunk: string | Uint8Array) => {
      out.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString());
      return true;
    }) as typeof process.stdout.write;
    try {
      s.server.dump();
    } finally {
      process.stdout.write = orig;
    }
    const printed = out.join('');
    assert.deepEqual(printed.trimEnd().split('\n').sort(), WANT);
  } finally {
    process.stdout.write = orig;
    await s.close();
  }
});

test('dump() with pvMap lists the explicit names', async () => {
  const s = await serve(buildRoot(), { pvMap: { 'R.D.a': 'LAB:A', 'R.D.c': 'LAB:GO' } });
  try {
    const out: string[] = [];
    const orig = process.stdout.write;
    process.stdout.write = ((chunk: string) => (out.push(String(chunk)), true)) as typeof process.stdout.write;
    try {
      s.server.dump();
    } finally {
      process.stdout.write = orig;
    }
    assert.deepEqual(out.join('').trimEnd().split('\n').sort(), ['LAB:A -> R.D.a', 'LAB:GO -> R.D.c']);
  } finally {
    await s.close();
  }
});
