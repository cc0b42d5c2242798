// Mutations of recorded pvAccess bytes for the fuzz tests: bit flips, interesting bytes, cuts,
// insertions, duplicated slices, and edits aimed at message headers (length, flags, command).
import type { Rand } from '../util/fuzz.ts';

const INTERESTING = [0x00, 0x01, 0x7f, 0x80, 0x81, 0xfc, 0xfd, 0xfe, 0xff, 0x08, 0x10, 0x20, 0x30, 0x40, 0x44, 0xca];

/** Applies one random mutation. `headers` are offsets of message headers in `b` (for length/flag edits). */
export function mutate(r: Rand, b: Buffer, headers: number[]): Buffer {
  const at = b.length ? r.int(b.length) : 0;
  switch (r.int(11)) {
    case 0: { // bit flip
      const c = Buffer.from(b);
      if (c.length) c[at] ^= 1 << r.int(8);
      return c;
    }
    case 1: { // random byte
      const c = Buffer.from(b);
      if (c.length) c[at] = r.int(256);
      return c;
    }
    case 2: { // interesting byte (type codes, Size escapes, sub-commands, flags)
      const c = Buffer.from(b);
      if (c.length) c[at] = r.pick(INTERESTING);
      return c;
    }
    case 3: // truncation
      return b.subarray(0, at);
    case 4: // insertion of random bytes
      return Buffer.concat([b.subarray(0, at), r.bytes(1 + r.int(8)), b.subarray(at)]);
    case 5: // deletion
      return Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + r.int(16)))]);
    case 6: { // duplicate a slice
      const n = 1 + r.int(32);
      return Buffer.concat([b.subarray(0, at), b.subarray(at, at + n), b.subarray(at)]);
    }
    case 7: { // length field of a message header: small change, random, or huge
      const c = Buffer.from(b);
      const h = r.pick(headers);
      if (h === undefined || h + 8 > c.length) return c;
      const be = (c[h + 2] & 0x80) !== 0;
      const old = be ? c.readUInt32BE(h + 4) : c.readUInt32LE(h + 4);
      const v = r.pick([old + 1, old - 1, old + r.int(64), Math.max(0, old - r.int(64)), r.int(1 << 20), 0xffffffff, 0x7fffffff, 0])
        >>> 0;
      if (be) c.writeUInt32BE(v, h + 4);
      else c.writeUInt32LE(v, h + 4);
      return c;
    }
    case 8: { // header flags: segment bits, byte order, control, server
      const c = Buffer.from(b);
      const h = r.pick(headers);
      if (h === undefined || h + 3 > c.length) return c;
      c[h + 2] ^= r.pick([0x10, 0x20, 0x30, 0x80, 0x01, 0x40]);
      return c;
    }
    case 9: { // command byte
      const c = Buffer.from(b);
      const h = r.pick(headers);
      if (h === undefined || h + 4 > c.length) return c;
      c[h + 3] = r.int(4) === 0 ? r.int(256) : r.int(0x17);
      return c;
    }
    default: { // a 32-bit field inside the payload set to an extreme
      const c = Buffer.from(b);
      if (c.length >= 4) c.writeUInt32LE(r.pick([0, 0xffffffff, 0x7fffffff, 0x80000000, 0xfe]), r.int(c.length - 3));
      return c;
    }
  }
}

/** Offsets of the message headers in a well-formed TCP byte stream (for the header mutations). */
export function messageHeaders(bytes: Buffer): number[] {
  const headers: number[] = [];
  for (let p = 0; p + 8 <= bytes.length; ) {
    headers.push(p);
    const control = bytes[p + 2] & 0x01;
    const be = bytes[p + 2] & 0x80;
    p += 8 + (control ? 0 : be ? bytes.readUInt32BE(p + 4) : bytes.readUInt32LE(p + 4));
  }
  return headers;
}
