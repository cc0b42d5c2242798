// The server's UDP sockets: where searches arrive, and the one socket replies, forwards and beacons
// leave from.
//
// Whether a search came by unicast (and must be forwarded to the other servers of the host) or by
// broadcast/multicast (which they all received anyway) is a property of its destination address.
// pvxs reads that address per datagram with IP_PKTINFO; Node's dgram cannot. So, as pvAccessCPP does
// on Linux, each kind of arrival gets a socket of its own, bound to the address it must match:
//   - the interface address (e.g. 127.0.0.1:5076)      → unicast arrivals only;
//   - the interface's broadcast address (127.255.255.255:5076), and 255.255.255.255:5076 when
//     listening on every interface                     → broadcast arrivals only;
//   - the local multicast group 224.0.0.128:5076, joined on the loopback interface
//                                                        → searches forwarded by a server of this host.
// All are bound with SO_REUSEADDR so that several servers (and clients listening for beacons) share
// the port. An ephemeral port (0) is first chosen by a probe that nothing else may share (see
// unusedUdpPort): an ephemeral bind with SO_REUSEADDR could be given a port another server holds.
// Sending happens from one
// more socket on an ephemeral port: the copy of our own forward that multicast loopback hands back to
// us is recognised by that port and skipped (we answered the original already).
// Binding to broadcast and multicast addresses works on Linux (and the BSDs); where the group cannot
// be joined, forwarding is off and a warning says that unicast searches reach only one server.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { networkInterfaces } from 'node:os';
import type { Logger } from './log.ts';
import { LOCAL_MCAST_GROUP, readSearchDatagram, type Arrival, type SearchToAnswer } from './search.ts';

export interface SearchSocketsOptions {
  /** Addresses to listen on (0.0.0.0: every IPv4 interface). */
  interfaces: string[];
  port: number;
  /** Searches from (or, when forwarded, for replies to) these addresses are ignored. */
  ignoreAddrs: string[];
  log: Logger;
  /** Called for every search to answer. */
  onSearch(s: SearchToAnswer): void;
}

interface Listener {
  socket: Socket;
  arrival: Arrival;
  /** The interface address (for unicast arrivals: what ORIGIN_TAG names). */
  address: string;
}

/** IPv4 addresses of this host with their broadcast addresses. */
function localInterfaces(): Array<{ address: string; broadcast: string }> {
  const out: Array<{ address: string; broadcast: string }> = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.family !== 'IPv4') continue;
      const ip = a.address.split('.').map(Number);
      const mask = a.netmask.split('.').map(Number);
      out.push({ address: a.address, broadcast: ip.map((b, i) => (b & mask[i]) | (~mask[i] & 0xff)).join('.') });
    }
  }
  return out;
}

/**
 * A UDP port no socket of this host holds, on any address. Linux gives an ephemeral bind with
 * SO_REUSEADDR ports that other sockets hold with SO_REUSEADDR, and the last socket bound to a port
 * receives its unicast datagrams: a server started on port 0 would take the searches of another
 * server (pvAccess or Channel Access) that happens to hold that port, or lose its own to it. A probe
 * bound to the wildcard address without SO_REUSEADDR is only given a port nobody holds; it is
 * closed at once so that the server's sockets can bind the port shareable.
 */
async function unusedUdpPort(): Promise<number> {
  const probe = await bindUdp('0.0.0.0', 0, false);
  const port = probe.address().port;
  await new Promise<void>((r) => probe.close(() => r()));
  return port;
}

function bindUdp(address: string, port: number, reuse: boolean): Promise<Socket> {
  const s = createSocket({ type: 'udp4', reuseAddr: reuse });
  return new Promise((res, rej) => {
    s.once('error', (e) => {
      s.close();
      rej(e);
    });
    s.bind({ port, address, exclusive: false }, () => {
      s.removeAllListeners('error');
      res(s);
    });
  });
}

/** The search sockets of one server. */
export class SearchSockets {
  private listeners: Listener[] = [];
  private sender: Socket | undefined;
  private senderPort = 0;
  private forwarding = false;
  private local = new Set<string>();
  private boundPort = 0;

  constructor(private readonly opts: SearchSocketsOptions) {}

  /** The search port actually bound. */
  get port(): number {
    return this.boundPort;
  }

  /** Whether unicast searches are forwarded to the other servers of this host. */
  get forwards(): boolean {
    return this.forwarding;
  }

  async start(): Promise<void> {
    const { log } = this.opts;
    const ifaces = localInterfaces();
    this.local = new Set(ifaces.map((i) => i.address));
    const wanted: Array<{ address: string; arrival: Arrival }> = [];
    for (const intf of this.opts.interfaces) {
      const chosen = intf === '0.0.0.0' ? ifaces : ifaces.filter((i) => i.address === intf);
      if (!chosen.length) wanted.push({ address: intf, arrival: 'unicast' });
      for (const i of chosen) {
        wanted.push({ address: i.address, arrival: 'unicast' });
        if (i.broadcast !== i.address) wanted.push({ address: i.broadcast, arrival: 'broadcast' });
      }
      if (intf === '0.0.0.0') wanted.push({ address: '255.255.255.255', arrival: 'broadcast' });
    }
    let port = this.opts.port || (await unusedUdpPort());
    for (const w of wanted) {
      if (this.listeners.some((l) => l.socket.address().address === w.address)) continue;
      const s = await bindUdp(w.address, port, true).catch((e: Error) => {
        if (w.arrival === 'unicast') throw e;
        log.debug(`UDP ${w.address}:${port}: ${e.message}; broadcasts there are not heard`);
        return undefined;
      });
      if (!s) continue;
      port = s.address().port; // an ephemeral first bind fixes the port for the rest
      this.add(s, w.arrival, w.address);
    }
    this.boundPort = port;
    const first = this.opts.interfaces.find((a) => a !== '0.0.0.0') ?? '0.0.0.0';
    this.sender = await bindUdp(first, 0, false);
    this.senderPort = this.sender.address().port;
    this.sender.setBroadcast(true);
    this.sender.on('error', (e) => log.warn(`UDP send: ${e.message}`));
    try {
      const g = await bindUdp(LOCAL_MCAST_GROUP, port, true);
      g.addMembership(LOCAL_MCAST_GROUP, '127.0.0.1');
      this.add(g, 'forwarded', '127.0.0.1');
      this.sender.setMulticastInterface('127.0.0.1');
      this.sender.setMulticastLoopback(true);
      this.forwarding = true;
    } catch (e) {
      log.warn(
        `cannot join ${LOCAL_MCAST_GROUP} on loopback (${(e as Error).message}): unicast searches reach only one server on this host`,
      );
    }
  }

  stop(): void {
    for (const l of this.listeners) l.socket.close();
    this.listeners = [];
    this.sender?.close();
    this.sender = undefined;
    this.forwarding = false;
  }

  /** Sends a datagram from the server's send socket. */
  send(data: Uint8Array, port: number, host: string): void {
    this.sender?.send(data, port, host, (e) => {
      if (e) this.opts.log.debug(`UDP to ${host}:${port}: ${e.message}`);
    });
  }

  private add(socket: Socket, arrival: Arrival, address: string): void {
    const l: Listener = { socket, arrival, address };
    socket.on('message', (msg, rinfo) => this.onDatagram(l, msg, rinfo));
    socket.on('error', (e) => this.opts.log.warn(`UDP ${address}: ${e.message}`));
    this.listeners.push(l);
  }

  private onDatagram(l: Listener, msg: Buffer, rinfo: RemoteInfo): void {
    const { log, ignoreAddrs } = this.opts;
    if (l.arrival === 'forwarded') {
      if (rinfo.port === this.senderPort && this.local.has(rinfo.address)) return; // our own forward
    } else if (ignoreAddrs.includes(rinfo.address)) return;
    const out = readSearchDatagram(msg, {
      from: rinfo,
      arrival: l.arrival,
      localAddress: l.address,
      isLocalAddress: (ip) => this.local.has(ip),
    });
    if (out.ignored) log.debug(`UDP from ${rinfo.address}:${rinfo.port} (${l.arrival}): ${out.ignored}`);
    if (out.forward && this.forwarding) this.send(out.forward, this.boundPort, LOCAL_MCAST_GROUP);
    for (const s of out.answer) {
      if (l.arrival === 'forwarded' && ignoreAddrs.includes(s.replyHost)) continue;
      this.opts.onSearch(s);
    }
  }
}
