// A UDP shim between a client and a server on loopback that loses, duplicates and reorders
// datagrams (seeded, so a failing run repeats), can go silent in either direction, and can
// inject garbage towards the client. The client talks to `port`; the shim talks to the server.
import { createSocket, type Socket } from 'node:dgram';

export interface ShimOptions {
  serverPort: number;
  /** Probabilities per datagram, each direction (0…1). */
  drop?: number;
  duplicate?: number;
  /** Hold a datagram back and send it after the next one in the same direction. */
  reorder?: number;
  seed?: number;
}

export class LossyShim {
  private readonly front: Socket = createSocket('udp4'); // faces the client
  private readonly back: Socket = createSocket('udp4'); // faces the server
  private client: { address: string; port: number } | undefined;
  private rng: number;
  private readonly held: { toServer?: Buffer; toClient?: Buffer } = {};
  drop: number;
  duplicate: number;
  reorder: number;
  /** Drop everything (a peer that stops answering, or a cable pulled). */
  blackhole = false;
  readonly counts = { toServer: 0, toClient: 0, dropped: 0, duplicated: 0, reordered: 0, garbage: 0 };

  constructor(private readonly opts: ShimOptions) {
    this.drop = opts.drop ?? 0;
    this.duplicate = opts.duplicate ?? 0;
    this.reorder = opts.reorder ?? 0;
    this.rng = (opts.seed ?? 12345) >>> 0 || 1;
  }

  private random(): number {
    // xorshift32
    let x = this.rng;
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    this.rng = x;
    return x / 2 ** 32;
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.front.bind(0, '127.0.0.1', () => r()));
    await new Promise<void>((r) => this.back.bind(0, '127.0.0.1', () => r()));
    this.front.on('message', (m, r) => {
      this.client = { address: r.address, port: r.port };
      this.pass(m, 'toServer');
    });
    this.back.on('message', (m) => this.pass(m, 'toClient'));
    this.front.on('error', () => {});
    this.back.on('error', () => {});
    return this;
  }

  get port(): number {
    return this.front.address().port;
  }

  private out(m: Buffer, dir: 'toServer' | 'toClient'): void {
    if (dir === 'toServer') this.back.send(m, this.opts.serverPort, '127.0.0.1');
    else if (this.client) this.front.send(m, this.client.port, this.client.address);
  }

  private pass(m: Buffer, dir: 'toServer' | 'toClient'): void {
    this.counts[dir]++;
    if (this.blackhole || this.random() < this.drop) {
      this.counts.dropped++;
      return;
    }
    const prev = this.held[dir];
    if (!prev && this.random() < this.reorder) {
      this.held[dir] = m;
      this.counts.reordered++;
      return;
    }
    this.out(m, dir);
    if (this.random() < this.duplicate) {
      this.counts.duplicated++;
      this.out(m, dir);
    }
    if (prev) {
      this.held[dir] = undefined;
      this.out(prev, dir);
    }
  }

  /** Send `n` random datagrams (random sizes, some shaped like headers) to the client. */
  garbage(n: number): void {
    for (let i = 0; i < n; i++) {
      const len = 1 + Math.floor(this.random() * 200);
      const b = Buffer.alloc(len);
      for (let j = 0; j < len; j++) b[j] = Math.floor(this.random() * 256);
      if (i % 3 === 0 && len >= 8) { b[0] = 0x40; b[1] = 8; } // an ACK-looking header with a bad checksum
      this.counts.garbage++;
      this.out(b, 'toClient');
    }
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => this.front.close(() => r()));
    await new Promise<void>((r) => this.back.close(() => r()));
  }
}
