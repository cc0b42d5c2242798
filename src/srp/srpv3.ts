// SLAC Register Protocol version 3 (SRPv3) frames: requests and responses as bytes, both sides.
//
// A frame is little-endian 32-bit words (facts from Rogue's SrpV3.cpp / SrpV3Emulation.cpp and
// SURF's SrpV3AxiLite):
//
//   word 0  bits 7:0 version (3) · 9:8 opcode (0 read, 1 write, 2 posted write, 3 null)
//           · 13:10 capability flags in responses (ignored) · 14 ignore memory response
//           · 31:24 hardware timeout (units of 100 ms; 0 = none)
//   word 1  transaction id
//   word 2  address bits 31:0        word 3  address bits 63:32
//   word 4  request size in bytes minus one
//   then    write data (write / posted write requests); read-back data (every response)
//   tail    one status word, responses only: bits 7:0 memory response (1:0 AXI resp,
//           5 size not 32-bit, 6 address not 32-bit aligned, 7 address beyond 32 bits),
//           8 bus timeout, 9 EOFE, 10 framing error, 11 version mismatch, 12 request size error,
//           13 bus lockup. A response with an error may stop early (the tail follows the header).

/** Header bytes (5 words). */
export const SRP_HEADER_BYTES = 20;
/** Status tail bytes (1 word). */
export const SRP_TAIL_BYTES = 4;
/** Largest transaction, bytes (Rogue's SrpV3 max). */
export const SRP_MAX_BYTES = 4096;
/** Smallest access and alignment, bytes. */
export const SRP_MIN_BYTES = 4;

export const SrpOpcode = { read: 0, write: 1, post: 2, null: 3 } as const;
export type SrpOpcodeValue = (typeof SrpOpcode)[keyof typeof SrpOpcode];

/** The header fields of a request (and of the response that echoes it). */
export interface SrpHeader {
  opcode: SrpOpcodeValue;
  id: number;
  /** Byte address (up to 2^53 here). */
  address: number;
  /** Bytes requested, 4…4096 and a multiple of 4 for a valid request. */
  size: number;
  /** Hardware timeout, 100 ms units (0 = none). */
  hwTimeout: number;
  ignoreMemResp: boolean;
}

/** A decoded request: the header and, for writes, the data (a view into the frame). */
export interface SrpRequest extends SrpHeader {
  data: Uint8Array | undefined;
}

/** A decoded response: the echoed header, the status word and the data (a view into the frame). */
export interface SrpResponse extends SrpHeader {
  version: number;
  /** Raw word 0 (capability bits included). */
  word0: number;
  status: number;
  /** Bytes between header and tail (the full size unless the peer stopped early on an error). */
  data: Uint8Array;
}

export class SrpFrameError extends Error {
  override name = 'SrpFrameError';
}

const ADDR_HI = 2 ** 32;

function word0(h: SrpHeader): number {
  return (3 | (h.opcode << 8) | (h.ignoreMemResp ? 1 << 14 : 0) | ((h.hwTimeout & 0xff) << 24)) >>> 0;
}

function writeHeader(dv: DataView, w0: number, h: SrpHeader): void {
  dv.setUint32(0, w0, true);
  dv.setUint32(4, h.id >>> 0, true);
  dv.setUint32(8, h.address % ADDR_HI, true);
  dv.setUint32(12, Math.floor(h.address / ADDR_HI), true);
  dv.setUint32(16, (h.size - 1) >>> 0, true);
}

function readHeader(dv: DataView): { w0: number; h: SrpHeader } {
  const w0 = dv.getUint32(0, true);
  return {
    w0,
    h: {
      opcode: ((w0 >>> 8) & 3) as SrpOpcodeValue,
      id: dv.getUint32(4, true),
      address: dv.getUint32(12, true) * ADDR_HI + dv.getUint32(8, true),
      size: dv.getUint32(16, true) + 1,
      hwTimeout: w0 >>> 24,
      ignoreMemResp: (w0 & (1 << 14)) !== 0,
    },
  };
}

/** Request frame length: header, plus the data for writes. */
export function srpRequestLength(h: SrpHeader): number {
  return SRP_HEADER_BYTES + (h.opcode === SrpOpcode.write || h.opcode === SrpOpcode.post ? h.size : 0);
}

/** Response frame length for a complete response to `h` (every opcode but posted writes is answered with data). */
export function srpResponseLength(h: SrpHeader): number {
  return SRP_HEADER_BYTES + h.size + SRP_TAIL_BYTES;
}

/**
 * Encode a request. `data` (exactly `size` bytes) is required for writes and posted writes.
 * Writes into `out` when given (it must be srpRequestLength bytes), else allocates.
 */
export function encodeSrpRequest(h: SrpHeader, data?: Uint8Array, out?: Uint8Array): Uint8Array {
  const len = srpRequestLength(h);
  const buf = out ?? new Uint8Array(len);
  if (buf.length !== len) throw new RangeError(`SRPv3 request buffer is ${buf.length} bytes, needs ${len}`);
  writeHeader(new DataView(buf.buffer, buf.byteOffset, SRP_HEADER_BYTES), word0(h), h);
  if (len > SRP_HEADER_BYTES) {
    if (!data || data.length !== h.size) throw new RangeError(`SRPv3 write needs ${h.size} bytes of data`);
    buf.set(data, SRP_HEADER_BYTES);
  }
  return buf;
}

/** Decode a request (the server side). Throws SrpFrameError for frames a peer must drop. */
export function decodeSrpRequest(frame: Uint8Array): SrpRequest {
  if (frame.length < SRP_HEADER_BYTES) throw new SrpFrameError(`SRPv3 request of ${frame.length} bytes is shorter than the header`);
  const { w0, h } = readHeader(new DataView(frame.buffer, frame.byteOffset, SRP_HEADER_BYTES));
  if ((w0 & 0xff) !== 3) throw new SrpFrameError(`not an SRPv3 frame (version ${w0 & 0xff})`);
  let data: Uint8Array | undefined;
  if (h.opcode === SrpOpcode.write || h.opcode === SrpOpcode.post) {
    if (frame.length < SRP_HEADER_BYTES + h.size) throw new SrpFrameError(`SRPv3 write of ${h.size} bytes carries ${frame.length - SRP_HEADER_BYTES}`);
    data = frame.subarray(SRP_HEADER_BYTES, SRP_HEADER_BYTES + h.size);
  }
  return { ...h, data };
}

/**
 * Encode a response echoing `req`: the header, `data` (the read-back bytes; may be shorter than
 * the request on an error) and the status word.
 */
export function encodeSrpResponse(req: SrpHeader, data: Uint8Array, status: number, out?: Uint8Array): Uint8Array {
  const len = SRP_HEADER_BYTES + data.length + SRP_TAIL_BYTES;
  const buf = out ?? new Uint8Array(len);
  const dv = new DataView(buf.buffer, buf.byteOffset, len);
  writeHeader(dv, word0(req), req);
  buf.set(data, SRP_HEADER_BYTES);
  dv.setUint32(len - SRP_TAIL_BYTES, status >>> 0, true);
  return buf;
}

/** Decode a response (the client side). Throws SrpFrameError when the frame is too short to carry a header and tail. */
export function decodeSrpResponse(frame: Uint8Array): SrpResponse {
  if (frame.length < SRP_HEADER_BYTES + SRP_TAIL_BYTES) throw new SrpFrameError(`SRPv3 response of ${frame.length} bytes is undersized`);
  const dv = new DataView(frame.buffer, frame.byteOffset, frame.length);
  const { w0, h } = readHeader(dv);
  return {
    ...h,
    version: w0 & 0xff,
    word0: w0,
    status: dv.getUint32(frame.length - SRP_TAIL_BYTES, true),
    data: frame.subarray(SRP_HEADER_BYTES, frame.length - SRP_TAIL_BYTES),
  };
}

/** Status tail bits. */
export const SrpStatus = {
  memRespMask: 0xff,
  axiSlaveError: 0x02,
  axiDecodeError: 0x03,
  sizeNot32: 1 << 5,
  addressUnaligned: 1 << 6,
  addressBeyond32: 1 << 7,
  timeout: 1 << 8,
  eofe: 1 << 9,
  framingError: 1 << 10,
  versionMismatch: 1 << 11,
  requestSizeError: 1 << 12,
  busLockup: 1 << 13,
} as const;

/** The error a non-zero status word means, worded for an operator (undefined for 0). */
export function srpStatusMessage(status: number): string | undefined {
  if (status === 0) return undefined;
  const hex = `0x${(status >>> 0).toString(16).padStart(8, '0')}`;
  if (status & SrpStatus.busLockup) return `FPGA register bus lockup detected in hardware, power cycle required (status ${hex})`;
  if (status & SrpStatus.timeout) return `FPGA register bus timeout detected in hardware (status ${hex})`;
  const why: string[] = [];
  const resp = status & 3;
  if (resp === 2) why.push('AXI slave error');
  else if (resp === 3) why.push('AXI decode error (no register at this address)');
  else if (resp === 1) why.push('AXI exclusive-okay response');
  if (status & SrpStatus.sizeNot32) why.push('size not a multiple of 32 bits');
  if (status & SrpStatus.addressUnaligned) why.push('address not 32-bit aligned');
  if (status & SrpStatus.addressBeyond32) why.push('address beyond 32 bits');
  if (status & SrpStatus.eofe) why.push('request frame ended in error (EOFE)');
  if (status & SrpStatus.framingError) why.push('request framing error');
  if (status & SrpStatus.versionMismatch) why.push('SRP version mismatch');
  if (status & SrpStatus.requestSizeError) why.push('request size error');
  return `non-zero status returned on FPGA register bus in hardware: ${why.length ? why.join(', ') : 'unknown'} (status ${hex})`;
}
