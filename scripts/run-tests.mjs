// Runs every test/**/*.test.ts with node's test runner (Node 20 has no TS globbing of its own),
// on the TypeScript sources through tsx (no build needed).
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function collect(dir, out) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) collect(p, out);
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const filter = process.argv.slice(2);
let files = collect('test', []);
if (filter.length) files = files.filter((f) => filter.some((s) => f.includes(s)));
const env = {
  ...process.env,
  // Loopback only: no EPICS traffic may leave this machine from any test.
  EPICS_PVAS_INTF_ADDR_LIST: '127.0.0.1',
  EPICS_PVAS_BEACON_ADDR_LIST: '127.0.0.1',
  EPICS_PVAS_AUTO_BEACON_ADDR_LIST: 'NO',
  EPICS_PVA_ADDR_LIST: '127.0.0.1',
  EPICS_PVA_AUTO_ADDR_LIST: 'NO',
  EPICS_CA_ADDR_LIST: '127.0.0.1',
  EPICS_CA_AUTO_ADDR_LIST: 'NO',
  EPICS_CAS_INTF_ADDR_LIST: '127.0.0.1',
  EPICS_CAS_BEACON_ADDR_LIST: '127.0.0.1',
  EPICS_CAS_AUTO_BEACON_ADDR_LIST: 'NO',
  // bin/pvtree.mjs spawned by tests runs the TypeScript sources under test, not dist/
  PVTREE_FROM_SOURCE: '1',
};
// --conditions: `import … from 'pvtree'` (examples/demo.ts) resolves to src/, as the tests' own imports
const r = spawnSync(process.execPath, ['--conditions=pvtree-source', '--import', 'tsx', '--test', '--test-concurrency=2', ...files], {
  stdio: 'inherit',
  env,
});
process.exit(r.status ?? 1);
