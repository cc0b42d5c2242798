// A growable bit set with the pvAccess wire form (Size of byte count, then 64-bit words in the
// stream's byte order, then the trailing bytes least significant first) used by pvxs and pvAccessCPP.

/**
 * A growable set of bit numbers, serialized as pvData's BitSet (the changed-fields mask of partial
 * updates).
 */
export class BitSet {
  /**
   * 32 bits per word, held as int32 numbers in a plain array: every store goes through a bitwise
   * operator, so words stay small integers, and a change mask costs one small array rather than
   * a typed array (several times dearer to allocate, and one is made per update).
   */
  private words: number[];

  constructor(nbits = 64) {
    const n = (nbits + 31) >>> 5;
    this.words = n <= 2 ? [0, 0] : new Array<number>(n).fill(0);
  }

  static of(...bits: number[]): BitSet {
    const b = new BitSet();
    for (const i of bits) b.set(i);
    return b;
  }

  private grow(word: number): void {
    const w = this.words;
    if (word < w.length) return;
    const n = Math.max(word + 1, w.length * 2);
    for (let i = w.length; i < n; i++) w.push(0);
  }

  set(i: number): this {
    const w = i >>> 5;
    this.grow(w);
    this.words[w] |= 1 << (i & 31);
    return this;
  }

  unset(i: number): this {
    const w = i >>> 5;
    if (w < this.words.length) this.words[w] &= ~(1 << (i & 31));
    return this;
  }

  get(i: number): boolean {
    const w = i >>> 5;
    return w < this.words.length && (this.words[w] & (1 << (i & 31))) !== 0;
  }

  /** Sets bits [from, to). */
  setRange(from: number, to: number): this {
    for (let i = from; i < to; i++) this.set(i);
    return this;
  }

  clear(): this {
    // a loop beats fill() for the one or two words a change mask usually has
    const w = this.words;
    for (let i = 0; i < w.length; i++) w[i] = 0;
    return this;
  }

  isEmpty(): boolean {
    for (let i = 0; i < this.words.length; i++) if (this.words[i] !== 0) return false;
    return true;
  }

  /** Index of the first set bit at or after `from`, or -1. */
  nextSetBit(from: number): number {
    let w = from >>> 5;
    if (w >= this.words.length) return -1;
    let word = this.words[w] & (0xffffffff << (from & 31));
    for (;;) {
      if (word !== 0) return (w << 5) + (31 - Math.clz32(word & -word));
      if (++w >= this.words.length) return -1;
      word = this.words[w];
    }
  }

  cardinality(): number {
    let n = 0;
    for (let i = 0; i < this.words.length; i++) {
      let v = this.words[i] >>> 0;
      v = v - ((v >>> 1) & 0x55555555);
      v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
      n += (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
    }
    return n;
  }

  or(other: BitSet): this {
    const o = other.words;
    let n = o.length;
    // trailing zero words of the other set change nothing (and need no room here)
    while (n > 0 && o[n - 1] === 0) n--;
    if (n > this.words.length) this.grow(n - 1);
    const w = this.words;
    for (let i = 0; i < n; i++) w[i] |= o[i];
    return this;
  }

  and(other: BitSet): this {
    for (let i = 0; i < this.words.length; i++) this.words[i] &= other.wordAt(i);
    return this;
  }

  copyFrom(other: BitSet): this {
    return this.clear().or(other);
  }

  clone(): BitSet {
    return new BitSet(this.words.length * 32).or(this);
  }

  equals(other: BitSet): boolean {
    const n = Math.max(this.words.length, other.words.length);
    for (let i = 0; i < n; i++) if (this.wordAt(i) !== other.wordAt(i)) return false;
    return true;
  }

  wordAt(i: number): number {
    return i < this.words.length ? this.words[i] : 0;
  }

  forEachWord(fn: (index: number, value: number) => void): void {
    for (let i = 0; i < this.words.length; i++) if (this.words[i] !== 0) fn(i, this.words[i]);
  }

  toArray(): number[] {
    const out: number[] = [];
    for (let i = this.nextSetBit(0); i >= 0; i = this.nextSetBit(i + 1)) out.push(i);
    return out;
  }

  /** Bytes needed on the wire: up to and including the highest non-zero byte. */
  byteLength(): number {
    for (let w = this.words.length - 1; w >= 0; w--) {
      const v = this.words[w];
      if (v !== 0) return w * 4 + ((32 - Math.clz32(v) + 7) >>> 3);
    }
    return 0;
  }

  /** Byte `i` of the little-endian byte image. */
  byteAt(i: number): number {
    return (this.wordAt(i >>> 2) >>> ((i & 3) * 8)) & 0xff;
  }

  setByte(i: number, v: number): void {
    if (v === 0) return;
    const w = i >>> 2;
    this.grow(w);
    this.words[w] |= v << ((i & 3) * 8);
  }

  toString(): string {
    return `{${this.toArray().join(', ')}}`;
  }
}
