// Finding channels: UDP search (unicast to EPICS_PVA_ADDR_LIST, broadcast with the automatic list)
// and TCP name servers, each channel with its own backoff; server beacons announcing a new or
// restarted server make every unresolved channel be searched for again at once.
import * as dgram from 'node:dgram';
import * as os from 'node:os';
import { Writer } from '../../pvdata/index.ts';
import { framesOfDatagram } from '../framer.ts';
import { ProtocolError, decodeMessage, encodeMessage, type SearchResponseMsg } from '../messages.ts';
import { SEARCH_UNICAST } from '../protocol.ts';
import { BeaconWatch, beaconListenAddresses } from './beacons.ts';
import type { Channel } from './channel.ts';
import type { Circuit } from './circuit.ts';
import { splitHostPort, type ClientConfig } from './config.ts';

/** Beacon-triggered searches come at most once a second. */
const BEACON_SEARCH_HOLDOFF_MS = 1000;

export const isLoopback = (host: string): boolean => host.startsWith('127.') || host === 'localhost';

/** What the search needs of its client. */
export interface SearchHost {
  readonly config: ClientConfig;
  readonly isClosed: boolean;
  /** Every channel the client knows (those searching are searched for). */
  channels(): Iterable<Channel>;
  /** A search response, over UDP (`from`: the sender) or a name server's circuit. */
  found(m: SearchResponseMsg, from: string): void;
  /** The circuit to a name server. */
  circuit(host: string, port: number): Circuit;
  /** A server restarted: an echo on a circuit to it (if any) draws the reset of a half-open one. */
  echo(server: string): void;
}

export class ChannelSearch {
  private udp: dgram.Socket | undefined;
  private udpReady: Promise<void> | undefined;
  private beacons: BeaconWatch | undefined;
  private timer: NodeJS.Timeout | undefined;
  private sequence = 1;

  constructor(private readonly host: SearchHost) {}

  private get config(): ClientConfig {
    return this.host.config;
  }

  /** Where beacons are listened for ('host:port'; empty before the first search or with beacons off). */
  get beaconListeners(): string[] {
    return this.beacons?.listening ?? [];
  }

  /**
   * `ch` is to be searched for: at once, or (`backoff`, after it was found but could not be
   * connected) when its backoff says.
   */
  want(ch: Channel, backoff: boolean): void {
    if (backoff && ch.searchDelay > 0) {
      // found but could not connect: keep backing off instead of searching again at once
      ch.nextSearch = Date.now() + ch.searchDelay;
      this.schedule(Math.min(ch.searchDelay, this.due()));
      return;
    }
    ch.searchDelay = 0;
    ch.nextSearch = 0;
    this.schedule(0);
  }

  /** The server refused to create `ch`: look again after half the longest search interval. */
  refused(ch: Channel): void {
    ch.searchDelay = this.config.searchMaxInterval / 2;
    ch.nextSearch = Date.now() + ch.searchDelay;
    this.schedule(10);
  }

  /** Milliseconds until the next channel's search is due (Infinity if none). */
  private due(): number {
    let next = Infinity;
    for (const ch of this.host.channels()) {
      if (ch.state === 'searching' && !ch.server) next = Math.min(next, ch.nextSearch - Date.now());
    }
    return Math.max(0, next);
  }

  private schedule(delay: number): void {
    if (this.host.isClosed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick(), delay);
    this.updateRef();
  }

  /** Keeps the process alive (search timer referenced) only while someone waits for a channel. */
  updateRef(): void {
    if (!this.timer) return;
    let wanted = false;
    for (const ch of this.host.channels()) {
      if (ch.state !== 'connected' && ch.state !== 'closed' && (ch.waiters.size > 0 || ch.subs.size > 0)) {
        wanted = true;
        break;
      }
    }
    if (wanted) this.timer.ref();
    else this.timer.unref();
  }

  private async tick(): Promise<void> {
    this.timer = undefined;
    if (this.host.isClosed) return;
    this.watchBeacons();
    const now = Date.now();
    const due: Channel[] = [];
    let next = Infinity;
    for (const ch of this.host.channels()) {
      if (ch.state !== 'searching' || ch.server) continue;
      if (ch.nextSearch <= now) {
        due.push(ch);
        ch.searchDelay = ch.searchDelay
          ? Math.min(ch.searchDelay * 2, this.config.searchMaxInterval)
          : this.config.searchInterval;
        ch.nextSearch = now + ch.searchDelay;
      }
      next = Math.min(next, ch.nextSearch);
    }
    if (due.length) await this.send(due);
    if (next !== Infinity) this.schedule(Math.max(10, next - Date.now()));
  }

  /** Starts listening for beacons (once), on loopback only when every search target is local. */
  private watchBeacons(): void {
    if (this.beacons || !this.config.beacons) return;
    const hosts = [
      ...this.targets().map((t) => t.host),
      ...this.config.nameServers.map((n) => splitHostPort(n, this.config.serverPort).host),
    ];
    if (!hosts.length) return; // nothing is ever searched
    this.beacons = new BeaconWatch({
      port: this.config.broadcastPort,
      addresses: beaconListenAddresses(hosts.every(isLoopback)),
      holdoffMs: BEACON_SEARCH_HOLDOFF_MS,
      searchAgain: () => this.searchAgain(),
      restarted: (server) => this.host.echo(server),
    });
    void this.beacons.start();
  }

  /** A new or restarted server appeared: every channel not yet found is searched for now. */
  private searchAgain(): void {
    if (this.host.isClosed) return;
    let any = false;
    for (const ch of this.host.channels()) {
      if (ch.state !== 'searching' || ch.server) continue;
      ch.searchDelay = 0;
      ch.nextSearch = 0;
      any = true;
    }
    if (any) this.schedule(0);
  }

  private async ensureUdp(): Promise<dgram.Socket | undefined> {
    if (this.udp) {
      const u = this.udp;
      await this.udpReady?.catch(() => undefined);
      return this.udp === u ? u : undefined;
    }
    const targets = this.targets();
    if (!targets.length) return undefined;
    const loopOnly = targets.every((t) => isLoopback(t.host));
    const sock = dgram.createSocket({ type: 'udp4', reuseAddr: false });
    this.udp = sock;
    sock.on('message', (msg, rinfo) => this.onDatagram(msg, rinfo.address));
    sock.on('error', () => {});
    this.udpReady = new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(0, loopOnly ? '127.0.0.1' : '0.0.0.0', () => {
        sock.off('error', reject);
        resolve();
      });
    });
    try {
      await this.udpReady;
    } catch {
      // cannot bind: UDP search is off for now (name servers still work); retried next round
      if (this.udp === sock) this.udp = undefined;
      try {
        sock.close();
      } catch {
        /* never bound */
      }
      return undefined;
    }
    if (!loopOnly) {
      try {
        sock.setBroadcast(true);
      } catch {
        /* not permitted: unicast only */
      }
    }
    sock.unref();
    return sock;
  }

  /** Where UDP searches go: the address list, plus each interface's broadcast address with the automatic list. */
  private targets(): Array<{ host: string; port: number }> {
    const out = this.config.addrList.map((a) => splitHostPort(a, this.config.broadcastPort));
    if (this.config.autoAddrList) {
      for (const ifs of Object.values(os.networkInterfaces())) {
        for (const i of ifs ?? []) {
          if (i.family !== 'IPv4' || i.internal || !i.cidr) continue;
          const bits = Number(i.cidr.split('/')[1]);
          const ip = i.address.split('.').reduce((a, b) => (a << 8) | Number(b), 0) >>> 0;
          const bcast = (ip | (bits >= 32 ? 0 : 0xffffffff >>> bits)) >>> 0;
          out.push({ host: [24, 16, 8, 0].map((s) => (bcast >>> s) & 0xff).join('.'), port: this.config.broadcastPort });
        }
      }
    }
    return out;
  }

  private async send(chans: Channel[]): Promise<void> {
    const udp = await this.ensureUdp().catch(() => undefined);
    if (this.host.isClosed) return;
    const port = udp ? udp.address().port : 0;
    // batches of channels small enough for one datagram
    const batches: Channel[][] = [];
    let cur: Channel[] = [];
    let bytes = 0;
    for (const ch of chans) {
      const n = 5 + Buffer.byteLength(ch.name);
      if (cur.length && (bytes + n > 1200 || cur.length >= 0xffff)) {
        batches.push(cur);
        cur = [];
        bytes = 0;
      }
      cur.push(ch);
      bytes += n;
    }
    if (cur.length) batches.push(cur);
    const w = new Writer(false, 1500);
    for (const b of batches) {
      const sequence = this.sequence++ >>> 0;
      const channels = b.map((ch) => ({ cid: ch.cid, name: ch.name }));
      if (udp) {
        for (const t of this.targets()) {
          const unicast = !/\.255$/.test(t.host);
          w.reset();
          encodeMessage(w, {
            type: 'search',
            sequence,
            flags: unicast ? SEARCH_UNICAST : 0,
            address: '0.0.0.0',
            port,
            protocols: ['tcp'],
            channels,
          });
          udp.send(w.toBuffer(), t.port, t.host, () => {});
        }
      }
      for (const ns of this.config.nameServers) {
        const { host, port: p } = splitHostPort(ns, this.config.serverPort);
        const c = this.host.circuit(host, p);
        c.conn.search({ sequence, flags: SEARCH_UNICAST, address: '0.0.0.0', port: 0, protocols: ['tcp'], channels });
      }
    }
  }

  private onDatagram(msg: Buffer, from: string): void {
    for (const f of framesOfDatagram(msg)) {
      if (f instanceof ProtocolError) return;
      const m = decodeMessage(f);
      if (m instanceof ProtocolError) return;
      if (m.type === 'searchResponse') this.host.found(m, from);
    }
  }

  /** Stops searching: timer, UDP socket, beacon listener. */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.udp?.close();
    this.udp = undefined;
    this.beacons?.close();
    this.beacons = undefined;
  }
}
