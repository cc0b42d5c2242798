// Sans-I/O codec for Channel Access message headers and commands.
//
// Every CA message is a 16-byte big-endian header followed by a payload padded to
// a multiple of 8 bytes:
//   u16 command, u16 payloadSize, u16 dataType, u16 count, u32 parameter1, u32 parameter2
// When the payload is 0xFFFF bytes or more (or the count is 0xFFFF or more) the
// "extended" form is used: payloadSize = 0xFFFF and count = 0 in the first 16 bytes,
// followed by u32 payloadSize and u32 count.

import { CA_EXTENDED_HEADER_SIZE, CA_HEADER_SIZE, CaCommand } from './constants.ts';

/** The fields of a Channel Access message header (standard or extended). */
export interface CaHeader {
  command: number;
  payloadSize: number;
  dataType: number;
  count: number;
  parameter1: number;
  parameter2: number;
}

/** One framed message: header plus raw payload (including any padding). */
export interface CaFrame {
  header: CaHeader;
  payload: Uint8Array;
  /** True when the header used the 24-byte extended form. */
  extended: boolean;
}

/** Which side sent a message: client to server, or server to client. */
export type CaDirection = 'c2s' | 's2c';

/** A typed error produced by framing or decoding; never thrown past the framer. */
export class CaProtocolError extends Error {
  readonly code: CaProtocolErrorCode;
  constructor(code: CaProtocolErrorCode, message: string) {
    super(message);
    this.name = 'CaProtocolError';
    this.code = code;
  }
}
/** Why bytes could not be read as a Channel Access message. */
export type CaProtocolErrorCode =
  | 'payload-too-large'
  | 'truncated'
  | 'bad-payload'
  | 'bad-dbr-type'
  | 'bad-count';

/** n rounded up to a multiple of 8 (CA payloads are padded to 8 bytes). */
export function padTo8(n: number): number {
  return (n + 7) & ~7;
}

// ---------------------------------------------------------------------------
// Header

/**
 * Header bytes a message needs: the extended header when the payload size or count does not fit 16
 * bits.
 */
export function headerSize(payloadSize: number, count: number): number {
  return payloadSize >= 0xffff || count >= 0xffff ? CA_EXTENDED_HEADER_SIZE : CA_HEADER_SIZE;
}

/** Writes a header into `out` at `offset`; returns the number of bytes written (16 or 24). */
export function writeHeader(out: Uint8Array, offset: number, h: CaHeader): number {
  const extended = h.payloadSize >= 0xffff || h.count >= 0xffff;
  put16(out, offset, h.command);
  put16(out, offset + 2, extended ? 0xffff : h.payloadSize);
  put16(out, offset + 4, h.dataType);
  put16(out, offset + 6, extended ? 0 : h.count);
  put32(out, offset + 8, h.parameter1);
  put32(out, offset + 12, h.parameter2);
  if (!extended) return CA_HEADER_SIZE;
  put32(out, offset + 16, h.payloadSize);
  put32(out, offset + 20, h.count);
  return CA_EXTENDED_HEADER_SIZE;
}

function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}
function put32(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 24) & 0xff;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}
function get16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}
function get32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

/** A decoded header and its length, or how many bytes are still needed. */
export type HeaderParse =
  | { ok: true; header: CaHeader; headerLength: number; extended: boolean }
  | { ok: false; needed: number };

/** Parses a header at `offset` if enough bytes are present. */
export function readHeader(buf: Uint8Array, offset: number): HeaderParse {
  if (buf.length - offset < CA_HEADER_SIZE) return { ok: false, needed: CA_HEADER_SIZE };
  const header: CaHeader = {
    command: get16(buf, offset),
    payloadSize: get16(buf, offset + 2),
    dataType: get16(buf, offset + 4),
    count: get16(buf, offset + 6),
    parameter1: get32(buf, offset + 8),
    parameter2: get32(buf, offset + 12),
  };
  if (header.payloadSize !== 0xffff) return { ok: true, header, headerLength: CA_HEADER_SIZE, extended: false };
  if (buf.length - offset < CA_EXTENDED_HEADER_SIZE) return { ok: false, needed: CA_EXTENDED_HEADER_SIZE };
  header.payloadSize = get32(buf, offset + 16);
  header.count = get32(buf, offset + 20);
  return { ok: true, header, headerLength: CA_EXTENDED_HEADER_SIZE, extended: true };
}

/** Encodes one frame (header + payload padded to 8 bytes). */
export function encodeFrame(h: Omit<CaHeader, 'payloadSize'>, payload: Uint8Array = EMPTY): Uint8Array {
  const padded = padTo8(payload.length);
  const hl = headerSize(padded, h.count);
  const out = new Uint8Array(hl + padded);
  writeHeader(out, 0, {
    command: h.command,
    payloadSize: padded,
    dataType: h.dataType,
    count: h.count,
    parameter1: h.parameter1,
    parameter2: h.parameter2,
  });
  out.set(payload, hl);
  return out;
}

/** The byte arrays joined into one. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const EMPTY = new Uint8Array(0);
const utf8 = new TextEncoder();
const utf8d = new TextDecoder('utf-8', { fatal: false });

/** NUL-terminated string payload (padding added by encodeFrame). */
export function encodeCString(s: string): Uint8Array {
  const b = utf8.encode(s);
  const out = new Uint8Array(b.length + 1);
  out.set(b);
  return out;
}
/** Reads a string up to the first NUL (or the end). */
export function decodeCString(b: Uint8Array): string {
  let end = b.indexOf(0);
  if (end < 0) end = b.length;
  return utf8d.decode(b.subarray(0, end));
}

// ---------------------------------------------------------------------------
// Typed messages

/** A decoded Channel Access message, one variant per command (`kind`). */
export type CaMessage =
  /** Both directions. priority in dataType, minor version in count, p1 = sequence number (UDP). */
  | { kind: 'version'; priority: number; minorVersion: number; sequence: number }
  /** c2s, UDP or TCP. reply: SEARCH_DO_REPLY (10) or SEARCH_DONT_REPLY (5). */
  | { kind: 'search'; name: string; reply: number; minorVersion: number; cid: number }
  /** s2c. minorVersion present => 8-byte payload (UDP form); absent => empty payload (RSRV's TCP form). */
  | { kind: 'searchReply'; port: number; serverAddress: number; cid: number; minorVersion?: number }
  | { kind: 'notFound'; reply: number; minorVersion: number; cid: number }
  | { kind: 'createChan'; cid: number; minorVersion: number; name: string }
  | { kind: 'createChanReply'; dataType: number; count: number; cid: number; sid: number }
  | { kind: 'createChFail'; cid: number }
  | { kind: 'accessRights'; cid: number; access: number }
  | { kind: 'clientName'; name: string }
  | { kind: 'hostName'; name: string }
  | { kind: 'readNotify'; dataType: number; count: number; sid: number; ioid: number }
  | { kind: 'readNotifyReply'; dataType: number; count: number; status: number; ioid: number; data: Uint8Array }
  | { kind: 'write'; dataType: number; count: number; sid: number; ioid: number; data: Uint8Array }
  | { kind: 'writeNotify'; dataType: number; count: number; sid: number; ioid: number; data: Uint8Array }
  | { kind: 'writeNotifyReply'; dataType: number; count: number; status: number; ioid: number }
  | {
      kind: 'eventAdd';
      dataType: number;
      count: number;
      sid: number;
      subscriptionId: number;
      mask: number;
      low: number;
      high: number;
      timeout: number;
    }
  | { kind: 'eventAddReply'; dataType: number; count: number; status: number; subscriptionId: number; data: Uint8Array }
  /** s2c EVENT_ADD with an empty payload: confirms EVENT_CANCEL. */
  | { kind: 'eventCancelReply'; dataType: number; count: number; sid: number; subscriptionId: number }
  | { kind: 'eventCancel'; dataType: number; count: number; sid: number; subscriptionId: number }
  | { kind: 'eventsOff' }
  | { kind: 'eventsOn' }
  | { kind: 'readSync' }
  | { kind: 'clearChannel'; sid: number; cid: number }
  | { kind: 'echo' }
  | { kind: 'error'; cid: number; status: number; request: CaHeader; message: string }
  | { kind: 'serverDisconn'; cid: number }
  | { kind: 'beacon'; minorVersion: number; port: number; beaconId: number; serverAddress: number }
  | { kind: 'repeaterRegister'; clientAddress: number }
  | { kind: 'repeaterConfirm'; repeaterAddress: number }
  | { kind: 'unknown'; header: CaHeader; payload: Uint8Array };

/** The `kind` of a {@link CaMessage}. */
export type CaMessageKind = CaMessage['kind'];

function f(command: number, dataType: number, count: number, p1: number, p2: number) {
  return { command, dataType, count, parameter1: p1, parameter2: p2 };
}

/** Encodes a typed message as bytes (header + padded payload). */
export function encodeMessage(m: CaMessage): Uint8Array {
  const C = CaCommand;
  switch (m.kind) {
    case 'version':
      return encodeFrame(f(C.VERSION, m.priority, m.minorVersion, m.sequence, 0));
    case 'search':
      return encodeFrame(f(C.SEARCH, m.reply, m.minorVersion, m.cid, m.cid), encodeCString(m.name));
    case 'searchReply': {
      let payload = EMPTY;
      if (m.minorVersion !== undefined) {
        payload = new Uint8Array(8);
        new DataView(payload.buffer).setUint16(0, m.minorVersion);
      }
      return encodeFrame(f(C.SEARCH, m.port, 0, m.serverAddress, m.cid), payload);
    }
    case 'notFound':
      return encodeFrame(f(C.NOT_FOUND, m.reply, m.minorVersion, m.cid, m.cid));
    case 'createChan':
      return encodeFrame(f(C.CREATE_CHAN, 0, 0, m.cid, m.minorVersion), encodeCString(m.name));
    case 'createChanReply':
      return encodeFrame(f(C.CREATE_CHAN, m.dataType, m.count, m.cid, m.sid));
    case 'createChFail':
      return encodeFrame(f(C.CREATE_CH_FAIL, 0, 0, m.cid, 0));
    case 'accessRights':
      return encodeFrame(f(C.ACCESS_RIGHTS, 0, 0, m.cid, m.access));
    case 'clientName':
      return encodeFrame(f(C.CLIENT_NAME, 0, 0, 0, 0), encodeCString(m.name));
    case 'hostName':
      return encodeFrame(f(C.HOST_NAME, 0, 0, 0, 0), encodeCString(m.name));
    case 'readNotify':
      return encodeFrame(f(C.READ_NOTIFY, m.dataType, m.count, m.sid, m.ioid));
    case 'readNotifyReply':
      return encodeFrame(f(C.READ_NOTIFY, m.dataType, m.count, m.status, m.ioid), m.data);
    case 'write':
      return encodeFrame(f(C.WRITE, m.dataType, m.count, m.sid, m.ioid), m.data);
    case 'writeNotify':
      return encodeFrame(f(C.WRITE_NOTIFY, m.dataType, m.count, m.sid, m.ioid), m.data);
    case 'writeNotifyReply':
      return encodeFrame(f(C.WRITE_NOTIFY, m.dataType, m.count, m.status, m.ioid));
    case 'eventAdd': {
      const p = new Uint8Array(16);
      const dv = new DataView(p.buffer);
      dv.setFloat32(0, m.low);
      dv.setFloat32(4, m.high);
      dv.setFloat32(8, m.timeout);
      dv.setUint16(12, m.mask);
      return encodeFrame(f(C.EVENT_ADD, m.dataType, m.count, m.sid, m.subscriptionId), p);
    }
    case 'eventAddReply':
      return encodeFrame(f(C.EVENT_ADD, m.dataType, m.count, m.status, m.subscriptionId), m.data);
    case 'eventCancelReply':
      return encodeFrame(f(C.EVENT_ADD, m.dataType, m.count, m.sid, m.subscriptionId));
    case 'eventCancel':
      return encodeFrame(f(C.EVENT_CANCEL, m.dataType, m.count, m.sid, m.subscriptionId));
    case 'eventsOff':
      return encodeFrame(f(C.EVENTS_OFF, 0, 0, 0, 0));
    case 'eventsOn':
      return encodeFrame(f(C.EVENTS_ON, 0, 0, 0, 0));
    case 'readSync':
      return encodeFrame(f(C.READ_SYNC, 0, 0, 0, 0));
    case 'clearChannel':
      return encodeFrame(f(C.CLEAR_CHANNEL, 0, 0, m.sid, m.cid));
    case 'echo':
      return encodeFrame(f(C.ECHO, 0, 0, 0, 0));
    case 'error': {
      const rh = m.request;
      const hl = headerSize(rh.payloadSize, rh.count);
      const msg = encodeCString(m.message);
      const p = new Uint8Array(hl + msg.length);
      writeHeader(p, 0, rh);
      p.set(msg, hl);
      return encodeFrame(f(C.ERROR, 0, 0, m.cid, m.status), p);
    }
    case 'serverDisconn':
      return encodeFrame(f(C.SERVER_DISCONN, 0, 0, m.cid, 0));
    case 'beacon':
      return encodeFrame(f(C.RSRV_IS_UP, m.minorVersion, m.port, m.beaconId, m.serverAddress));
    case 'repeaterRegister':
      return encodeFrame(f(C.REPEATER_REGISTER, 0, 0, 0, m.clientAddress));
    case 'repeaterConfirm':
      return encodeFrame(f(C.REPEATER_CONFIRM, 0, 0, 0, m.repeaterAddress));
    case 'unknown': {
      const { payloadSize: _ignored, ...rest } = m.header;
      return encodeFrame(rest, m.payload);
    }
  }
}

/**
 * Decodes a frame into a typed message. The direction resolves commands whose
 * meaning differs between request and reply. Throws CaProtocolError on a payload
 * that is too short for its command (callers in this package catch it).
 */
export function decodeMessage(frame: CaFrame, dir: CaDirection): CaMessage {
  const h = frame.header;
  const p = frame.payload;
  const C = CaCommand;
  const c2s = dir === 'c2s';
  switch (h.command) {
    case C.VERSION:
      return { kind: 'version', priority: h.dataType, minorVersion: h.count, sequence: h.parameter1 };
    case C.SEARCH:
      if (c2s) return { kind: 'search', name: decodeCString(p), reply: h.dataType, minorVersion: h.count, cid: h.parameter1 };
      return {
        kind: 'searchReply',
        port: h.dataType,
        serverAddress: h.parameter1,
        cid: h.parameter2,
        ...(p.length >= 2 ? { minorVersion: (p[0]! << 8) | p[1]! } : {}),
      };
    case C.NOT_FOUND:
      return { kind: 'notFound', reply: h.dataType, minorVersion: h.count, cid: h.parameter1 };
    case C.CREATE_CHAN:
      if (c2s) return { kind: 'createChan', cid: h.parameter1, minorVersion: h.parameter2, name: decodeCString(p) };
      return { kind: 'createChanReply', dataType: h.dataType, count: h.count, cid: h.parameter1, sid: h.parameter2 };
    case C.CREATE_CH_FAIL:
      return { kind: 'createChFail', cid: h.parameter1 };
    case C.ACCESS_RIGHTS:
      return { kind: 'accessRights', cid: h.parameter1, access: h.parameter2 };
    case C.CLIENT_NAME:
      return { kind: 'clientName', name: decodeCString(p) };
    case C.HOST_NAME:
      return { kind: 'hostName', name: decodeCString(p) };
    case C.READ_NOTIFY:
      if (c2s) return { kind: 'readNotify', dataType: h.dataType, count: h.count, sid: h.parameter1, ioid: h.parameter2 };
      return { kind: 'readNotifyReply', dataType: h.dataType, count: h.count, status: h.parameter1, ioid: h.parameter2, data: p };
    case C.WRITE:
      return { kind: 'write', dataType: h.dataType, count: h.count, sid: h.parameter1, ioid: h.parameter2, data: p };
    case C.WRITE_NOTIFY:
      if (c2s)
        return { kind: 'writeNotify', dataType: h.dataType, count: h.count, sid: h.parameter1, ioid: h.parameter2, data: p };
      return { kind: 'writeNotifyReply', dataType: h.dataType, count: h.count, status: h.parameter1, ioid: h.parameter2 };
    case C.EVENT_ADD: {
      if (c2s) {
        if (p.length < 14) throw new CaProtocolError('bad-payload', `EVENT_ADD payload of ${p.length} bytes (need 16)`);
        const dv = new DataView(p.buffer, p.byteOffset, p.byteLength);
        return {
          kind: 'eventAdd',
          dataType: h.dataType,
          count: h.count,
          sid: h.parameter1,
          subscriptionId: h.parameter2,
          low: dv.getFloat32(0),
          high: dv.getFloat32(4),
          timeout: dv.getFloat32(8),
          mask: dv.getUint16(12),
        };
      }
      if (p.length === 0)
        return { kind: 'eventCancelReply', dataType: h.dataType, count: h.count, sid: h.parameter1, subscriptionId: h.parameter2 };
      return { kind: 'eventAddReply', dataType: h.dataType, count: h.count, status: h.parameter1, subscriptionId: h.parameter2, data: p };
    }
    case C.EVENT_CANCEL:
      return { kind: 'eventCancel', dataType: h.dataType, count: h.count, sid: h.parameter1, subscriptionId: h.parameter2 };
    case C.EVENTS_OFF:
      return { kind: 'eventsOff' };
    case C.EVENTS_ON:
      return { kind: 'eventsOn' };
    case C.READ_SYNC:
      return { kind: 'readSync' };
    case C.CLEAR_CHANNEL:
      return { kind: 'clearChannel', sid: h.parameter1, cid: h.parameter2 };
    case C.ECHO:
      return { kind: 'echo' };
    case C.ERROR: {
      const rh = readHeader(p, 0);
      if (!rh.ok) throw new CaProtocolError('bad-payload', 'ERROR payload too short for the embedded header');
      return {
        kind: 'error',
        cid: h.parameter1,
        status: h.parameter2,
        request: rh.header,
        message: decodeCString(p.subarray(rh.headerLength)),
      };
    }
    case C.SERVER_DISCONN:
      return { kind: 'serverDisconn', cid: h.parameter1 };
    case C.RSRV_IS_UP:
      return { kind: 'beacon', minorVersion: h.dataType, port: h.count, beaconId: h.parameter1, serverAddress: h.parameter2 };
    case C.REPEATER_REGISTER:
      return { kind: 'repeaterRegister', clientAddress: h.parameter2 };
    case C.REPEATER_CONFIRM:
      return { kind: 'repeaterConfirm', repeaterAddress: h.parameter2 };
    default:
      return { kind: 'unknown', header: { ...h }, payload: p };
  }
}

/** What decoding a frame gives: the message, or the protocol error. */
export type CaDecodeResult = { ok: true; message: CaMessage; frame: CaFrame } | { ok: false; error: CaProtocolError };

/** decodeMessage that never throws. */
export function tryDecodeMessage(frame: CaFrame, dir: CaDirection): CaDecodeResult {
  try {
    return { ok: true, message: decodeMessage(frame, dir), frame };
  } catch (e) {
    const err = e instanceof CaProtocolError ? e : new CaProtocolError('bad-payload', String((e as Error)?.message ?? e));
    return { ok: false, error: err };
  }
}

// ---------------------------------------------------------------------------
// Address helpers (IPv4 as u32, network order).

/** A dotted IPv4 address as the 32-bit number CA messages carry. */
export function ipv4ToUint32(addr: string): number {
  const parts = addr.split('.').map((x) => Number(x));
  if (parts.length !== 4 || parts.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) return 0;
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}
/** A 32-bit IPv4 address from a CA message as dotted text. */
export function uint32ToIpv4(n: number): string {
  return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

