// Every pvAccess message as a typed object, with pure encode and decode functions over bytes.
// Decoding is total: malformed input yields a ProtocolError value, never an exception.
import {
  BitSet,
  PVStructure,
  Reader,
  Structure,
  Writer,
  decodeStatus,
  decodeStructureInto,
  decodeStructurePartial,
  decodeType,
  decodeValue,
  encodeStatus,
  encodeStructure,
  encodeStructurePartial,
  encodeType,
  encodeValue,
  type AnyValue,
  type FieldDesc,
  type Status,
  type TypeCache,
  type TypeMemo,
} from '../pvdata/index.ts';
import {
  Cmd,
  Ctrl,
  FLAG_BIG_ENDIAN,
  FLAG_CONTROL,
  FLAG_SERVER,
  HEADER_SIZE,
  PVA_MAGIC,
  PVA_VERSION,
  SUB_DESTROY,
  SUB_GET,
  SUB_GET_PUT,
  SUB_INIT,
} from './protocol.ts';

/** A complete (reassembled) message as cut from the stream by the framer. */
export interface Frame {
  version: number;
  flags: number;
  command: number;
  /** Payload of an application message; empty for control messages. */
  payload: Buffer;
  /** For control messages, the 32-bit value carried in the size field. */
  controlValue: number;
}

/** Bytes that are not a valid pvAccess message; returned, never thrown, by the decoders. */
export class ProtocolError {
  readonly type = 'error' as const;
  constructor(readonly message: string, readonly command = -1) {}
  toString(): string {
    return `pvAccess protocol error: ${this.message}`;
  }
}

/** Whether a frame's payload is big-endian. */
export const isBigEndian = (f: Frame): boolean => (f.flags & FLAG_BIG_ENDIAN) !== 0;
/** Whether a frame was sent by a server. */
export const isFromServer = (f: Frame): boolean => (f.flags & FLAG_SERVER) !== 0;
/** Whether a frame is a control message. */
export const isControl = (f: Frame): boolean => (f.flags & FLAG_CONTROL) !== 0;

// ---------------------------------------------------------------- message shapes

/** A channel as a client names it in CREATE_CHANNEL: its client id and name. */
export interface ChannelRef {
  cid: number;
  name: string;
}

/** A decoded pvAccess message, one variant per command (`type`). */
export type PvaMessage =
  | { type: 'setByteOrder'; bigEndian: boolean }
  | { type: 'markTotalBytes'; total: number }
  | { type: 'ackTotalBytes'; total: number }
  | { type: 'echoRequest'; value: number }
  | { type: 'echoResponse'; value: number }
  | BeaconMsg
  | { type: 'validationRequest'; bufferSize: number; registrySize: number; methods: string[] }
  | ValidationReplyMsg
  | { type: 'validated'; status: Status }
  | { type: 'echo'; fromServer: boolean; payload: Buffer }
  | SearchMsg
  | SearchResponseMsg
  | { type: 'createChannel'; channels: ChannelRef[] }
  | { type: 'createChannelResponse'; cid: number; sid: number; status: Status }
  | { type: 'destroyChannel'; fromServer: boolean; sid: number; cid: number }
  | OpRequestMsg
  | OpResponseMsg
  | { type: 'getField'; sid: number; ioid: number; subField: string }
  | { type: 'getFieldResponse'; ioid: number; status: Status; fieldType: FieldDesc | null }
  | { type: 'destroyRequest'; sid: number; ioid: number }
  | { type: 'cancelRequest'; sid: number; ioid: number }
  | { type: 'message'; ioid: number; severity: number; message: string }
  | { type: 'originTag'; address: string }
  | { type: 'unknown'; command: number; payload: Buffer };

/** A server beacon (BEACON): the server's GUID, change count and address. */
export interface BeaconMsg {
  type: 'beacon';
  guid: Buffer;
  flags: number;
  sequence: number;
  changeCount: number;
  address: string;
  port: number;
  protocol: string;
  status: AnyValue | null;
}

/** The client's CONNECTION_VALIDATION reply: buffer sizes, QoS and the authentication chosen. */
export interface ValidationReplyMsg {
  type: 'validationReply';
  bufferSize: number;
  registrySize: number;
  qos: number;
  method: string;
  /** Authentication data (for `ca`: a structure with user and host). */
  data: AnyValue | null;
}

/** A client's SEARCH: sequence number, reply address and the channels looked for. */
export interface SearchMsg {
  type: 'search';
  sequence: number;
  flags: number;
  address: string;
  port: number;
  protocols: string[];
  channels: ChannelRef[];
}

/** A server's SEARCH_RESPONSE: its GUID and address, and which of the searched channels it has. */
export interface SearchResponseMsg {
  type: 'searchResponse';
  guid: Buffer;
  sequence: number;
  address: string;
  port: number;
  protocol: string;
  found: boolean;
  cids: number[];
}

/** The commands of channel operations: GET, PUT, PUT_GET, MONITOR and RPC. */
export type OpCommand = Cmd.GET | Cmd.PUT | Cmd.PUT_GET | Cmd.MONITOR | Cmd.RPC;

/** Client → server GET / PUT / PUT_GET / MONITOR / RPC. */
export interface OpRequestMsg {
  type: 'opRequest';
  command: OpCommand;
  sid: number;
  ioid: number;
  subcmd: number;
  /** INIT: the pvRequest (null when the client sent none). */
  pvRequest?: PVStructure | null;
  /** MONITOR INIT or ack with bit 0x80: the pipeline window (nack). */
  ack?: number;
  /** PUT / PUT_GET execute: changed fields and the put value (when the put type was known). */
  changed?: BitSet;
  value?: PVStructure;
  /** RPC execute: the argument. */
  argument?: AnyValue | null;
  /** Bytes that could not be decoded for lack of a known type. */
  raw?: Buffer;
}

/** Server → client replies to GET / PUT / PUT_GET / MONITOR / RPC. */
export interface OpResponseMsg {
  type: 'opResponse';
  command: OpCommand;
  ioid: number;
  subcmd: number;
  /** Absent on monitor updates, which carry no status. */
  status?: Status;
  /** INIT: the operation's type (PUT_GET: the put type). */
  fieldType?: Structure | null;
  /** PUT_GET INIT: the get type. */
  getType?: Structure | null;
  changed?: BitSet;
  value?: PVStructure;
  /** MONITOR update: the overrun bit set. */
  overrun?: BitSet;
  /** RPC: the result. */
  result?: AnyValue | null;
  raw?: Buffer;
}

/** Per-connection state a decoder needs: the introspection cache and the types of open operations. */
export interface DecodeContext {
  cache?: TypeCache;
  /** Remembers type descriptions a peer repeats (INIT and GET_FIELD replies, pvRequests). */
  typeMemo?: TypeMemo;
  /**
   * Types of operation `ioid`: `put` for values client→server, `get` for values server→client;
   * `base`: partial values server→client are decoded onto a copy of it (a monitor's last complete value).
   */
  opTypes?(ioid: number): { put?: Structure; get?: Structure; base?: PVStructure } | undefined;
}

// ---------------------------------------------------------------- addresses

// Addresses travel as 16 bytes of IPv6. IPv4 addresses (including 0.0.0.0, "any") are IPv4-mapped
// (::ffff:a.b.c.d), as pvxs and pvAccessCPP write them; 16 zero bytes are the IPv6 "any" address `::`
// (which the pvxs client sends in its TCP search). Both "any" forms mean "the sender's address".

/** True for the IPv4 or IPv6 unspecified address ('0.0.0.0', '::', or ''). */
export function isAnyAddress(ip: string): boolean {
  return ip === '' || ip === '0.0.0.0' || ip === '::' || /^[0:]+$/.test(ip) || ip === '::ffff:0.0.0.0';
}

function parseIPv4(ip: string): number[] | undefined {
  const parts = ip.split('.');
  if (parts.length !== 4) return undefined;
  const out: number[] = [];
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return undefined;
    out.push(Number(p));
  }
  return out;
}

/** The 16 bytes of an IPv6 address in text form ('::', '::1', 'fe80::1', '0:0:0:0:0:ffff:7f00:1', '::ffff:1.2.3.4'). */
function parseIPv6(ip: string): number[] | undefined {
  let text = ip;
  const tail: number[] = [];
  if (ip.includes('.')) {
    const cut = ip.lastIndexOf(':');
    const v4 = cut >= 0 ? parseIPv4(ip.slice(cut + 1)) : undefined;
    if (!v4) return undefined;
    tail.push(...v4);
    text = ip.slice(0, cut + 1);
    if (!text.endsWith('::')) text = text.slice(0, -1);
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groups = (h: string): number[] | undefined => {
    if (h === '') return [];
    const out: number[] = [];
    for (const g of h.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = groups(halves[0]);
  const rest = halves.length === 2 ? groups(halves[1]) : [];
  if (!head || !rest) return undefined;
  const want = 8 - tail.length / 2;
  const have = head.length + rest.length;
  if (halves.length === 2 ? have >= want : have !== want) return undefined;
  const all = [...head, ...new Array<number>(want - have).fill(0), ...rest];
  const bytes: number[] = [];
  for (const g of all) bytes.push(g >> 8, g & 0xff);
  return [...bytes, ...tail];
}

/**
 * Writes an address as 16 bytes: an IPv4 dotted address IPv4-mapped ('0.0.0.0' → ::ffff:0.0.0.0, as
 * pvxs and pvAccessCPP send "any"), an IPv6 text address as is ('' and '::' → 16 zero bytes).
 */
export function writeAddress(w: Writer, ip: string): void {
  w.ensure(16);
  const v4 = parseIPv4(ip);
  const bytes = v4 ? [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...v4] : ip === '' ? undefined : parseIPv6(ip);
  for (let i = 0; i < 16; i++) w.buf[w.pos++] = bytes ? bytes[i] : 0;
}

/** Reads a 16-byte address: IPv4-mapped addresses as dotted IPv4, others as 8 hex groups ('::' when all zero). */
export function readAddress(r: Reader): string {
  const b = r.bytes(16);
  if (b.length < 16) return '0.0.0.0';
  let zero = true;
  for (let i = 0; i < 10; i++) if (b[i] !== 0) zero = false;
  if (zero && b[10] === 0xff && b[11] === 0xff) return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  if (zero && b[10] === 0 && b[11] === 0 && b[12] === 0 && b[13] === 0 && b[14] === 0 && b[15] === 0) return '::';
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i] << 8) | b[i + 1]).toString(16));
  return groups.join(':');
}

// ---------------------------------------------------------------- encoding

/** Starts an application message; returns the offset to hand to `endMessage`. */
export function beginMessage(w: Writer, command: number, fromServer: boolean): number {
  const start = w.pos;
  w.ensure(HEADER_SIZE);
  w.buf[w.pos++] = PVA_MAGIC;
  w.buf[w.pos++] = PVA_VERSION;
  w.buf[w.pos++] = (fromServer ? FLAG_SERVER : 0) | (w.littleEndian ? 0 : FLAG_BIG_ENDIAN);
  w.buf[w.pos++] = command;
  w.pos += 4;
  return start;
}

/** Finishes a message begun with {@link beginMessage}: writes its payload size into the header. */
export function endMessage(w: Writer, start: number): void {
  w.patchU32(start + 4, w.pos - start - HEADER_SIZE);
}

/** Writes a control message (header only; `value` in the size field). */
export function encodeControl(w: Writer, ctrl: Ctrl, value: number, fromServer: boolean): void {
  w.ensure(HEADER_SIZE);
  w.buf[w.pos++] = PVA_MAGIC;
  w.buf[w.pos++] = PVA_VERSION;
  w.buf[w.pos++] = FLAG_CONTROL | (fromServer ? FLAG_SERVER : 0) | (w.littleEndian ? 0 : FLAG_BIG_ENDIAN);
  w.buf[w.pos++] = ctrl;
  w.u32(value);
}

/** Writes a type followed by its value (the form of pvRequests, RPC arguments and results). */
export function writeTypedValue(w: Writer, v: AnyValue | PVStructure | null): void {
  if (v === null) return w.u8(0xff);
  if (v instanceof PVStructure) {
    encodeType(w, v.type);
    return encodeStructure(w, v);
  }
  encodeType(w, v.type);
  encodeValue(w, v.type, v.value);
}

/**
 * Reads a type description followed by a value of that type (a variant union's content); null for
 * an empty one.
 */
export function readTypedValue(r: Reader, cache?: TypeCache): AnyValue | null {
  const type = decodeType(r, cache);
  if (!type) return null;
  return { type, value: decodeValue(r, type, cache) };
}

/** Encodes any message (control messages included) to `w`. */
export function encodeMessage(w: Writer, m: PvaMessage): void {
  switch (m.type) {
    case 'setByteOrder':
      // the byte-order flag of this one message is what the receiver adopts
      return encodeControl(w, Ctrl.SET_BYTE_ORDER, 0, true);
    case 'markTotalBytes':
      return encodeControl(w, Ctrl.MARK_TOTAL_BYTES_SENT, m.total, false);
    case 'ackTotalBytes':
      return encodeControl(w, Ctrl.ACK_TOTAL_BYTES_RECEIVED, m.total, true);
    case 'echoRequest':
      return encodeControl(w, Ctrl.ECHO_REQUEST, m.value, false);
    case 'echoResponse':
      return encodeControl(w, Ctrl.ECHO_RESPONSE, m.value, true);
    case 'unknown': {
      const s = beginMessage(w, m.command, false);
      w.raw(m.payload);
      return endMessage(w, s);
    }
  }
  const server = SERVER_SENT.has(m.type) || ('fromServer' in m && m.fromServer);
  const start = beginMessage(w, COMMAND_OF[m.type], server);
  encodeBody(w, m);
  endMessage(w, start);
}

const COMMAND_OF: Record<string, number> = {
  beacon: Cmd.BEACON,
  validationRequest: Cmd.CONNECTION_VALIDATION,
  validationReply: Cmd.CONNECTION_VALIDATION,
  validated: Cmd.CONNECTION_VALIDATED,
  echo: Cmd.ECHO,
  search: Cmd.SEARCH,
  searchResponse: Cmd.SEARCH_RESPONSE,
  createChannel: Cmd.CREATE_CHANNEL,
  createChannelResponse: Cmd.CREATE_CHANNEL,
  destroyChannel: Cmd.DESTROY_CHANNEL,
  getField: Cmd.GET_FIELD,
  getFieldResponse: Cmd.GET_FIELD,
  destroyRequest: Cmd.DESTROY_REQUEST,
  cancelRequest: Cmd.CANCEL_REQUEST,
  message: Cmd.MESSAGE,
  originTag: Cmd.ORIGIN_TAG,
};

const SERVER_SENT = new Set([
  'beacon', 'validationRequest', 'validated', 'searchResponse', 'createChannelResponse', 'opResponse',
  'getFieldResponse', 'message',
]);

function encodeBody(w: Writer, m: PvaMessage): void {
  switch (m.type) {
    case 'beacon':
      w.raw(m.guid);
      w.u8(m.flags);
      w.u8(m.sequence);
      w.u16(m.changeCount);
      writeAddress(w, m.address);
      w.u16(m.port);
      w.string(m.protocol);
      writeTypedValue(w, m.status);
      return;
    case 'validationRequest':
      w.u32(m.bufferSize);
      w.u16(m.registrySize);
      w.size(m.methods.length);
      for (const s of m.methods) w.string(s);
      return;
    case 'validationReply':
      w.u32(m.bufferSize);
      w.u16(m.registrySize);
      w.u16(m.qos);
      w.string(m.method);
      if (m.data !== null || m.method !== '') writeTypedValue(w, m.data);
      return;
    case 'validated':
      return encodeStatus(w, m.status);
    case 'echo':
      return w.raw(m.payload);
    case 'search':
      w.u32(m.sequence);
      w.u8(m.flags);
      w.u8(0);
      w.u16(0);
      writeAddress(w, m.address);
      w.u16(m.port);
      w.size(m.protocols.length);
      for (const p of m.protocols) w.string(p);
      w.u16(m.channels.length);
      for (const c of m.channels) {
        w.u32(c.cid);
        w.string(c.name);
      }
      return;
    case 'searchResponse':
      w.raw(m.guid);
      w.u32(m.sequence);
      writeAddress(w, m.address);
      w.u16(m.port);
      w.string(m.protocol);
      w.u8(m.found ? 1 : 0);
      w.u16(m.cids.length);
      for (const c of m.cids) w.u32(c);
      return;
    case 'createChannel':
      w.u16(m.channels.length);
      for (const c of m.channels) {
        w.u32(c.cid);
        w.string(c.name);
      }
      return;
    case 'createChannelResponse':
      w.u32(m.cid);
      w.u32(m.sid);
      return encodeStatus(w, m.status);
    case 'destroyChannel':
      w.u32(m.sid);
      w.u32(m.cid);
      return;
    case 'getField':
      w.u32(m.sid);
      w.u32(m.ioid);
      w.string(m.subField);
      return;
    case 'getFieldResponse':
      w.u32(m.ioid);
      encodeStatus(w, m.status);
      if (m.fieldType) encodeType(w, m.fieldType);
      return;
    case 'destroyRequest':
    case 'cancelRequest':
      w.u32(m.sid);
      w.u32(m.ioid);
      return;
    case 'message':
      w.u32(m.ioid);
      w.u8(m.severity);
      w.string(m.message);
      return;
    case 'originTag':
      return writeAddress(w, m.address);
    default:
      throw new TypeError(`encodeBody: ${m.type} has its own encoder`);
  }
}

/** Encodes a GET / PUT / PUT_GET / MONITOR / RPC request. */
export function encodeOpRequest(w: Writer, m: Omit<OpRequestMsg, 'type'>): void {
  const start = beginMessage(w, m.command, false);
  w.u32(m.sid);
  w.u32(m.ioid);
  w.u8(m.subcmd);
  if (m.subcmd & SUB_INIT) {
    writeTypedValue(w, m.pvRequest ?? null);
    if (m.command === Cmd.MONITOR && m.subcmd & SUB_GET_PUT) w.u32(m.ack ?? 0);
  } else if (m.command === Cmd.MONITOR) {
    if (m.subcmd & SUB_GET_PUT) w.u32(m.ack ?? 0);
  } else if (m.command === Cmd.RPC) {
    if (!(m.subcmd & SUB_DESTROY) || m.argument !== undefined) writeTypedValue(w, m.argument ?? null);
  } else if ((m.command === Cmd.PUT || m.command === Cmd.PUT_GET) && (m.subcmd & (SUB_GET | SUB_GET_PUT)) === 0) {
    if (m.value) {
      const changed = m.changed ?? m.value.changed;
      w.bitSet(changed);
      encodeStructurePartial(w, m.value, changed);
    } else if (m.raw) w.raw(m.raw); // decoded without a known type: pass the bytes on
  }
  endMessage(w, start);
}

/** Encodes the body of a reply into an already begun message (for callers that reuse buffers). */
export function encodeOpResponse(w: Writer, m: Omit<OpResponseMsg, 'type'>): void {
  const start = beginMessage(w, m.command, true);
  w.u32(m.ioid);
  w.u8(m.subcmd);
  if (m.command === Cmd.MONITOR && !(m.subcmd & (SUB_INIT | SUB_DESTROY))) {
    // monitor update: no status
    if (!m.value && m.raw) {
      w.raw(m.raw); // decoded without a known type: pass the bytes on
      return endMessage(w, start);
    }
    const changed = m.changed ?? m.value!.changed;
    w.bitSet(changed);
    encodeStructurePartial(w, m.value!, changed);
    w.bitSet(m.overrun ?? EMPTY_BITS);
    return endMessage(w, start);
  }
  const status = m.status!;
  encodeStatus(w, status);
  const ok = status.type <= 1;
  if (ok) {
    if (m.subcmd & SUB_INIT) {
      if (m.command !== Cmd.RPC) encodeType(w, m.fieldType ?? null);
      if (m.command === Cmd.PUT_GET) encodeType(w, m.getType ?? null);
    } else if (m.command === Cmd.RPC) {
      if (!(m.subcmd & SUB_DESTROY) || m.result !== undefined) writeTypedValue(w, m.result ?? null);
    } else if (m.value && !(m.command === Cmd.PUT && !(m.subcmd & SUB_GET))) {
      const changed = m.changed ?? m.value.changed;
      w.bitSet(changed);
      encodeStructurePartial(w, m.value, changed);
    } else if (!m.value && m.raw) w.raw(m.raw); // decoded without a known type: pass the bytes on
  }
  endMessage(w, start);
}

const EMPTY_BITS = new BitSet();

// ---------------------------------------------------------------- decoding

/** Decodes a complete frame. Values of operations are decoded when `ctx.opTypes` knows their type. */
export function decodeMessage(f: Frame, ctx: DecodeContext = {}): PvaMessage | ProtocolError {
  const be = isBigEndian(f);
  if (isControl(f)) {
    switch (f.command) {
      case Ctrl.SET_BYTE_ORDER:
        return { type: 'setByteOrder', bigEndian: be };
      case Ctrl.MARK_TOTAL_BYTES_SENT:
        return { type: 'markTotalBytes', total: f.controlValue };
      case Ctrl.ACK_TOTAL_BYTES_RECEIVED:
        return { type: 'ackTotalBytes', total: f.controlValue };
      case Ctrl.ECHO_REQUEST:
        return { type: 'echoRequest', value: f.controlValue };
      case Ctrl.ECHO_RESPONSE:
        return { type: 'echoResponse', value: f.controlValue };
      default:
        return new ProtocolError(`unknown control command ${f.command}`, f.command);
    }
  }
  const r = new Reader(f.payload, !be);
  let m: PvaMessage;
  try {
    m = decodeBody(r, f, ctx);
  } catch (e) {
    // Last line of defence for the "never throws" promise: e.g. a value nesting variant unions
    // ('any' inside 'any' ...) one byte per level overflows the stack of the recursive decoder.
    return new ProtocolError(`${commandName(f.command)}: ${e instanceof Error ? e.message : String(e)}`, f.command);
  }
  if (!r.ok) return new ProtocolError(`${commandName(f.command)}: ${r.fault}`, f.command);
  return m;
}

function commandName(c: number): string {
  return `command 0x${c.toString(16).padStart(2, '0')}`;
}

function readChannels(r: Reader, n: number): ChannelRef[] {
  const out: ChannelRef[] = [];
  for (let i = 0; i < n && r.ok; i++) out.push({ cid: r.u32(), name: r.string() });
  return out;
}

function decodeBody(r: Reader, f: Frame, ctx: DecodeContext): PvaMessage {
  const server = isFromServer(f);
  switch (f.command) {
    case Cmd.BEACON: {
      const guid = Buffer.from(r.bytes(12));
      const flags = r.u8();
      const sequence = r.u8();
      const changeCount = r.u16();
      const address = readAddress(r);
      const port = r.u16();
      const protocol = r.string();
      const status = r.remaining > 0 ? readTypedValue(r, ctx.cache) : null;
      return { type: 'beacon', guid, flags, sequence, changeCount, address, port, protocol, status };
    }
    case Cmd.CONNECTION_VALIDATION: {
      const bufferSize = r.u32();
      const registrySize = r.u16();
      if (server) {
        const n = r.count(1);
        const methods: string[] = [];
        for (let i = 0; i < n && r.ok; i++) methods.push(r.string());
        return { type: 'validationRequest', bufferSize, registrySize, methods };
      }
      const qos = r.u16();
      const method = r.remaining > 0 ? r.string() : '';
      const data = r.remaining > 0 ? readTypedValue(r, ctx.cache) : null;
      return { type: 'validationReply', bufferSize, registrySize, qos, method, data };
    }
    case Cmd.CONNECTION_VALIDATED:
      return { type: 'validated', status: decodeStatus(r) };
    case Cmd.ECHO:
      return { type: 'echo', fromServer: server, payload: Buffer.from(r.bytes(r.remaining)) };
    case Cmd.SEARCH: {
      const sequence = r.u32();
      const flags = r.u8();
      r.bytes(3);
      const address = readAddress(r);
      const port = r.u16();
      const np = r.count(1);
      const protocols: string[] = [];
      for (let i = 0; i < np && r.ok; i++) protocols.push(r.string());
      const nc = r.u16();
      if (nc * 5 > r.remaining) r.fail(`search for ${nc} channels in ${r.remaining} bytes`);
      return { type: 'search', sequence, flags, address, port, protocols, channels: readChannels(r, nc) };
    }
    case Cmd.SEARCH_RESPONSE: {
      const guid = Buffer.from(r.bytes(12));
      const sequence = r.u32();
      const address = readAddress(r);
      const port = r.u16();
      const protocol = r.string();
      const found = r.u8() !== 0;
      const n = r.u16();
      if (n * 4 > r.remaining) r.fail(`search response for ${n} channels in ${r.remaining} bytes`);
      const cids: number[] = [];
      for (let i = 0; i < n && r.ok; i++) cids.push(r.u32());
      return { type: 'searchResponse', guid, sequence, address, port, protocol, found, cids };
    }
    case Cmd.CREATE_CHANNEL: {
      if (server) return { type: 'createChannelResponse', cid: r.u32(), sid: r.u32(), status: decodeStatus(r) };
      const n = r.u16();
      if (n * 5 > r.remaining) r.fail(`create for ${n} channels in ${r.remaining} bytes`);
      return { type: 'createChannel', channels: readChannels(r, n) };
    }
    case Cmd.DESTROY_CHANNEL:
      return { type: 'destroyChannel', fromServer: server, sid: r.u32(), cid: r.u32() };
    case Cmd.GET:
    case Cmd.PUT:
    case Cmd.PUT_GET:
    case Cmd.MONITOR:
    case Cmd.RPC:
      return server ? decodeOpResponse(r, f.command, ctx) : decodeOpRequest(r, f.command, ctx);
    case Cmd.GET_FIELD: {
      if (server) {
        const ioid = r.u32();
        const status = decodeStatus(r);
        const fieldType = r.remaining > 0 ? (ctx.typeMemo ? ctx.typeMemo.decode(r, ctx.cache) : decodeType(r, ctx.cache)) : null;
        return { type: 'getFieldResponse', ioid, status, fieldType };
      }
      return { type: 'getField', sid: r.u32(), ioid: r.u32(), subField: r.remaining > 0 ? r.string() : '' };
    }
    case Cmd.DESTROY_REQUEST:
      return { type: 'destroyRequest', sid: r.u32(), ioid: r.u32() };
    case Cmd.CANCEL_REQUEST:
      return { type: 'cancelRequest', sid: r.u32(), ioid: r.u32() };
    case Cmd.MESSAGE:
      return { type: 'message', ioid: r.u32(), severity: r.u8(), message: r.string() };
    case Cmd.ORIGIN_TAG:
      return { type: 'originTag', address: readAddress(r) };
    default:
      return { type: 'unknown', command: f.command, payload: Buffer.from(r.bytes(r.remaining)) };
  }
}

function readRequest(r: Reader, cache?: TypeCache, memo?: TypeMemo): PVStructure | null {
  const t = memo ? memo.decode(r, cache) : decodeType(r, cache);
  if (!t) return null;
  if (t.kind !== 'structure') {
    r.fail('pvRequest is not a structure');
    return null;
  }
  const s = new PVStructure(t);
  decodeStructureInto(r, s, cache);
  return s;
}

function readPartial(
  r: Reader,
  type: Structure | undefined,
  m: { changed?: BitSet; value?: PVStructure; raw?: Buffer },
  cache?: TypeCache,
  base?: PVStructure,
): void {
  if (!type) {
    m.raw = Buffer.from(r.bytes(r.remaining));
    return;
  }
  const changed = r.bitSet();
  const value = base && base.type === type ? base.cloneUnchanged() : new PVStructure(type);
  decodeStructurePartial(r, value, changed, cache);
  m.changed = changed;
  m.value = value;
}

function decodeOpRequest(r: Reader, command: OpCommand, ctx: DecodeContext): OpRequestMsg {
  const m: OpRequestMsg = { type: 'opRequest', command, sid: r.u32(), ioid: r.u32(), subcmd: r.u8() };
  if (m.subcmd & SUB_INIT) {
    m.pvRequest = readRequest(r, ctx.cache, ctx.typeMemo);
    if (command === Cmd.MONITOR && m.subcmd & SUB_GET_PUT) m.ack = r.u32();
  } else if (command === Cmd.MONITOR) {
    if (m.subcmd & SUB_GET_PUT) m.ack = r.u32();
  } else if (command === Cmd.RPC) {
    if (r.remaining > 0) m.argument = readTypedValue(r, ctx.cache);
  } else if ((command === Cmd.PUT || command === Cmd.PUT_GET) && (m.subcmd & (SUB_GET | SUB_GET_PUT)) === 0) {
    if (r.remaining > 0) readPartial(r, ctx.opTypes?.(m.ioid)?.put, m, ctx.cache);
  }
  return m;
}

function readStructType(r: Reader, cache?: TypeCache, memo?: TypeMemo): Structure | null {
  const t = memo ? memo.decode(r, cache) : decodeType(r, cache);
  if (t && t.kind !== 'structure') {
    r.fail('operation type is not a structure');
    return null;
  }
  return t;
}

function decodeOpResponse(r: Reader, command: OpCommand, ctx: DecodeContext): OpResponseMsg {
  const m: OpResponseMsg = { type: 'opResponse', command, ioid: r.u32(), subcmd: r.u8() };
  const types = ctx.opTypes?.(m.ioid);
  if (command === Cmd.MONITOR && !(m.subcmd & (SUB_INIT | SUB_DESTROY))) {
    readPartial(r, types?.get, m, ctx.cache, types?.base);
    if (m.value) m.overrun = r.remaining > 0 ? r.bitSet() : new BitSet();
    return m;
  }
  m.status = decodeStatus(r);
  if (m.status.type > 1 || r.remaining === 0) return m;
  if (m.subcmd & SUB_INIT) {
    if (command !== Cmd.RPC) m.fieldType = readStructType(r, ctx.cache, ctx.typeMemo);
    if (command === Cmd.PUT_GET) m.getType = readStructType(r, ctx.cache, ctx.typeMemo);
  } else if (command === Cmd.RPC) {
    m.result = readTypedValue(r, ctx.cache);
  } else {
    const which = command === Cmd.PUT || (command === Cmd.PUT_GET && m.subcmd & SUB_GET_PUT) ? types?.put : types?.get;
    readPartial(r, which, m, ctx.cache);
  }
  return m;
}
