// Server settings from options or the standard EPICS_PVAS_* / EPICS_PVA_* environment variables.
import { networkInterfaces } from 'node:os';

/** A host and port, as parsed from an address list entry. */
export interface HostPort {
  host: string;
  port: number;
}

/**
 * Server settings: ports, interfaces, beacon destinations, ignored addresses. {@link serverConfig}
 * fills them from EPICS_PVAS_* / EPICS_PVA_*.
 */
export interface PvaServerConfig {
  tcpPort: number;
  udpPort: number;
  /** Addresses to listen on (EPICS_PVAS_INTF_ADDR_LIST). */
  interfaces: string[];
  /** Where beacons go (EPICS_PVAS_BEACON_ADDR_LIST, plus broadcast addresses when auto). */
  beaconAddrs: HostPort[];
  /** Search requests from these addresses are ignored (EPICS_PVAS_IGNORE_ADDR_LIST). */
  ignoreAddrs: string[];
  beaconPeriodMs: number;
  maxMessageSize: number;
  /** Queued bytes per connection above which monitors squash. */
  sendQueueLimit: number;
}

/** The entries of a space- or comma-separated address list. */
export function splitList(v: string | undefined): string[] {
  return (v ?? '').split(/[\s,]+/).filter(Boolean);
}

/** `host` or `host:port` as a {@link HostPort}, with `defaultPort` when none is given. */
export function parseHostPort(entry: string, defaultPort: number): HostPort {
  const i = entry.lastIndexOf(':');
  if (i > 0 && /^\d+$/.test(entry.slice(i + 1))) return { host: entry.slice(0, i), port: Number(entry.slice(i + 1)) };
  return { host: entry, port: defaultPort };
}

function yes(v: string | undefined, dflt: boolean): boolean {
  if (v === undefined || v === '') return dflt;
  return /^(y|yes|true|1)$/i.test(v.trim());
}

function num(v: string | undefined, dflt: number): number {
  const n = Number(v);
  return v !== undefined && v !== '' && Number.isFinite(n) ? n : dflt;
}

/** Broadcast addresses of this host's IPv4 interfaces (for automatic beacon lists). */
export function broadcastAddresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.family !== 'IPv4' || a.internal) continue;
      const ip = a.address.split('.').map(Number);
      const mask = a.netmask.split('.').map(Number);
      out.push(ip.map((b, i) => (b & mask[i]) | (~mask[i] & 0xff)).join('.'));
    }
  }
  return out;
}

/**
 * Server settings: the options given, the rest from EPICS_PVAS_* / EPICS_PVA_* in `env`, with the
 * pvxs defaults.
 */
export function serverConfig(opts: Partial<PvaServerConfig> = {}, env: NodeJS.ProcessEnv = process.env): PvaServerConfig {
  const tcpPort = opts.tcpPort ?? num(env.EPICS_PVAS_SERVER_PORT ?? env.EPICS_PVA_SERVER_PORT, 5075);
  const udpPort = opts.udpPort ?? num(env.EPICS_PVAS_BROADCAST_PORT ?? env.EPICS_PVA_BROADCAST_PORT, 5076);
  let beaconAddrs = opts.beaconAddrs;
  if (!beaconAddrs) {
    const listed = splitList(env.EPICS_PVAS_BEACON_ADDR_LIST ?? env.EPICS_PVA_ADDR_LIST);
    const auto = yes(env.EPICS_PVAS_AUTO_BEACON_ADDR_LIST ?? env.EPICS_PVA_AUTO_ADDR_LIST, true);
    beaconAddrs = [...listed, ...(auto ? broadcastAddresses() : [])].map((e) => parseHostPort(e, udpPort));
  }
  return {
    tcpPort,
    udpPort,
    interfaces: opts.interfaces ?? (splitList(env.EPICS_PVAS_INTF_ADDR_LIST).length ? splitList(env.EPICS_PVAS_INTF_ADDR_LIST) : ['0.0.0.0']),
    beaconAddrs,
    ignoreAddrs: opts.ignoreAddrs ?? splitList(env.EPICS_PVAS_IGNORE_ADDR_LIST).map((e) => parseHostPort(e, 0).host),
    beaconPeriodMs: opts.beaconPeriodMs ?? num(env.EPICS_PVAS_BEACON_PERIOD ?? env.EPICS_PVA_BEACON_PERIOD, 15) * 1000,
    maxMessageSize: opts.maxMessageSize ?? 64 * 1024 * 1024,
    sendQueueLimit: opts.sendQueueLimit ?? 4 * 1024 * 1024,
  };
}
