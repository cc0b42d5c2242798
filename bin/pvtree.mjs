#!/usr/bin/env node
// Entry point of `pvtree` / `npx pvtree`: runs the compiled command line (dist/cli/pvtree.js, one
// bundled module, so a client command starts about as fast as Node itself).
//
// In a checkout without a build (dist/ missing, e.g. `npm install --ignore-scripts`), or with
// PVTREE_FROM_SOURCE=1 (the test runner sets it, so tests exercise the current sources), the
// TypeScript sources run through tsx instead, a development dependency.
import { existsSync } from 'node:fs';

// A reader that goes away (`pvtree list | head`) ends the output quietly, as C tools do.
for (const s of [process.stdout, process.stderr]) {
  s.on('error', (e) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
}

const built = new URL('../dist/cli/pvtree.js', import.meta.url);
const source = new URL('../src/cli/main.ts', import.meta.url);
const fromSource = process.env.PVTREE_FROM_SOURCE === '1';

// the sources exist in a checkout only (the package ships dist/)
const useSource = existsSync(source) && (fromSource || !existsSync(built));

let main;
if (!useSource && existsSync(built)) {
  ({ main } = await import(built.href));
} else if (useSource) {
  if (!fromSource) process.stderr.write("pvtree: no build in dist/ (run 'npm run build'); running the TypeScript sources through tsx\n");
  let tsx;
  try {
    tsx = await import('tsx/esm/api');
  } catch {
    process.stderr.write("pvtree: running from the sources needs tsx: run 'npm install' (or 'npm run build') in this checkout\n");
    process.exit(1);
  }
  tsx.register();
  // `import … from 'pvtree'` in a tree module (examples/demo.ts) resolves to these same sources
  const { register } = await import('node:module');
  const hook = `export const resolve = (s, c, next) => next(s, { ...c, conditions: [...c.conditions, 'pvtree-source'] });`;
  register(`data:text/javascript,${encodeURIComponent(hook)}`);
  ({ main } = await import(source.href));
} else {
  process.stderr.write(`pvtree: ${built.pathname} is missing: this installation is incomplete\n`);
  process.exit(1);
}
process.exitCode = await main(process.argv.slice(2));
