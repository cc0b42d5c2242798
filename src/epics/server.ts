// EpicsPvServer: scans a running tree and serves each selected Variable and Command as one PV,
// over pvAccess (and Channel Access), with the names and group rules of PyRogue's epicsV4 server.
import { writeFileSync } from 'node:fs';
import { PvaServer, consoleLogger, type Logger, type PvaServerOptions } from '../pva/server/index.ts';
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
  private readonly holders = new Map<string, Holder>();
  private mapping = new Map<string, string>();
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
    const m = this.started ? this.mapping : this.scan();
    return Object.fromEntries(m);
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

  /** Decides what is served: path → PV name. */
  private scan(): Map<string, string> {
    const out = new Map<string, string>();
    const root = this.root;
    if (this.pvMap) {
      for (const [path, name] of Object.entries(this.pvMap)) {
        const node = root.getNode(path);
        if (!node || !(node instanceof BaseVariable || node instanceof BaseCommand)) {
          this.log.error(`pvMap: no variable or command at '${path}' (for PV ${name}); not served`);
          continue;
        }
        out.set(path, name);
      }
      return out;
    }
    const nodes: Node[] = [...root.variableList, ...root.commandList];
    for (const n of nodes) {
      if (n.filterByGroup(this.incGroups, this.excGroups)) out.set(n.path, this.nameFor(n));
    }
    return out;
  }

  /** Protocol start: called by the Root after it is running. */
  async start(root?: Root): Promise<void> {
    if (this.started) return;
    if (root && root !== this.root) throw new Error('EpicsPvServer: started by a different Root');
    if (!this.root.running) throw new Error('EpicsPvServer: the Root is not running (start the Root; it starts its protocols)');
    this.mapping = this.scan();
    const hopts = (path: string): HolderOptions => {
      const o = this.opts.readOnGetByPath?.[path];
      const roG = o === null ? undefined : (o ?? this.opts.readOnGet);
      return { log: this.log, readOnGetMs: roG?.maxAgeMs };
    };
    const seen = new Map<string, string>();
    for (const [path, name] of this.mapping) {
      if (seen.has(name)) {
        this.log.error(`PV name ${name} used for both ${seen.get(name)} and ${path}; serving the first`);
        this.mapping.delete(path); // list() and dump() show only what is served
        continue;
      }
      seen.set(name, path);
      const node = this.root.getNode(path)!;
      const h = node instanceof BaseCommand ? new EpicsCommandHolder(name, node, hopts(path)) : new EpicsPvHolder(name, node as BaseVariable<unknown>, hopts(path));
      h.start();
      this.holders.set(name, h);
    }
    try {
      if (this.protocols.includes('pva')) {
        this.pva = new PvaServer({ logger: this.log, ...this.opts.pva });
        for (const [name, h] of this.holders) this.pva.addPV(name, h.pv);
        await this.pva.start();
      }
      if (this.protocols.includes('ca')) {
        this.ca = new CaFrontend(this.opts.ca ?? {}, this.log);
        await this.ca.start(this.holders);
      }
    } catch (e) {
      await this.stop();
      throw e;
    }
    this.started = true;
    this.log.info(`serving ${this.holders.size} PVs (${this.protocols.join(', ')})`);
  }

  /** Protocol stop: disconnects clients and releases the tree's listeners. */
  async stop(): Promise<void> {
    await this.ca?.stop();
    this.ca = undefined;
    await this.pva?.stop();
    this.pva = undefined;
    for (const h of this.holders.values()) h.stop();
    this.holders.clear();
    this.started = false;
  }
}
