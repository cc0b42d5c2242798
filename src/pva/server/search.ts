// Sans-I/O handling of UDP search datagrams, including the local fan-out that lets several servers
// share one search port on a host.
//
// A unicast datagram sent to host:5076 is delivered by the kernel to one socket only (on Linux the
// one bound last), however many servers bound that port with SO_REUSEADDR; broadcasts and multicasts
// reach all of them. pvxs and pvAccessCPP therefore re-send every search that arrived by unicast to
// the local multicast group 224.0.0.128 on the loopback interface, prefixed with an ORIGIN_TAG
// message naming the interface address it arrived on, with the "unicast" flag cleared and the
// client's address written into the search's reply-address field (the receivers cannot see the
// client in the UDP header). Every server joins that group on loopback and answers the forwarded
// copy straight to the client. This module decides, for one datagram and the way it arrived, what
// to answer and what to forward; the socket layer (udp.ts) tells the arrivals apart.
import { framesOfDatagram } from '../framer.ts';
import { ProtocolError, decodeMessage, isAnyAddress, writeAddress, type Frame, type SearchMsg } from '../messages.ts';
import { Writer } from '../../pvdata/index.ts';
import { Cmd, FLAG_BIG_ENDIAN, FLAG_SERVER, HEADER_SIZE, PVA_MAGIC, SEARCH_UNICAST } from '../protocol.ts';

/** The local multicast group servers of one host forward unicast searches to (on loopback). */
export const LOCAL_MCAST_GROUP = '224.0.0.128';

/**
 * How a datagram reached the server, known from the socket that received it:
 * `unicast` — sent to one of our interface addresses (only this socket got it: forward it);
 * `broadcast` — sent to a broadcast address (every server got it);
 * `forwarded` — sent to the local multicast group by a server of this host (maybe this one).
 */
export type Arrival = 'unicast' | 'broadcast' | 'forwarded';

/** A search to answer, with where the reply goes. */
export interface SearchToAnswer {
  search: SearchMsg;
  replyHost: string;
  replyPort: number;
}

/** What one datagram asks of the server. */
export interface DatagramOutcome {
  answer: SearchToAnswer[];
  /** A datagram to send to the local multicast group (ORIGIN_TAG + searches), if any. */
  forward?: Buffer;
  /** Why (part of) the datagram was ignored, for a debug log line. */
  ignored?: string;
}

export interface DatagramContext {
  /** Sender of the datagram as the UDP header gives it. */
  from: { address: string; port: number };
  arrival: Arrival;
  /** Interface address the datagram arrived on (for `unicast`: what the ORIGIN_TAG names). */
  localAddress: string;
  /** Whether an address is one of this host's (ORIGIN_TAGs naming others are refused). */
  isLocalAddress(ip: string): boolean;
}

/**
 * Reads one search datagram. Searches arriving by unicast are answered and also returned, re-encoded
 * for the local multicast group, in `forward`; forwarded ones are answered only when tagged by a local
 * interface (or untagged, as some servers send them) and when they carry the client's reply address.
 */
export function readSearchDatagram(data: Uint8Array, ctx: DatagramContext): DatagramOutcome {
  const out: DatagramOutcome = { answer: [] };
  const frames = framesOfDatagram(data, 65536);
  const forwardParts: Buffer[] = [];
  let tagged = false;
  for (let i = 0; i < frames.length; i++) {
    const f = frames[i];
    if (f instanceof ProtocolError) {
      out.ignored = `bad datagram: ${f.message}`;
      break;
    }
    if (f.command === Cmd.ORIGIN_TAG) {
      // Only the first message of a datagram that came through the local group may be a tag: a tag
      // arriving any other way would let a remote sender pose as a local forwarder.
      if (ctx.arrival !== 'forwarded' || i !== 0) {
        out.ignored = `ORIGIN_TAG ${ctx.arrival === 'forwarded' ? 'after the first message' : `received by ${ctx.arrival}`}`;
        return { answer: [], ignored: out.ignored };
      }
      const m = decodeMessage(f);
      if (m instanceof ProtocolError || m.type !== 'originTag') {
        out.ignored = `bad ORIGIN_TAG: ${m instanceof ProtocolError ? m.message : m.type}`;
        return { answer: [], ignored: out.ignored };
      }
      if (!isAnyAddress(m.address) && !ctx.isLocalAddress(m.address)) {
        out.ignored = `ORIGIN_TAG from non-local interface ${m.address}`;
        return { answer: [], ignored: out.ignored };
      }
      tagged = true;
      continue;
    }
    // beacons and search replies of other servers, and anything else, are not for us
    if (f.command !== Cmd.SEARCH || f.flags & FLAG_SERVER) continue;
    const m = decodeMessage(f);
    if (m instanceof ProtocolError || m.type !== 'search') {
      out.ignored = `bad search: ${m instanceof ProtocolError ? m.message : m.type}`;
      break;
    }
    const replyAny = isAnyAddress(m.address);
    if (ctx.arrival === 'forwarded' && replyAny) {
      // the forwarder's address is not the client's: a reply could never reach it
      out.ignored = `forwarded search${tagged ? '' : ' (untagged)'} without a reply address`;
      continue;
    }
    const replyHost = replyAny ? ctx.from.address : m.address;
    const replyPort = m.port || ctx.from.port;
    out.answer.push({ search: m, replyHost, replyPort });
    if (ctx.arrival === 'unicast') forwardParts.push(forwardedSearch(f, replyHost, replyPort));
  }
  if (forwardParts.length) out.forward = Buffer.concat([originTag(ctx.localAddress, forwardParts[0][2]), ...forwardParts]);
  return out;
}

/** An ORIGIN_TAG message naming `address`, in the byte order given by `flags`. */
function originTag(address: string, flags: number): Buffer {
  const w = new Writer((flags & FLAG_BIG_ENDIAN) === 0, HEADER_SIZE + 16);
  w.u8(PVA_MAGIC);
  w.u8(2);
  w.u8(flags & FLAG_BIG_ENDIAN);
  w.u8(Cmd.ORIGIN_TAG);
  w.u32(16);
  writeAddress(w, address);
  return Buffer.from(w.bytes());
}

// Offsets in a SEARCH payload: sequence u32, flags u8, 3 reserved, reply address (16), reply port u16.
const SEARCH_FLAGS_AT = 4;
const SEARCH_ADDRESS_AT = 8;
const SEARCH_PORT_AT = 24;

/** The search frame as sent on: unicast flag cleared, the client's address and port in the body. */
function forwardedSearch(f: Frame, replyHost: string, replyPort: number): Buffer {
  const le = (f.flags & FLAG_BIG_ENDIAN) === 0;
  const w = new Writer(le, HEADER_SIZE + f.payload.length);
  w.u8(PVA_MAGIC);
  w.u8(f.version);
  w.u8(f.flags);
  w.u8(Cmd.SEARCH);
  w.u32(f.payload.length);
  const body = w.pos;
  w.raw(f.payload);
  const out = Buffer.from(w.bytes());
  out[body + SEARCH_FLAGS_AT] &= ~SEARCH_UNICAST;
  const a = new Writer(le, 16);
  writeAddress(a, replyHost);
  a.bytes().copy(out, body + SEARCH_ADDRESS_AT);
  if (le) out.writeUInt16LE(replyPort, body + SEARCH_PORT_AT);
  else out.writeUInt16BE(replyPort, body + SEARCH_PORT_AT);
  return out;
}
