// SLAC packetizer v1 and v2 (sans-I/O): frames for a tDest split into segments that fit the link,
// and segments merged back into frames per tDest. Facts from Rogue's packetizer/ControllerV1.cpp
// and ControllerV2.cpp.
//
// v1: header 8 bytes: [0] frame index bits 3:0 << 4 (version 0 in bits 3:0) · [1] index bits 11:4
//     · [2..4] segment number (24-bit LE) · [5] tDest · [6] tId · [7] first user (SSI SOF 0x02);
//     tail 1 byte: last user & 0x7F | 0x80 on the last segment (EOF). One frame in flight at a time.
// v2: header 8 bytes: [0] version 2 | 0x20 when a CRC follows · [1] first user · [2] tDest · [3] tId
//     · [4..5] segment number (16-bit LE) · [7] 0x80 on the first segment (SOF); payload padded to a
//     multiple of 8; tail 8 bytes: [0] last user · [1] 0x01 EOF · [2] valid bytes in the payload's
//     last word (1…8) · [4..7] CRC-32 big-endian over each segment less its CRC, chained over the
//     frame's segments. Frames of different tDests may interleave.
// With SSI on, bit 0 of the last user marks a frame that ended in error (EOFE).

import { crc32 } from './crc32.ts';

export type PacketizerVersion = 1 | 2;

export interface PacketizerOptions {
  version: PacketizerVersion;
  /** A complete frame arrived for `tDest` (`error`: SSI EOFE set by the sender). The view is yours. */
  onFrame(tDest: number, frame: Uint8Array, error: boolean): void;
  /** SSI framing: SOF in the first user field, EOFE in the last (default true, as PyRogue). */
  enSsi?: boolean;
  /** v2: check the CRC of arriving segments (default false, as PyRogue's CoreV2(ibCRC=False)). */
  ibCrc?: boolean;
  /** v2: send a CRC (default true, as PyRogue's CoreV2(obCRC=True)). */
  obCrc?: boolean;
}

export interface PacketizerStats {
  txFrames: number;
  rxFrames: number;
  /** Segments or partial frames dropped (bad header, wrong sequence, CRC, length). */
  dropped: number;
  crcErrors: number;
}

interface Partial {
  parts: Uint8Array[];
  bytes: number;
  count: number;
  crc: number;
  firstUser: number;
}

export class Packetizer {
  readonly version: PacketizerVersion;
  private readonly onFrame: PacketizerOptions['onFrame'];
  private readonly enSsi: boolean;
  private readonly ibCrc: boolean;
  private readonly obCrc: boolean;
  private appIndex = 0;
  // v1: one frame in reassembly; v2: one per tDest
  private v1: (Partial & { index: number; tDest: number }) | undefined;
  private readonly v2 = new Map<number, Partial>();
  readonly stats: PacketizerStats = { txFrames: 0, rxFrames: 0, dropped: 0, crcErrors: 0 };

  constructor(opts: PacketizerOptions) {
    if (opts.version !== 1 && opts.version !== 2) throw new RangeError(`packetizer version must be 1 or 2, not ${String(opts.version)}`);
    this.version = opts.version;
    this.onFrame = opts.onFrame;
    this.enSsi = opts.enSsi ?? true;
    this.ibCrc = opts.ibCrc ?? false;
    this.obCrc = opts.obCrc ?? true;
  }

  /** Header plus tail bytes per segment. */
  get overhead(): number { return this.version === 1 ? 9 : 16; }

  /** Payload bytes one segment of at most `maxSegment` bytes carries. */
  payloadPerSegment(maxSegment: number): number {
    const room = maxSegment - this.overhead;
    const n = this.version === 1 ? room : Math.floor(room / 8) * 8;
    if (n < 8) throw new RangeError(`segments of ${maxSegment} bytes leave no room for packetizer v${this.version} data`);
    return n;
  }

  /**
   * Split `frame` for `tDest` into segments of at most `maxSegment` bytes and hand each to `emit`
   * in order (each a fresh buffer the callee may keep).
   */
  encode(frame: Uint8Array, tDest: number, maxSegment: number, emit: (segment: Uint8Array) => void, lastUser = 0): void {
    if (frame.length === 0) throw new RangeError('the packetizer carries no empty frames');
    const per = this.payloadPerSegment(maxSegment);
    const fUser = this.enSsi ? 0x02 : 0;
    const n = Math.ceil(frame.length / per);
    if (this.version === 1 && n > 0xffffff) throw new RangeError('frame too large for packetizer v1');
    if (this.version === 2 && n > 0xffff) throw new RangeError('frame too large for packetizer v2');
    let crc = 0;
    for (let s = 0; s < n; s++) {
      const data = frame.subarray(s * per, Math.min(frame.length, (s + 1) * per));
      const eof = s === n - 1;
      if (this.version === 1) {
        const seg = new Uint8Array(8 + data.length + 1);
        seg[0] = (this.appIndex & 0xf) << 4;
        seg[1] = (this.appIndex >> 4) & 0xff;
        seg[2] = s & 0xff; seg[3] = (s >> 8) & 0xff; seg[4] = (s >> 16) & 0xff;
        seg[5] = tDest;
        seg[7] = fUser;
        seg.set(data, 8);
        seg[seg.length - 1] = (lastUser & 0x7f) | (eof ? 0x80 : 0);
        emit(seg);
      } else {
        const last = data.length % 8 || 8;
        const padded = data.length + (8 - last);
        const seg = new Uint8Array(8 + padded + 8);
        seg[0] = 0x02 | (this.obCrc ? 0x20 : 0);
        seg[1] = fUser;
        seg[2] = tDest;
        seg[4] = s & 0xff; seg[5] = (s >> 8) & 0xff;
        seg[7] = s === 0 ? 0x80 : 0;
        seg.set(data, 8);
        const t = seg.length - 8;
        seg[t] = lastUser;
        seg[t + 1] = eof ? 1 : 0;
        seg[t + 2] = last;
        if (this.obCrc) {
          crc = crc32(seg, 0, seg.length - 4, s === 0 ? 0 : crc);
          seg[t + 4] = crc >>> 24; seg[t + 5] = (crc >>> 16) & 0xff; seg[t + 6] = (crc >>> 8) & 0xff; seg[t + 7] = crc & 0xff;
        }
        emit(seg);
      }
    }
    this.appIndex = (this.appIndex + 1) & 0xfff;
    this.stats.txFrames++;
  }

  /** Forget partial frames (the link under us was lost). */
  reset(): void {
    this.v1 = undefined;
    this.v2.clear();
  }

  /** One segment from the link (a view; copied when kept). */
  decode(seg: Uint8Array): void {
    if (this.version === 1) this.decodeV1(seg);
    else this.decodeV2(seg);
  }

  private deliver(tDest: number, p: Partial, lastUser: number): void {
    let frame: Uint8Array;
    if (p.parts.length === 1) frame = p.parts[0];
    else {
      frame = new Uint8Array(p.bytes);
      let o = 0;
      for (const x of p.parts) {
        frame.set(x, o);
        o += x.length;
      }
    }
    this.stats.rxFrames++;
    this.onFrame(tDest, frame, this.enSsi && (lastUser & 1) === 1);
  }

  private decodeV1(seg: Uint8Array): void {
    const size = seg.length;
    if (size < 10 || (seg[0] & 0xf) !== 0) {
      this.stats.dropped++;
      return;
    }
    const index = (seg[0] >> 4) | (seg[1] << 4);
    const count = seg[2] | (seg[3] << 8) | (seg[4] << 16);
    const tDest = seg[5];
    const tail = seg[size - 1];
    const data = seg.slice(8, size - 1);
    let p = this.v1;
    if (count > 0 && (!p || index !== p.index || count !== p.count)) {
      this.stats.dropped++;
      this.v1 = undefined;
      return;
    }
    if (count === 0) {
      if (p) this.stats.dropped++; // a new frame abandons the unfinished one
      p = this.v1 = { parts: [], bytes: 0, count: 0, crc: 0, firstUser: seg[7], index, tDest };
    }
    p!.parts.push(data);
    p!.bytes += data.length;
    if (tail & 0x80) {
      this.v1 = undefined;
      this.deliver(p!.tDest, p!, tail & 0x7f);
    } else {
      p!.count++;
    }
  }

  private decodeV2(seg: Uint8Array): void {
    const size = seg.length;
    if (size < 24 || (size & 7) !== 0 || (seg[0] & 0xf) !== 2) {
      this.stats.dropped++;
      return;
    }
    const tDest = seg[2];
    const count = seg[4] | (seg[5] << 8);
    const sof = (seg[7] & 0x80) !== 0;
    const t = size - 8;
    const lastUser = seg[t];
    const eof = (seg[t + 1] & 1) !== 0;
    const last = seg[t + 2];
    let p = this.v2.get(tDest);
    const expectSof = p === undefined;
    if (sof !== expectSof || (p ? count !== p.count : count !== 0) || last < 1 || last > 8) {
      this.stats.dropped++;
      this.v2.delete(tDest);
      return;
    }
    let crc = 0;
    if (this.ibCrc) {
      crc = crc32(seg, 0, size - 4, sof ? 0 : p!.crc);
      const got = ((seg[size - 4] << 24) | (seg[size - 3] << 16) | (seg[size - 2] << 8) | seg[size - 1]) >>> 0;
      if (got !== crc) {
        this.stats.crcErrors++;
        this.stats.dropped++;
        this.v2.delete(tDest);
        return;
      }
    }
    if (!p) {
      p = { parts: [], bytes: 0, count: 0, crc: 0, firstUser: seg[1] };
      this.v2.set(tDest, p);
    }
    const data = seg.slice(8, t - (8 - last));
    p.parts.push(data);
    p.bytes += data.length;
    p.crc = crc;
    if (eof) {
      this.v2.delete(tDest);
      this.deliver(tDest, p, lastUser);
    } else {
      p.count = (p.count + 1) & 0xffff;
    }
  }
}
