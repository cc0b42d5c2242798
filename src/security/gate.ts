// AccessGate: the one access check every way into a served tree goes through (pvAccess, Channel
// Access, and any later front end such as a web interface). It knows who is asking (Requester),
// what is asked for (Resource: PV name, tree path, access security group), decides with the
// loaded access security file (or --read-only, or nothing: everything allowed), runs writes, and
// writes the audit log.
import { readFileSync } from 'node:fs';
import type { Node } from '../tree/index.ts';
import { parseAcf, DEFAULT_ASG, READ, WRITE, ACCESS_NAMES, type AccessLevel, type AcfConfig } from './acf.ts';
import { AuditLog, auditLine, type AuditLogOptions, type AuditRecord } from './audit.ts';
import { AccessPolicy, ipOf, type Credentials, type Decision, type InputResolver } from './policy.ts';
import { OsRoles } from './roles.ts';

/** Who is asking. Build one per client connection (it is only read). */
export interface Requester {
  /** How the request arrived: 'pva', 'ca', 'web' … (shown in the audit log). */
  protocol: string;
  /**
   * The account: Channel Access CLIENT_NAME; pvAccess: the account of the "ca" authentication
   * (after its last '/', as pvxs does); 'anonymous' when the client gave none.
   */
  user: string;
  /** The host name the client claims (CA HOST_NAME); for others usually the peer address. */
  host: string;
  /** The peer's address ('ip' or 'ip:port'), when known. */
  address?: string;
  /** pvAccess authentication method ('ca' or 'anonymous'); 'ca' accounts also get role/<group> entries. */
  method?: string;
}

/** What is asked for: one served PV. */
export interface Resource {
  /** PV name (as clients see it). */
  name: string;
  /** Tree path of the variable or command. */
  path: string;
  /** Its access security group as the tree names it (undefined or unknown: DEFAULT). */
  asg?: string;
}

/** A write or command call to run through the gate. */
export interface WriteRequest {
  op: 'put' | 'call';
  /** The value before the write (variables), for the audit log. */
  old?: unknown;
  /** The value to write, or the command's argument. */
  value?: unknown;
}

/** A refusal by access security (or of a write to a read-only variable). Protocols map it to their "no access" status. */
export class AccessDeniedError extends Error {
  override name = 'AccessDeniedError';
  /** Marker the protocol layers test (they do not import this module): CA answers ECA_NOWTACCESS. */
  readonly accessDenied = true;
}

export interface AccessGateLogger {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

/**
 * Settings of an {@link AccessGate}: the access security file (or its text) and its macros,
 * read-only mode, the audit log, tree groups mapped to access security groups, and how clients are
 * identified.
 */
export interface AccessGateOptions {
  /** An access security file to load (path). */
  acf?: string;
  /** Or its text (with `acfName` for messages). */
  acfText?: string;
  acfName?: string;
  /** `$(NAME)` substitutions in the file, as asSetSubstitutions. */
  macros?: Record<string, string>;
  /** Everyone gets at most READ (with no file: READ for everyone). */
  readOnly?: boolean;
  /**
   * Channel Access: use the client's IP address as its host, ignoring the name it claims (the IOC
   * variable asCheckClientIP). pvAccess clients are always matched by address, as pvxs does.
   */
  checkClientIP?: boolean;
  /** Audit every write and command call (allowed, denied, failed) to this file. */
  audit?: string | AuditLog;
  auditOptions?: AuditLogOptions;
  /**
   * Tree group → ASG, for trees that cannot be edited: a node without an `asg` of its own (or
   * inherited) takes the ASG of its first group found here, in the map's order.
   */
  asgByGroup?: Record<string, string>;
  logger?: AccessGateLogger;
  /** Resolves HAG host names (default: DNS). */
  resolveHost?: (name: string) => Promise<string[]>;
  /** role/<group> lookups for pvAccess 'ca' accounts (default: /etc/passwd and /etc/group; false: none). */
  roles?: OsRoles | false;
}

const silent: AccessGateLogger = { info() {}, warn() {}, error() {} };

/** Text shown for a requester: user@host. */
export function who(r: Requester): string {
  return `${r.user || 'anonymous'}@${r.host || ipOf(r.address) || '?'}`;
}

/**
 * THE access check. Usage by a front end (the pvAccess and CA servers do exactly this):
 *
 * ```ts
 * const gate = await AccessGate.create({ acf: 'site.acf', audit: 'audit.jsonl' });
 * const me: Requester = { protocol: 'web', user: 'alice', host: '10.0.0.5', address: '10.0.0.5' };
 * const res: Resource = { name: 'lab:Dev:Gain', path: 'Root.Dev.Gain', asg: gate.asgOf(node) };
 * if (!gate.canRead(res, me)) …;                        // reads: check, nothing logged
 * await gate.write(res, me, { op: 'put', old: v.value, value: 3 }, () => v.set(3));
 *                                                       // writes: check, run, audit; throws AccessDeniedError
 * gate.onChange(() => …);                               // rules' outcomes may have moved: re-check cached rights
 * ```
 *
 * Served PVs already carry their Resource: `EpicsPvHolder.set(value, requester)`,
 * `EpicsCommandHolder.put(arg, requester)` / `.call(arg, requester)` go through this gate.
 */
export class AccessGate {
  private policy: AccessPolicy | undefined;
  private readonly listeners = new Set<(asg?: string) => void>();
  private resolver: InputResolver | undefined;
  private readonly audit: AuditLog | undefined;
  private readonly ownsAudit: boolean;
  private readonly log: AccessGateLogger;
  private roles: OsRoles | false;
  private readonly groupMap: Array<[string, string]>;

  private constructor(private readonly opts: AccessGateOptions) {
    this.log = opts.logger ?? silent;
    this.roles = opts.roles ?? false;
    this.groupMap = Object.entries(opts.asgByGroup ?? {});
    if (typeof opts.audit === 'string') {
      this.audit = new AuditLog(opts.audit, opts.auditOptions);
      this.ownsAudit = true;
    } else {
      this.audit = opts.audit;
      this.ownsAudit = false;
    }
  }

  /** Creates a gate, loading the access security file if one is given (throws AcfSyntaxError). */
  static async create(opts: AccessGateOptions = {}): Promise<AccessGate> {
    const g = new AccessGate(opts);
    try {
      if (g.roles === false && opts.roles === undefined && (opts.acf !== undefined || opts.acfText !== undefined)) g.roles = new OsRoles();
      const cfg = g.readConfig();
      if (cfg) g.policy = await g.compile(cfg);
    } catch (e) {
      g.close();
      throw e;
    }
    return g;
  }

  /** True when anything restricts access (a file or read-only). */
  get restricting(): boolean {
    return this.policy !== undefined || this.opts.readOnly === true;
  }

  get readOnly(): boolean {
    return this.opts.readOnly === true;
  }

  /** The loaded file, if any. */
  get config(): AcfConfig | undefined {
    return this.policy?.config;
  }

  /** The compiled rules (diagnostics). */
  get rules(): AccessPolicy | undefined {
    return this.policy;
  }

  private readConfig(): AcfConfig | undefined {
    const o = this.opts;
    if (o.acfText !== undefined) return parseAcf(o.acfText, o.acfName ?? '<acf>', o.macros);
    if (o.acf === undefined) return undefined;
    let text: string;
    try {
      text = readFileSync(o.acf, 'utf8');
    } catch (e) {
      throw new Error(`access security file ${o.acf}: ${(e as Error).message}`);
    }
    return parseAcf(text, o.acf, o.macros);
  }

  private compile(cfg: AcfConfig): Promise<AccessPolicy> {
    return AccessPolicy.compile(cfg, { resolveHost: this.opts.resolveHost, warn: (m) => this.log.warn(m) });
  }

  /**
   * Re-reads the access security file. On an error the rules in force stay (as an IOC's asInit
   * does) and the error is thrown. Listeners are told, so live channels are re-evaluated.
   */
  async reload(): Promise<void> {
    if (this.roles !== false) this.roles = new OsRoles();
    const cfg = this.readConfig();
    if (!cfg) return;
    const next = await this.compile(cfg);
    this.policy?.unbindInputs();
    this.policy = next;
    if (this.resolver) this.bindInputs(this.resolver, false);
    this.log.info(`access security: loaded ${cfg.file} (${cfg.asgs.size} ASGs, ${cfg.uags.size} UAGs, ${cfg.hags.size} HAGs)`);
    this.emit(undefined);
  }

  /** Follows the CALC inputs through `resolve` (the server gives a resolver of its own PVs). */
  bindInputs(resolve: InputResolver, notify = true): void {
    this.resolver = resolve;
    if (!this.policy) return;
    const p = this.policy;
    p.bindInputs(resolve, (asg) => {
      if (this.policy === p) this.emit(asg);
    });
    // inputs that never resolve make their rules fail; say which, once per load
    for (const asg of p.config.asgs.values()) {
      for (const pv of asg.inputs) {
        if (pv !== undefined && !resolve(pv.trim().split(/\s+/)[0])) {
          this.log.warn(`access security: ASG(${asg.name}) input '${pv}' is not a PV of this server; rules using it fail`);
        }
      }
    }
    if (notify) this.emit(undefined);
  }

  /** Listens for changes of rule outcomes: `asg` names the group, undefined means all (a reload). */
  onChange(listener: (asg?: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(asg: string | undefined): void {
    for (const l of [...this.listeners]) {
      try {
        l(asg);
      } catch (e) {
        this.log.error(`access security: change listener failed: ${(e as Error).message}`);
      }
    }
  }

  /**
   * The ASG of a tree node: its own `asg`, else its nearest ancestor's, else the first of its
   * groups in `asgByGroup`, else DEFAULT.
   */
  asgOf(node: Node): string {
    const own = node.accessGroup;
    if (own) return own;
    for (const [group, asg] of this.groupMap) if (node.inGroup(group)) return asg;
    return DEFAULT_ASG;
  }

  /** The credentials the rules match for a requester. */
  credentials(r: Requester): Credentials {
    const users = [r.user || 'anonymous'];
    if (r.protocol === 'pva' && r.method === 'ca' && this.roles) for (const g of this.roles.rolesOf(r.user)) users.push(`role/${g}`);
    const byIp = r.protocol === 'ca' ? this.opts.checkClientIP === true : true;
    if (byIp) {
      const ip = ipOf(r.address) ?? ipOf(r.host);
      if (ip) return { users, host: ip, ip };
    }
    return { users, host: (r.host ?? '').toLowerCase() };
  }

  /** The host shown for a requester (the address when hosts are matched by address). */
  hostOf(r: Requester): string {
    return this.credentials(r).host;
  }

  /** The decision for a requester in a group. */
  decide(asg: string | undefined, r: Requester): Decision {
    let d: Decision = this.policy ? this.policy.decide(asg, this.credentials(r)) : { access: WRITE, trapWrite: false };
    if (this.opts.readOnly && d.access > READ) d = { access: READ, trapWrite: false };
    return d;
  }

  /** NONE (0), READ (1) or WRITE (2) for a requester on a PV. */
  rights(res: Resource, r: Requester): AccessLevel {
    return this.decide(res.asg, r).access;
  }

  canRead(res: Resource, r: Requester): boolean {
    return this.rights(res, r) >= READ;
  }

  canWrite(res: Resource, r: Requester): boolean {
    return this.rights(res, r) >= WRITE;
  }

  /** The error a refused read gets. */
  readDenied(res: Resource, r: Requester): AccessDeniedError {
    return new AccessDeniedError(`read access denied to ${res.name} for ${r.user || 'anonymous'}@${this.hostOf(r) || '?'}`);
  }

  /**
   * Runs a write or command call if the requester may write the PV, and audits it: every call
   * when an audit file is set, else those a TRAPWRITE rule granted (to the logger). A refusal
   * throws AccessDeniedError ("write access denied to PV for user@host") and changes nothing.
   */
  async write<T>(res: Resource, r: Requester, req: WriteRequest, apply: () => T | Promise<T>): Promise<T> {
    const d = this.decide(res.asg, r);
    const asg = this.policy ? this.policy.groupFor(res.asg) : undefined;
    if (d.access < WRITE) {
      const err = new AccessDeniedError(`write access denied to ${res.name} for ${r.user || 'anonymous'}@${this.hostOf(r) || '?'}`);
      this.log.info(`access security: ${err.message}${asg ? ` (ASG ${asg}, ${ACCESS_NAMES[d.access]})` : ''}`);
      this.record(res, r, req, d, asg, 'denied', err.message);
      throw err;
    }
    let out: T;
    try {
      out = await apply();
    } catch (e) {
      this.record(res, r, req, d, asg, 'error', e instanceof Error ? e.message : String(e));
      throw e;
    }
    this.record(res, r, req, d, asg, 'ok');
    return out;
  }

  private record(res: Resource, r: Requester, req: WriteRequest, d: Decision, asg: string | undefined, result: AuditRecord['result'], error?: string): void {
    if (!this.audit && !d.trapWrite) return;
    const rec: AuditRecord = {
      time: new Date().toISOString(),
      pv: res.name,
      path: res.path,
      protocol: r.protocol,
      op: req.op,
      user: r.user || 'anonymous',
      host: this.hostOf(r),
      ...(req.op === 'put' ? { old: req.old } : {}),
      new: req.value,
      result,
      ...(error !== undefined ? { error } : {}),
      ...(asg !== undefined ? { asg } : {}),
      ...(d.trapWrite ? { trap: true } : {}),
    };
    try {
      if (this.audit) this.audit.write(rec);
      else this.log.info(`audit ${auditLine(rec)}`);
    } catch (e) {
      this.log.error(`audit log ${this.audit?.file}: ${(e as Error).message}`);
    }
  }

  /** Stops following inputs and closes the audit file (if the gate opened it). */
  close(): void {
    this.policy?.unbindInputs();
    if (this.ownsAudit) this.audit?.close();
    this.listeners.clear();
  }
}

