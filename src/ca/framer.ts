// Stream framer: turns TCP bytes arriving in chunks of any size into CA frames.
// It never throws: a bad frame becomes a { ok: false, error } result and the framer
// stops (a byte stream cannot be resynchronised after a bad header).

import { CA_EXTENDED_HEADER_SIZE, CA_HEADER_SIZE } from './constants.ts';
import {
  CaProtocolError,
  readHeader,
  tryDecodeMessage,
  type CaDecodeResult,
  type CaDirection,
  type CaFrame,
  type CaHeader,
} from './messages.ts';

/** Default bound on a single payload (like EPICS_CA_MAX_ARRAY_BYTES; 16 MiB). */
export const DEFAULT_MAX_PAYLOAD_SIZE = 16 * 1024 * 1024;

/** A complete message cut from the stream, or why the stream is broken. */
export type CaFrameResult = { ok: true; frame: CaFrame } | { ok: false; error: CaProtocolError };

/** Settings of a {@link CaFramer}. */
export interface CaFramerOptions {
  /** Largest payload accepted; a bigger one is an error (bounds allocation). */
  maxPayloadSize?: number;
}

/**
 * Cuts a Channel Access TCP byte stream into messages (standard and extended headers), however the
 * bytes arrive.
 */
export class CaFramer {
  readonly maxPayloadSize: number;
  private readonly hdr = new Uint8Array(CA_EXTENDED_HEADER_SIZE);
  private hdrFill = 0;
  private header: CaHeader | undefined;
  private extended = false;
  private payload: Uint8Array | undefined;
  private payloadFill = 0;
  private error: CaProtocolError | undefined;

  constructor(options: CaFramerOptions = {}) {
    this.maxPayloadSize = options.maxPayloadSize ?? DEFAULT_MAX_PAYLOAD_SIZE;
  }

  /** The error that stopped the framer, if any. */
  get failed(): CaProtocolError | undefined {
    return this.error;
  }

  /** Bytes held for an incomplete frame. */
  get buffered(): number {
    return this.hdrFill + this.payloadFill;
  }

  /** Feeds bytes; returns the frames completed by them (and at most one error). */
  push(chunk: Uint8Array): CaFrameResult[] {
    const out: CaFrameResult[] = [];
    if (this.error) return out;
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (!this.header) {
        // Accumulate the 16-byte header (24 if extended).
        const need = this.hdrFill < CA_HEADER_SIZE ? CA_HEADER_SIZE : CA_EXTENDED_HEADER_SIZE;
        const take = Math.min(need - this.hdrFill, n - i);
        this.hdr.set(chunk.subarray(i, i + take), this.hdrFill);
        this.hdrFill += take;
        i += take;
        if (this.hdrFill < need) break;
        const parsed = readHeader(this.hdr.subarray(0, this.hdrFill), 0);
        if (!parsed.ok) continue; // extended header: need 8 more bytes
        const h = parsed.header;
        if (h.payloadSize > this.maxPayloadSize) {
          this.error = new CaProtocolError(
            'payload-too-large',
            `payload of ${h.payloadSize} bytes exceeds the limit of ${this.maxPayloadSize} (command ${h.command})`,
          );
          out.push({ ok: false, error: this.error });
          return out;
        }
        this.header = h;
        this.extended = parsed.extended;
        this.payloadFill = 0;
        if (h.payloadSize === 0) {
          out.push(this.finish(new Uint8Array(0)));
          continue;
        }
        if (n - i >= h.payloadSize) {
          // Whole payload is in this chunk: copy it out in one go.
          out.push(this.finish(chunk.slice(i, i + h.payloadSize)));
          i += h.payloadSize;
          continue;
        }
        this.payload = new Uint8Array(h.payloadSize);
      } else {
        const p = this.payload!;
        const take = Math.min(p.length - this.payloadFill, n - i);
        p.set(chunk.subarray(i, i + take), this.payloadFill);
        this.payloadFill += take;
        i += take;
        if (this.payloadFill === p.length) out.push(this.finish(p));
      }
    }
    return out;
  }

  private finish(payload: Uint8Array): CaFrameResult {
    const frame: CaFrame = { header: this.header!, payload, extended: this.extended };
    this.header = undefined;
    this.payload = undefined;
    this.payloadFill = 0;
    this.hdrFill = 0;
    this.extended = false;
    return { ok: true, frame };
  }
}

/** Splits one UDP datagram into frames; a truncated tail becomes an error result. */
export function splitDatagram(buf: Uint8Array, maxPayloadSize = DEFAULT_MAX_PAYLOAD_SIZE): CaFrameResult[] {
  const out: CaFrameResult[] = [];
  let o = 0;
  while (o < buf.length) {
    const parsed = readHeader(buf, o);
    if (!parsed.ok) {
      out.push({ ok: false, error: new CaProtocolError('truncated', `datagram ends inside a header at byte ${o}`) });
      return out;
    }
    const h = parsed.header;
    if (h.payloadSize > maxPayloadSize) {
      out.push({ ok: false, error: new CaProtocolError('payload-too-large', `payload of ${h.payloadSize} bytes exceeds ${maxPayloadSize}`) });
      return out;
    }
    const start = o + parsed.headerLength;
    if (start + h.payloadSize > buf.length) {
      out.push({ ok: false, error: new CaProtocolError('truncated', `datagram ends inside the payload of command ${h.command}`) });
      return out;
    }
    out.push({ ok: true, frame: { header: h, payload: buf.slice(start, start + h.payloadSize), extended: parsed.extended } });
    o = start + h.payloadSize;
  }
  return out;
}


/** Framer + typed decoding for one direction of a TCP stream. Never throws. */
export class CaStreamDecoder {
  private readonly framer: CaFramer;
  constructor(
    readonly direction: CaDirection,
    options: CaFramerOptions = {},
  ) {
    this.framer = new CaFramer(options);
  }
  get failed(): CaProtocolError | undefined {
    return this.framer.failed;
  }
  push(chunk: Uint8Array): CaDecodeResult[] {
    return this.framer.push(chunk).map((r) => (r.ok ? tryDecodeMessage(r.frame, this.direction) : r));
  }
}

/** Decodes every message in a UDP datagram. Never throws. */
export function decodeDatagram(buf: Uint8Array, direction: CaDirection, maxPayloadSize?: number): CaDecodeResult[] {
  return splitDatagram(buf, maxPayloadSize).map((r) => (r.ok ? tryDecodeMessage(r.frame, direction) : r));
}
