// Bit layout of a remote value inside a block: one or more bit ranges, or an array of
// equally spaced elements. Little-endian bit order as in Rogue (bit n is byte n>>3, bit n&7).
// Big-endian values (Rogue's UIntBE, IntBE, FloatBE) are byte-reversed over their
// ceil(bits / 8) bytes before they are placed at their bit position, as Rogue's block does.

import { type TypeInfo, type Value, VariableError, newArray, normInt } from './types.ts';

export interface BitRange { readonly bitOffset: number; readonly bitSize: number }

const scratch = new DataView(new ArrayBuffer(8));
const utf8d = new TextDecoder();
const utf8e = new TextEncoder();

/** Read n ≤ 32 bits at absolute bit position `bit` as an unsigned number. */
function getBits(buf: Uint8Array, bit: number, n: number): number {
  let out = 0;
  let done = 0;
  while (done < n) {
    const p = bit + done;
    const sh = p & 7;
    const take = Math.min(8 - sh, n - done);
    out += ((buf[p >> 3] >> sh) & ((1 << take) - 1)) * 2 ** done;
    done += take;
  }
  return out;
}

function setBits(buf: Uint8Array, bit: number, n: number, v: number): void {
  let done = 0;
  while (done < n) {
    const p = bit + done;
    const sh = p & 7;
    const take = Math.min(8 - sh, n - done);
    const m = ((1 << take) - 1) << sh;
    const chunk = Math.floor(v / 2 ** done) & ((1 << take) - 1);
    buf[p >> 3] = (buf[p >> 3] & ~m) | (chunk << sh);
    done += take;
  }
}

/** Copy n bits from src at srcBit to dst at dstBit. */
function copyBits(dst: Uint8Array, dstBit: number, src: Uint8Array, srcBit: number, n: number): void {
  for (let done = 0; done < n; done += 24) {
    const k = Math.min(24, n - done);
    setBits(dst, dstBit + done, k, getBits(src, srcBit + done, k));
  }
}

function getBitsBig(buf: Uint8Array, bit: number, n: number): bigint {
  let out = 0n;
  for (let done = 0; done < n; done += 32) out |= BigInt(getBits(buf, bit + done, Math.min(32, n - done))) << BigInt(done);
  return out;
}

function setBitsBig(buf: Uint8Array, bit: number, n: number, v: bigint): void {
  for (let done = 0; done < n; done += 32) {
    const k = Math.min(32, n - done);
    setBits(buf, bit + done, k, Number((v >> BigInt(done)) & ((1n << BigInt(k)) - 1n)));
  }
}

type Fast = 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'u64' | 'i64' | 'f32' | 'f64' | undefined;

function fastKind(info: TypeInfo, bits: number): Fast {
  if (info.base === 'Float') return bits === 32 ? 'f32' : bits === 64 ? 'f64' : undefined;
  if (info.base !== 'UInt' && info.base !== 'Int') return undefined;
  if (bits !== 8 && bits !== 16 && bits !== 32 && bits !== 64) return undefined;
  return `${info.base === 'UInt' ? 'u' : 'i'}${bits}` as Fast;
}

/**
 * Where a variable's bits are in its block: bit offsets and sizes (several ranges for split
 * fields), and array layout.
 */
export interface FieldLayout {
  bitOffset: number | number[];
  bitSize: number | number[];
  numValues?: number;
  valueBits?: number;
  valueStride?: number;
  /** Byte-reverse the value (Rogue's big-endian models). */
  bigEndian?: boolean;
}

/** Reads and writes a variable's bits (and array elements) in a block's shadow bytes. */
export class Field {
  readonly ranges: readonly BitRange[];
  /** Bits of one value (scalar) or one element (array). */
  readonly valueBits: number;
  readonly valueStride: number;
  readonly numValues: number;
  /** Byte span relative to the variable's offset. */
  readonly byteStart: number;
  readonly byteEnd: number;
  readonly bigEndian: boolean;
  private base = 0; // bit position of the variable's offset inside its block
  private readonly fast: Fast;
  /** DataView's littleEndian flag for the fast paths. */
  private readonly le: boolean;
  /** Scratch bytes for byte-reversing big-endian values on the slow path. */
  private readonly rev: Uint8Array | undefined;

  constructor(readonly info: TypeInfo, layout: FieldLayout) {
    const offs = Array.isArray(layout.bitOffset) ? layout.bitOffset : [layout.bitOffset];
    const sizes = Array.isArray(layout.bitSize) ? layout.bitSize : [layout.bitSize];
    if (offs.length !== sizes.length) throw new VariableError('bitOffset and bitSize lists must have the same length');
    if (sizes.some((s) => !(Number.isInteger(s) && s > 0))) throw new VariableError('bitSize must be a positive integer');
    if (offs.some((o) => !(Number.isInteger(o) && o >= 0))) throw new VariableError('bitOffset must be a non-negative integer');
    this.numValues = layout.numValues ?? 0;
    if (this.numValues > 0) {
      if (offs.length !== 1) throw new VariableError('arrays (numValues) take a single bit range');
      this.valueBits = layout.valueBits ?? sizes[0];
      this.valueStride = layout.valueStride ?? this.valueBits;
      if (this.valueBits > this.valueStride) throw new VariableError(`valueBits ${this.valueBits} exceeds valueStride ${this.valueStride}`);
      this.ranges = [{ bitOffset: offs[0], bitSize: this.numValues * this.valueStride }];
    } else {
      this.valueBits = sizes.reduce((a, b) => a + b, 0);
      this.valueStride = this.valueBits;
      this.ranges = offs.map((o, i) => ({ bitOffset: o, bitSize: sizes[i] }));
    }
    const b = this.valueBits;
    if (info.base === 'Float' && b !== 32 && b !== 64) throw new VariableError(`Float needs 32 or 64 bits, got ${b}`);
    if (info.base === 'String' && (b % 8 !== 0 || this.ranges.length !== 1 || this.ranges[0].bitOffset % 8 !== 0 || this.valueStride % 8 !== 0)) {
      throw new VariableError('String needs a byte-aligned bit range whose size (and element stride) is a multiple of 8');
    }
    this.bigEndian = !!layout.bigEndian;
    if (this.bigEndian && (info.base === 'String' || info.base === 'Bool')) throw new VariableError(`big-endian applies to numbers, not ${info.base}`);
    if (this.bigEndian && b % 8 !== 0) throw new VariableError(`a big-endian value needs a whole number of bytes, not ${b} bits`);
    this.le = !this.bigEndian;
    this.rev = this.bigEndian ? new Uint8Array(Math.ceil(b / 8)) : undefined;
    this.byteStart = Math.min(...this.ranges.map((r) => r.bitOffset >> 3));
    this.byteEnd = Math.max(...this.ranges.map((r) => Math.ceil((r.bitOffset + r.bitSize) / 8)));
    const aligned = this.ranges.length === 1 && this.ranges[0].bitOffset % 8 === 0 && (this.numValues === 0 || this.valueStride === b);
    this.fast = aligned ? fastKind(info, b) : undefined;
  }

  /** Called when blocks are built: where the variable's offset falls inside the block, in bytes. */
  bind(byteOffsetInBlock: number): void {
    this.base = byteOffsetInBlock * 8;
  }

  /** Byte length a String value may occupy. */
  get maxBytes(): number { return this.valueBits >> 3; }

  decode(buf: Uint8Array, view: DataView): Value {
    if (this.numValues === 0) return this.decodeAt(buf, view, this.base + this.ranges[0].bitOffset, true) as Value;
    const out = newArray(this.info, this.numValues) as unknown[];
    const big = out instanceof BigInt64Array || out instanceof BigUint64Array;
    const start = this.base + this.ranges[0].bitOffset;
    for (let i = 0; i < this.numValues; i++) {
      const e = this.decodeAt(buf, view, start + i * this.valueStride, false);
      out[i] = big ? BigInt(e as number | bigint) : e;
    }
    return out as Value;
  }

  encode(buf: Uint8Array, view: DataView, v: Value): void {
    if (this.numValues === 0) return this.encodeAt(buf, view, this.base + this.ranges[0].bitOffset, v, true);
    const a = v as ArrayLike<unknown>;
    const start = this.base + this.ranges[0].bitOffset;
    for (let i = 0; i < this.numValues; i++) this.encodeAt(buf, view, start + i * this.valueStride, a[i], false);
  }

  /** Set every bit this field occupies in `mask` (used for verify and WO preservation). */
  markBits(mask: Uint8Array): void {
    for (const r of this.ranges) {
      if (this.numValues === 0 || this.valueStride === this.valueBits) {
        setBitsBig(mask, this.base + r.bitOffset, r.bitSize, (1n << BigInt(r.bitSize)) - 1n);
      } else {
        for (let i = 0; i < this.numValues; i++) {
          setBitsBig(mask, this.base + r.bitOffset + i * this.valueStride, this.valueBits, (1n << BigInt(this.valueBits)) - 1n);
        }
      }
    }
  }

  private decodeAt(buf: Uint8Array, view: DataView, bit: number, scalar: boolean): unknown {
    const byte = bit >> 3;
    switch (this.fast) {
      case 'u8': return buf[byte];
      case 'i8': return view.getInt8(byte);
      case 'u16': return view.getUint16(byte, this.le);
      case 'i16': return view.getInt16(byte, this.le);
      case 'u32': return view.getUint32(byte, this.le);
      case 'i32': return view.getInt32(byte, this.le);
      case 'u64': return normInt(view.getBigUint64(byte, this.le));
      case 'i64': return normInt(view.getBigInt64(byte, this.le));
      case 'f32': return view.getFloat32(byte, this.le);
      case 'f64': return view.getFloat64(byte, this.le);
    }
    const n = this.valueBits;
    const info = this.info;
    if (info.base === 'String') {
      const bytes = buf.subarray(byte, byte + (n >> 3));
      const z = bytes.indexOf(0);
      return utf8d.decode(z < 0 ? bytes : bytes.subarray(0, z));
    }
    // gather the raw unsigned bits, concatenating ranges low-first
    let raw: number | bigint;
    const rev = this.rev;
    if (rev) {
      // big-endian: collect the bits, reverse the bytes, read them little-endian from bit 0
      rev.fill(0);
      if (scalar && this.ranges.length > 1) {
        let sh = 0;
        for (const r of this.ranges) { copyBits(rev, sh, buf, this.base + r.bitOffset, r.bitSize); sh += r.bitSize; }
      } else copyBits(rev, 0, buf, bit, n);
      rev.reverse();
      raw = n <= 32 ? getBits(rev, 0, n) : getBitsBig(rev, 0, n);
    } else if (n <= 32) {
      if (scalar && this.ranges.length > 1) {
        let acc = 0, sh = 0;
        for (const r of this.ranges) { acc += getBits(buf, this.base + r.bitOffset, r.bitSize) * 2 ** sh; sh += r.bitSize; }
        raw = acc;
      } else raw = getBits(buf, bit, n);
    } else if (scalar && this.ranges.length > 1) {
      let acc = 0n, sh = 0n;
      for (const r of this.ranges) { acc |= getBitsBig(buf, this.base + r.bitOffset, r.bitSize) << sh; sh += BigInt(r.bitSize); }
      raw = acc;
    } else raw = getBitsBig(buf, bit, n);
    switch (info.base) {
      case 'Bool': return raw !== 0 && raw !== 0n;
      case 'UInt': return typeof raw === 'bigint' ? normInt(raw) : raw;
      case 'Int':
        if (typeof raw === 'number') return raw >= 2 ** (n - 1) ? raw - 2 ** n : raw;
        return normInt(raw >= 1n << BigInt(n - 1) ? raw - (1n << BigInt(n)) : raw);
      default: // Float in an unaligned position
        if (n === 32) { scratch.setUint32(0, Number(raw), true); return scratch.getFloat32(0, true); }
        scratch.setBigUint64(0, BigInt(raw), true);
        return scratch.getFloat64(0, true);
    }
  }

  private encodeAt(buf: Uint8Array, view: DataView, bit: number, v: unknown, scalar: boolean): void {
    const byte = bit >> 3;
    switch (this.fast) {
      case 'u8': buf[byte] = v as number; return;
      case 'i8': view.setInt8(byte, v as number); return;
      case 'u16': view.setUint16(byte, v as number, this.le); return;
      case 'i16': view.setInt16(byte, v as number, this.le); return;
      case 'u32': view.setUint32(byte, v as number, this.le); return;
      case 'i32': view.setInt32(byte, v as number, this.le); return;
      case 'u64': view.setBigUint64(byte, BigInt(v as number | bigint), this.le); return;
      case 'i64': view.setBigInt64(byte, BigInt(v as number | bigint), this.le); return;
      case 'f32': view.setFloat32(byte, v as number, this.le); return;
      case 'f64': view.setFloat64(byte, v as number, this.le); return;
    }
    const n = this.valueBits;
    const info = this.info;
    if (info.base === 'String') {
      const bytes = utf8e.encode(v as string);
      const len = n >> 3;
      if (bytes.length > len) throw new VariableError(`string of ${bytes.length} bytes does not fit in ${len}`);
      buf.fill(0, byte, byte + len);
      buf.set(bytes, byte);
      return;
    }
    // produce the raw unsigned bit pattern
    let raw: number | bigint;
    if (info.base === 'Bool') raw = v ? 1 : 0;
    else if (info.base === 'Float') {
      if (n === 32) { scratch.setFloat32(0, v as number, true); raw = scratch.getUint32(0, true); }
      else { scratch.setFloat64(0, v as number, true); raw = scratch.getBigUint64(0, true); }
    } else if (n <= 32) {
      const x = Number(v);
      raw = x < 0 ? x + 2 ** n : x;
    } else {
      const x = BigInt(v as number | bigint);
      raw = x < 0n ? x + (1n << BigInt(n)) : x;
    }
    const rev = this.rev;
    if (rev) {
      // big-endian: little-endian bytes at bit 0, reversed, then placed like any other bits
      rev.fill(0);
      if (typeof raw === 'number') setBits(rev, 0, n, raw);
      else setBitsBig(rev, 0, n, raw);
      rev.reverse();
      if (scalar && this.ranges.length > 1) {
        let sh = 0;
        for (const r of this.ranges) { copyBits(buf, this.base + r.bitOffset, rev, sh, r.bitSize); sh += r.bitSize; }
      } else copyBits(buf, bit, rev, 0, n);
      return;
    }
    if (scalar && this.ranges.length > 1) {
      let sh = 0;
      for (const r of this.ranges) {
        if (typeof raw === 'number') setBits(buf, this.base + r.bitOffset, r.bitSize, Math.floor(raw / 2 ** sh) % 2 ** r.bitSize);
        else setBitsBig(buf, this.base + r.bitOffset, r.bitSize, (raw >> BigInt(sh)) & ((1n << BigInt(r.bitSize)) - 1n));
        sh += r.bitSize;
      }
    } else if (typeof raw === 'number') setBits(buf, bit, n, raw);
    else setBitsBig(buf, bit, n, raw);
  }
}
