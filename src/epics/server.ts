// EpicsPvServer: scans a running tree and serves each selected Variable and Command as one PV,
// over pvAccess (and Channel Access), with the names and group rules of PyRogue's epicsV4 server.
// Start-up walks the tree once and makes one small holder per PV; what a PV needs only once a
// client uses it (pvData values, the SharedPV, protocol adapters) is made then (see holder.ts).
import { writeFileSync } from 'node:fs';
import { PvaServer, consoleLogger, type ChannelSource, type Logger, type PvaServerOptions } from '../pva/server/index.ts';
import { BaseCommand, BaseVariable, type GroupSpec, type Node, type Protocol, type Root } from '../tree/index.ts';
import type { CaServer, CaServerOptions } from '../ca/index.ts';
import { CaFrontend } from './ca-frontend.ts';
import { EpicsCommandHolder, EpicsPvHolder, type HolderOptions } from './holder.ts';

/** A protocol {@link EpicsPvServer} can serve: pvAccess or Channel Access. */
export type EpicsProtocol = 'pva' | 'ca';

/**
 * What {@link EpicsPvServer} serves and how: the PV name prefix, the tree, group filters or an
 * explicit name map, and the protocol servers' settings.
 */
export interface EpicsPvServerOptions {
  /** PV name prefix in automatic mode: `<base>:<path with dots as colons>`. */
  base: string;
  root: Root;
  /** Serve only nodes in one of these groups (unset or empty: everything). */
  incGroups?: GroupSpec;
  /** Never serve nodes in these groups. Default ['NoServe']. */
  excGroups?: GroupSpec;
  /** Explicit mode: tree path → PV name; only these are served, group filters do not apply. */
  pvMap?: Record<string, string>;
  /** A client get reads hardware first when the value is older than maxAgeMs. */
  readOnGet?: { maxAgeMs: number };
  /** Per-path overrides of readOnGet (null disables it for that path). */
  readOnGetByPath?: Record<string, { maxAgeMs: number } | null>;
  /** Protocols to serve; both by default. */
  protocols?: EpicsProtocol[];
  /** Settings for the pvAccess server (ports, interfaces); the environment fills the rest. */
  pva?: PvaServerOptions;
  /** Settings for the Channel Access server (port, interfaces…); the environment fills the rest. */
  ca?: Partial<CaServerOptions>;
  logger?: Logger;
}

type Holder = EpicsPvHolder | EpicsCommandHolder;


export class EpicsPvServer implements Protocol {
  readonly base: string;
  readonly root: Root;
  readonly incGroups: GroupSpec;
  readonly excGroups: GroupSpec;
  readonly log: Logger;
  private readonly pvMap: Record<string, string> | undefined;
  /** Every served PV by name, in the order served (variables in tree order, then commands). */
  private readonly holders = new Map<string, Holder>();
  /** pvMap mode: PV name → the path as the map gives it (what list() shows). */
  private readonly mapPaths = new Map<string, string>();
  private pva: PvaServer | undefined;
  private ca: CaFrontend | undefined;
  private started = false;

  constructor(private readonly opts: EpicsPvServerOptions) {
    this.base = opts.base;
    this.root = opts.root;
    this.incGroups = opts.incGroups;
    this.excGroups = opts.excGroups === undefined ? ['NoServe'] : opts.excGroups;
    this.pvMap = opts.pvMap;
    this.log = opts.logger ?? consoleLogger('epics');
  }

  /** The Channel Access server (after start). */
  get caServer(): CaServer | undefined {
    return this.ca?.caServer;
  }

  /** The pvAccess server (after start). */
  get pvaServer(): PvaServer | undefined {
    return this.pva;
  }

  get protocols(): EpicsProtocol[] {
    return this.opts.protocols ?? ['pva', 'ca'];
  }

  /** path → PV name of everything served (after start, or as it would be served). */
  list(): Record<string, string> {
    const out: Record<string, string> = {};
    if (this.started) for (const [name, h] of this.holders) out[this.mapPaths.get(name) ?? h.path] = name;
    else this.scan((path, name) => (out[path] = name));
    return out;
  }

  /** Prints, or writes to `file`, one `pvName -> path` line per PV. */
  dump(file?: string): string {
    const text = Object.entries(this.list())
      .map(([path, name]) => `${name} -> ${path}\n`)
      .join('');
    if (file) writeFileSync(file, text);
    else process.stdout.write(text);
    return text;
  }

  /** Holder of a PV name (for tests and embedding). */
  holder(name: string): Holder | undefined {
    return this.holders.get(name);
  }

  private nameFor(node: Node): string {
    return `${this.base}:${node.path.replace(/\./g, ':')}`;
  }

  /**
   * Decides what is served, in one walk of the tree: calls `visit` with each PV's path, name and
   * node (variables in tree order, then commands, as PyRogue lists them).
   */
  private scan(visit: (path: string, name: string, node: BaseVariable<unknown> | BaseCommand) => void): void {
    const root = this.root;
    if (this.pvMap) {
      for (const [path, name] of Object.entries(this.pvMap)) {
        const node = root.getNode(path);
        if (!node || !(node instanceof BaseVariable || node instanceof BaseCommand)) {
          this.log.error(`pvMap: no variable or command at '${path}' (for PV ${name}); not served`);
          continue;
        }
        visit(path, name, node as BaseVariable<unknown> | BaseCommand);
      }
      return;
    }
    const inc = this.incGroups;
    const exc = this.excGroups;
    const commands: BaseCommand[] = [];
    const walk = (n: Node): void => {
      for (const c of n.nodes.values()) {
        if (c instanceof BaseVariable) {
          if (c.filterByGroup(inc, exc)) visit(c.path, this.nameFor(c), c);
        } else if (c instanceof BaseCommand && c.filterByGroup(inc, exc)) commands.push(c);
        if (c.nodes.size) walk(c);
      }
    };
    walk(root);
    for (const c of commands) visit(c.path, this.nameFor(c), c);
  }

  /** Protocol start: called by the Root after it is running. */
  async start(root?: Root): Promise<void> {
    if (this.started) return;
    if (root && root !== this.root) throw new Error('EpicsPvServer: started by a different Root');
    if (!this.root.running) throw new Error('EpicsPvServer: the Root is not running (start the Root; it starts its protocols)');
    const log = this.log;
    const startMs = Date.now();
    // one options object for every PV; only read-on-get overrides by path get their own
    const common: HolderOptions = { log, readOnGetMs: this.opts.readOnGet?.maxAgeMs, startMs };
    const byPath = this.opts.readOnGetByPath;
    const hopts = (path: string): HolderOptions => {
      const o = byPath?.[path];
      if (o === undefined) return common;
      return { log, readOnGetMs: o === null ? undefined : o.maxAgeMs, startMs };
    };
    if (this.protocols.includes('ca')) this.ca = new CaFrontend(this.opts.ca ?? {}, log);
    const ca = this.ca;
    const pvMap = !!this.pvMap;
    this.scan((path, name, node) => {
      const seen = this.holders.get(name);
      if (seen) {
        log.error(`PV name ${name} used for both ${this.mapPaths.get(name) ?? seen.path} and ${path}; serving the first`);
        return; // list() and dump() show only what is served
      }
      const h = node instanceof BaseCommand ? new EpicsCommandHolder(name, node, hopts(path)) : new EpicsPvHolder(name, node, hopts(path));
      this.holders.set(name, h);
      if (pvMap) this.mapPaths.set(name, path);
      ca?.note(name, h);
    });
    try {
      if (this.protocols.includes('pva')) {
        this.pva = new PvaServer({ logger: log, ...this.opts.pva });
        const holders = this.holders;
        const source: ChannelSource = {
          has: (name) => holders.has(name),
          get: (name) => holders.get(name)?.pv,
          names: () => holders.keys(),
        };
        this.pva.addSource(source);
        await this.pva.start();
      }
      if (ca) await ca.start(this.holders);
    } catch (e) {
      await this.stop();
      throw e;
    }
    this.started = true;
    log.info(`serving ${this.holders.size} PVs (${this.protocols.join(', ')})`);
  }

  /** Protocol stop: disconnects clients and releases the tree's listeners. */
  async stop(): Promise<void> {
    await this.ca?.stop();
    this.ca = undefined;
    await this.pva?.stop();
    this.pva = undefined;
    for (const h of this.holders.values()) h.stop();
    this.holders.clear();
    this.mapPaths.clear();
    this.started = false;
  }
}
