// Shared fixture loader for the recorded pvAccess conversations in ../shared/captures/pva
// (real pvxs / pvAccessCPP clients talking to real pvxs servers; see the README there).
//
// It groups the recorded chunks into byte streams (one per direction per TCP connection, one per
// UDP datagram), cuts them into frames with the project's Framer / framesOfDatagram, and decodes
// them with a per-connection decoder that keeps each direction's introspection cache and learns
// the operation types from INIT replies, so that GET/PUT/MONITOR data decodes to values too.
//
// Other tests reuse it, e.g. to replay a client's byte stream against our server:
//   for (const cap of loadCaptures()) for (const conn of tcpConnections(cap)) conn.c2s ...
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Framer, framesOfDatagram } from '../../src/pva/framer.ts';
import {
  ProtocolError,
  decodeMessage,
  type DecodeContext,
  type Frame,
  type PvaMessage,
} from '../../src/pva/messages.ts';
import { Cmd, CMD_NAME, FLAG_BIG_ENDIAN, FLAG_CONTROL, HEADER_SIZE, PVA_MAGIC } from '../../src/pva/protocol.ts';
import { BitSet, PVStructure, Structure, UnionDesc, type FieldDesc } from '../../src/pvdata/index.ts';

// ../shared beside the project root, wherever the checkout lives (CI clones elsewhere)
export const CAPTURE_DIR = fileURLToPath(new URL('../../../shared/captures/pva', import.meta.url));

export type Dir = 'c2s' | 's2c';
export type Transport = 'tcp' | 'udp';

export interface Chunk {
  dir: Dir | 'note';
  t_ms: number;
  hex: string;
  transport?: Transport;
  via?: 'relay' | 'sniffer';
  conn?: number;
  src?: string;
  dst?: string;
  note?: string;
}

export interface Capture {
  /** File name without `.json`, e.g. `pvxs-get-ai`. */
  name: string;
  file: string;
  client: string;
  server: string;
  command: string;
  captureMode: 'relay' | 'sniff';
  clientExitCode: number;
  clientOutput: string;
  recordsDb: string;
  env: Record<string, string>;
  chunks: Chunk[];
}

let cached: Capture[] | undefined;

export function loadCapture(name: string): Capture {
  const file = join(CAPTURE_DIR, name.endsWith('.json') ? name : `${name}.json`);
  const d = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  return {
    name: name.replace(/\.json$/, ''),
    file,
    client: String(d.client ?? ''),
    server: String(d.server ?? ''),
    command: String(d.command ?? ''),
    captureMode: d.capture_mode as 'relay' | 'sniff',
    clientExitCode: Number(d.client_exit_code ?? 0),
    clientOutput: String(d.client_output ?? ''),
    recordsDb: String(d.records_db ?? ''),
    env: (d.env ?? {}) as Record<string, string>,
    chunks: (d.chunks ?? []) as Chunk[],
  };
}

/** Every capture in the directory, sorted by name (parsed once per process). */
export function loadCaptures(): Capture[] {
  cached ??= readdirSync(CAPTURE_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => loadCapture(f));
  return cached;
}

// ---------------------------------------------------------------- streams

/** Identifies the TCP connection (or UDP datagram flow) a chunk belongs to, independent of direction. */
export function connectionOf(c: Chunk): string {
  const transport = c.transport ?? 'tcp';
  if (c.conn !== undefined) return `${transport}:conn${c.conn}`;
  if (c.src && c.dst) {
    // sniffed: both directions of one TCP connection share the unordered endpoint pair
    const [a, b] = [c.src, c.dst].sort();
    return transport === 'udp' ? `udp:${c.src}>${c.dst}` : `tcp:${a}|${b}`;
  }
  return `${transport}:?`;
}

export interface Stream {
  /** `<connection>:<dir>`. */
  key: string;
  connection: string;
  transport: Transport;
  dir: Dir;
  /** The data chunks in recorded order (UDP: one datagram each). */
  chunks: Buffer[];
  /** Index of each chunk in `capture.chunks`. */
  chunkIndex: number[];
}

function dataChunks(cap: Capture): Array<{ chunk: Chunk; index: number; bytes: Buffer }> {
  const out: Array<{ chunk: Chunk; index: number; bytes: Buffer }> = [];
  cap.chunks.forEach((chunk, index) => {
    if ((chunk.dir === 'c2s' || chunk.dir === 's2c') && chunk.hex) {
      out.push({ chunk, index, bytes: Buffer.from(chunk.hex, 'hex') });
    }
  });
  return out;
}

/** The capture's byte streams: per direction per TCP connection; per direction per UDP flow. */
export function streamsOf(cap: Capture): Stream[] {
  const map = new Map<string, Stream>();
  for (const { chunk, index, bytes } of dataChunks(cap)) {
    const connection = connectionOf(chunk);
    const dir = chunk.dir as Dir;
    const key = `${connection}:${dir}`;
    let s = map.get(key);
    if (!s) {
      s = { key, connection, transport: chunk.transport ?? 'tcp', dir, chunks: [], chunkIndex: [] };
      map.set(key, s);
    }
    s.chunks.push(bytes);
    s.chunkIndex.push(index);
  }
  return [...map.values()];
}

/** A TCP connection's two byte streams (chunks as recorded). */
export interface TcpConnection {
  connection: string;
  c2s: Buffer[];
  s2c: Buffer[];
}

export function tcpConnections(cap: Capture): TcpConnection[] {
  const map = new Map<string, TcpConnection>();
  for (const s of streamsOf(cap)) {
    if (s.transport !== 'tcp') continue;
    let c = map.get(s.connection);
    if (!c) map.set(s.connection, (c = { connection: s.connection, c2s: [], s2c: [] }));
    c[s.dir] = s.chunks;
  }
  return [...map.values()];
}

// ---------------------------------------------------------------- frames

export interface CapturedFrame {
  dir: Dir;
  transport: Transport;
  connection: string;
  /** Stream key (`<connection>:<dir>`). */
  stream: string;
  /** Index in `capture.chunks` of the chunk that completed this frame. */
  chunk: number;
  frame: Frame;
}

/**
 * The exact wire bytes of an unsegmented frame: the framer keeps version, flags, command and the
 * payload, so the header can be rebuilt byte for byte.
 */
export function frameBytes(f: Frame): Buffer {
  const control = (f.flags & FLAG_CONTROL) !== 0;
  const out = Buffer.alloc(HEADER_SIZE + (control ? 0 : f.payload.length));
  out[0] = PVA_MAGIC;
  out[1] = f.version;
  out[2] = f.flags;
  out[3] = f.command;
  const size = control ? f.controlValue : f.payload.length;
  if (f.flags & FLAG_BIG_ENDIAN) out.writeUInt32BE(size >>> 0, 4);
  else out.writeUInt32LE(size >>> 0, 4);
  if (!control) f.payload.copy(out, HEADER_SIZE);
  return out;
}

/** Frames of a sequence of chunks of one stream, using a fresh framer (or datagram framing). */
export function framesOfStream(transport: Transport, chunks: Buffer[]): Array<Frame | ProtocolError> {
  if (transport === 'udp') return chunks.flatMap((d) => framesOfDatagram(d));
  const f = new Framer();
  return chunks.flatMap((c) => f.push(c));
}

/**
 * Every frame of the capture in recorded order (frames completed by the same chunk keep their
 * stream order). Throws when the framer reports an error: the captures are all well formed.
 */
export function captureFrames(cap: Capture): CapturedFrame[] {
  const framers = new Map<string, Framer>();
  const out: CapturedFrame[] = [];
  for (const { chunk, index, bytes } of dataChunks(cap)) {
    const connection = connectionOf(chunk);
    const dir = chunk.dir as Dir;
    const transport = chunk.transport ?? 'tcp';
    const stream = `${connection}:${dir}`;
    let frames: Array<Frame | ProtocolError>;
    if (transport === 'udp') frames = framesOfDatagram(bytes);
    else {
      let f = framers.get(stream);
      if (!f) framers.set(stream, (f = new Framer()));
      frames = f.push(bytes);
    }
    for (const frame of frames) {
      if (frame instanceof ProtocolError) throw new Error(`${cap.name} chunk ${index}: ${frame}`);
      out.push({ dir, transport, connection, stream, chunk: index, frame });
    }
  }
  for (const [stream, f] of framers) {
    if (f.buffered) throw new Error(`${cap.name} ${stream}: ${f.buffered} bytes left over`);
  }
  return out;
}

/** The frames a client sent (by default over TCP only: what a server under test would receive). */
export function clientFrames(cap: Capture, transport: Transport | 'any' = 'tcp'): CapturedFrame[] {
  return captureFrames(cap).filter((f) => f.dir === 'c2s' && (transport === 'any' || f.transport === transport));
}

/** The frames a server sent (by default over TCP only). */
export function serverFrames(cap: Capture, transport: Transport | 'any' = 'tcp'): CapturedFrame[] {
  return captureFrames(cap).filter((f) => f.dir === 's2c' && (transport === 'any' || f.transport === transport));
}

// ---------------------------------------------------------------- decoding

export interface OpTypes {
  command: number;
  put?: Structure;
  get?: Structure;
}

/** An introspection cache that counts look-ups (0xFE) and definitions (0xFD) made through it. */
export class CountingCache extends Map<number, FieldDesc> {
  uses = 0;
  override get(id: number): FieldDesc | undefined {
    this.uses++;
    return super.get(id);
  }
  override set(id: number, t: FieldDesc): this {
    this.uses++;
    return super.set(id, t);
  }
}

/**
 * Decoding state of one connection: an introspection cache per direction (each peer numbers its
 * own cached types) and the types of the operations, learned from successful INIT replies.
 */
export class ConnectionDecoder {
  readonly caches: Record<Dir, CountingCache> = { c2s: new CountingCache(), s2c: new CountingCache() };
  /** Whether the last decode() defined or used a cached type (such a message cannot be re-encoded as is). */
  lastUsedCache = false;
  readonly ops = new Map<number, OpTypes>();

  context(dir: Dir): DecodeContext {
    return {
      cache: this.caches[dir],
      opTypes: (ioid) => this.ops.get(ioid),
    };
  }

  /** Decodes a frame travelling in `dir` and updates the operation types. */
  decode(frame: Frame, dir: Dir): PvaMessage | ProtocolError {
    const before = this.caches[dir].uses;
    const m = decodeMessage(frame, this.context(dir));
    this.lastUsedCache = this.caches[dir].uses !== before;
    if (!(m instanceof ProtocolError)) this.observe(m);
    return m;
  }

  observe(m: PvaMessage): void {
    if (m.type !== 'opResponse' || !(m.subcmd & 0x08)) return;
    if (!m.status || m.status.type > 1) return;
    const t = m.fieldType ?? undefined;
    switch (m.command) {
      case Cmd.GET:
      case Cmd.MONITOR:
        this.ops.set(m.ioid, { command: m.command, get: t });
        break;
      case Cmd.PUT:
        // a PUT's get (subcommand 0x40) returns the put type's value
        this.ops.set(m.ioid, { command: m.command, put: t, get: t });
        break;
      case Cmd.PUT_GET:
        this.ops.set(m.ioid, { command: m.command, put: t, get: m.getType ?? undefined });
        break;
      case Cmd.RPC:
        this.ops.set(m.ioid, { command: m.command });
        break;
    }
  }
}

export interface DecodedMessage extends CapturedFrame {
  msg: PvaMessage;
  /** The message defined (0xFD) or referred to (0xFE) a cached introspection type. */
  usedCache: boolean;
}

/**
 * The whole conversation as typed messages in recorded order, each with its direction.
 * Throws on any framing or decoding error (the recordings are all well formed).
 */
export function decodeConversation(cap: Capture): DecodedMessage[] {
  const decoders = new Map<string, ConnectionDecoder>();
  const out: DecodedMessage[] = [];
  for (const f of captureFrames(cap)) {
    let d = decoders.get(f.connection);
    if (!d) decoders.set(f.connection, (d = new ConnectionDecoder()));
    const msg = d.decode(f.frame, f.dir);
    if (msg instanceof ProtocolError) throw new Error(`${cap.name} chunk ${f.chunk} (${f.dir}): ${msg}`);
    out.push({ ...f, msg, usedCache: d.lastUsedCache });
  }
  return out;
}

// ---------------------------------------------------------------- labels

const OP_NAME: Record<number, string> = {
  [Cmd.GET]: 'GET',
  [Cmd.PUT]: 'PUT',
  [Cmd.PUT_GET]: 'PUT_GET',
  [Cmd.MONITOR]: 'MONITOR',
  [Cmd.RPC]: 'RPC',
};

function subName(command: number, subcmd: number): string {
  if (subcmd & 0x08) return 'init';
  if (command === Cmd.MONITOR) {
    const parts: string[] = [];
    if (subcmd & 0x10) parts.push('destroy');
    if ((subcmd & 0x44) === 0x44) parts.push('start');
    else if (subcmd & 0x04) parts.push('stop');
    if (subcmd & 0x80) parts.push('ack');
    return parts.length ? parts.join('+') : 'update';
  }
  if (subcmd & 0x10) return 'destroy';
  if (command === Cmd.PUT && subcmd & 0x40) return 'get';
  if (command === Cmd.PUT_GET && subcmd & 0x40) return 'getGet';
  if (command === Cmd.PUT_GET && subcmd & 0x80) return 'getPut';
  return 'exec';
}

/**
 * A short name for a message: its `type`, except operations, which read like `GET init`,
 * `GET init reply`, `PUT get`, `MONITOR start`, `MONITOR update` (server data), `RPC exec reply`.
 */
export function messageLabel(m: PvaMessage): string {
  if (m.type === 'opRequest') return `${OP_NAME[m.command]} ${subName(m.command, m.subcmd)}`;
  if (m.type === 'opResponse') {
    const s = subName(m.command, m.subcmd);
    return m.command === Cmd.MONITOR && s === 'update' ? 'MONITOR update' : `${OP_NAME[m.command]} ${s} reply`;
  }
  if (m.type === 'unknown') return `unknown(${CMD_NAME[m.command] ?? m.command})`;
  return m.type;
}

// ---------------------------------------------------------------- comparison

/**
 * Structural normal form of a decoded message for deep-equality assertions: BitSets become their
 * set bits, PVStructures their type and leaf data, type descriptions plain trees, Buffers hex, and
 * keys holding `undefined` are dropped. (Derived state such as a value's own change marks and a
 * structure's precomputed layout is left out.)
 */
export function norm(x: unknown): unknown {
  if (x === null || x === undefined || typeof x !== 'object') return x;
  if (Buffer.isBuffer(x)) return { hex: x.toString('hex') };
  if (x instanceof BitSet) return { bits: x.toArray() };
  if (x instanceof PVStructure) return { pvType: norm(x.type), data: x.data.map(norm) };
  if (x instanceof Structure || x instanceof UnionDesc) {
    return { kind: x.kind, id: x.id, fields: x.fields.map((m) => ({ name: m.name, type: norm(m.type) })) };
  }
  if (ArrayBuffer.isView(x)) return x;
  if (Array.isArray(x)) return x.map(norm);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(x)) if (v !== undefined) out[k] = norm(v);
  return out;
}
