// Where a server finds its PVs: sources are asked in order; a static provider maps names to
// SharedPVs, a dynamic source claims names as they are searched for.
import type { SharedPV } from './shared-pv.ts';

/** A set of PVs a {@link PvaServer} serves: answers searches and hands out the PV for a name. */
export interface ChannelSource {
  /** Does this source serve `name`? (answers searches; must be cheap) */
  has(name: string): boolean;
  /** The PV for a channel being created, or undefined. */
  get(name: string): SharedPV | undefined;
  /** Names served, for the `server` PV's channel list (dynamic sources may return none). */
  names?(): Iterable<string>;
}

/** A {@link ChannelSource} holding a fixed map of names to {@link SharedPV}s. */
export class StaticProvider implements ChannelSource {
  private readonly pvs = new Map<string, SharedPV>();

  add(name: string, pv: SharedPV): this {
    this.pvs.set(name, pv);
    return this;
  }

  /** Stops serving `name`; the PV itself stays open (it may be added again). */
  remove(name: string): SharedPV | undefined {
    const pv = this.pvs.get(name);
    this.pvs.delete(name);
    return pv;
  }

  has(name: string): boolean {
    return this.pvs.has(name);
  }

  get(name: string): SharedPV | undefined {
    return this.pvs.get(name);
  }

  names(): Iterable<string> {
    return this.pvs.keys();
  }

  close(): void {
    for (const pv of this.pvs.values()) pv.close();
    this.pvs.clear();
  }
}

/** A source for very large or computed namespaces: `claim` decides on search, `create` builds on connect. */
export class DynamicSource implements ChannelSource {
  private readonly made = new Map<string, SharedPV>();

  constructor(
    private readonly claim: (name: string) => boolean,
    private readonly create: (name: string) => SharedPV | undefined,
  ) {}

  has(name: string): boolean {
    return this.made.has(name) || this.claim(name);
  }

  get(name: string): SharedPV | undefined {
    let pv = this.made.get(name);
    if (!pv && this.claim(name)) {
      pv = this.create(name);
      if (pv) this.made.set(name, pv);
    }
    return pv;
  }

  /** Forgets a PV built earlier (e.g. after its last client left). */
  forget(name: string): void {
    this.made.get(name)?.close();
    this.made.delete(name);
  }

  names(): Iterable<string> {
    return this.made.keys();
  }
}
