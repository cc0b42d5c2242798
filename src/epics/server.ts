// EpicsPvServer: scans a running tree and serves each selected Variable and Command as one PV,
// over pvAccess (and Channel Access), with the names and group rules of PyRogue's epicsV4 server.
// Start-up walks the tree once and makes one small holder per PV; what a PV needs only once a
// client uses it (pvData values, the SharedPV, protocol adapters) is made then (see holder.ts).
import { writeFileSync } from 'node:fs';
import { PvaServer, consoleLogger, type ChannelSource, type Logger, type PvaServerOptions } from '../pva/server/index.ts';
import { BaseCommand, BaseVariable, LocalCommand, type GroupSpec, type Node, type Protocol, type Root } from '../tree/index.ts';
import { AccessGate, type AuditLogOptions, type InputResolver } from '../security/index.ts';
import { pvaAccessControl, variableInput } from './access.ts';
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
  /**
   * Access security: an EPICS access security file (.acf). Every PV takes the ASG of its node
   * (`asg` on the node or an ancestor), else of its first group in `asgByGroup`, else DEFAULT.
   * A file that does not parse makes start() fail with its file, line and column.
   */
  acf?: string;
  /** `$(NAME)` substitutions in the access security file. */
  acfMacros?: Record<string, string>;
  /** Every client may at most read (without `acf`: everyone reads, nobody writes). */
  readOnly?: boolean;
  /** Log every write and command call (allowed, denied, failed) as JSON lines to this file. */
  audit?: string;
  /** Size rotation of the audit file. */
  auditOptions?: AuditLogOptions;
  /** Tree group → ASG, for trees whose nodes name no `asg`. */
  asgByGroup?: Record<string, string>;
  /** Channel Access: match the client's IP address, not the host name it claims (IOC: asCheckClientIP). */
  checkClientIP?: boolean;
  /**
   * With `acf`: also serve a command PV that reloads the file (default `<base>:ACF:Reload`; false:
   * none). It is in ASG `ACF` (DEFAULT unless the file defines ACF).
   */
  acfReloadPv?: string | false;
  /** A gate made elsewhere (e.g. shared with a web front end); then the options above are not used. */
  accessGate?: AccessGate;
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
  private gate: AccessGate | undefined;
  private ownsGate = false;
  private unwatchGate: (() => void) | undefined;

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

  /**
   * The access check every way in goes through (after start; undefined when no access security,
   * read-only mode or audit was asked for). A web front end calls it, or the holders with a Requester.
   */
  get accessGate(): AccessGate | undefined {
    return this.gate;
  }

  /**
   * Re-reads the access security file and re-evaluates every connected client's rights (Channel
   * Access clients get new ACCESS_RIGHTS). On an error the rules in force stay and it throws.
   */
  async reloadAcf(): Promise<void> {
    if (!this.gate) throw new Error('no access security file is in use');
    await this.gate.reload();
  }

  private needsGate(): boolean {
    const o = this.opts;
    return o.acf !== undefined || o.readOnly === true || o.audit !== undefined;
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

  /** How many PVs are served (after start). */
  get size(): number {
    return this.holders.size;
  }

  /** Holder of a PV name (for tests and embedding). */
  holder(name: string): Holder | undefined {
    return this.holders.get(name);
  }

  private nameFor(node: Node): string {
    // joined, the name is one flat string (a template or replace leaves concatenation nodes that
    // V8 later flattens into a copy: two to three times the memory per PV)
    return [this.base, node.path.replaceAll('.', ':')].join(':');
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
    const o = this.opts;
    let gate = o.accessGate;
    if (!gate && this.needsGate()) {
      // a bad file stops the start here, naming file, line and column
      gate = await AccessGate.create({
        acf: o.acf,
        macros: o.acfMacros,
        readOnly: o.readOnly,
        audit: o.audit,
        auditOptions: o.auditOptions,
        asgByGroup: o.asgByGroup,
        checkClientIP: o.checkClientIP,
        logger: log,
      });
      this.ownsGate = true;
      if (o.acf !== undefined) log.info(`access security: ${o.acf}${o.readOnly ? ' (read-only)' : ''}`);
      else if (o.readOnly) log.info('access security: read-only for everyone');
    }
    this.gate = gate;
    // one options object for every PV; only read-on-get overrides by path get their own
    const common: HolderOptions = { log, readOnGetMs: this.opts.readOnGet?.maxAgeMs, startMs, gate };
    const byPath = this.opts.readOnGetByPath;
    const hopts = (path: string): HolderOptions => {
      const o = byPath?.[path];
      if (o === undefined) return common;
      return { log, readOnGetMs: o === null ? undefined : o.maxAgeMs, startMs, gate };
    };
    if (this.protocols.includes('ca')) this.ca = new CaFrontend(this.opts.ca ?? {}, log, gate);
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
    if (gate) this.guard(gate, common);
    try {
      if (this.protocols.includes('pva')) {
        this.pva = new PvaServer({ logger: log, ...this.opts.pva, ...(gate ? { access: pvaAccessControl(gate, this.holders) } : {}) });
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

  /**
   * Access security at start: the reload command PV, CALC inputs over the served variables, and
   * re-evaluation of every client's rights whenever a rule's outcome may have moved.
   */
  private guard(gate: AccessGate, hopts: HolderOptions): void {
    const o = this.opts;
    const reloadName = o.acfReloadPv === undefined ? `${this.base}:ACF:Reload` : o.acfReloadPv;
    if (o.acf !== undefined && !o.accessGate && reloadName !== false && !this.holders.has(reloadName)) {
      const cmd = new LocalCommand<unknown, string>({
        name: 'AcfReload',
        description: 'Reload the access security file',
        asg: 'ACF',
        function: async () => {
          await gate.reload();
          const c = gate.config;
          return c ? `reloaded ${c.file}` : 'nothing to reload';
        },
      });
      this.holders.set(reloadName, new EpicsCommandHolder(reloadName, cmd as BaseCommand<unknown, unknown>, hopts));
    }
    const holders = this.holders;
    const resolve: InputResolver = (name) => {
      const h = holders.get(name) ?? (name.endsWith('.VAL') ? holders.get(name.slice(0, -4)) : undefined);
      return h instanceof EpicsPvHolder ? variableInput(h.variable) : undefined;
    };
    gate.bindInputs(resolve, false);
    const rules = gate.rules;
    if (rules) {
      const unknown = new Set<string>();
      for (const h of holders.values()) {
        const asg = h.resource.asg;
        if (asg !== undefined && asg !== 'ACF' && !rules.hasGroup(asg)) unknown.add(asg);
      }
      for (const a of unknown) this.log.warn(`access security: ASG '${a}' is not defined in ${gate.config?.file}; its PVs follow DEFAULT`);
    }
    this.unwatchGate = gate.onChange(() => {
      this.pva?.recomputeAccess();
      this.ca?.caServer?.recomputeAccess();
    });
  }

  /** Protocol stop: disconnects clients and releases the tree's listeners. */
  async stop(): Promise<void> {
    this.unwatchGate?.();
    this.unwatchGate = undefined;
    if (this.ownsGate) this.gate?.close();
    this.gate = undefined;
    this.ownsGate = false;
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
