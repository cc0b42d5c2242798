// Server beacons, client side: which servers are up, and when one is new or has restarted, so that
// channels still being searched for are searched again at once instead of after the search
// backoff (pvxs and pvAccessCPP clients do the same).
//
// Where to listen. Beacons go to EPICS_PVA_BROADCAST_PORT (5076), the port servers take searches
// on. The listener binds that port (SO_REUSEADDR) on broadcast addresses only: each interface's
// broadcast address, 127.255.255.255 (loopback's) and 255.255.255.255, or just 127.255.255.255 for
// a loopback-only client. Not on a unicast address: Linux hands a unicast datagram for a shared port
// to one socket only (the one bound last), so a client bound to 127.0.0.1:5076 would take the
// unicast searches meant for the servers of its host, its own included. pvxs binds the wildcard and
// forwards what it takes, telling unicast from broadcast by IP_PKTINFO, which Node's dgram lacks.
// Hence servers must beacon to a broadcast address to be heard by clients of their own host (the
// automatic beacon list does; `pvtree serve --loopback` beacons to 127.255.255.255).
import { createSocket, type Socket } from 'node:dgram';
import { framesOfDatagram } from '../framer.ts';
import { ProtocolError, decodeMessage, isAnyAddress } from '../messages.ts';
import { broadcastAddresses } from '../server/config.ts';
import { Cmd, FLAG_CONTROL, FLAG_SERVER } from '../protocol.ts';

/** What a beacon says about its server: 'same' (nothing new), or why channels should be searched for again. */
export type BeaconNews = 'same' | 'new' | 'restarted' | 'returned';

/** A server unheard for longer than this counts as new when it beacons again (servers beacon every 15 s). */
export const BEACON_GAP_MS = 45_000;
/** Servers remembered at most (the least recently heard are forgotten first). */
export const BEACON_TRACK_LIMIT = 20_000;

/**
 * Servers heard from, by 'host:port' (their TCP address): the GUID they beaconed and when. Without
 * I/O: feed it each beacon with the time.
 */
export class BeaconTracker {
  private readonly servers = new Map<string, { guid: string; at: number }>();

  constructor(
    private readonly gapMs = BEACON_GAP_MS,
    private readonly limit = BEACON_TRACK_LIMIT,
  ) {}

  /** Number of servers remembered. */
  get size(): number {
    return this.servers.size;
  }

  /** Records a beacon from `server` and says whether it is news. */
  heard(server: string, guid: Uint8Array, now: number): BeaconNews {
    const id = Buffer.from(guid.buffer, guid.byteOffset, guid.byteLength).toString('hex');
    const prev = this.servers.get(server);
    // re-insert to keep the map in least-recently-heard order
    this.servers.delete(server);
    this.servers.set(server, { guid: id, at: now });
    if (!prev) {
      if (this.servers.size > this.limit) this.servers.delete(this.servers.keys().next().value!);
      return 'new';
    }
    if (prev.guid !== id) return 'restarted';
    return now - prev.at > this.gapMs ? 'returned' : 'same';
  }
}

/** Where the listener binds: broadcast addresses only (see the top of this file). */
export function beaconListenAddresses(loopbackOnly: boolean): string[] {
  if (loopbackOnly) return ['127.255.255.255'];
  return [...new Set([...broadcastAddresses(), '127.255.255.255', '255.255.255.255'])];
}

export interface BeaconListenerOptions {
  port: number;
  addresses: string[];
  /** A beacon arrived from the server at 'host:port' with this GUID. */
  onBeacon(server: string, guid: Uint8Array): void;
}

/** The beacon sockets of one client. Addresses that cannot be bound are skipped. */
export class BeaconListener {
  private sockets: Socket[] = [];
  private closed = false;

  constructor(private readonly opts: BeaconListenerOptions) {}

  /** Addresses actually listened on, as 'host:port'. */
  get listening(): string[] {
    return this.sockets.map((s) => {
      const a = s.address();
      return `${a.address}:${a.port}`;
    });
  }

  async start(): Promise<void> {
    await Promise.all(this.opts.addresses.map((a) => this.bind(a)));
  }

  close(): void {
    this.closed = true;
    for (const s of this.sockets) s.close();
    this.sockets = [];
  }

  private bind(address: string): Promise<void> {
    const s = createSocket({ type: 'udp4', reuseAddr: true });
    return new Promise<void>((resolve) => {
      s.once('error', () => {
        s.close(); // not bindable here (no such broadcast address on this host): not heard there
        resolve();
      });
      s.bind({ port: this.opts.port, address, exclusive: false }, () => {
        s.removeAllListeners('error');
        s.on('error', () => {});
        if (this.closed) s.close();
        else {
          s.on('message', (msg, rinfo) => this.onDatagram(msg, rinfo.address));
          s.unref();
          this.sockets.push(s);
        }
        resolve();
      });
    });
  }

  private onDatagram(msg: Buffer, from: string): void {
    for (const f of framesOfDatagram(msg)) {
      if (f instanceof ProtocolError) return;
      if (f.flags & FLAG_CONTROL || f.command !== Cmd.BEACON || !(f.flags & FLAG_SERVER)) continue;
      const m = decodeMessage(f);
      if (m instanceof ProtocolError || m.type !== 'beacon') continue;
      if (m.protocol !== 'tcp') continue;
      const host = isAnyAddress(m.address) ? from : m.address;
      this.opts.onBeacon(`${host}:${m.port}`, m.guid);
    }
  }
}

export interface BeaconWatchOptions {
  port: number;
  addresses: string[];
  /** Beacon-triggered searches come at most this often (a burst of new servers asks for one). */
  holdoffMs: number;
  /** Search again now for every channel not yet found. */
  searchAgain(): void;
  /** The server at 'host:port' beaconed a new GUID: it restarted (a circuit to it is stale). */
  restarted(server: string): void;
}

/**
 * Listens for beacons and turns news into searches: a server heard for the first time, again after
 * a silence (BEACON_GAP_MS) or with a new GUID asks for `searchAgain`, at most once per holdoff
 * (one asked for during the holdoff comes at its end).
 */
export class BeaconWatch {
  readonly tracker = new BeaconTracker();
  private readonly listener: BeaconListener;
  private nextAllowed = 0;
  private deferred: NodeJS.Timeout | undefined;

  constructor(private readonly opts: BeaconWatchOptions) {
    this.listener = new BeaconListener({ port: opts.port, addresses: opts.addresses, onBeacon: (s, g) => this.heard(s, g) });
  }

  /** Addresses listened on, as 'host:port'. */
  get listening(): string[] {
    return this.listener.listening;
  }

  start(): Promise<void> {
    return this.listener.start();
  }

  close(): void {
    this.listener.close();
    if (this.deferred) clearTimeout(this.deferred);
    this.deferred = undefined;
  }

  private heard(server: string, guid: Uint8Array): void {
    const news = this.tracker.heard(server, guid, Date.now());
    if (news === 'same') return;
    if (news === 'restarted') this.opts.restarted(server);
    this.requestSearch();
  }

  private requestSearch(): void {
    if (this.deferred) return;
    const wait = this.nextAllowed - Date.now();
    if (wait > 0) {
      this.deferred = setTimeout(() => {
        this.deferred = undefined;
        this.requestSearch();
      }, wait);
      this.deferred.unref();
      return;
    }
    this.nextAllowed = Date.now() + this.opts.holdoffMs;
    this.opts.searchAgain();
  }
}
