// Root: the top device. Owns the memory default, lifecycle, protocols, polling,
// update grouping (listeners once per changed variable per transaction) and YAML config.

import { Device, type DeviceOptions } from './device.ts';
import { Emulate } from './memory/emulate.ts';
import { PollQueue } from './poll.ts';
import type { BaseVariable } from './variable.ts';
import { NodeError, type GroupSpec } from './node.ts';
import { type GetYamlOptions, type SetYamlOptions, getYaml, setYaml, saveConfig, loadConfig } from './yaml-config.ts';

/** Something serving the tree (an EPICS server, a logger …). */
export interface Protocol {
  /** Called after the tree is running (root.running is true). */
  start?(root: Root): void | Promise<void>;
  /** Called before the tree stops, in reverse order of start. */
  stop?(): void | Promise<void>;
}

export interface RootOptions extends Omit<DeviceOptions, 'name'> {
  name?: string;
  /** Polling enabled (default true, as PyRogue). */
  pollEn?: boolean;
  /** Read all hardware right after start. */
  initRead?: boolean;
  /** Write all values right after start. */
  initWrite?: boolean;
  /** Called for errors nobody awaits (polling, listeners); default console.error. */
  onError?: (err: Error, context: string) => void;
}

export class Root extends Device {
  /** @internal marks the root for Node.root without an import cycle */
  readonly _isRoot = true;
  private _running = false;
  private _pollEn: boolean;
  private readonly _protocols: Protocol[] = [];
  private readonly _started: Protocol[] = [];
  private readonly _poll: PollQueue;
  private readonly _initRead: boolean;
  private readonly _initWrite: boolean;
  private _groupDepth = 0;
  private _pending = new Set<BaseVariable<unknown>>();
  onError: (err: Error, context: string) => void;

  constructor(opts: RootOptions = {}) {
    super({ ...opts, name: opts.name ?? 'Root', memBase: opts.memBase ?? new Emulate() });
    this._pollEn = opts.pollEn ?? true;
    this._initRead = opts.initRead ?? false;
    this._initWrite = opts.initWrite ?? false;
    this.onError = opts.onError ?? ((e, ctx) => console.error(`pvtree ${this.name}: ${ctx}: ${e.message}`));
    this._poll = new PollQueue(this);
  }

  get running(): boolean { return this._running; }

  get pollEn(): boolean { return this._pollEn; }
  set pollEn(v: boolean) {
    this._pollEn = v;
    if (v && this._running) this._poll.start();
    else this._poll.stop();
  }

  /** Completed poll cycles. */
  get pollCycles(): number { return this._poll.cycles; }

  /** Register a protocol; it starts with the tree. Add protocols before start(). */
  addProtocol(p: Protocol): void {
    if (this._running) throw new NodeError(`${this.name}: add protocols before start()`);
    this._protocols.push(p);
  }

  get protocols(): readonly Protocol[] { return this._protocols; }

  /** Build blocks, go running, optionally initWrite/initRead, start polling, then protocols. */
  async start(): Promise<void> {
    if (this._running) throw new NodeError(`${this.name} is already running`);
    this.allBlocks(true);
    for (const v of this.variableList) if (v.pollInterval > 0) this._poll.update(v);
    this._running = true;
    try {
      if (this._initWrite) await this.writeAll();
      if (this._initRead) await this.readAll();
      if (this._pollEn) this._poll.start();
      for (const p of this._protocols) {
        await p.start?.(this);
        this._started.push(p);
      }
    } catch (e) {
      await this.stop();
      throw e;
    }
  }

  /** Stop protocols (reverse order), then polling; the tree is running until protocols are down. */
  async stop(): Promise<void> {
    let first: unknown;
    while (this._started.length) {
      const p = this._started.pop()!;
      try { await p.stop?.(); } catch (e) { first ??= e; }
    }
    this._poll.stop();
    this._running = false;
    if (first) throw first;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this._running) await this.stop();
  }

  /**
   * Run `fn` as one transaction: each variable changed inside notifies its listeners once,
   * when the outermost group ends.
   */
  async updateGroup<R>(fn: () => Promise<R> | R): Promise<R> {
    this._beginUpdate();
    try {
      return await fn();
    } finally {
      this._endUpdate();
    }
  }

  /** @internal Synchronous form of updateGroup (blocks use it around decoding a read). */
  _beginUpdate(): void {
    this._groupDepth++;
  }

  /** @internal */
  _endUpdate(): void {
    if (--this._groupDepth === 0) this._flush();
  }

  /** @internal */
  _queueUpdate(v: BaseVariable<unknown>): void {
    if (this._groupDepth > 0) this._pending.add(v);
    else v._fire();
  }

  private _flush(): void {
    while (this._pending.size) {
      const list = this._pending;
      this._pending = new Set();
      for (const v of list) v._fire();
    }
  }

  /** @internal */
  _pollIntervalChanged(v: BaseVariable<unknown>): void {
    this._poll.update(v);
  }

  /** @internal */
  _reportError(e: Error, context: string): void {
    try { this.onError(e, context); } catch { /* a broken error handler must not break polling */ }
  }

  // ---- configuration ------------------------------------------------------------------

  /** Values as YAML: { Root: { Dev: { Var: value } } }. Default: RW/WO variables, not in NoConfig. */
  getYaml(opts?: GetYamlOptions): Promise<string> { return getYaml(this, opts); }
  /** Apply a YAML config (values by path), then write the touched blocks. */
  setYaml(text: string, opts?: SetYamlOptions): Promise<void> { return setYaml(this, text, opts); }
  saveConfig(path: string, opts?: GetYamlOptions): Promise<void> { return saveConfig(this, path, opts); }
  loadConfig(paths: string | string[], opts?: SetYamlOptions): Promise<void> { return loadConfig(this, paths, opts); }

  /** Variables passing a group filter, in tree order. */
  variablesByGroup(incGroups?: GroupSpec, excGroups?: GroupSpec): BaseVariable<unknown>[] {
    return this.variableList.filter((v) => v.filterByGroup(incGroups, excGroups));
  }
}
