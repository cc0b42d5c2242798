// Client configuration, from explicit options or the EPICS_PVA_* environment.

/**
 * Client settings: where to search, ports, name servers, timeouts. {@link configFromEnv} reads
 * them from EPICS_PVA_*.
 */
export interface ClientConfig {
  /** Addresses to send UDP searches to ('host' or 'host:port'; port defaults to broadcastPort). */
  addrList: string[];
  /** Add the broadcast addresses of local interfaces (never used for loopback-only configs). */
  autoAddrList: boolean;
  /** UDP port servers listen for searches on (EPICS_PVA_BROADCAST_PORT, default 5076). */
  broadcastPort: number;
  /** TCP name servers ('host:port'; port defaults to serverPort), searched over TCP. */
  nameServers: string[];
  /** Default server TCP port (EPICS_PVA_SERVER_PORT, default 5075). */
  serverPort: number;
  /** Default operation timeout, seconds. */
  timeout: number;
  /** First search retry interval and its ceiling, milliseconds (the interval doubles). */
  searchInterval: number;
  searchMaxInterval: number;
  /**
   * Listen for server beacons on broadcastPort (broadcast addresses only, see beacons.ts) and, when
   * a new or restarted server shows up, search again at once for every channel not yet found.
   */
  beacons: boolean;
  /** Keep-alive echo period on idle circuits, seconds; a circuit silent for twice this is dropped. */
  echoInterval: number;
  /** Authentication offered in the handshake. */
  auth: 'ca' | 'anonymous';
  user?: string;
  host?: string;
}

function list(v: string | undefined): string[] {
  return (v ?? '').split(/[\s,]+/).filter(Boolean);
}

function yes(v: string | undefined, dflt: boolean): boolean {
  if (v === undefined || v.trim() === '') return dflt;
  return /^(y|yes|true|1)$/i.test(v.trim());
}

function port(v: string | undefined, dflt: number): number {
  const n = Number(v);
  return v && Number.isInteger(n) && n > 0 && n < 65536 ? n : dflt;
}

/**
 * Client settings from the EPICS_PVA_* environment variables (or `env`), with the pvxs defaults
 * for what is unset.
 */
export function configFromEnv(env: NodeJS.ProcessEnv = process.env): ClientConfig {
  return {
    addrList: list(env.EPICS_PVA_ADDR_LIST),
    autoAddrList: yes(env.EPICS_PVA_AUTO_ADDR_LIST, true),
    broadcastPort: port(env.EPICS_PVA_BROADCAST_PORT, 5076),
    nameServers: list(env.EPICS_PVA_NAME_SERVERS),
    serverPort: port(env.EPICS_PVA_SERVER_PORT, 5075),
    timeout: 5,
    searchInterval: 100,
    searchMaxInterval: 5000,
    beacons: true,
    echoInterval: 15,
    auth: 'ca',
  };
}

/** Splits 'host[:port]'. */
export function splitHostPort(s: string, dfltPort: number): { host: string; port: number } {
  const m = /^\[?([^\]]*?)\]?(?::(\d+))?$/.exec(s.trim());
  if (!m) return { host: s, port: dfltPort };
  return { host: m[1], port: m[2] ? Number(m[2]) : dfltPort };
}
