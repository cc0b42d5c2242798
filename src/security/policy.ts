// A loaded access security file, ready to answer "what may this client do in this group": rules
// compiled to sets, host names resolved, CALC inputs bound to live values. The evaluation follows
// asLib's asComputePvt: the rules of the group are tried in order, a rule counts when its level
// covers the PV's, the user is in one of its UAGs (or it names none), the host is in one of its
// HAGs (or it names none) and its CALC (if any) is true with no bad input; the best access of the
// rules that count wins, and a rule's TRAPWRITE comes with it.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { calcPasses } from './calc.ts';
import { DEFAULT_ASG, NONE, WRITE, type AccessLevel, type AcfAsg, type AcfConfig, type AcfRule } from './acf.ts';

/** The client as the rules see it. */
export interface Credentials {
  /** Names matched against UAG members: the user name, and for pvAccess also `role/<group>` entries. */
  users: readonly string[];
  /** Host name as claimed (CA without checkClientIP), lower-cased; matched against HAG names. */
  host: string;
  /** The client's IP address, when host matching is by address (pvAccess; CA with checkClientIP). */
  ip?: string;
}

/** A live value feeding an ASG's INPx. */
export interface InputSource {
  /** The current value; `valid` false when the PV is in INVALID alarm (the rule then fails). */
  read(): { value: number; valid: boolean };
  /** Calls `changed` after every update of the value or its alarm; returns an unsubscribe function. */
  subscribe(changed: () => void): () => void;
}

/** Finds the live source of an INPx PV name; undefined when nothing by that name is served. */
export type InputResolver = (pvName: string) => InputSource | undefined;

export interface Decision {
  access: AccessLevel;
  /** The rule that granted the access asked for TRAPWRITE (writes are audited). */
  trapWrite: boolean;
}

interface CompiledRule {
  rule: AcfRule;
  uags: ReadonlySet<string>[];
  hags: CompiledHag[];
  /** Inputs the CALC reads (bit n = input n). */
  inputsUsed: number;
  /** The CALC's last result (1 or 0); starts at 0 as in asLib. */
  result: number;
}

interface CompiledHag {
  name: string;
  /** Entries lower-cased, as asLib stores them. */
  names: ReadonlySet<string>;
  /** Entries that are addresses, and the addresses the names resolved to. */
  ips: ReadonlySet<string>;
}

class CompiledAsg {
  readonly values = new Float64Array(12);
  /** Bit n set while input n is bad (unresolved, INVALID, not a number). Inputs start bad. */
  bad = 0;
  readonly rules: CompiledRule[];
  unsubscribes: Array<() => void> = [];

  constructor(
    readonly asg: AcfAsg,
    rules: CompiledRule[],
  ) {
    this.rules = rules;
    for (let i = 0; i < 12; i++) if (asg.inputs[i] !== undefined) this.bad |= 1 << i;
  }

  /** Recomputes the CALC results using inputs in `changed`; true when one of them changed. */
  compute(changed: number): boolean {
    let moved = false;
    for (const r of this.rules) {
      const calc = r.rule.calc;
      // as asComputeAsg: only rules reading a changed input (a CALC reading none is never true)
      if (!calc || (r.inputsUsed & changed) === 0) continue;
      let result: number;
      try {
        result = calcPasses(calc.evaluate(this.values, r.result)) ? 1 : 0;
      } catch {
        result = 0;
      }
      if (result !== r.result) {
        r.result = result;
        moved = true;
      }
    }
    return moved;
  }
}

/** Normalises a peer address: no port, IPv4-mapped IPv6 as plain IPv4, lower case. */
export function ipOf(address: string | undefined): string | undefined {
  if (!address) return undefined;
  let a = address.trim();
  const bracket = /^\[([^\]]+)\](?::\d+)?$/.exec(a);
  if (bracket) a = bracket[1];
  else if (/^[^:]+:\d+$/.test(a)) a = a.slice(0, a.lastIndexOf(':'));
  if (a.toLowerCase().startsWith('::ffff:') && isIP(a.slice(7)) === 4) a = a.slice(7);
  return isIP(a) ? a.toLowerCase() : undefined;
}

export interface PolicyOptions {
  /** Resolves a HAG host name to addresses (default: DNS lookup of every address). */
  resolveHost?: (name: string) => Promise<string[]>;
  /** Reports host names that did not resolve, and the like. */
  warn?: (message: string) => void;
}

async function dnsAddresses(name: string): Promise<string[]> {
  const all = await lookup(name, { all: true });
  return all.map((a) => a.address.toLowerCase());
}

/**
 * The rules of one access security file, compiled. Create with `AccessPolicy.compile()`, bind the
 * CALC inputs with `bindInputs()`, ask with `decide()`.
 */
export class AccessPolicy {
  private readonly asgs = new Map<string, CompiledAsg>();
  private changeListener: ((asg: string) => void) | undefined;

  private constructor(
    readonly config: AcfConfig,
    hagIps: ReadonlyMap<string, ReadonlySet<string>>,
  ) {
    const uagSets = new Map<string, ReadonlySet<string>>();
    for (const u of config.uags.values()) uagSets.set(u.name, new Set(u.users));
    const hags = new Map<string, CompiledHag>();
    for (const h of config.hags.values()) {
      hags.set(h.name, { name: h.name, names: new Set(h.hosts.map((x) => x.toLowerCase())), ips: hagIps.get(h.name) ?? new Set() });
    }
    for (const asg of config.asgs.values()) {
      const rules = asg.rules.map((rule) => ({
        rule,
        uags: rule.uags.map((n) => uagSets.get(n)!),
        hags: rule.hags.map((n) => hags.get(n)!),
        inputsUsed: rule.calc?.inputsUsed ?? 0,
        result: 0,
      }));
      this.asgs.set(asg.name, new CompiledAsg(asg, rules));
    }
  }

  /**
   * Compiles a parsed file: resolves every HAG host name to its addresses (for matching clients by
   * IP), once, as an IOC with asCheckClientIP does at load time. A name that does not resolve is
   * reported through `warn` and matches by name only.
   */
  static async compile(config: AcfConfig, opts: PolicyOptions = {}): Promise<AccessPolicy> {
    const resolve = opts.resolveHost ?? dnsAddresses;
    const hagIps = new Map<string, Set<string>>();
    const cache = new Map<string, Promise<string[]>>();
    for (const h of config.hags.values()) {
      const ips = new Set<string>();
      for (const host of h.hosts) {
        const direct = ipOf(host);
        if (direct) {
          ips.add(direct);
          continue;
        }
        let p = cache.get(host.toLowerCase());
        if (!p) {
          p = resolve(host).catch((e: unknown) => {
            opts.warn?.(`access security: HAG(${h.name}): host '${host}' does not resolve (${(e as Error).message}); it matches CA clients claiming that name only`);
            return [];
          });
          cache.set(host.toLowerCase(), p);
        }
        for (const ip of await p) {
          const n = ipOf(ip);
          if (n) ips.add(n);
        }
      }
      hagIps.set(h.name, ips);
    }
    return new AccessPolicy(config, hagIps);
  }

  /** Names of the groups defined (DEFAULT included). */
  get groups(): string[] {
    return [...this.asgs.keys()];
  }

  /** True when the file defines this group (others fall back to DEFAULT). */
  hasGroup(name: string): boolean {
    return this.asgs.has(name);
  }

  /** The group a name stands for: itself when defined, else DEFAULT (as asAddMember does). */
  groupFor(name: string | undefined): string {
    return name !== undefined && this.asgs.has(name) ? name : DEFAULT_ASG;
  }

  /**
   * Connects the CALC inputs: each INPx PV name is looked up with `resolve` and followed live.
   * Inputs that cannot be resolved stay bad, so the rules reading them fail, as in an IOC whose
   * input link never connects. `changed(asg)` is called when a rule outcome of that group moved.
   */
  bindInputs(resolve: InputResolver, changed: (asg: string) => void): void {
    this.unbindInputs();
    this.changeListener = changed;
    for (const [name, g] of this.asgs) {
      for (let i = 0; i < 12; i++) {
        const pv = g.asg.inputs[i];
        if (pv === undefined) continue;
        const src = resolve(pv.trim().split(/\s+/)[0]);
        if (!src) continue;
        const bit = 1 << i;
        const take = (): void => {
          const { value, valid } = src.read();
          if (valid && !Number.isNaN(value)) {
            g.bad &= ~bit;
            g.values[i] = value;
          } else g.bad |= bit;
        };
        take();
        g.unsubscribes.push(
          src.subscribe(() => {
            const before = g.values[i];
            const wasBad = g.bad & bit;
            take();
            if (before === g.values[i] && wasBad === (g.bad & bit)) return;
            if (g.compute(bit) || wasBad !== (g.bad & bit)) this.changeListener?.(name);
          }),
        );
      }
      g.compute(0xfff);
    }
  }

  /** Stops following inputs (before a reload replaces this policy). */
  unbindInputs(): void {
    for (const g of this.asgs.values()) {
      for (const u of g.unsubscribes) u();
      g.unsubscribes = [];
    }
    this.changeListener = undefined;
  }

  /**
   * What a client may do in group `asg` (an unknown name means DEFAULT) for a PV of access
   * security level `level` (pvtree serves every PV at level 0, as an IOC serves a record's VAL).
   */
  decide(asg: string | undefined, who: Credentials, level = 0): Decision {
    const g = this.asgs.get(this.groupFor(asg))!;
    let access: AccessLevel = NONE;
    let trapWrite = false;
    for (const r of g.rules) {
      if (access === WRITE) break;
      const rule = r.rule;
      if (access >= rule.access || level > rule.level) continue;
      if (r.uags.length && !r.uags.some((s) => who.users.some((u) => s.has(u)))) continue;
      if (r.hags.length && !r.hags.some((h) => matchesHost(h, who))) continue;
      if (rule.calc && ((g.bad & r.inputsUsed) !== 0 || r.result !== 1)) continue;
      access = rule.access;
      trapWrite = rule.trapWrite;
    }
    return { access, trapWrite };
  }

  /** The state of a group's inputs and CALC results, for diagnostics (like asDumpRules). */
  describe(asg: string): { inputs: Array<{ input: string; pv: string; value: number; valid: boolean }>; calcs: Array<{ calc: string; result: boolean }> } {
    const g = this.asgs.get(this.groupFor(asg))!;
    const inputs = [];
    for (let i = 0; i < 12; i++) {
      const pv = g.asg.inputs[i];
      if (pv !== undefined) inputs.push({ input: `INP${'ABCDEFGHIJKL'[i]}`, pv, value: g.values[i], valid: (g.bad & (1 << i)) === 0 });
    }
    const calcs = g.rules.filter((r) => r.rule.calc).map((r) => ({ calc: r.rule.calc!.text, result: r.result === 1 }));
    return { inputs, calcs };
  }
}

function matchesHost(h: CompiledHag, who: Credentials): boolean {
  if (who.ip !== undefined) return h.ips.has(who.ip) || h.names.has(who.ip);
  return h.names.has(who.host);
}
