// RSSI (SLAC's Reliable SSI, after the RUDP draft RFC) segment headers: flags, sequence and
// acknowledge numbers, the SYN parameters and the header checksum. Facts from Rogue's
// rssi/Header.cpp and the draft:
//
//   byte 0  flags: 0x80 SYN · 0x40 ACK · 0x10 RST · 0x08 NUL · 0x01 BUSY
//   byte 1  header length (8, or 24 with SYN)
//   byte 2  sequence number · byte 3 acknowledge number
//   SYN only: byte 4 version << 4 | 0x08 | CHK 0x04 · 5 max outstanding segments
//             6-7 max segment size · 8-9 retransmission timeout · 10-11 cumulative ack timeout
//             12-13 null timeout · 14 max retransmissions · 15 max cumulative ack
//             16 reserved · 17 timeout unit (10^-unit s) · 18 connection id · 19-21 reserved
//   last 2 bytes of the header: checksum (ones' complement of the folded sum of the header's
//   big-endian 16-bit words, checksum excluded). The payload follows and is not summed.

export const RSSI_HEADER_BYTES = 8;
export const RSSI_SYN_BYTES = 24;

export const RssiFlag = { syn: 0x80, ack: 0x40, rst: 0x10, nul: 0x08, busy: 0x01 } as const;

/** SYN parameters (what each side offers; the server's SYN-ACK carries what both use). */
export interface RssiParams {
  version: number;
  chk: boolean;
  maxOutstandingSegments: number;
  /** Largest segment in bytes, RSSI header included. */
  maxSegmentSize: number;
  retransmissionTimeout: number;
  cumulativeAckTimeout: number;
  nullTimeout: number;
  maxRetransmissions: number;
  maxCumulativeAck: number;
  /** Timeouts are in units of 10^-timeoutUnit seconds (3: ms). */
  timeoutUnit: number;
  connectionId: number;
}

export interface RssiHeader {
  syn: boolean;
  ack: boolean;
  rst: boolean;
  nul: boolean;
  busy: boolean;
  sequence: number;
  acknowledge: number;
  /** Present when syn. */
  params?: RssiParams;
}

export class RssiHeaderError extends Error {
  override name = 'RssiHeaderError';
}

/** Checksum over the first `size - 2` bytes of a header. */
export function rssiChecksum(b: Uint8Array, size: number): number {
  let sum = 0;
  for (let i = 0; i < size - 2; i += 2) sum += (b[i] << 8) | b[i + 1];
  sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return (sum ^ 0xffff) & 0xffff;
}

/** Header length for this header. */
export function rssiHeaderLength(h: RssiHeader): number {
  return h.syn ? RSSI_SYN_BYTES : RSSI_HEADER_BYTES;
}

/** Write `h` (and its checksum) at the start of `b`, which must have room; returns the header length. */
export function writeRssiHeader(b: Uint8Array, h: RssiHeader): number {
  const size = rssiHeaderLength(h);
  if (b.length < size) throw new RangeError(`RSSI header needs ${size} bytes, buffer has ${b.length}`);
  b.fill(0, 0, size);
  b[0] = (h.syn ? RssiFlag.syn : 0) | (h.ack ? RssiFlag.ack : 0) | (h.rst ? RssiFlag.rst : 0) | (h.nul ? RssiFlag.nul : 0) | (h.busy ? RssiFlag.busy : 0);
  b[1] = size;
  b[2] = h.sequence & 0xff;
  b[3] = h.acknowledge & 0xff;
  if (h.syn) {
    const p = h.params;
    if (!p) throw new RangeError('an RSSI SYN needs its parameters');
    b[4] = ((p.version & 0xf) << 4) | 0x08 | (p.chk ? 0x04 : 0);
    b[5] = p.maxOutstandingSegments & 0xff;
    b[6] = (p.maxSegmentSize >> 8) & 0xff; b[7] = p.maxSegmentSize & 0xff;
    b[8] = (p.retransmissionTimeout >> 8) & 0xff; b[9] = p.retransmissionTimeout & 0xff;
    b[10] = (p.cumulativeAckTimeout >> 8) & 0xff; b[11] = p.cumulativeAckTimeout & 0xff;
    b[12] = (p.nullTimeout >> 8) & 0xff; b[13] = p.nullTimeout & 0xff;
    b[14] = p.maxRetransmissions & 0xff;
    b[15] = p.maxCumulativeAck & 0xff;
    b[17] = p.timeoutUnit & 0xff;
    b[18] = p.connectionId & 0xff;
  }
  const sum = rssiChecksum(b, size);
  b[size - 2] = sum >> 8;
  b[size - 1] = sum & 0xff;
  return size;
}

/** Refresh the acknowledge number, busy flag and checksum of an already written header (retransmission). */
export function restampRssiHeader(b: Uint8Array, acknowledge: number, busy: boolean): void {
  const size = b[1];
  b[0] = (b[0] & ~RssiFlag.busy) | (busy ? RssiFlag.busy : 0);
  b[3] = acknowledge & 0xff;
  const sum = rssiChecksum(b, size);
  b[size - 2] = sum >> 8;
  b[size - 1] = sum & 0xff;
}

/**
 * Read and check a header (length byte, size, checksum); throws RssiHeaderError for a segment
 * a peer must drop. Returns the header and its length (the payload starts there).
 */
export function readRssiHeader(b: Uint8Array): { header: RssiHeader; length: number } {
  if (b.length < RSSI_HEADER_BYTES) throw new RssiHeaderError(`RSSI segment of ${b.length} bytes is shorter than a header`);
  const syn = (b[0] & RssiFlag.syn) !== 0;
  const size = syn ? RSSI_SYN_BYTES : RSSI_HEADER_BYTES;
  if (b[1] !== size) throw new RssiHeaderError(`RSSI header length byte ${b[1]}, expected ${size}`);
  if (b.length < size) throw new RssiHeaderError(`RSSI SYN segment of ${b.length} bytes is shorter than its header`);
  const sum = (b[size - 2] << 8) | b[size - 1];
  if (sum !== rssiChecksum(b, size)) throw new RssiHeaderError('RSSI header checksum mismatch');
  const header: RssiHeader = {
    syn,
    ack: (b[0] & RssiFlag.ack) !== 0,
    rst: (b[0] & RssiFlag.rst) !== 0,
    nul: (b[0] & RssiFlag.nul) !== 0,
    busy: (b[0] & RssiFlag.busy) !== 0,
    sequence: b[2],
    acknowledge: b[3],
  };
  if (syn) {
    header.params = {
      version: b[4] >> 4,
      chk: (b[4] & 0x04) !== 0,
      maxOutstandingSegments: b[5],
      maxSegmentSize: (b[6] << 8) | b[7],
      retransmissionTimeout: (b[8] << 8) | b[9],
      cumulativeAckTimeout: (b[10] << 8) | b[11],
      nullTimeout: (b[12] << 8) | b[13],
      maxRetransmissions: b[14],
      maxCumulativeAck: b[15],
      timeoutUnit: b[17],
      connectionId: b[18],
    };
  }
  return { header, length: size };
}
