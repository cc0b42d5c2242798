// Declarative trees: build a Root from a YAML document.
//
// Schema (every key optional unless marked *):
//
//   root:      { name: Root, description, pollEn: true, initRead: false, initWrite: false, timeout: 1,
//                memory: <memory>, asg }    # default: emulated memory
//   asg:       (root, devices, variables, commands) access security group of the node and, unless
//              they name their own, its children (see src/security; unset: the parent's, else DEFAULT)
//   <memory>:  emulate | srpv3://HOST:PORT?packetizer=2 | { type: srpv3, host, port: 8192, packetizer: 1,
//              rssi: true, tDest: 0, timeout, retries, jumbo, crc }   (see src/tree/memory/spec.ts);
//              a device with `memory:` reaches its registers there (offsets from 0), the same
//              board named twice is one link
//   variables: [ <variable> ]            # on the root itself
//   commands:  [ <command> ]
//   devices:                             # nestable to any depth
//     - name*: Dev
//       description, offset: 0x1000, hidden, groups: [..], asg, enabled: true, memory: <memory>
//       number, stride               # a device array: Dev[0] at offset, Dev[1] at offset + stride …
//       variables: [ <variable> ], commands: [ <command> ], devices: [ <device> ]
//
//   <variable>: name*, kind: local | remote | link  (default: remote when `offset` is given, else local)
//     common: description, mode: RW|RO|WO, value, disp: '{:.3f}', enum: {0: Off, 1: On}, units,
//             minimum, maximum, lowAlarm, lowWarning, highWarning, highAlarm,
//             pollInterval (seconds), hidden, groups, asg
//     local:  typeStr ('Float64', 'Int32', 'UInt8[8]', 'Bool', 'str' …; else inferred from value)
//     remote: offset*, bitSize, bitOffset (numbers or lists), base: UInt|Int|Bool|Float|String
//             (or UIntBE|IntBE|FloatBE: bytes most significant first), numValues, valueBits,
//             valueStride, verify, bigEndian, overlapEn, retryCount,
//             number, stride (a register array: Name[0] at offset, Name[1] at offset + stride …)
//     link:   variable* (path of the variable it aliases, e.g. Dev.Gain), typeStr
//
//   <command>: name*, kind: local | remote (default: remote when `offset` is given), description,
//              argType, retType, value (default argument), hidden, groups, asg
//     remote: offset*, bitSize, bitOffset, base,
//             function: touch (default) | touchOne | touchZero | setArg | toggle | postedTouch
//     local:  YAML cannot carry code, so a local command runs one built-in action:
//             action*: echo      → returns its argument
//                      set       → target := argument (or `value`)
//                      get       → returns target's value (read from hardware)
//                      increment → target += argument (default 1); decrement likewise
//                      toggle    → target := !target (Bool)
//                      reset     → every writable variable under target (default: the root) back to its
//                                  initial value (not PyRogue's built-ins: PollEn, ForceWrite …)
//                      readAll / writeAll → the whole tree
//             target: a variable path (set/get/increment/decrement/toggle) or device path (reset),
//                     absolute ('Demo.Dev.Gain') or from the root ('Dev.Gain')

import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { Root } from './root.ts';
import { Device } from './device.ts';
import { BaseVariable } from './variable.ts';
import { LocalVariable } from './local-variable.ts';
import { RemoteVariable, type BigEndianBase } from './remote-variable.ts';
import { LinkVariable } from './link-variable.ts';
import { LocalCommand, RemoteCommand, type RemoteCommandFunction } from './command.ts';
import { BUILTIN_GROUP, type Node } from './node.ts';
import type { Base, Mode } from './types.ts';
import { MemoryRegistry } from './memory/spec.ts';

/** A YAML tree description that cannot be built, with where and why. */
export class TreeYamlError extends Error {
  override name = 'TreeYamlError';
}

type Obj = Record<string, unknown>;

const COMMON_VAR = ['name', 'kind', 'description', 'mode', 'value', 'disp', 'enum', 'units', 'minimum', 'maximum',
  'lowAlarm', 'lowWarning', 'highWarning', 'highAlarm', 'pollInterval', 'hidden', 'groups', 'asg'];
const VAR_KEYS: Record<string, string[]> = {
  local: [...COMMON_VAR, 'typeStr'],
  remote: [...COMMON_VAR, 'offset', 'bitSize', 'bitOffset', 'base', 'numValues', 'valueBits', 'valueStride', 'verify',
    'bigEndian', 'overlapEn', 'retryCount', 'number', 'stride'],
  link: [...COMMON_VAR, 'variable', 'typeStr'],
};
const COMMON_CMD = ['name', 'kind', 'description', 'argType', 'retType', 'value', 'hidden', 'groups', 'asg'];
const CMD_KEYS: Record<string, string[]> = {
  local: [...COMMON_CMD, 'action', 'target'],
  remote: [...COMMON_CMD, 'offset', 'bitSize', 'bitOffset', 'base', 'function'],
};
const DEV_KEYS = ['name', 'description', 'offset', 'hidden', 'groups', 'asg', 'enabled', 'number', 'stride', 'memory', 'variables', 'commands', 'devices'];
const ROOT_KEYS = ['name', 'description', 'pollEn', 'initRead', 'initWrite', 'timeout', 'memory', 'asg'];
const REMOTE_FNS: Record<string, RemoteCommandFunction> = {
  touch: RemoteCommand.touch, touchOne: RemoteCommand.touchOne, touchZero: RemoteCommand.touchZero,
  setArg: RemoteCommand.setArg, toggle: RemoteCommand.toggle, postedTouch: RemoteCommand.postedTouch,
};
const ACTIONS = ['echo', 'set', 'get', 'increment', 'decrement', 'toggle', 'reset', 'readAll', 'writeAll'] as const;
type Action = (typeof ACTIONS)[number];
/** Actions whose target must be a variable. */
const VARIABLE_ACTIONS: readonly Action[] = ['set', 'get', 'increment', 'decrement', 'toggle'];
const BASES = ['UInt', 'Int', 'Bool', 'Float', 'String', 'UIntBE', 'IntBE', 'FloatBE'];
const MODES = ['RW', 'RO', 'WO'];

class Ctx {
  /** Checks run once the whole tree exists (targets, link variables). */
  readonly deferred: (() => void)[] = [];
  /** `memory:` entries: one link per board however often it is named. */
  readonly memories = new MemoryRegistry();
}

function fail(where: string, msg: string): never {
  throw new TreeYamlError(`${where}: ${msg}`);
}

function isObj(x: unknown): x is Obj {
  return x !== null && typeof x === 'object' && !Array.isArray(x);
}

function checkKeys(where: string, o: Obj, allowed: string[]): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) fail(where, `unknown key '${k}' (allowed: ${allowed.join(', ')})`);
}

function str(where: string, o: Obj, k: string, required = false): string | undefined {
  const v = o[k];
  if (v === undefined || v === null) { if (required) fail(where, `'${k}' is required`); return undefined; }
  if (typeof v !== 'string') fail(where, `'${k}' must be a string`);
  return v;
}

function num(where: string, o: Obj, k: string, required = false): number | undefined {
  const v = o[k];
  if (v === undefined || v === null) { if (required) fail(where, `'${k}' is required`); return undefined; }
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(where, `'${k}' must be a number`);
  return v;
}

function limit(where: string, o: Obj, k: string): number | bigint | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' && typeof v !== 'bigint') fail(where, `'${k}' must be a number`);
  return v;
}

function bits(where: string, o: Obj, k: string): number | number[] | undefined {
  const v = o[k];
  if (v === undefined) return undefined;
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (Array.isArray(v) && v.every((x) => typeof x === 'number' && Number.isInteger(x))) return v as number[];
  fail(where, `'${k}' must be an integer or a list of integers`);
}

function bool(where: string, o: Obj, k: string): boolean | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') fail(where, `'${k}' must be true or false`);
  return v;
}

function oneOf<T extends string>(where: string, o: Obj, k: string, allowed: readonly string[]): T | undefined {
  const v = str(where, o, k);
  if (v !== undefined && !allowed.includes(v)) fail(where, `'${k}' must be one of ${allowed.join(', ')}, not '${v}'`);
  return v as T | undefined;
}

function groups(where: string, o: Obj): string[] | undefined {
  const v = o.groups;
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  fail(where, "'groups' must be a string or a list of strings");
}

function enumMap(where: string, o: Obj): Record<number, string> | undefined {
  const v = o.enum;
  if (v === undefined || v === null) return undefined;
  if (!isObj(v)) fail(where, "'enum' must be a mapping {0: Off, 1: On}");
  const out: Record<number, string> = {};
  for (const [k, s] of Object.entries(v)) {
    const n = Number(k);
    if (!Number.isInteger(n)) fail(where, `enum key '${k}' is not an integer`);
    out[n] = String(s);
  }
  return out;
}

/** Integers beyond 2^53 arrive as bigint; everything else as plain numbers. */
function normalize(x: unknown): unknown {
  if (typeof x === 'bigint') return x >= -(2n ** 53n) + 1n && x <= 2n ** 53n - 1n ? Number(x) : x;
  if (Array.isArray(x)) return x.map(normalize);
  if (isObj(x)) return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, normalize(v)]));
  return x;
}

function list(where: string, o: Obj, k: string): Obj[] {
  const v = o[k];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) fail(where, `'${k}' must be a list`);
  return v.map((e, i) => {
    if (!isObj(e)) fail(`${where}.${k}[${i}]`, 'must be a mapping');
    return e;
  });
}

function label(where: string, o: Obj): string {
  return typeof o.name === 'string' ? `${where} (${o.name})` : where;
}

function varCommon(w: string, o: Obj) {
  return {
    name: str(w, o, 'name', true)!, description: str(w, o, 'description'), mode: oneOf<Mode>(w, o, 'mode', MODES),
    disp: str(w, o, 'disp'), enum: enumMap(w, o), units: str(w, o, 'units'),
    minimum: limit(w, o, 'minimum'), maximum: limit(w, o, 'maximum'), lowAlarm: limit(w, o, 'lowAlarm'),
    lowWarning: limit(w, o, 'lowWarning'), highWarning: limit(w, o, 'highWarning'), highAlarm: limit(w, o, 'highAlarm'),
    pollInterval: num(w, o, 'pollInterval'), hidden: bool(w, o, 'hidden'), groups: groups(w, o), asg: str(w, o, 'asg'),
  };
}

/** An enum variable's value may be written as its choice name ('value: Auto'). */
function initialValue(where: string, o: Obj, e: Record<number, string> | undefined): unknown {
  const v = o.value;
  if (typeof v !== 'string' || !e) return v;
  for (const [k, name] of Object.entries(e)) if (name === v) return Number(k);
  fail(where, `value '${v}' is not one of ${Object.values(e).join(', ')}`);
}

function wrap<T>(where: string, fn: () => T): T {
  try { return fn(); } catch (e) {
    if (e instanceof TreeYamlError) throw e;
    fail(where, (e as Error).message);
  }
}

function buildVariable(where: string, o: Obj, dev: Device, root: Root, ctx: Ctx): void {
  const w = label(where, o);
  const kind = oneOf<string>(w, o, 'kind', Object.keys(VAR_KEYS)) ?? (o.offset !== undefined ? 'remote' : 'local');
  checkKeys(w, o, VAR_KEYS[kind]);
  const c = varCommon(w, o);
  if (kind === 'local') {
    if (o.value === undefined && o.typeStr === undefined) fail(w, "a local variable needs 'value' or 'typeStr'");
    wrap(w, () => dev.add(new LocalVariable({ ...c, value: initialValue(w, o, c.enum) as never, typeStr: str(w, o, 'typeStr') })));
  } else if (kind === 'remote') {
    const ro = {
      ...c, value: initialValue(w, o, c.enum) as never, offset: num(w, o, 'offset', true)!, bitSize: bits(w, o, 'bitSize'), bitOffset: bits(w, o, 'bitOffset'),
      base: oneOf<Base | BigEndianBase>(w, o, 'base', BASES), numValues: num(w, o, 'numValues'), valueBits: num(w, o, 'valueBits'),
      valueStride: num(w, o, 'valueStride'), verify: bool(w, o, 'verify'), bigEndian: bool(w, o, 'bigEndian'),
      overlapEn: bool(w, o, 'overlapEn'), retryCount: num(w, o, 'retryCount'),
    };
    const run = arrayRun(w, o);
    if (run) wrap(w, () => dev.addRemoteVariables({ ...ro, ...run }));
    else wrap(w, () => dev.add(new RemoteVariable(ro)));
  } else {
    const target = str(w, o, 'variable', true)!;
    // the aliased variable may be declared later in the file: add once the tree exists
    ctx.deferred.push(() => {
      const v = lookup(root, target);
      if (!(v instanceof BaseVariable)) fail(w, `'variable' ${target} is not a variable`);
      wrap(w, () => dev.add(new LinkVariable({ ...c, variable: v, typeStr: str(w, o, 'typeStr') })));
    });
  }
}

function lookup(root: Root, path: string): Node | undefined {
  return root.getNode(path);
}

function buildCommand(where: string, o: Obj, dev: Device, root: Root, ctx: Ctx): void {
  const w = label(where, o);
  const kind = oneOf<string>(w, o, 'kind', Object.keys(CMD_KEYS)) ?? (o.offset !== undefined ? 'remote' : 'local');
  checkKeys(w, o, CMD_KEYS[kind]);
  const common = {
    name: str(w, o, 'name', true)!, description: str(w, o, 'description'), argType: str(w, o, 'argType'),
    retType: str(w, o, 'retType'), value: o.value, hidden: bool(w, o, 'hidden'), groups: groups(w, o), asg: str(w, o, 'asg'),
  };
  if (kind === 'remote') {
    const fname = oneOf<string>(w, o, 'function', Object.keys(REMOTE_FNS)) ?? 'touch';
    wrap(w, () => dev.add(new RemoteCommand({
      ...common, offset: num(w, o, 'offset', true)!, bitSize: bits(w, o, 'bitSize'), bitOffset: bits(w, o, 'bitOffset'),
      base: oneOf<Base>(w, o, 'base', BASES), function: REMOTE_FNS[fname],
    })));
    return;
  }
  const action = oneOf<Action>(w, o, 'action', ACTIONS);
  if (!action) fail(w, `a local command needs 'action' (${ACTIONS.join(', ')}): YAML cannot carry code`);
  const target = str(w, o, 'target');
  const needsVar = VARIABLE_ACTIONS.includes(action);
  if (needsVar && !target) fail(w, `action '${action}' needs 'target'`);
  if (target) {
    ctx.deferred.push(() => {
      const t = lookup(root, target);
      if (needsVar && !(t instanceof BaseVariable)) fail(w, `target ${target} is not a variable`);
      if (action === 'reset' && !(t instanceof Device)) fail(w, `target ${target} is not a device`);
    });
  }
  const fn = actionFunction(action, root, target);
  wrap(w, () => dev.add(new LocalCommand({ ...common, function: fn })));
}

/**
 * What a declared local command runs: one built-in action. The target is looked up when the
 * command runs (it may be declared later in the file; buildCommand checked it exists).
 */
function actionFunction(action: Action, root: Root, target: string | undefined): (a: { arg: unknown }) => Promise<unknown> {
  const variable = (): BaseVariable<unknown> => lookup(root, target!) as BaseVariable<unknown>;
  switch (action) {
    case 'echo':
      return async ({ arg }) => arg;
    case 'set':
      return async ({ arg }) => void (await variable().set(arg));
    case 'get':
      return async () => variable().get();
    case 'increment':
      return ({ arg }) => stepBy(variable(), arg ?? 1, 1);
    case 'decrement':
      return ({ arg }) => stepBy(variable(), arg ?? 1, -1);
    case 'toggle':
      return async () => {
        const v = variable();
        await v.set(!(await v.get()));
        return v.value;
      };
    case 'reset':
      return async () => void (await resetToDefaults(root, target ? (lookup(root, target) as Device) : root));
    case 'readAll':
      return async () => void (await root.readAll());
    case 'writeAll':
      return async () => void (await root.writeAll());
  }
}

/** Adds `sign × step` to a numeric variable (bigint when either is one); returns the new value. */
async function stepBy(v: BaseVariable<unknown>, step: unknown, sign: 1 | -1): Promise<unknown> {
  const cur = await v.get();
  const next = typeof cur === 'bigint' || typeof step === 'bigint'
    ? BigInt(cur as number) + BigInt(sign) * BigInt(step as number)
    : (cur as number) + sign * (step as number);
  await v.set(next);
  return v.value;
}

/** Every writable local or remote variable under `d` back to its constructor value, as one update. */
async function resetToDefaults(root: Root, d: Device): Promise<void> {
  await root.updateGroup(async () => {
    for (const v of d.variableList) {
      // the user's variables; PyRogue's built-ins (PollEn, ForceWrite, the config processes' settings) keep theirs
      if (v.inGroup(BUILTIN_GROUP)) continue;
      if (v.mode !== 'RO' && (v instanceof LocalVariable || v instanceof RemoteVariable)) await v.set(v.default);
    }
  });
}

/** `number` and `stride` together (PyRogue's addRemoteVariables / addNodes), or neither. */
function arrayRun(w: string, o: Obj): { number: number; stride: number } | undefined {
  const number = num(w, o, 'number');
  const stride = num(w, o, 'stride');
  if (number === undefined && stride === undefined) return undefined;
  if (number === undefined || stride === undefined) fail(w, "'number' and 'stride' go together");
  if (!Number.isInteger(number) || number < 1) fail(w, "'number' must be a positive integer");
  return { number, stride };
}

function buildDevice(where: string, o: Obj, parent: Device, root: Root, ctx: Ctx): void {
  const w = label(where, o);
  checkKeys(w, o, DEV_KEYS);
  const name = str(w, o, 'name', true)!;
  const run = arrayRun(w, o);
  const offset = num(w, o, 'offset');
  // a device array: the same entry repeated as Name[0], Name[1] …, stride bytes apart
  for (let i = 0; i < (run?.number ?? 1); i++) {
    const dev = wrap(w, () => new Device({
      name: run ? `${name}[${i}]` : name, description: str(w, o, 'description'),
      offset: run ? (offset ?? 0) + i * run.stride : offset,
      hidden: bool(w, o, 'hidden'), groups: groups(w, o), asg: str(w, o, 'asg'), enabled: bool(w, o, 'enabled'),
      memBase: o.memory === undefined ? undefined : wrap(`${w}.memory`, () => ctx.memories.get(o.memory)),
    }));
    wrap(w, () => parent.add(dev));
    fillDevice(w, o, dev, root, ctx);
  }
}

function fillDevice(w: string, o: Obj, dev: Device, root: Root, ctx: Ctx): void {
  list(w, o, 'variables').forEach((v, i) => buildVariable(`${w}.variables[${i}]`, v, dev, root, ctx));
  list(w, o, 'commands').forEach((c, i) => buildCommand(`${w}.commands[${i}]`, c, dev, root, ctx));
  list(w, o, 'devices').forEach((d, i) => buildDevice(`${w}.devices[${i}]`, d, dev, root, ctx));
}

/** Build a Root from YAML text (see the schema at the top of this file). Throws TreeYamlError naming the bad entry. */
export function loadTreeFromYaml(text: string): Root {
  let doc: unknown;
  try {
    doc = normalize(parse(text, { intAsBigInt: true }));
  } catch (e) {
    throw new TreeYamlError(`invalid YAML: ${(e as Error).message}`);
  }
  if (!isObj(doc)) throw new TreeYamlError('expected a mapping with root / devices / variables / commands');
  checkKeys('document', doc, ['root', 'devices', 'variables', 'commands']);
  const r = doc.root ?? {};
  if (!isObj(r)) fail('root', 'must be a mapping');
  checkKeys('root', r, ROOT_KEYS);
  const ctx = new Ctx();
  const root = wrap('root', () => new Root({
    name: str('root', r, 'name'), description: str('root', r, 'description'), pollEn: bool('root', r, 'pollEn'),
    initRead: bool('root', r, 'initRead'), initWrite: bool('root', r, 'initWrite'), timeout: num('root', r, 'timeout'),
    asg: str('root', r, 'asg'),
    memBase: r.memory === undefined ? undefined : wrap('root.memory', () => ctx.memories.get(r.memory)),
  }));
  list('document', doc, 'variables').forEach((v, i) => buildVariable(`variables[${i}]`, v, root, root, ctx));
  list('document', doc, 'commands').forEach((c, i) => buildCommand(`commands[${i}]`, c, root, root, ctx));
  list('document', doc, 'devices').forEach((d, i) => buildDevice(`devices[${i}]`, d, root, root, ctx));
  for (const f of ctx.deferred) f();
  return root;
}

/** Builds a tree from a YAML tree description file (see {@link loadTreeFromYaml}). */
export function loadTreeFromFile(path: string): Root {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new TreeYamlError(`${path}: ${(e as Error).message}`);
  }
  try {
    return loadTreeFromYaml(text);
  } catch (e) {
    if (e instanceof TreeYamlError) throw new TreeYamlError(`${path}: ${e.message}`);
    throw e;
  }
}
