// Device: a node holding variables, commands and sub-devices, mapped at an offset in memory.

import { Node, NodeError, type NodeOptions } from './node.ts';
import { BaseVariable } from './variable.ts';
import { BaseCommand } from './command.ts';
import { type Block, type BlockHost, type BlockMember, buildBlocks } from './block.ts';
import type { Memory } from './memory/interface.ts';

export interface DeviceOptions extends NodeOptions {
  /** Byte offset from the parent device's address (or from memBase's 0 when memBase is given). */
  offset?: number;
  /** Memory behind this device; default: the parent's. */
  memBase?: Memory;
  /** Transaction timeout in seconds (default: parent's, else 1). */
  timeout?: number;
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

export class Device extends Node implements BlockHost {
  readonly offset: number;
  readonly memBase: Memory | undefined;
  private readonly _timeout: number | undefined;
  private _blocks: Block[] | undefined;

  constructor(opts: DeviceOptions) {
    super(opts);
    this.offset = opts.offset ?? 0;
    this.memBase = opts.memBase;
    this._timeout = opts.timeout;
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
  get variableList(): BaseVariable<unknown>[] { return [...this.descendants()].filter((n) => n instanceof BaseVariable) as BaseVariable<unknown>[]; }
  get commandList(): BaseCommand[] { return [...this.descendants()].filter((n) => n instanceof BaseCommand) as BaseCommand[]; }
  get deviceList(): Device[] { return [...this.descendants()].filter((n) => n instanceof Device) as Device[]; }

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

  /** Write every block holding writable bits (with verify). */
  async writeBlocks(recurse = true, verify = true): Promise<void> {
    const bs = this.allBlocks(recurse).filter((b) => b.members.some((m) => m.mode !== 'RO' && m instanceof BaseVariable));
    await settleAll(bs.map((b) => b.write(verify)));
  }

  async readAll(): Promise<void> {
    const r = this.root;
    if (r) await r.updateGroup(() => this.readBlocks(true));
    else await this.readBlocks(true);
  }

  async writeAll(): Promise<void> {
    await this.writeBlocks(true);
  }
}
