// Shared helpers for the Channel Access tests: capture loading, a peer-like
// source, and a minimal TCP/UDP CA test client.
import { readdirSync, readFileSync } from 'node:fs';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  CaCommand,
  CaMemoryPv,
  CaServer,
  CaStreamDecoder,
  StaticCaSource,
  decodeDatagram,
  encodeMessage,
  type CaLogger,
  type CaMessage,
  type CaServerOptions,
  type CaDirection,
} from '../../src/ca/index.ts';

export const CAPTURE_DIR = join(dirname(fileURLToPath(import.meta.url)), 'captures');

export function hexToBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export interface CaptureChunk {
  dir: 'c2s' | 's2c' | 'note';
  hex: string;
  transport?: 'tcp' | 'udp';
  conn?: number;
  src?: string;
  dst?: string;
  t_ms: number;
}
export interface Capture {
  file: string;
  command: string;
  client_output: string;
  chunks: CaptureChunk[];
}

/** One TCP connection of a capture: the chunks per direction, in order. */
export interface CaptureStream {
  key: string;
  chunks: { dir: CaDirection; bytes: Uint8Array }[];
}

export function loadCaptures(): Capture[] {
  return readdirSync(CAPTURE_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => ({ file: f, ...(JSON.parse(readFileSync(join(CAPTURE_DIR, f), 'utf8')) as Omit<Capture, 'file'>) }));
}

export function tcpStreams(c: Capture): CaptureStream[] {
  const map = new Map<string, CaptureStream>();
  for (const ch of c.chunks) {
    if (ch.dir === 'note' || ch.transport === 'udp' || !ch.hex) continue;
    const key = ch.conn !== undefined ? `conn${ch.conn}` : [ch.src, ch.dst].sort().join('|');
    let s = map.get(key);
    if (!s) map.set(key, (s = { key, chunks: [] }));
    s.chunks.push({ dir: ch.dir, bytes: hexToBytes(ch.hex) });
  }
  return [...map.values()];
}

export function udpDatagrams(c: Capture): { dir: CaDirection; bytes: Uint8Array }[] {
  return c.chunks
    .filter((ch) => ch.transport === 'udp' && ch.dir !== 'note' && ch.hex)
    .map((ch) => ({ dir: ch.dir as CaDirection, bytes: hexToBytes(ch.hex) }));
}

/** Decodes every message of one direction of a stream, chunk by chunk. Asserts no framing error. */
export function decodeStream(s: CaptureStream, dir: CaDirection, split?: 'bytes'): CaMessage[] {
  const dec = new CaStreamDecoder(dir);
  const out: CaMessage[] = [];
  for (const ch of s.chunks) {
    if (ch.dir !== dir) continue;
    const pieces = split === 'bytes' ? Array.from(ch.bytes, (b) => Uint8Array.of(b)) : [ch.bytes];
    for (const p of pieces) {
      for (const r of dec.push(p)) {
        if (!r.ok) throw r.error;
        out.push(r.message);
      }
    }
  }
  return out;
}

/** Commands whose parameter 1 is the server's channel id (sid) in a client message. */
const SID_COMMANDS: ReadonlySet<number> = new Set<number>([
  CaCommand.EVENT_ADD,
  CaCommand.EVENT_CANCEL,
  CaCommand.READ,
  CaCommand.WRITE,
  CaCommand.CLEAR_CHANNEL,
  CaCommand.READ_NOTIFY,
  CaCommand.WRITE_NOTIFY,
]);

/**
 * A copy of a client byte stream (as recorded) with the sids the recorded server handed out
 * replaced by `sidOf(sid)` where it has one: headers are walked in place, nothing is re-encoded.
 */
export function patchSids(stream: Uint8Array, sidOf: (sid: number) => number | undefined): Uint8Array {
  const out = Uint8Array.from(stream);
  const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
  for (let p = 0; p + 16 <= out.length; ) {
    const command = v.getUint16(p);
    let size = v.getUint16(p + 2);
    let header = 16;
    if (size === 0xffff && v.getUint16(p + 6) === 0) {
      if (p + 24 > out.length) break;
      size = v.getUint32(p + 16);
      header = 24;
    }
    if (SID_COMMANDS.has(command)) {
      const sid = sidOf(v.getUint32(p + 8));
      if (sid !== undefined) v.setUint32(p + 8, sid);
    }
    p += header + size;
  }
  return out;
}

export function decodeUdp(bytes: Uint8Array, dir: CaDirection): CaMessage[] {
  return decodeDatagram(bytes, dir).map((r) => {
    if (!r.ok) throw r.error;
    return r.message;
  });
}

/** PVs shaped like the records of the capture IOC. */
export function peerSource(): StaticCaSource {
  return new StaticCaSource({
    'peer:ai': new CaMemoryPv({
      type: 'double',
      value: 3.25,
      metadata: { units: 'V', precision: 3, upperDisplay: 10, lowerDisplay: -10, upperAlarm: 9, upperControl: 10, lowerControl: -10 },
    }),
    'peer:ao': new CaMemoryPv({
      type: 'double',
      value: 1.5,
      metadata: { units: 'A', precision: 2, upperControl: 100, lowerControl: -100 },
    }),
    'peer:long': new CaMemoryPv({ type: 'long', value: 42 }),
    'peer:mbbo': new CaMemoryPv({ type: 'enum', value: 1, metadata: { enumStrings: ['Zero', 'One', 'Two', 'Three'] } }),
    'peer:bo': new CaMemoryPv({ type: 'enum', value: 0, metadata: { enumStrings: ['Off', 'On'] } }),
    'peer:str': new CaMemoryPv({ type: 'string', value: 'hello' }),
    'peer:wf': new CaMemoryPv({ type: 'double', value: [1.5, 2.5, 3.5, 4.5], maxCount: 16 }),
    'peer:count': new CaMemoryPv({ type: 'double', value: 308 }),
  });
}

/** Collects log lines for assertions. */
export function memoryLog(): { log: CaLogger; lines: string[] } {
  const lines: string[] = [];
  return { lines, log: (level, msg) => lines.push(`${level} ${msg}`) };
}

/** A started server on 127.0.0.1 with an ephemeral port, beacons off unless asked. */
export async function startServer(opts: Partial<CaServerOptions> & { source: CaServerOptions['source'] }): Promise<CaServer> {
  const s = new CaServer({
    port: 0,
    interfaces: ['127.0.0.1'],
    beacons: false,
    autoBeaconAddresses: false,
    beaconAddresses: [],
    env: {},
    log: () => {},
    ...opts,
  });
  await s.start();
  return s;
}

/** Minimal CA TCP client for tests. */
export class TestClient {
  readonly messages: CaMessage[] = [];
  private readonly decoder = new CaStreamDecoder('s2c');
  private waiters: { pred: (m: CaMessage) => boolean; resolve: (m: CaMessage) => void }[] = [];
  closed = false;
  private closeWaiters: (() => void)[] = [];

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d) => {
      for (const r of this.decoder.push(d)) {
        if (!r.ok) throw r.error;
        this.messages.push(r.message);
        for (const w of [...this.waiters]) {
          if (w.pred(r.message)) {
            this.waiters.splice(this.waiters.indexOf(w), 1);
            w.resolve(r.message);
          }
        }
      }
    });
    socket.on('close', () => {
      this.closed = true;
      for (const w of this.closeWaiters) w();
    });
    socket.on('error', () => {});
  }

  static connect(port: number): Promise<TestClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => resolve(new TestClient(s)));
      s.once('error', reject);
    });
  }

  send(...ms: CaMessage[]): void {
    for (const m of ms) this.socket.write(encodeMessage(m));
  }
  sendRaw(b: Uint8Array): void {
    this.socket.write(b);
  }

  /** Resolves with the first message (already received or future) matching pred. */
  waitFor<K extends CaMessage['kind']>(
    kind: K,
    pred: (m: Extract<CaMessage, { kind: K }>) => boolean = () => true,
    timeoutMs = 3000,
    fromIndex = 0,
  ): Promise<Extract<CaMessage, { kind: K }>> {
    const p = (m: CaMessage): boolean => m.kind === kind && pred(m as Extract<CaMessage, { kind: K }>);
    const found = this.messages.slice(fromIndex).find(p);
    if (found) return Promise.resolve(found as Extract<CaMessage, { kind: K }>);
    return new Promise((resolve, reject) => {
      const w = { pred: p, resolve: resolve as (m: CaMessage) => void };
      this.waiters.push(w);
      setTimeout(() => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) {
          this.waiters.splice(i, 1);
          reject(new Error(`timed out waiting for ${kind}`));
        }
      }, timeoutMs).unref();
    });
  }

  waitClosed(timeoutMs = 3000): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.closeWaiters.push(resolve);
      setTimeout(() => reject(new Error('timed out waiting for close')), timeoutMs).unref();
    });
  }

  /** VERSION + names + CREATE_CHAN; resolves with the sid and native type/count. */
  async open(name: string, cid: number): Promise<{ sid: number; dataType: number; count: number; access: number }> {
    this.send({ kind: 'createChan', cid, minorVersion: 13, name });
    const r = await this.waitFor('createChanReply', (m) => m.cid === cid);
    const a = await this.waitFor('accessRights', (m) => m.cid === cid);
    return { sid: r.sid, dataType: r.dataType, count: r.count, access: a.access };
  }

  hello(): void {
    this.send(
      { kind: 'version', priority: 0, minorVersion: 13, sequence: 0 },
      { kind: 'clientName', name: 'tester' },
      { kind: 'hostName', name: 'testhost' },
    );
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Sends one UDP datagram to the port and collects replies for `ms`. */
export async function udpExchange(port: number, bytes: Uint8Array, ms = 300): Promise<Uint8Array[]> {
  const sock = dgram.createSocket('udp4');
  const replies: Uint8Array[] = [];
  sock.on('message', (m) => replies.push(new Uint8Array(m)));
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  await new Promise<void>((r, j) => sock.send(bytes, port, '127.0.0.1', (e) => (e ? j(e) : r())));
  await new Promise((r) => setTimeout(r, ms));
  sock.close();
  return replies;
}

/** A free TCP port on 127.0.0.1 (released before returning). */
export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

export { freeUdpPort } from '../util/net.ts';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
