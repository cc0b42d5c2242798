// Cuts a pvAccess byte stream, delivered in chunks of any size, into complete frames, joining
// segmented messages. Bad magic, oversized messages and broken segmentation become a ProtocolError
// (after which the stream is unusable and the connection should be closed).
import {
  FLAG_BIG_ENDIAN,
  FLAG_CONTROL,
  FLAG_SEGMENT_FIRST,
  FLAG_SEGMENT_LAST,
  FLAG_SEGMENT_MASK,
  HEADER_SIZE,
  PVA_MAGIC,
} from './protocol.ts';
import { ProtocolError, type Frame } from './messages.ts';

/** Largest message (after joining segments) a {@link Framer} accepts by default: 64 MiB. */
export const DEFAULT_MAX_MESSAGE_SIZE = 64 * 1024 * 1024;

/**
 * Cuts a pvAccess TCP byte stream into frames (header and payload), joins segmented messages and
 * reports malformed input as a {@link ProtocolError}, however the bytes arrive.
 */
export class Framer {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private segments: Buffer[] = [];
  private segmentBytes = 0;
  private segmentCommand = -1;
  private failed: ProtocolError | undefined;
  /** Bytes `pending` must reach before another message can complete. */
  private need = HEADER_SIZE;

  /**
   * @param copyPayloads false: an unsegmented frame's payload is a view of the chunk it came in
   *   (no copy per message), for an owner that decodes every frame before it returns from its
   *   receive and keeps nothing of it (what it decodes is copied out).
   */
  constructor(
    readonly maxMessageSize = DEFAULT_MAX_MESSAGE_SIZE,
    private readonly copyPayloads = true,
  ) {}

  /** Bytes held waiting for the rest of a message (bounded by maxMessageSize + header). */
  get buffered(): number {
    return this.pendingBytes + this.segmentBytes;
  }

  /** Feeds a chunk; returns the frames it completes, ending with a ProtocolError if the stream broke. */
  push(chunk: Uint8Array): Array<Frame | ProtocolError> {
    const out: Array<Frame | ProtocolError> = [];
    if (this.failed) return out;
    if (!chunk.length) return out;
    if (this.pendingBytes + chunk.length < this.need) {
      // Still short of the message under way: keep a copy (the caller may reuse its buffer) and
      // wait, instead of joining everything held so far on every chunk (quadratic when a large
      // message trickles in).
      if (this.pendingBytes === 0 && chunk[0] !== PVA_MAGIC) return this.fail(out, `bad magic 0x${chunk[0].toString(16)}`);
      this.pending.push(Buffer.from(chunk));
      this.pendingBytes += chunk.length;
      return out;
    }
    const input = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const buf = this.pending.length ? Buffer.concat([...this.pending, input], this.pendingBytes + input.length) : input;
    let pos = 0;
    this.need = HEADER_SIZE;
    while (pos < buf.length) {
      if (buf[pos] !== PVA_MAGIC) return this.fail(out, `bad magic 0x${buf[pos].toString(16)}`);
      if (buf.length - pos < HEADER_SIZE) break;
      const flags = buf[pos + 2];
      const command = buf[pos + 3];
      const be = (flags & FLAG_BIG_ENDIAN) !== 0;
      const size = be ? buf.readUInt32BE(pos + 4) : buf.readUInt32LE(pos + 4);
      if (flags & FLAG_CONTROL) {
        out.push({ version: buf[pos + 1], flags, command, payload: EMPTY, controlValue: size });
        pos += HEADER_SIZE;
        continue;
      }
      if (size > this.maxMessageSize || this.segmentBytes + size > this.maxMessageSize) {
        return this.fail(out, `message of ${size} bytes exceeds the limit of ${this.maxMessageSize}`, command);
      }
      if (buf.length - pos < HEADER_SIZE + size) {
        this.need = HEADER_SIZE + size;
        break;
      }
      const version = buf[pos + 1];
      const payload = buf.subarray(pos + HEADER_SIZE, pos + HEADER_SIZE + size);
      pos += HEADER_SIZE + size;
      const seg = flags & FLAG_SEGMENT_MASK;
      if (seg === 0) {
        if (this.segmentCommand >= 0) return this.fail(out, 'unsegmented message inside a segmented one', command);
        out.push({ version, flags, command, payload: this.copyPayloads ? Buffer.from(payload) : payload, controlValue: 0 });
        continue;
      }
      if (seg === FLAG_SEGMENT_FIRST) {
        if (this.segmentCommand >= 0) return this.fail(out, 'first segment while another is open', command);
        this.segmentCommand = command;
      } else if (this.segmentCommand !== command) {
        return this.fail(out, this.segmentCommand < 0 ? 'segment without a first segment' : 'segment of another command', command);
      }
      this.segments.push(Buffer.from(payload));
      this.segmentBytes += size;
      if (seg === FLAG_SEGMENT_LAST) {
        const whole = Buffer.concat(this.segments, this.segmentBytes);
        this.segments = [];
        this.segmentBytes = 0;
        this.segmentCommand = -1;
        out.push({ version, flags: flags & ~FLAG_SEGMENT_MASK, command, payload: whole, controlValue: 0 });
      }
    }
    // keep a copy of the rest, so that neither the caller's buffer nor a large joined one stays referenced
    this.pending = pos < buf.length ? [Buffer.from(buf.subarray(pos))] : [];
    this.pendingBytes = buf.length - pos;
    return out;
  }

  private fail(out: Array<Frame | ProtocolError>, why: string, command = -1): Array<Frame | ProtocolError> {
    this.failed = new ProtocolError(why, command);
    this.pending = [];
    this.pendingBytes = 0;
    this.segments = [];
    this.segmentBytes = 0;
    this.segmentCommand = -1;
    out.push(this.failed);
    return out;
  }
}

const EMPTY = Buffer.alloc(0);

/** Splits one UDP datagram (which may hold several messages) into frames. */
export function framesOfDatagram(d: Uint8Array, maxMessageSize = 65536): Array<Frame | ProtocolError> {
  const f = new Framer(maxMessageSize);
  const out = f.push(d);
  if (f.buffered > 0) out.push(new ProtocolError(`datagram has ${f.buffered} trailing bytes`));
  return out;
}
