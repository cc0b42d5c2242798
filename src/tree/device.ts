// Device: a node holding variables, commands and sub-devices, mapped at an offset in memory.

import { BUILTIN_GROUP, Node, NodeError, type NodeOptions } from './node.ts';
import { BaseVariable } from './variable.ts';
import { BaseCommand, LocalCommand } from './command.ts';
import { type Block, type BlockHost, type BlockMember, buildBlocks } from './block.ts';
import type { Memory } from './memory/interface.ts';
import { EnableVariable } from './enable-variable.ts';
import { RemoteVariable, type RemoteVariableOptions } from './remote-variable.ts';
import { LinkVariable } from './link-variable.ts';
import { matchArrayNodes, splitArrayKey } from './node-match.ts';

/** Options of a {@link Device}. */
export interface DeviceOptions extends NodeOptions {
  /** Byte offset from the parent device's address (or from memBase's 0 when memBase is given). */
  offset?: number;
  /** Memory behind this device; default: the parent's. */
  memBase?: Memory;
  /** Transaction timeout in seconds (default: parent's, else 1). */
  timeout?: number;
  /** Initial state of `enable` (default true). */
  enabled?: boolean;
  /** Variables that must all be truthy for the device to be enabled (PyRogue's enableDeps). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  enableDeps?: BaseVariable<any>[];
}

/** A run of equally spaced nodes: `name[0]` at `offset`, `name[1]` at `offset + stride` … */
export interface NodeArrayOptions {
  name: string;
  offset: number;
  /** How many. */
  number: number;
  /** Bytes between consecutive nodes. */
  stride: number;
}

/** addRemoteVariables: RemoteVariable options plus the run, and PyRogue's `pack`. */
export type RemoteVariableArrayOptions = RemoteVariableOptions & NodeArrayOptions & {
  /** Also add `<name>_All`: the elements' display values joined by '_', last element first; the elements are hidden. */
  pack?: boolean;
};

/** The error a disabled device's variables report (served as a DISABLE alarm). */
export class DeviceDisabledError extends Error {
  override name = 'DeviceDisabled';
  constructor(readonly devicePath: string) {
    super(`${devicePath} is disabled`);
  }
}

function isMember(n: Node): n is Node & BlockMember {
  return (n as Partial<BlockMember>).field !== undefined && typeof (n as Partial<BlockMember>)._blockRead === 'function';
}

/** Settle every promise, then throw the first failure (so one bad block can't stop the others). */
export async function settleAll(ps: Promise<unknown>[]): Promise<void> {
  const rs = await Promise.allSettled(ps);
  const bad = rs.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (bad.length === 1) throw bad[0].reason;
  if (bad.length > 1) throw new AggregateError(bad.map((b) => b.reason), `${bad.length} transactions failed: ${String(bad[0].reason?.message ?? bad[0].reason)}`);
}

/**
 * A group of variables, commands and sub-devices at an address (PyRogue's Device): registers are
 * placed at `offset` from the parent's base, on the memory given or inherited.
 *
 * ```ts
 * const dev = new Device({ name: 'Fpga', offset: 0x1000 });
 * root.add(dev);
 * dev.add(new RemoteVariable({ name: 'Version', offset: 0x0, bitSize: 32, mode: 'RO' }));
 * ```
 */
export class Device extends Node implements BlockHost {
  readonly offset: number;
  private _memBase: Memory | undefined;
  /** Hardware access on or off (PyRogue's `enable`); see `enabled` for the effective state. */
  readonly enable: EnableVariable;
  private readonly _timeout: number | undefined;
  private _blocks: Block[] | undefined;
  private _enabled: boolean;
  private _disabledError: DeviceDisabledError | undefined;

  constructor(opts: DeviceOptions) {
    super(opts);
    this.offset = opts.offset ?? 0;
    this._memBase = opts.memBase;
    this._timeout = opts.timeout;
    this.enable = new EnableVariable({ enabled: opts.enabled, deps: opts.enableDeps });
    this._enabled = this.enable.own && this.enable.depsOk;
    this.add(
      this.enable,
      new LocalCommand<boolean, void>({
        name: 'ReadDevice', argType: 'Bool', value: false, hidden: true,
        description: 'Force read of device without recursion',
        function: ({ arg }) => this.readAndWait(!!arg),
      }),
      new LocalCommand<boolean, void>({
        name: 'WriteDevice', argType: 'Bool', value: false, hidden: true,
        description: 'Force write of device without recursion',
        function: ({ arg }) => this.writeBlocks(!!arg, true, true),
      }),
    );
    for (const n of this._nodes.values()) n.addToGroup(BUILTIN_GROUP);
  }

  // ---- enable -----------------------------------------------------------------------

  /** Effective state: own `enable` on, dependencies true, and every parent enabled. */
  get enabled(): boolean { return this._enabled; }

  /** @internal What a disabled device's variables report (one instance per device). */
  get _disabledReason(): DeviceDisabledError | undefined {
    if (this._enabled) return undefined;
    return (this._disabledError ??= new DeviceDisabledError(this.path));
  }

  /** Hook: the device's own enable flag changed (PyRogue's enableChanged); override in subclasses. */
  enableChanged(_value: boolean): void {}

  /** @internal From EnableVariable: own flag or dependencies changed. */
  _enableFlagChanged(value: boolean): void {
    const r = this.root;
    r?._beginUpdate();
    try {
      this._refreshEnabled();
      try { this.enableChanged(value); } catch (e) { r?._reportError(e as Error, `enableChanged of ${this.path}`); }
    } finally {
      r?._endUpdate();
    }
  }

  /** Recompute the effective state here and below; everything whose state moved is re-announced. */
  private _refreshEnabled(): void {
    const up = this.parent as Device | undefined;
    const now = this.enable.own && this.enable.depsOk && (up === undefined || up._enabled);
    const moved = now !== this._enabled;
    this._enabled = now;
    this._disabledError = undefined;
    if (moved) for (const v of this.variables) if (v !== this.enable) v._deviceStateChanged();
    for (const d of this.devices) {
      const was = d._enabled;
      d._refreshEnabled();
      // a child's own value reads 'parent' while this one is off
      if (moved || was !== d._enabled) d.enable._stateChanged();
    }
  }

  /** The memory given to this device (undefined: it uses its parent's). */
  get memBase(): Memory | undefined { return this._memBase; }

  /**
   * Put `m` behind this device and every device that inherits its memory, before the tree runs
   * (how `pvtree serve --memory` points a tree at hardware). Blocks are rebuilt on next use.
   */
  setMemBase(m: Memory): void {
    if (this.root?.running) throw new NodeError(`${this.path}: cannot change the memory of a running tree`);
    this._memBase = m;
    this._invalidateBlocks();
    for (const d of this.deviceList) d._invalidateBlocks();
  }

  /** Absolute byte address in `memory`. */
  get address(): number {
    if (this.memBase) return this.offset;
    const p = this.parent as Device | undefined;
    return p ? p.address + this.offset : this.offset;
  }

  get memory(): Memory {
    if (this.memBase) return this.memBase;
    const p = this.parent as Device | undefined;
    if (!p) throw new NodeError(`${this.path} has no memory: attach it to a Root or give memBase`);
    return p.memory;
  }

  get timeout(): number {
    return this._timeout ?? (this.parent as Device | undefined)?.timeout ?? 1;
  }

  /** Add variables, commands or devices. */
  add(...nodes: Node[]): this {
    if (this.root?.running) throw new NodeError(`${this.path}: cannot add nodes to a running tree`);
    for (const n of nodes) {
      if (!(n instanceof BaseVariable || n instanceof BaseCommand || n instanceof Device)) {
        throw new NodeError(`${this.path}: can only add variables, commands and devices, not ${String(n)}`);
      }
      if (n instanceof Device && (n as { _isRoot?: boolean })._isRoot) throw new NodeError('a Root cannot be added to a device');
      this._addChild(n);
      if (n instanceof Device) n._refreshEnabled();
      if (isMember(n)) this._invalidateBlocks();
      if (n instanceof BaseVariable && n.pollInterval > 0) this.root?._pollIntervalChanged(n);
      if (n instanceof Device) for (const v of n.variableList) if (v.pollInterval > 0) this.root?._pollIntervalChanged(v);
    }
    return this;
  }

  // ---- children -------------------------------------------------------------------

  /** Direct child variables. */
  get variables(): BaseVariable<unknown>[] { return [...this._nodes.values()].filter((n) => n instanceof BaseVariable) as BaseVariable<unknown>[]; }
  get commands(): BaseCommand[] { return [...this._nodes.values()].filter((n) => n instanceof BaseCommand) as BaseCommand[]; }
  get devices(): Device[] { return [...this._nodes.values()].filter((n) => n instanceof Device) as Device[]; }

  /** Every variable below this device, in tree order. */
  get variableList(): BaseVariable<unknown>[] { return this._collect(BaseVariable) as BaseVariable<unknown>[]; }
  get commandList(): BaseCommand[] { return this._collect(BaseCommand) as BaseCommand[]; }
  get deviceList(): Device[] { return this._collect(Device) as Device[]; }

  /** Descendants of a kind, in tree order, without a list of every node first (100k-node trees walk this at start). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  private _collect(kind: abstract new (...args: any[]) => Node): Node[] {
    const out: Node[] = [];
    for (const n of this.descendants()) if (n instanceof kind) out.push(n);
    return out;
  }

  /**
   * Direct children a name selects, as PyRogue's nodeMatch: the child of that name, or for
   * array keys (`Chan[2]`, `Chan[*]`, `Chan[1:3]`, `Sub[0][1]`) the matching `Chan[n]` children.
   * `keys` is set when the name indexes into a single array variable (`Wave[3]` on `Wave`).
   */
  nodeMatch(name: string): { nodes: Node[]; keys?: string[] } {
    const n = this._nodes.get(name);
    if (n) return { nodes: [n] };
    const s = splitArrayKey(name);
    if (!s) return { nodes: [] };
    const whole = this._nodes.get(s.base);
    if (whole) return { nodes: [whole], keys: s.keys };
    return { nodes: matchArrayNodes(this._nodes.values(), s.base, s.keys) };
  }

  /** PyRogue's addNodes: `make` is called with `name[i]` and `offset + i * stride` for i < number. */
  addNodes<O extends { name: string; offset?: number }>(make: (opts: O) => Node, opts: O & NodeArrayOptions): this {
    const { number, stride, name, offset, ...rest } = opts;
    if (!Number.isInteger(number) || number < 0) throw new NodeError(`${this.path}: addNodes ${name}: number must be a non-negative integer`);
    if (!Number.isFinite(stride)) throw new NodeError(`${this.path}: addNodes ${name}: stride must be a number`);
    for (let i = 0; i < number; i++) this.add(make({ ...rest, name: `${name}[${i}]`, offset: offset + i * stride } as unknown as O));
    return this;
  }

  /**
   * PyRogue's addRemoteVariables: `number` registers `name[0]` … `name[number-1]`, `stride` bytes
   * apart from `offset`, each a RemoteVariable with the other options. With `pack`, the elements
   * are hidden and `name_All` joins their display values with '_' (last element first).
   */
  addRemoteVariables(opts: RemoteVariableArrayOptions): this {
    const { pack, ...rest } = opts;
    this.addNodes((o: RemoteVariableOptions) => new RemoteVariable(o), { ...rest, hidden: pack ? true : rest.hidden });
    if (pack) {
      const els = Array.from({ length: opts.number }, (_, i) => this.node(`${opts.name}[${i}]`) as RemoteVariable);
      this.add(new LinkVariable<string>({
        name: `${opts.name}_All`, typeStr: 'str', mode: opts.mode, description: opts.description, groups: opts.groups,
        dependencies: els,
        linkedGet: ({ read }) => {
          if (!read) return els.map((v) => v.valueDisp).reverse().join('_');
          return Promise.all(els.map((v) => v.getDisp({ read }))).then((d) => d.reverse().join('_'));
        },
        linkedSet: async ({ value, write }) => {
          if (value === '') return;
          const parts = value.split('_').reverse();
          for (let i = 0; i < Math.min(parts.length, els.length); i++) await els[i].setDisp(parts[i], { write });
        },
      }));
    }
    return this;
  }

  // ---- blocks -----------------------------------------------------------------------

  /** This device's own blocks (built on first use). */
  get blocks(): readonly Block[] {
    if (!this._blocks) {
      const members = [...this._nodes.values()].filter(isMember);
      this._blocks = buildBlocks(this, members, this.memory.minAccess);
    }
    return this._blocks;
  }

  /** @internal */
  _blockOf(m: BlockMember): Block | undefined {
    for (const b of this.blocks) if (b.members.includes(m)) return b;
    return undefined;
  }

  private _invalidateBlocks(): void {
    if (this._blocks) for (const b of this._blocks) for (const m of b.members) m._setBlock(undefined);
    this._blocks = undefined;
  }

  /** Blocks of this device and, with recurse, of every sub-device. */
  allBlocks(recurse = true): Block[] {
    const out = [...this.blocks];
    if (recurse) for (const d of this.deviceList) out.push(...d.blocks);
    return out;
  }

  /** Read every block (one transaction each, issued together) and local variables with localGet. */
  async readBlocks(recurse = true): Promise<void> {
    const ps: Promise<unknown>[] = this.allBlocks(recurse).map((b) => b.read());
    const vars = recurse ? this.variableList : this.variables;
    for (const v of vars) if (!isMember(v) && v.mode !== 'WO') ps.push(v.get({ read: true }));
    await settleAll(ps);
  }

  /**
   * Write the blocks holding writable variable bits (with verify): with `force` (the default)
   * all of them, else only those holding values not yet written (stale, as Rogue's writeBlocks).
   * Blocks of disabled devices are skipped.
   */
  async writeBlocks(recurse = true, verify = true, force = true): Promise<void> {
    const bs = this.allBlocks(recurse).filter((b) => (force || b.stale) && b.members.some((m) => m.mode !== 'RO' && m instanceof BaseVariable));
    await settleAll(bs.map((b) => b.write(verify)));
  }

  /** Read this device's blocks (and with recurse every sub-device's) as one update group. */
  async readAndWait(recurse = true): Promise<void> {
    const r = this.root;
    if (r) await r.updateGroup(() => this.readBlocks(recurse));
    else await this.readBlocks(recurse);
  }

  async readAll(): Promise<void> {
    await this.readAndWait(true);
  }

  async writeAll(): Promise<void> {
    await this.writeBlocks(true);
  }

  // ---- hooks (PyRogue's Device.initialize / hardReset / countReset) --------------------

  /**
   * Soft reset. The default calls every direct sub-device's initialize() in tree order; a
   * subclass overriding it calls `super.initialize()` before or after its own work, which decides
   * whether parents or children act first (as in PyRogue).
   */
  async initialize(): Promise<void> {
    for (const d of this.devices) await d.initialize();
  }

  /** Hard reset; the default recurses like initialize(). */
  async hardReset(): Promise<void> {
    for (const d of this.devices) await d.hardReset();
  }

  /** Counter reset; the default recurses like initialize(). */
  async countReset(): Promise<void> {
    for (const d of this.devices) await d.countReset();
  }
}
