// CRC-32 (IEEE 802.3: polynomial 0x04C11DB7 reflected, initial and final XOR 0xFFFFFFFF), the
// checksum packetizer v2 carries, chainable across segments as CRC++'s Calculate(…, crc) is.

const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/**
 * CRC-32 of `data[start, end)`. Pass the previous result as `prev` to continue a CRC over data
 * that follows (crc32(b, 0, n, crc32(a)) equals the CRC of a followed by b).
 */
export function crc32(data: Uint8Array, start = 0, end = data.length, prev = 0): number {
  let c = (prev ^ 0xffffffff) >>> 0;
  for (let i = start; i < end; i++) c = TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
