// The served tree as JSON (`GET /api/tree`): devices, variables and commands in tree order, each
// served node with its PV name and what a browser needs to show and edit it.
import { BaseCommand, BaseVariable, Device, type Node, type Root } from '../tree/index.ts';
import { EpicsPvHolder, type PvKind } from '../epics/index.ts';
import type { Holder } from './feed.ts';

/** How the page shows and edits a value. */
export type EditorKind = 'float' | 'int' | 'bool' | 'enum' | 'text' | 'array' | 'none';

interface NodeJson {
  kind: 'device' | 'variable' | 'command';
  name: string;
  path: string;
  description: string;
  hidden: boolean;
  groups: readonly string[];
}

export interface VariableJson extends NodeJson {
  kind: 'variable';
  pv: string;
  mode: string;
  type: string;
  editor: EditorKind;
  units?: string;
  /** Enum labels in choice-index order (the index a write sends). */
  enum?: string[];
  disp: string;
  minimum?: number | string;
  maximum?: number | string;
  lowWarning?: number | string;
  lowAlarm?: number | string;
  highWarning?: number | string;
  highAlarm?: number | string;
  /** Array length. */
  length?: number;
}

export interface CommandJson extends NodeJson {
  kind: 'command';
  pv: string;
  argType: string | null;
  retType: string | null;
  /** The argument's editor; 'none' when the command takes no argument. */
  editor: EditorKind;
  defaultArg?: unknown;
}

export interface DeviceJson extends NodeJson {
  kind: 'device';
  children: (DeviceJson | VariableJson | CommandJson)[];
}

export interface TreeJson {
  root: string;
  /** PV name of the Root's SystemLog when it is served. */
  systemLog: string | null;
  /** Writes and command calls are refused. */
  readOnly: boolean;
  tree: DeviceJson;
}

/** The editor for a pvData kind. */
export function editorOf(kind: PvKind): EditorKind {
  if (kind.kind === 'enum') return 'enum';
  if (kind.kind === 'display') return 'text';
  if (kind.array) return kind.type === 'string' ? 'text' : 'array';
  switch (kind.type) {
    case 'boolean':
      return 'bool';
    case 'string':
      return 'text';
    case 'float':
    case 'double':
      return 'float';
    default:
      return 'int';
  }
}

/** A limit as JSON: numbers as they are, bigints beyond 2^53 as decimal text. */
function limit(x: number | bigint | undefined | null): number | string | undefined {
  if (x === undefined || x === null) return undefined;
  if (typeof x === 'bigint') return Number.isSafeInteger(Number(x)) ? Number(x) : x.toString();
  return x;
}

function base(n: Node): Omit<NodeJson, 'kind'> {
  return { name: n.name, path: n.path, description: n.description ?? '', hidden: n.hidden, groups: n.groups };
}

/**
 * The served part of the tree: `holders` maps served PV names to holders; devices appear when
 * they hold something served. Variables and commands come before sub-devices, as in PyRogue's
 * DebugTree.
 */
export function treeJson(root: Root, holders: ReadonlyMap<string, Holder>, readOnly: boolean): TreeJson {
  const byPath = new Map<string, { name: string; holder: Holder }>();
  for (const [name, holder] of holders) byPath.set(holder.path, { name, holder });
  let systemLog: string | null = null;

  const visit = (d: Device): DeviceJson | undefined => {
    const leaves: (VariableJson | CommandJson)[] = [];
    const devices: DeviceJson[] = [];
    for (const n of d.nodes.values()) {
      if (n instanceof Device) {
        const j = visit(n);
        if (j) devices.push(j);
        continue;
      }
      const served = byPath.get(n.path);
      if (!served) continue;
      const h = served.holder;
      if (n instanceof BaseVariable && h instanceof EpicsPvHolder) {
        if (d === root && n.name === 'SystemLog') systemLog = served.name;
        const v: VariableJson = {
          kind: 'variable',
          ...base(n),
          pv: served.name,
          mode: n.mode,
          type: n.typeStr,
          editor: editorOf(h.kind),
          disp: n.disp,
        };
        if (n.units) v.units = n.units;
        if (h.kind.kind === 'enum') v.enum = [...h.choices];
        const lim = { minimum: n.minimum, maximum: n.maximum, lowWarning: n.lowWarning, lowAlarm: n.lowAlarm, highWarning: n.highWarning, highAlarm: n.highAlarm };
        for (const [k, x] of Object.entries(lim)) {
          const j = limit(x);
          if (j !== undefined) (v as unknown as Record<string, unknown>)[k] = j;
        }
        if (n.nativeType.length !== undefined) v.length = n.nativeType.length;
        leaves.push(v);
      } else if (n instanceof BaseCommand && !(h instanceof EpicsPvHolder)) {
        const c: CommandJson = {
          kind: 'command',
          ...base(n),
          pv: served.name,
          argType: n.argType ?? null,
          retType: n.retType ?? null,
          editor: n.argType ? editorOf({ kind: 'scalar', type: h.argType.type, array: h.argType.array }) : 'none',
        };
        if (n.defaultArg !== undefined && n.defaultArg !== null) c.defaultArg = typeof n.defaultArg === 'bigint' ? limit(n.defaultArg) : n.defaultArg;
        leaves.push(c);
      }
    }
    if (d !== root && leaves.length === 0 && devices.length === 0) return undefined;
    return { kind: 'device', ...base(d), children: [...leaves, ...devices] };
  };

  const tree = visit(root)!;
  return { root: root.name, systemLog, readOnly, tree };
}
