// Where access security meets the protocol servers: who a pvAccess or Channel Access client is
// (as a Requester), the pvAccess server's per-client access control, the CALC input resolver over
// the served PVs, and the reload / re-evaluation wiring.
import type { CaClientInfo } from '../ca/index.ts';
import type { PvaAccessControl, PvaClientInfo, SharedPV } from '../pva/server/index.ts';
import { ipOf, READ, WRITE, type AccessGate, type AccessLevel, type InputSource, type Requester, type Resource } from '../security/index.ts';
import type { BaseVariable } from '../tree/index.ts';

/** CA_ACCESS_* / PVA_ACCESS_* bits of an access level (both protocols use READ = 1, WRITE = 2). */
export function accessBits(level: AccessLevel): number {
  return level >= WRITE ? 3 : level >= READ ? 1 : 0;
}

/**
 * A pvAccess client as access security sees it: the account of the "ca" authentication after its
 * last '/' (as pvxs), 'anonymous' otherwise; the host is the peer's IP address.
 */
export function pvaRequester(c: PvaClientInfo): Requester {
  const method = c.method || 'anonymous';
  let user = 'anonymous';
  if (method === 'ca' && c.user) user = c.user.slice(c.user.lastIndexOf('/') + 1) || 'anonymous';
  return { protocol: 'pva', user, host: ipOf(c.peer) ?? c.peer, address: c.peer, method };
}

/** A Channel Access client: CLIENT_NAME and HOST_NAME (the gate may match the address instead). */
export function caRequester(c: CaClientInfo): Requester {
  return { protocol: 'ca', user: c.user ?? '', host: c.host ?? '', ...(c.address ? { address: c.address } : {}) };
}

/** Anything served with a Resource (both holder kinds). */
export interface GuardedPv {
  readonly resource: Resource;
}

/**
 * The pvAccess server's access control over a map of served PVs. PVs the map does not hold (the
 * server's own `server` PV) are readable by everyone.
 */
export function pvaAccessControl(gate: AccessGate, holders: ReadonlyMap<string, GuardedPv>): PvaAccessControl {
  return {
    rights(name: string, _pv: SharedPV, client: PvaClientInfo): number {
      const h = holders.get(name);
      if (!h) return 1;
      return accessBits(gate.rights(h.resource, pvaRequester(client)));
    },
    readDenied(name: string, client: PvaClientInfo): string {
      const h = holders.get(name);
      const r = pvaRequester(client);
      return gate.readDenied(h?.resource ?? { name, path: '' }, r).message;
    },
  };
}

/** A tree variable as a CALC input: its value as a number, bad while INVALID (a failed read). */
export function variableInput(v: BaseVariable<unknown>): InputSource {
  return {
    read() {
      const vv = v.getVariableValue(false);
      const x = vv.value;
      let value: number;
      if (typeof x === 'number') value = x;
      else if (typeof x === 'boolean') value = x ? 1 : 0;
      else if (typeof x === 'bigint') value = Number(x);
      else if (typeof x === 'string') value = x.trim() === '' ? NaN : Number(x);
      else if (x && typeof x === 'object' && typeof (x as ArrayLike<unknown>).length === 'number') {
        const first = (x as ArrayLike<unknown>)[0];
        value = typeof first === 'bigint' ? Number(first) : typeof first === 'boolean' ? (first ? 1 : 0) : Number(first);
      } else value = NaN;
      return { value, valid: !vv.error && Number.isFinite(value) };
    },
    subscribe(changed) {
      const l = (): void => changed();
      v.addListener(l);
      return () => v.delListener(l);
    },
  };
}
