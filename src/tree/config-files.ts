// File paths given to the Root's built-in commands (LoadConfig, SaveConfig, SaveState,
// RemoteVariableDump, the config processes' ConfigFile): any EPICS client can send them, so they
// must resolve inside the Root's config directory. Also PyRogue's load lists and automatic names.

import { realpathSync, statSync, readdirSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, basename } from 'node:path';

/** A configuration file path that leaves the allowed directory. */
export class ConfigPathError extends Error {
  override name = 'ConfigPathError';
}

/** The real path of `p`, or of its nearest existing ancestor with the rest appended. */
function realish(p: string): string {
  const rest: string[] = [];
  let cur = p;
  for (;;) {
    try {
      return join(realpathSync(cur), ...rest.reverse());
    } catch {
      const up = dirname(cur);
      if (up === cur) return p;
      rest.push(basename(cur));
      cur = up;
    }
  }
}

function inside(dir: string, p: string): boolean {
  const r = relative(dir, p);
  return r === '' || (!r.startsWith('..') && !isAbsolute(r));
}

/**
 * `p` (relative to `dir`, or absolute) as an absolute path that lies inside `dir`, following
 * symbolic links; throws ConfigPathError when it escapes.
 */
export function resolveInside(dir: string, p: string): string {
  const base = resolve(dir);
  const abs = resolve(base, p);
  const realBase = realish(base);
  if (!inside(base, abs) || !inside(realBase, realish(abs))) {
    throw new ConfigPathError(`'${p}' is outside the config directory ${base}; give a path inside it`);
  }
  return abs;
}

const YAML_RE = /\.ya?ml$/i;

/**
 * PyRogue's load list: comma-separated entries, each a .yml/.yaml file or a directory (its
 * .yml/.yaml files in sorted order). Every entry resolves inside `dir`.
 */
export function expandLoadList(dir: string, arg: string | string[]): string[] {
  const raw = (Array.isArray(arg) ? arg : arg.split(',')).map((s) => s.trim()).filter((s) => s !== '');
  if (raw.length === 0) throw new ConfigPathError('no configuration file given');
  const out: string[] = [];
  for (const entry of raw) {
    const p = resolveInside(dir, entry);
    let isDir = false;
    try {
      isDir = statSync(p).isDirectory();
    } catch {
      // a missing .yml file fails when it is read, with the reader's message
    }
    if (isDir) {
      out.push(...readdirSync(p).filter((f) => YAML_RE.test(f)).sort().map((f) => join(p, f)));
    } else if (YAML_RE.test(p)) out.push(p);
    else throw new ConfigPathError(`invalid load file '${entry}': must be a directory or end in .yml or .yaml`);
  }
  return out;
}

const two = (n: number): string => String(n).padStart(2, '0');

/** PyRogue's automatic names: `<prefix>_YYYYMMDD_HHMMSS.<ext>` (local time). */
export function autoName(prefix: string, ext: string, now = new Date()): string {
  const d = `${now.getFullYear()}${two(now.getMonth() + 1)}${two(now.getDate())}`;
  const t = `${two(now.getHours())}${two(now.getMinutes())}${two(now.getSeconds())}`;
  return `${prefix}_${d}_${t}.${ext}`;
}
