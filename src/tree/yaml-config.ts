// Configuration save/load as YAML, values by path: { Root: { Dev: { Var: value } } }.
// Written values are plain YAML (numbers, booleans, strings, lists); enums are written as their
// display names. Loading accepts plain values or display strings ('0x10', 'On', '[1, 2]').

import { readFile, writeFile } from 'node:fs/promises';
import { parse, stringify } from 'yaml';
import type { Root } from './root.ts';
import { Device, settleAll } from './device.ts';
import { BaseVariable } from './variable.ts';
import { RemoteVariable } from './remote-variable.ts';
import { LinkVariable } from './link-variable.ts';
import type { Block } from './block.ts';
import type { Node, GroupSpec } from './node.ts';
import type { Mode } from './types.ts';

export interface GetYamlOptions {
  /** Read hardware first (default false). */
  readFirst?: boolean;
  modes?: Mode[];
  incGroups?: GroupSpec;
  excGroups?: GroupSpec;
}

export interface SetYamlOptions {
  /** Write each variable as it is set instead of all touched blocks at the end (default false). */
  writeEach?: boolean;
  modes?: Mode[];
  incGroups?: GroupSpec;
  excGroups?: GroupSpec;
}

const DEF_MODES: Mode[] = ['RW', 'WO'];
const DEF_EXC = ['NoConfig'];

function toYamlValue(v: BaseVariable<unknown>): unknown {
  const val = v.value;
  if (v.enum) return v.valueDisp;
  if (ArrayBuffer.isView(val)) {
    return Array.from(val as unknown as ArrayLike<number | bigint>, (x) => (typeof x === 'bigint' && x >= -(2n ** 53n) && x <= 2n ** 53n ? Number(x) : x));
  }
  return val;
}

interface Filter { modes: Mode[]; incGroups: GroupSpec; excGroups: GroupSpec }

function collect(dev: Device, o: Filter): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = {};
  for (const n of dev.nodes.values()) {
    if (!n.filterByGroup(o.incGroups, o.excGroups)) continue;
    if (n instanceof Device) {
      const sub = collect(n, o);
      if (sub) out[n.name] = sub;
    } else if (n instanceof BaseVariable && o.modes.includes(n.mode)) {
      out[n.name] = toYamlValue(n);
    }
  }
  return Object.keys(out).length ? out : undefined;
}

export async function getYaml(root: Root, opts: GetYamlOptions = {}): Promise<string> {
  if (opts.readFirst) await root.readAll();
  const tree = collect(root, { modes: opts.modes ?? DEF_MODES, incGroups: opts.incGroups, excGroups: opts.excGroups ?? DEF_EXC }) ?? {};
  return stringify({ [root.name]: tree }, { flowCollectionPadding: false });
}

function normalize(x: unknown): unknown {
  if (typeof x === 'bigint') return x >= -(2n ** 53n) + 1n && x <= 2n ** 53n - 1n ? Number(x) : x;
  if (Array.isArray(x)) return x.map(normalize);
  return x;
}

export async function setYaml(root: Root, text: string, opts: SetYamlOptions = {}): Promise<void> {
  let doc: unknown;
  try {
    doc = parse(text, { intAsBigInt: true });
  } catch (e) {
    throw new Error(`setYaml: invalid YAML: ${(e as Error).message}`);
  }
  if (doc == null) return;
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new Error('setYaml: expected a mapping { Root: { ... } }');
  const modes = opts.modes ?? DEF_MODES;
  const exc = opts.excGroups ?? DEF_EXC;
  const problems: string[] = [];
  const blocks = new Set<Block>();

  const apply = async (node: Node, key: string, val: unknown): Promise<void> => {
    if (!node.filterByGroup(opts.incGroups, exc)) return;
    if (node instanceof Device) {
      if (val === null || typeof val !== 'object' || Array.isArray(val)) { problems.push(`${node.path}: expected a mapping`); return; }
      for (const [k, sub] of Object.entries(val as Record<string, unknown>)) {
        const child: Node | undefined = node.getNode(k);
        if (!child || child === node) { problems.push(`${node.path}.${k}: no such node`); continue; }
        await apply(child, k, sub);
      }
      return;
    }
    if (!(node instanceof BaseVariable)) return; // commands are not configuration
    if (!modes.includes(node.mode)) return;
    try {
      const v = normalize(val);
      const parsed = typeof v === 'string' && (node.enum || node.typeInfo.base !== 'String' || node.typeInfo.length !== undefined) ? node.parseDisp(v) : v;
      await node.set(parsed, { write: !!opts.writeEach });
      if (!opts.writeEach) {
        if (node instanceof RemoteVariable) blocks.add(node.block);
        // a link set with write=false staged its remote dependencies: write those too
        if (node instanceof LinkVariable) for (const d of node.dependencies) if (d instanceof RemoteVariable) blocks.add(d.block);
      }
    } catch (e) {
      problems.push(`${node.path} (${key}): ${(e as Error).message}`);
    }
  };

  await root.updateGroup(async () => {
    for (const [k, val] of Object.entries(doc as Record<string, unknown>)) {
      const node = k === root.name ? root : root.getNode(k);
      if (!node) { problems.push(`${k}: no such node`); continue; }
      await apply(node, k, val);
    }
    if (blocks.size) {
      try { await settleAll([...blocks].map((b) => b.write(true))); } catch (e) { problems.push(`write: ${(e as Error).message}`); }
    }
  });
  if (problems.length) throw new Error(`setYaml: ${problems.length} problem(s):\n  ${problems.join('\n  ')}`);
}

export async function saveConfig(root: Root, path: string, opts?: GetYamlOptions): Promise<void> {
  await writeFile(path, await getYaml(root, opts), 'utf8');
}

/** Load one or more YAML config files, in order. */
export async function loadConfig(root: Root, paths: string | string[], opts?: SetYamlOptions): Promise<void> {
  for (const p of typeof paths === 'string' ? [paths] : paths) await setYaml(root, await readFile(p, 'utf8'), opts);
}
