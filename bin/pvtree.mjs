#!/usr/bin/env node
// Entry point for `npx pvtree`: runs the TypeScript CLI through tsx's loader, no build step needed.
import { register } from 'tsx/esm/api';

// A reader that goes away (`pvtree list | head`) ends the output quietly, as C tools do.
for (const s of [process.stdout, process.stderr]) {
  s.on('error', (e) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
}
register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
