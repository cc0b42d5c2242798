// Large monitor updates (arrays) encoded once into a buffer of their own, which every subscriber's
// socket writes as it is: each array element is copied once per update (into this buffer), however
// many clients subscribe. The buffer goes back to a small pool once every socket has written it, so
// a steady stream of large updates reuses warm memory instead of faulting in fresh pages each time.
import { Writer, encodeStructurePartial, type BitSet, type PVStructure, type Structure } from '../../pvdata/index.ts';

/** Updates whose arrays hold at least this many bytes are encoded as a SharedBody. */
export const LARGE_UPDATE = 16 * 1024;

/** One encoded update body (change bits and values), shared read-only by the connections sending it. */
export class SharedBody {
  private refs = 0;

  private constructor(
    /** The pooled buffer the body was encoded into. */
    private readonly buf: Buffer,
    /** The encoded bytes. */
    readonly bytes: Buffer,
  ) {}

  /**
   * Encodes the bit set and the `fields` of `value` (whose arrays hold `arrayBytes` bytes) into a
   * buffer from the pool.
   */
  static encode(value: PVStructure, fields: BitSet, arrayBytes: number): SharedBody {
    // exact for the arrays; the rest (bit set, scalars, short strings) fits in the slack or grows
    const w = Writer.over(pool.take(arrayBytes + 4096));
    w.bitSet(fields);
    encodeStructurePartial(w, value, fields);
    return new SharedBody(w.buf, w.buf.subarray(0, w.pos));
  }

  /** A connection queued the bytes for its socket. */
  retain(): void {
    this.refs++;
  }

  /** A socket has written the bytes: once every one has, the buffer may be reused. */
  release(): void {
    if (--this.refs === 0) pool.give(this.buf);
  }
}

/** Buffers of SharedBodies that every socket has written, kept for the next large update. */
class BufferPool {
  private readonly free: Buffer[] = [];
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  /** A buffer of at least `size` bytes (a pooled one not more than twice as large, else a new one). */
  take(size: number): Buffer {
    let best = -1;
    for (let i = 0; i < this.free.length; i++) {
      const n = this.free[i].length;
      if (n >= size && n <= 2 * size && (best < 0 || n < this.free[best].length)) best = i;
    }
    if (best < 0) return Buffer.allocUnsafeSlow(size);
    const b = this.free[best];
    this.free[best] = this.free[this.free.length - 1];
    this.free.pop();
    this.bytes -= b.length;
    return b;
  }

  give(b: Buffer): void {
    if (this.bytes + b.length > this.maxBytes) return;
    this.free.push(b);
    this.bytes += b.length;
  }
}

const pool = new BufferPool(32 * 1024 * 1024);

/** Scalar-array fields of each type, by depth-first offset (computed once per type). */
const arrayFields = new WeakMap<Structure, number[]>();

function arraysOf(t: Structure): number[] {
  let a = arrayFields.get(t);
  if (!a) {
    a = [];
    for (let i = 0; i < t.layout.length; i++) if (t.layout[i].type.kind === 'scalarArray') a.push(i);
    arrayFields.set(t, a);
  }
  return a;
}

/** Bytes of the numeric arrays among `fields` of `value` (what decides whether an update is large). */
export function arrayBytes(value: PVStructure, fields: BitSet): number {
  const arrays = arraysOf(value.type);
  if (arrays.length === 0) return 0;
  const L = value.type.layout;
  let total = 0;
  for (const o of arrays) {
    let covered = false;
    for (let p = o; p >= 0 && !covered; p = L[p].parent) covered = fields.get(p);
    if (!covered) continue;
    const v = value.data[o];
    if (ArrayBuffer.isView(v)) total += v.byteLength;
  }
  return total;
}
