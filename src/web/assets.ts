// The page's files: src/web/static (shipped in the package, found relative to this module whether
// it runs from src/ or from the compiled dist/), and uPlot served from its installed package.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/**
 * The folder holding index.html and the page's modules: `static/` beside this module (running
 * from src/web), else the package's src/web/static (running from dist/web, where the package's
 * `files` ship src/).
 */
export function staticDir(): string {
  for (const d of [join(here, 'static'), resolve(here, '../../src/web/static')]) {
    if (existsSync(join(d, 'index.html'))) return d;
  }
  throw new Error(`pvtree web: the page's files are missing (looked in ${join(here, 'static')})`);
}

const require = createRequire(import.meta.url);

/** Files served under /vendor/: name → the installed file. */
const VENDOR: Record<string, string> = {
  'uPlot.esm.js': 'uplot/dist/uPlot.esm.js',
  'uPlot.min.css': 'uplot/dist/uPlot.min.css',
};

/** The path of a vendored file (undefined when not one), resolved from the installed package. */
export function vendorFile(name: string): string | undefined {
  const spec = VENDOR[name];
  if (!spec) return undefined;
  try {
    return require.resolve(spec);
  } catch {
    return undefined;
  }
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
};

/** The MIME type of a file name. */
export function contentType(file: string): string {
  return TYPES[extname(file)] ?? 'application/octet-stream';
}

/** A file inside `dir` by a request path (no `..`, no hidden files), or undefined. */
export function fileInside(dir: string, rel: string): string | undefined {
  if (!/^[A-Za-z0-9_][A-Za-z0-9_./-]*$/.test(rel) || rel.split('/').some((p) => p === '' || p.startsWith('.'))) return undefined;
  const p = resolve(dir, rel);
  if (!p.startsWith(dir + sep)) return undefined;
  return existsSync(p) ? p : undefined;
}

/** Reads a file (the page's files are small). */
export function readAsset(path: string): Buffer {
  return readFileSync(path);
}
