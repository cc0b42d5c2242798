// Root: the top device. Owns the memory default, lifecycle, protocols, polling,
// update grouping (listeners once per changed variable per transaction), YAML config and
// PyRogue's built-in variables and commands (see root-builtins.ts).

import { writeFile } from 'node:fs/promises';
import { Device, type DeviceOptions } from './device.ts';
import { Emulate } from './memory/emulate.ts';
import { MemoryLinks } from './memory/link-watch.ts';
import { PollQueue } from './poll.ts';
import type { BaseVariable } from './variable.ts';
import { NodeError, type GroupSpec } from './node.ts';
import { RemoteVariable } from './remote-variable.ts';
import type { Mode } from './types.ts';
import { Process } from './process.ts';
import {
  type ConfigLoadResult, type GetYamlOptions, type SetYamlOptions, getYaml, setYaml, saveConfig, loadConfig,
} from './yaml-config.ts';
import { SystemLogBuffer, type LogLevel } from './system-log.ts';
import { addRootBuiltins, type RootBuiltins } from './root-builtins.ts';
import { ConfigPathError, autoName, expandLoadList, resolveInside } from './config-files.ts';
import { dumpValue } from './remote-dump.ts';

/** Something serving the tree (an EPICS server, a logger …). */
export interface Protocol {
  /** Called after the tree is running (root.running is true). */
  start?(root: Root): void | Promise<void>;
  /** Called before the tree stops, in reverse order of start. */
  stop?(): void | Promise<void>;
}

/** Options of a {@link Root}. */
export interface RootOptions extends Omit<DeviceOptions, 'name'> {
  name?: string;
  /** Polling enabled (default true, as PyRogue). */
  pollEn?: boolean;
  /** Read all hardware right after start. */
  initRead?: boolean;
  /** Right after start, write the values not yet written (registers given an initial value; all with ForceWrite). */
  initWrite?: boolean;
  /** Called for errors nobody awaits (polling, listeners); default console.error. */
  onError?: (err: Error, context: string) => void;
  /**
   * PyRogue's built-in variables, commands and config processes (RogueVersion, PollEn, ReadAll,
   * LoadConfig, LoadConfigProcess …). Default true; false leaves them out of the tree.
   */
  builtins?: boolean;
  /** Most SystemLog entries kept (default 1000, as PyRogue's maxLog). */
  maxLog?: number;
  /** Most characters of SystemLog's JSON text (default 65536; oldest entries go first). */
  maxLogBytes?: number;
  /**
   * Where the built-in commands' file arguments (LoadConfig, SaveConfig, SaveState,
   * RemoteVariableDump, the config processes' ConfigFile) must resolve; default: the current
   * directory at the time of the call. A path escaping it is refused.
   */
  configDir?: string;
}

/**
 * The top of a tree (PyRogue's Root): starts and stops it, polls, holds the protocols that serve
 * it and the built-ins (ReadAll, SaveConfig, SystemLog …).
 *
 * ```ts
 * const root = new Root({ name: 'Lab', pollEn: true });
 * root.add(new Device({ name: 'Board' }));
 * root.addProtocol(new EpicsPvServer({ base: 'lab', root }));
 * await root.start();
 * ```
 */
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
  private readonly _log0: SystemLogBuffer;
  private _logging = false;
  private _heartbeat: ReturnType<typeof setInterval> | undefined;
  private readonly _b: RootBuiltins | undefined;
  private _links: MemoryLinks | undefined;
  /** See RootOptions.configDir. */
  configDir: string | undefined;
  onError: (err: Error, context: string) => void;

  constructor(opts: RootOptions = {}) {
    super({ ...opts, name: opts.name ?? 'Root', memBase: opts.memBase ?? new Emulate() });
    this._pollEn = opts.pollEn ?? true;
    this._initRead = opts.initRead ?? false;
    this._initWrite = opts.initWrite ?? false;
    this.onError = opts.onError ?? ((e, ctx) => console.error(`pvtree ${this.name}: ${ctx}: ${e.message}`));
    this._poll = new PollQueue(this);
    this._log0 = new SystemLogBuffer(opts.maxLog ?? 1000, opts.maxLogBytes ?? 65536);
    this.configDir = opts.configDir;
    if (opts.builtins !== false) this._b = addRootBuiltins(this);
  }

  get running(): boolean { return this._running; }

  get pollEn(): boolean { return this._pollEn; }
  set pollEn(v: boolean) {
    this._applyPollEn(v);
    this._b?.pollEn.set(v, { force: true }).catch((e: Error) => this._reportError(e, 'PollEn'));
  }

  /** @internal Start or stop polling (PollEn's hook). */
  _applyPollEn(v: boolean): void {
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

  /** Build blocks, go running, optionally initWrite/initRead, start polling and the Time heartbeat, then protocols. */
  async start(): Promise<void> {
    if (this._running) throw new NodeError(`${this.name} is already running`);
    this.allBlocks(true);
    for (const v of this.variableList) if (v.pollInterval > 0) this._poll.update(v);
    this._running = true;
    try {
      // memories open their links first (SrpV3Memory: the socket; RSSI connects in the background)
      this._links = new MemoryLinks(this);
      await this._links.start();
      if (this._initWrite) await this.writeAll();
      if (this._initRead) await this.readAll();
      if (this._pollEn) this._poll.start();
      const time = this._b?.time;
      if (time) {
        this._heartbeat = setInterval(() => {
          time.set(Date.now() / 1000, { force: true }).catch((e: Error) => this._reportError(e, 'Time'));
        }, 1000);
        this._heartbeat.unref?.();
      }
      for (const p of this._protocols) {
        await p.start?.(this);
        this._started.push(p);
      }
    } catch (e) {
      await this.stop();
      throw e;
    }
  }

  /** Stop protocols (reverse order), running processes, the heartbeat and polling; the tree is running until protocols are down. */
  async stop(): Promise<void> {
    let first: unknown;
    while (this._started.length) {
      const p = this._started.pop()!;
      try { await p.stop?.(); } catch (e) { first ??= e; }
    }
    if (this._heartbeat !== undefined) clearInterval(this._heartbeat);
    this._heartbeat = undefined;
    for (const d of this.deviceList) {
      if (d instanceof Process) {
        try { await d.stopProcess(); await d.done(); } catch (e) { first ??= e; }
      }
    }
    this._poll.stop();
    try { await this._links?.stop(); } catch (e) { first ??= e; }
    this._links = undefined;
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

  /** @internal An error nobody awaits: onError, and the SystemLog. */
  _reportError(e: Error, context: string): void {
    try { this.onError(e, context); } catch { /* a broken error handler must not break polling */ }
    this._log('error', e.message, context, e);
  }

  /** @internal */
  _reportWarning(message: string, name: string): void {
    this._log('warning', message, name);
  }

  // ---- SystemLog ----------------------------------------------------------------------

  /**
   * Record a warning or error in SystemLog / SystemLogLast (while running, as PyRogue). `name` is
   * where it came from (a node path). Errors inside the log's own listeners are not logged again.
   */
  _log(level: LogLevel, message: string, name: string, error?: Error): void {
    if (!this._running || this._logging) return;
    const b = this._b;
    const entry = this._log0.add(level, message, name, error);
    if (!b) return;
    this._logging = true;
    try {
      void b.systemLogLast.set(JSON.stringify(entry), { force: true }).catch(() => undefined);
      void b.systemLog.set(this._log0.json(), { force: true }).catch(() => undefined);
    } finally {
      this._logging = false;
    }
  }

  /** The SystemLog buffer (entries in PyRogue's format). */
  get systemLog(): SystemLogBuffer { return this._log0; }

  /** Empty SystemLog and SystemLogLast (the ClearLog command). */
  async clearLog(): Promise<void> {
    this._log0.clear();
    await this._b?.systemLog.set('[]', { force: true });
    await this._b?.systemLogLast.set('', { force: true });
  }

  /** PyRogue's Root.hardReset: every device's hook, then the log is cleared. */
  override async hardReset(): Promise<void> {
    await super.hardReset();
    await this.clearLog();
  }

  // ---- hardware -----------------------------------------------------------------------

  /** ForceWrite: writeAll and configuration loads write every block, not only those with unwritten values. */
  get forceWrite(): boolean {
    return this._b?.forceWrite.value ?? false;
  }

  /** PyRogue's WriteAll: the blocks holding unwritten values (every block with ForceWrite), verified. */
  override async writeAll(): Promise<void> {
    await this.updateGroup(() => this.writeBlocks(true, true, this.forceWrite));
  }

  /** @internal The write that ends a configuration load. */
  async _writeConfig(): Promise<void> {
    await this.writeAll();
  }

  // ---- configuration ------------------------------------------------------------------

  /** Values as YAML in PyRogue's layout. Default: RW/WO variables, not in NoConfig. */
  getYaml(opts?: GetYamlOptions): Promise<string> { return getYaml(this, opts); }

  /**
   * Apply a YAML config (PyRogue's layout and array keys), then write the blocks holding new
   * values; with InitAfterConfig, then initialize(). Keys naming nothing are skipped and
   * returned; a bad value rejects the whole load (ConfigError) with nothing applied.
   */
  async setYaml(text: string, opts?: SetYamlOptions): Promise<ConfigLoadResult> {
    const r = await setYaml(this, text, opts);
    if (this._b?.initAfterConfig.value) await this.initialize();
    return r;
  }

  saveConfig(path: string, opts?: GetYamlOptions): Promise<void> { return saveConfig(this, path, opts); }

  /** Load YAML files in order, as one load (see setYaml). */
  async loadConfig(paths: string | string[], opts?: SetYamlOptions): Promise<ConfigLoadResult> {
    const r = await loadConfig(this, paths, opts);
    if (this._b?.initAfterConfig.value) await this.initialize();
    return r;
  }

  /** GetYamlConfig: RW/WO variables not in NoConfig. */
  getYamlConfig(readFirst = true): Promise<string> {
    return this.getYaml({ readFirst, modes: ['RW', 'WO'], excGroups: ['NoConfig'] });
  }

  /** GetYamlState: every variable not in NoState. */
  getYamlState(readFirst = true): Promise<string> {
    return this.getYaml({ readFirst, modes: ['RW', 'RO', 'WO'], excGroups: ['NoState'] });
  }

  /** `p` inside configDir (default: the current directory); throws ConfigPathError when it escapes. */
  resolveConfigPath(p: string): string {
    return resolveInside(this.configDir ?? process.cwd(), p);
  }

  /** PyRogue's load list (comma-separated .yml/.yaml files and directories), inside configDir. */
  configLoadList(arg: string | string[]): string[] {
    return expandLoadList(this.configDir ?? process.cwd(), arg);
  }

  /**
   * SaveConfig / SaveState: the configuration (or state) read fresh from hardware, written to
   * `name` inside configDir, or to `config_YYYYMMDD_HHMMSS.yml` / `state_….yml` there when empty.
   * Returns the path written. (PyRogue compresses automatically named states to .zip; pvtree
   * writes plain YAML and refuses .zip names.)
   */
  async saveYamlFile(name: string, kind: 'config' | 'state'): Promise<string> {
    const n = name.trim() || autoName(kind, 'yml');
    if (/\.zip$/i.test(n)) throw new ConfigPathError(`'${n}': zip files are not supported; give a .yml name`);
    const path = this.resolveConfigPath(n);
    const text = kind === 'state' ? await this.getYamlState(true) : await this.getYamlConfig(true);
    await writeFile(path, text, 'utf8');
    return path;
  }

  /**
   * RemoteVariableDump: one `path = value` line per remote variable in `modes` (PyRogue's format),
   * to `name` inside configDir or `regdump_YYYYMMDD_HHMMSS.txt` there. Returns the path written.
   */
  async remoteVariableDump(name: string, modes: Mode[], readFirst: boolean): Promise<string> {
    const path = this.resolveConfigPath(name.trim() || autoName('regdump', 'txt'));
    if (readFirst) await this.readAll();
    let text = '';
    for (const v of this.variableList) if (v instanceof RemoteVariable && modes.includes(v.mode)) text += dumpValue(v);
    await writeFile(path, text, 'utf8');
    return path;
  }

  /** Variables passing a group filter, in tree order. */
  variablesByGroup(incGroups?: GroupSpec, excGroups?: GroupSpec): BaseVariable<unknown>[] {
    return this.variableList.filter((v) => v.filterByGroup(incGroups, excGroups));
  }
}
