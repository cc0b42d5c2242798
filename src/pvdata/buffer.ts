// Cursor-style byte writer and reader for pvData, in either byte order.
// The reader never throws: it records the first fault and returns harmless zero values after it,
// so a decoder checks `reader.ok` once at the end instead of guarding every field.
import { BitSet } from './bitset.ts';

/** Whether this machine is little-endian. */
export const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const utf8 = new TextDecoder('utf-8');

/** Arrays of at least this many bytes are decoded into unpooled, uninitialised memory. */
const LARGE_ARRAY = 64 * 1024;

/**
 * A growable byte buffer with pvData's primitive encodings (sizes, strings, scalars, arrays) in
 * either byte order.
 */
export class Writer {
  buf: Buffer;
  view: DataView;
  pos = 0;
  littleEndian: boolean;

  constructor(littleEndian = true, initial = 256) {
    this.littleEndian = littleEndian;
    this.buf = Buffer.allocUnsafe(initial);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }

  /** Makes room for `n` more bytes. */
  ensure(n: number): void {
    const need = this.pos + n;
    if (need <= this.buf.length) return;
    let size = Math.max(this.buf.length * 2, 64);
    while (size < need) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
    this.view = new DataView(next.buffer, next.byteOffset, next.byteLength);
  }

  reset(): this {
    this.pos = 0;
    return this;
  }

  /** A view of what has been written (valid until the next write or reset). */
  bytes(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  /** A copy of what has been written. */
  toBuffer(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }

  /** A writer that fills `buf` (from its start) before it needs to allocate. */
  static over(buf: Buffer, littleEndian = true): Writer {
    const w = new Writer(littleEndian, 0);
    w.buf = buf;
    w.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    return w;
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v & 0xff;
  }
  i8(v: number): void {
    this.ensure(1);
    this.view.setInt8(this.pos++, v);
  }
  u16(v: number): void {
    this.ensure(2);
    this.view.setUint16(this.pos, v, this.littleEndian);
    this.pos += 2;
  }
  i16(v: number): void {
    this.ensure(2);
    this.view.setInt16(this.pos, v, this.littleEndian);
    this.pos += 2;
  }
  u32(v: number): void {
    this.ensure(4);
    this.view.setUint32(this.pos, v >>> 0, this.littleEndian);
    this.pos += 4;
  }
  i32(v: number): void {
    this.ensure(4);
    this.view.setInt32(this.pos, v | 0, this.littleEndian);
    this.pos += 4;
  }
  i64(v: bigint): void {
    this.ensure(8);
    this.view.setBigInt64(this.pos, BigInt.asIntN(64, v), this.littleEndian);
    this.pos += 8;
  }
  u64(v: bigint): void {
    this.ensure(8);
    this.view.setBigUint64(this.pos, BigInt.asUintN(64, v), this.littleEndian);
    this.pos += 8;
  }
  f32(v: number): void {
    this.ensure(4);
    this.view.setFloat32(this.pos, v, this.littleEndian);
    this.pos += 4;
  }
  f64(v: number): void {
    this.ensure(8);
    this.view.setFloat64(this.pos, v, this.littleEndian);
    this.pos += 8;
  }

  raw(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** pvAccess Size: one byte below 254, else 0xFE and an int32; null (-1) is 0xFF. */
  size(n: number): void {
    if (n < 0) this.u8(0xff);
    else if (n < 254) this.u8(n);
    else {
      this.u8(0xfe);
      this.i32(n);
    }
  }

  string(s: string): void {
    // Fast path for short ASCII: one pass, no intermediate buffer.
    const len = s.length;
    if (len < 254) {
      let ascii = true;
      for (let i = 0; i < len; i++) if (s.charCodeAt(i) > 0x7f) { ascii = false; break; }
      if (ascii) {
        this.ensure(len + 1);
        this.buf[this.pos++] = len;
        this.buf.write(s, this.pos, len, "latin1");
        this.pos += len;
        return;
      }
    }
    const n = Buffer.byteLength(s, 'utf8');
    this.size(n);
    this.ensure(n);
    this.buf.write(s, this.pos, n, "utf8");
    this.pos += n;
  }

  /** Writes `n` bytes of typed-array data, converting to the stream's byte order when needed. */
  typed(a: ArrayBufferView & { length: number; BYTES_PER_ELEMENT: number }): void {
    const width = a.BYTES_PER_ELEMENT;
    const nbytes = a.length * width;
    this.ensure(nbytes);
    const src = new Uint8Array(a.buffer, a.byteOffset, nbytes);
    this.buf.set(src, this.pos);
    if (width > 1 && this.littleEndian !== HOST_LITTLE_ENDIAN) swapBytes(this.buf, this.pos, nbytes, width);
    this.pos += nbytes;
  }

  bitSet(b: BitSet): void {
    const n = b.byteLength();
    this.size(n);
    this.ensure(n);
    const full = n & ~7;
    for (let i = 0; i < full; i += 8) {
      // whole 64-bit words go out in the stream's byte order
      for (let k = 0; k < 8; k++) this.buf[this.pos + (this.littleEndian ? k : 7 - k)] = b.byteAt(i + k);
      this.pos += 8;
    }
    for (let i = full; i < n; i++) this.buf[this.pos++] = b.byteAt(i);
  }

  /** Patches a uint32 at `at` (for back-filled lengths). */
  patchU32(at: number, v: number): void {
    this.view.setUint32(at, v >>> 0, this.littleEndian);
  }
}

/** Reverses the byte order of each `width`-byte element in `nbytes` bytes of `buf` from `start`. */
export function swapBytes(buf: Uint8Array, start: number, nbytes: number, width: number): void {
  // Buffer's native swaps run at memory speed; the byte loop below is the fallback for odd widths.
  if (nbytes % width === 0 && (width === 2 || width === 4 || width === 8)) {
    const b = Buffer.from(buf.buffer, buf.byteOffset + start, nbytes);
    if (width === 2) b.swap16();
    else if (width === 4) b.swap32();
    else b.swap64();
    return;
  }
  for (let p = start, end = start + nbytes; p < end; p += width) {
    for (let i = 0, j = width - 1; i < j; i++, j--) {
      const t = buf[p + i];
      buf[p + i] = buf[p + j];
      buf[p + j] = t;
    }
  }
}

/**
 * Reads pvData's primitive encodings from a buffer in either byte order; running past the end
 * throws.
 */
export class Reader {
  readonly buf: Buffer;
  pos: number;
  end: number;
  littleEndian: boolean;
  /** First fault met, or undefined while all is well. */
  fault: string | undefined;
  /**
   * Structure fields (type layout entries and structure values) this reader may still have the
   * decoder build. Cached type references make a few bytes stand for a large type, so without an
   * allowance proportional to the input a small hostile message could demand unbounded memory.
   */
  budget: number;

  constructor(buf: Uint8Array, littleEndian = true, start = 0, end = buf.length) {
    this.buf = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
    this.pos = start;
    this.end = end;
    this.littleEndian = littleEndian;
    this.budget = (1 << 18) + 16 * Math.max(0, end - start);
  }

  get ok(): boolean {
    return this.fault === undefined;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  fail(why: string): void {
    if (this.fault === undefined) this.fault = `${why} (at byte ${this.pos})`;
    this.pos = this.end;
  }

  /** True when `n` more bytes are available; records a fault otherwise. */
  need(n: number): boolean {
    if (this.fault !== undefined) return false;
    if (n <= this.end - this.pos) return true;
    this.fail(`need ${n} bytes, ${this.end - this.pos} left`);
    return false;
  }

  u8(): number {
    return this.need(1) ? this.buf[this.pos++] : 0;
  }
  // Buffer's own readers: no DataView to make per message (a Reader lives for one message)
  i8(): number {
    if (!this.need(1)) return 0;
    return this.buf.readInt8(this.pos++);
  }
  u16(): number {
    if (!this.need(2)) return 0;
    const v = this.littleEndian ? this.buf.readUInt16LE(this.pos) : this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  i16(): number {
    if (!this.need(2)) return 0;
    const v = this.littleEndian ? this.buf.readInt16LE(this.pos) : this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  u32(): number {
    if (!this.need(4)) return 0;
    const v = this.littleEndian ? this.buf.readUInt32LE(this.pos) : this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  i32(): number {
    if (!this.need(4)) return 0;
    const v = this.littleEndian ? this.buf.readInt32LE(this.pos) : this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  i64(): bigint {
    if (!this.need(8)) return 0n;
    const v = this.littleEndian ? this.buf.readBigInt64LE(this.pos) : this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return v;
  }
  u64(): bigint {
    if (!this.need(8)) return 0n;
    const v = this.littleEndian ? this.buf.readBigUInt64LE(this.pos) : this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }
  f32(): number {
    if (!this.need(4)) return 0;
    const v = this.littleEndian ? this.buf.readFloatLE(this.pos) : this.buf.readFloatBE(this.pos);
    this.pos += 4;
    return v;
  }
  f64(): number {
    if (!this.need(8)) return 0;
    const v = this.littleEndian ? this.buf.readDoubleLE(this.pos) : this.buf.readDoubleBE(this.pos);
    this.pos += 8;
    return v;
  }

  bytes(n: number): Buffer {
    if (!this.need(n)) return Buffer.alloc(0);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  /** pvAccess Size; -1 for null. */
  size(): number {
    const b = this.u8();
    if (b < 254) return b;
    if (b === 0xff) return -1;
    const n = this.i32();
    if (n < 0) {
      this.fail(`bad size ${n}`);
      return 0;
    }
    return n;
  }

  /** A Size that must fit in the remaining bytes when each element takes at least `minWidth` bytes. */
  count(minWidth = 1): number {
    const n = this.size();
    if (n < 0) return 0;
    if (n * minWidth > this.end - this.pos) {
      this.fail(`count ${n} exceeds the ${this.end - this.pos} bytes left`);
      return 0;
    }
    return n;
  }

  string(): string {
    const n = this.count(1);
    if (n === 0) return '';
    if (n <= 32) {
      // short ASCII (names, units, messages) is cheaper to take as latin1 than through TextDecoder
      const b = this.buf;
      let i = this.pos;
      const end = i + n;
      while (i < end && b[i] < 0x80) i++;
      if (i === end) {
        const s = b.toString('latin1', this.pos, end);
        this.pos = end;
        return s;
      }
    }
    const s = utf8.decode(this.buf.subarray(this.pos, this.pos + n));
    this.pos += n;
    return s;
  }

  /** Reads `count` elements into a fresh typed array of the given constructor. */
  typed<T extends ArrayBufferView & { length: number }>(
    Ctor: { new (n: number): T; BYTES_PER_ELEMENT: number },
    count: number,
  ): T {
    const width = Ctor.BYTES_PER_ELEMENT;
    const nbytes = count * width;
    if (!this.need(nbytes)) return new Ctor(0);
    let out: T;
    if (nbytes >= LARGE_ARRAY) {
      // skip the zero fill of a fresh typed array: every byte is overwritten just below
      const raw = Buffer.allocUnsafeSlow(nbytes);
      this.buf.copy(raw, 0, this.pos, this.pos + nbytes);
      out = new (Ctor as unknown as new (b: ArrayBufferLike, o: number, n: number) => T)(raw.buffer, raw.byteOffset, count);
      if (width > 1 && this.littleEndian !== HOST_LITTLE_ENDIAN) swapBytes(raw, 0, nbytes, width);
      this.pos += nbytes;
      return out;
    }
    out = new Ctor(count);
    const dst = new Uint8Array(out.buffer, out.byteOffset, count * width);
    dst.set(this.buf.subarray(this.pos, this.pos + count * width));
    if (width > 1 && this.littleEndian !== HOST_LITTLE_ENDIAN) swapBytes(dst, 0, count * width, width);
    this.pos += count * width;
    return out;
  }

  bitSet(): BitSet {
    const n = this.count(1);
    const b = new BitSet(n * 8);
    const full = n & ~7;
    for (let i = 0; i < full; i += 8) {
      for (let k = 0; k < 8; k++) b.setByte(i + k, this.buf[this.pos + (this.littleEndian ? k : 7 - k)]);
      this.pos += 8;
    }
    for (let i = full; i < n; i++) b.setByte(i, this.buf[this.pos++]);
    return b;
  }
}
