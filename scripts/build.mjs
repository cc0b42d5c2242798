// `npm run build` (and `prepare`): src/ → dist/.
//  1. tsc -p tsconfig.build.json: ESM JavaScript, declarations and source maps for the library
//     entry points (incremental: a rebuild with nothing changed takes a few seconds; a changed
//     tsconfig starts from an empty dist/).
//  2. Outputs whose source is gone are deleted, so the package never ships a removed module; files
//     the code reads at run time (anything under src/ that is not .ts or .md, e.g. src/web/static/)
//     are copied beside the compiled modules.
//  3. esbuild bundles the command line's entry (src/cli/main.ts with the client commands) into the
//     one file bin/pvtree.mjs runs, dist/cli/pvtree.js: `pvtree get` then loads one module instead
//     of about twenty (start-up is what operators feel; see bench/cli.ts). `pvtree serve` is left
//     out of the bundle: it imports dist/cli/serve.js, so a tree module importing 'pvtree' shares
//     its classes with the server.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);
const src = join(root, 'src');
const dist = join(root, 'dist');
const BUNDLE = 'cli/pvtree.js';

// a changed compiler configuration invalidates every output (incremental builds would keep files
// the new settings no longer make)
const info = join(dist, '.tsbuildinfo');
const mtime = (p) => (existsSync(p) ? statSync(p).mtimeMs : 0);
if (existsSync(dist) && ['tsconfig.json', 'tsconfig.build.json'].some((f) => mtime(join(root, f)) > mtime(info))) {
  rmSync(dist, { recursive: true, force: true });
}

const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], {
  stdio: 'inherit',
  cwd: root,
});
if (tsc.status !== 0) {
  console.error('build: tsc failed');
  process.exit(tsc.status ?? 1);
}

/** The source a dist file was made from: a.js, a.js.map, a.d.ts → a.ts. */
function sourceOf(rel) {
  const m = /^(.*?)(\.d\.ts|\.js\.map|\.js)$/.exec(rel);
  return m ? `${m[1]}.ts` : undefined;
}

/** Files under src/ the code reads at run time (the web page's static/ files …): copied as they are. */
function isAsset(rel) {
  return !rel.endsWith('.ts') && !rel.endsWith('.md');
}

function copyAssets(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) copyAssets(p);
    else if (isAsset(relative(src, p))) {
      const to = join(dist, relative(src, p));
      mkdirSync(dirname(to), { recursive: true });
      copyFileSync(p, to);
    }
  }
}

function prune(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) {
      prune(p);
      if (readdirSync(p).length === 0) rmSync(p, { recursive: true });
      continue;
    }
    const rel = relative(dist, p);
    if (rel === '.tsbuildinfo' || rel === BUNDLE || rel === `${BUNDLE}.map`) continue;
    const s = sourceOf(rel) ?? (isAsset(rel) ? rel : undefined);
    if (s === undefined || !existsSync(join(src, s))) rmSync(p);
  }
}
prune(dist);
copyAssets(src);

const esbuild = await import('esbuild');
await esbuild.build({
  entryPoints: [join(src, 'cli/main.ts')],
  outfile: join(dist, BUNDLE),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  sourcemap: 'linked',
  sourcesContent: false,
  logLevel: 'warning',
  plugins: [
    {
      name: 'serve-stays-separate',
      setup(b) {
        // main.ts imports ./serve.ts lazily; the bundle imports the compiled dist/cli/serve.js
        b.onResolve({ filter: /^\.\/serve\.ts$/ }, () => ({ path: './serve.js', external: true }));
      },
    },
  ],
});
