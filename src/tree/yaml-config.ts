// Configuration as YAML, in PyRogue's layout and formats, so files move between PyRogue and
// pvtree unchanged:
//
//   Root:                       # the Root's name, then devices by name, variables first
//     enable: True
//     Dev:
//       enable: True
//       Reg: 0x1234             # every value as its display string (hex registers, enum names)
//       Chan[0]: 0xa            # arrays of nodes by their bracketed names …
//       Chan[*]: 0x5            # … and, when loading, by Rogue's array keys: [n], [*], [:], [a:b], [a:b:c]
//       Sub[0:2]: {Gain: 2.5}
//
// Loading is all or nothing for values: every entry is parsed and checked first, and one bad
// value rejects the whole load with its path (PyRogue stops half-way). A key that names nothing
// is reported with its path ("Entry X not found", as PyRogue logs it), returned and skipped.

import { readFile, writeFile } from 'node:fs/promises';
import { parseDocument, isAlias, isMap, isScalar, isSeq, Scalar, type Document } from 'yaml';
import type { Root } from './root.ts';
import { Device } from './device.ts';
import { BaseVariable } from './variable.ts';
import { EnableVariable } from './enable-variable.ts';
import type { Node, GroupSpec } from './node.ts';
import { VariableError, type Mode } from './types.ts';
import { parseScalar, splitArray } from './format.ts';
import { selectIndices } from './node-match.ts';
import { emitYaml, type YamlLeaf, type YamlTree } from './yaml-emit.ts';

/**
 * Options of Root.getYaml: which variables (modes, groups, sub-devices) and whether to read
 * hardware first.
 */
export interface GetYamlOptions {
  /** Read hardware first (default false). */
  readFirst?: boolean;
  /** Variable modes to include; default RW and WO (configuration). */
  modes?: Mode[];
  incGroups?: GroupSpec;
  /** Default: NoConfig. */
  excGroups?: GroupSpec;
  /** Include sub-devices (default true). */
  recurse?: boolean;
}

/** Options of Root.setYaml. */
export interface SetYamlOptions {
  /** Write each variable as it is set instead of the stale blocks at the end (default false). */
  writeEach?: boolean;
  /** Variable modes that are set; default RW and WO. Others are skipped (as PyRogue). */
  modes?: Mode[];
  incGroups?: GroupSpec;
  /** Default: NoConfig. */
  excGroups?: GroupSpec;
}

/** What a load did besides setting values. */
export interface ConfigLoadResult {
  /** Variables set. */
  applied: number;
  /** Keys that named nothing, as paths ('Root.Dev.Nope'); each was skipped. */
  notFound: string[];
}

/** A load rejected before anything was applied (or rolled back): one line per bad entry. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(readonly problems: string[], readonly notFound: string[] = []) {
    super(`configuration rejected, nothing applied: ${problems.length} problem(s):\n  ${problems.join('\n  ')}`);
  }
}

const CONFIG_MODES: Mode[] = ['RW', 'WO'];
const CONFIG_EXC = ['NoConfig'];

// ---- saving ---------------------------------------------------------------------------------

/** A variable as PyRogue's dataToYaml writes it: its display string, tagged by its Python type. */
function leafOf(v: BaseVariable<unknown>): YamlLeaf {
  const val = v.value;
  const text = v.valueDisp;
  if (typeof val === 'boolean') return { tag: 'bool', text };
  if (v.enum) return { tag: 'str', text };
  if (typeof val === 'number' || typeof val === 'bigint') return { tag: v.typeInfo.base === 'Float' ? 'float' : 'int', text };
  return { tag: 'str', text };
}

interface Filter { modes: Mode[]; incGroups: GroupSpec; excGroups: GroupSpec; recurse: boolean }

/** PyRogue's _getDict: a device's variables in tree order, then its sub-devices. */
function collect(dev: Device, o: Filter): YamlTree | undefined {
  const out: YamlTree = {};
  for (const n of dev.nodes.values()) {
    if (n instanceof BaseVariable && o.modes.includes(n.mode) && n.filterByGroup(o.incGroups, o.excGroups)) out[n.name] = leafOf(n);
  }
  if (o.recurse) {
    for (const n of dev.nodes.values()) {
      if (!(n instanceof Device) || !n.filterByGroup(o.incGroups, o.excGroups)) continue;
      const sub = collect(n, o);
      if (sub) out[n.name] = sub;
    }
  }
  return Object.keys(out).length ? out : undefined;
}

/** The device's values as YAML under its name; the Root's as a whole configuration. */
export async function getYaml(dev: Device, opts: GetYamlOptions = {}): Promise<string> {
  if (opts.readFirst) await (dev.root ?? dev).readAll();
  const tree = collect(dev, {
    modes: opts.modes ?? CONFIG_MODES,
    incGroups: opts.incGroups,
    excGroups: opts.excGroups === undefined ? CONFIG_EXC : opts.excGroups,
    recurse: opts.recurse ?? true,
  });
  return emitYaml({ [dev.name]: tree ?? {} });
}

export async function saveConfig(root: Root, path: string, opts?: GetYamlOptions): Promise<void> {
  await writeFile(path, await getYaml(root, opts), 'utf8');
}

// ---- loading --------------------------------------------------------------------------------

interface Step { v: BaseVariable<unknown>; value: unknown }

/**
 * A plain (unquoted) scalar: what YAML 1.1 made of it, and the text as written. A string
 * variable takes the text (`Label: 017` is '017', not 15), an enum the choice name it spells
 * (`Mode: On`), and `y` / `n` stay text as PyYAML reads them.
 */
class Plain {
  constructor(readonly value: unknown, readonly source: string) {}
}

/** Integers beyond 2^53 arrive as bigint; the rest as plain numbers. */
function normalize(x: unknown): unknown {
  if (x instanceof Plain) return normalize(/^[yYnN]$/.test(x.source) ? x.source : x.value);
  if (typeof x === 'bigint') return x >= -(2n ** 53n) + 1n && x <= 2n ** 53n - 1n ? Number(x) : x;
  if (Array.isArray(x)) return x.map(normalize);
  return x;
}

function isMapping(x: unknown): x is Record<string, unknown> {
  return x !== null && typeof x === 'object' && !Array.isArray(x) && !(x instanceof Plain);
}

/** The document as plain data; mapping keys are always their text (`On:` is the key 'On'). */
function toData(node: unknown, doc: Document): unknown {
  if (isAlias(node)) return toData(node.resolve(doc), doc);
  if (isMap(node)) {
    const out: Record<string, unknown> = {};
    for (const it of node.items) {
      const k = it.key;
      const key = isScalar(k) ? (typeof k.source === 'string' ? k.source : String(k.value)) : String(toData(k, doc));
      out[key] = toData(it.value, doc);
    }
    return out;
  }
  if (isSeq(node)) return node.items.map((x) => toData(x, doc));
  if (isScalar(node)) {
    if (node.type === Scalar.PLAIN && typeof node.source === 'string') return new Plain(node.value, node.source);
    return node.value;
  }
  return node ?? null;
}

/** A YAML value as the variable's value (display strings parsed), checked; throws VariableError. */
function toValue(v: BaseVariable<unknown>, raw: unknown): unknown {
  if (raw instanceof Plain) {
    const scalarStr = v.typeInfo.base === 'String' && v.typeInfo.length === undefined && !v.enum;
    const isChoice = v.enum !== undefined && Object.values(v.enum).includes(raw.source);
    if (scalarStr || isChoice) raw = raw.source;
  }
  let x = normalize(raw);
  if (x === null || x === undefined) throw new VariableError(`${v.path}: no value`);
  if (v instanceof EnableVariable) return v.normalize(x);
  const info = v.typeInfo;
  // YAML 1.1 reads True / On as booleans; a number or string variable means 1 / 'True'
  if (typeof x === 'boolean' && info.base !== 'Bool' && info.length === undefined) {
    x = info.base === 'String' && !v.enum ? (x ? 'True' : 'False') : x ? 1 : 0;
  } else if (info.base === 'String' && info.length === undefined && !v.enum && (typeof x === 'number' || typeof x === 'bigint')) {
    x = String(x);
  }
  return v.validate(x);
}

/** One element of an array variable from YAML (numbers as they are, strings parsed by type). */
function toElement(v: BaseVariable<unknown>, raw: unknown): unknown {
  const x = normalize(raw);
  if (typeof x !== 'string') return x;
  const s = x.trim().replace(/^(['"])(.*)\1$/, '$2');
  if (v.enum) {
    for (const [k, name] of Object.entries(v.enum)) if (name === s) return Number(k);
  }
  return parseScalar(v.typeInfo, s);
}

class Planner {
  readonly steps: Step[] = [];
  readonly problems: string[] = [];
  readonly notFound: string[] = [];
  /** The value each variable will have after the steps so far (element keys build on it). */
  private readonly planned = new Map<BaseVariable<unknown>, unknown>();

  constructor(private readonly root: Root, private readonly opts: SetYamlOptions) {}

  private get modes(): Mode[] { return this.opts.modes ?? CONFIG_MODES; }
  private get exc(): GroupSpec { return this.opts.excGroups === undefined ? CONFIG_EXC : this.opts.excGroups; }

  /** PyRogue's Root._setDictRoot: top-level keys are the Root's name or paths in the tree. */
  document(doc: Record<string, unknown>): void {
    const root = this.root;
    for (const [k, val] of Object.entries(doc)) {
      const node = k === root.name ? root : root.getNode(k);
      if (!node) this.notFound.push(k);
      else this.node(node, val, undefined);
    }
  }

  private node(node: Node, val: unknown, keys: string[] | undefined): void {
    if (node !== this.root && !node.filterByGroup(this.opts.incGroups, this.exc)) return;
    if (node instanceof Device) {
      if (keys) { this.notFound.push(`${node.path}[${keys.join('][')}]`); return; }
      if (!isMapping(val)) { this.problems.push(`${node.path}: expected a mapping of names to values`); return; }
      for (const [k, sub] of Object.entries(val)) {
        let { nodes, keys: ks } = node.nodeMatch(k);
        if (nodes.length === 0 && k.includes('.')) {
          const deep = node.getNode(k);
          if (deep && deep !== node) nodes = [deep];
        }
        if (nodes.length === 0) this.notFound.push(`${node.path}.${k}`);
        for (const n of nodes) this.node(n, sub, ks);
      }
      return;
    }
    if (!(node instanceof BaseVariable)) return; // commands are not configuration
    if (!this.modes.includes(node.mode)) return; // PyRogue skips these with a warning
    try {
      if (keys) this.elements(node, keys, val);
      else if (isMapping(val)) {
        // PyRogue: a mapping on a variable is index: value pairs (an empty one sets nothing)
        for (const [k, e] of Object.entries(val)) this.elements(node, [k], e);
      } else {
        const value = toValue(node, val);
        if (node instanceof EnableVariable && typeof value !== 'boolean') return; // ParentFalse: a report, not a setting
        this.add(node as BaseVariable<unknown>, value);
      }
    } catch (e) {
      this.problems.push(`${node.path}: ${(e as Error).message.replace(`${node.path}: `, '')}`);
    }
  }

  /** `Wave[2]: 5`, `Wave[*]: 0`, `Wave[1:3]: [4, 5]` on an array variable. */
  private elements(v: BaseVariable<unknown>, keys: string[], val: unknown): void {
    const len = v.typeInfo.length;
    if (len === undefined || keys.length !== 1) throw new VariableError(`[${keys.join('][')}] selects elements, but this is not an array variable`);
    const idx = selectIndices(keys[0], len);
    if (!idx) throw new VariableError(`bad array key [${keys[0]}]`);
    const cur = this.planned.has(v) ? this.planned.get(v) : v.value;
    const arr = Array.from(cur as ArrayLike<unknown>);
    let vals: unknown[];
    if (!keys[0].includes(':') || keys[0] === ':') vals = idx.map(() => val);
    else {
      vals = Array.isArray(val) ? val : typeof val === 'string' ? splitArray(val) : [val];
      if (vals.length === 1 && idx.length > 1) vals = idx.map(() => vals[0]);
    }
    for (let i = 0; i < Math.min(idx.length, vals.length); i++) arr[idx[i]] = toElement(v, vals[i]);
    this.add(v, v.validate(arr));
  }

  private add(v: BaseVariable<unknown>, value: unknown): void {
    this.steps.push({ v, value });
    this.planned.set(v, value);
  }
}

function parseDoc(text: string, where: string): Record<string, unknown> | undefined {
  // YAML 1.1, as PyYAML reads (and PyRogue writes) configuration files
  const d = parseDocument(text, { intAsBigInt: true, version: '1.1' });
  if (d.errors.length) throw new ConfigError([`${where}: invalid YAML: ${d.errors[0].message}`]);
  const doc = toData(d.contents, d);
  if (doc == null) return undefined;
  if (!isMapping(doc)) throw new ConfigError([`${where}: expected a mapping { ${'<Root name>'}: { ... } }`]);
  return doc;
}

/** The value to restore when a load has to be undone. */
function snapshot(v: BaseVariable<unknown>): unknown {
  return v instanceof EnableVariable ? v.own : v.value;
}

/**
 * Apply parsed documents to the tree: plan and check everything, then set (inside one update
 * group), then write the stale blocks (all blocks with the Root's ForceWrite) unless writeEach.
 */
async function apply(root: Root, docs: { doc: Record<string, unknown> | undefined; where: string }[], opts: SetYamlOptions): Promise<ConfigLoadResult> {
  const plan = new Planner(root, opts);
  for (const d of docs) if (d.doc) plan.document(d.doc);
  for (const nf of plan.notFound) root._log('error', `Entry ${nf} not found`, 'setYaml');
  if (plan.problems.length) throw new ConfigError(plan.problems, plan.notFound);
  await root.updateGroup(async () => {
    const undo: [BaseVariable<unknown>, unknown][] = [];
    try {
      for (const s of plan.steps) {
        undo.push([s.v, snapshot(s.v)]);
        await s.v.set(s.value, { write: !!opts.writeEach });
      }
    } catch (e) {
      for (const [v, old] of undo.reverse()) {
        try { await v.set(old, { write: false, force: true }); } catch { /* best effort */ }
      }
      throw new ConfigError([`${undo.at(-1)?.[0].path ?? '?'}: ${(e as Error).message}`], plan.notFound);
    }
    if (!opts.writeEach) await root._writeConfig();
  });
  return { applied: plan.steps.length, notFound: plan.notFound };
}

/** Apply YAML text (see the top of this file). Rejects with ConfigError, having applied nothing, on a bad value. */
export async function setYaml(root: Root, text: string, opts: SetYamlOptions = {}): Promise<ConfigLoadResult> {
  return apply(root, [{ doc: parseDoc(text, 'setYaml'), where: 'setYaml' }], opts);
}

/** Load one or more YAML files, in order, as one load (all checked before any is applied). */
export async function loadConfig(root: Root, paths: string | string[], opts?: SetYamlOptions): Promise<ConfigLoadResult> {
  const list = typeof paths === 'string' ? [paths] : paths;
  const docs: { doc: Record<string, unknown> | undefined; where: string }[] = [];
  for (const p of list) {
    let text: string;
    try {
      text = await readFile(p, 'utf8');
    } catch (e) {
      throw new ConfigError([`${p}: ${(e as Error).message}`]);
    }
    docs.push({ doc: parseDoc(text, p), where: p });
  }
  return apply(root, docs, opts ?? {});
}
