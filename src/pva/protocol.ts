// pvAccess protocol constants: header layout, command codes, flags and sub-commands.

/** First byte of every pvAccess header. */
export const PVA_MAGIC = 0xca;
/** Protocol version pvtree speaks (and puts in every header). */
export const PVA_VERSION = 2;
/** Bytes of a pvAccess message header. */
export const HEADER_SIZE = 8;

/** Header flag: a control message (no payload; the size field carries a value). */
export const FLAG_CONTROL = 0x01;
/** Header flags that say where a segment belongs in a segmented message. */
export const FLAG_SEGMENT_MASK = 0x30;
/** Header flag: first segment of a segmented message. */
export const FLAG_SEGMENT_FIRST = 0x10;
/** Header flag: last segment of a segmented message. */
export const FLAG_SEGMENT_LAST = 0x20;
/** Header flags: a middle segment of a segmented message. */
export const FLAG_SEGMENT_MIDDLE = 0x30;
/** Header flag: sent by a server. */
export const FLAG_SERVER = 0x40;
/** Header flag: the payload is big-endian. */
export const FLAG_BIG_ENDIAN = 0x80;

/** Application message commands. */
export const enum Cmd {
  BEACON = 0x00,
  CONNECTION_VALIDATION = 0x01,
  ECHO = 0x02,
  SEARCH = 0x03,
  SEARCH_RESPONSE = 0x04,
  AUTHNZ = 0x05,
  ACL_CHANGE = 0x06,
  CREATE_CHANNEL = 0x07,
  DESTROY_CHANNEL = 0x08,
  CONNECTION_VALIDATED = 0x09,
  GET = 0x0a,
  PUT = 0x0b,
  PUT_GET = 0x0c,
  MONITOR = 0x0d,
  ARRAY = 0x0e,
  DESTROY_REQUEST = 0x0f,
  PROCESS = 0x10,
  GET_FIELD = 0x11,
  MESSAGE = 0x12,
  MULTIPLE_DATA = 0x13,
  RPC = 0x14,
  CANCEL_REQUEST = 0x15,
  ORIGIN_TAG = 0x16,
}

/** Command names by code, for logs and errors. */
export const CMD_NAME: Record<number, string> = {
  0x00: 'BEACON', 0x01: 'CONNECTION_VALIDATION', 0x02: 'ECHO', 0x03: 'SEARCH', 0x04: 'SEARCH_RESPONSE',
  0x05: 'AUTHNZ', 0x06: 'ACL_CHANGE', 0x07: 'CREATE_CHANNEL', 0x08: 'DESTROY_CHANNEL',
  0x09: 'CONNECTION_VALIDATED', 0x0a: 'GET', 0x0b: 'PUT', 0x0c: 'PUT_GET', 0x0d: 'MONITOR', 0x0e: 'ARRAY',
  0x0f: 'DESTROY_REQUEST', 0x10: 'PROCESS', 0x11: 'GET_FIELD', 0x12: 'MESSAGE', 0x13: 'MULTIPLE_DATA',
  0x14: 'RPC', 0x15: 'CANCEL_REQUEST', 0x16: 'ORIGIN_TAG',
};

/** Control message commands (header flag 0x01; the size field carries a value, no payload). */
export const enum Ctrl {
  MARK_TOTAL_BYTES_SENT = 0,
  ACK_TOTAL_BYTES_RECEIVED = 1,
  SET_BYTE_ORDER = 2,
  ECHO_REQUEST = 3,
  ECHO_RESPONSE = 4,
}

/** Sub-command bits of GET/PUT/PUT_GET/MONITOR/RPC requests. */
export const SUB_INIT = 0x08;
/** Sub-command bit: end the operation. */
export const SUB_DESTROY = 0x10;
/** Sub-command bit: fetch the current value (PUT) or start (MONITOR, with SUB_PROCESS). */
export const SUB_GET = 0x40; // PUT: fetch current value; MONITOR start = 0x44
/** Sub-command bit: start or stop a MONITOR. */
export const SUB_PROCESS = 0x04; // MONITOR: start/stop
/** Sub-command bit: fetch the value put (PUT_GET), or acknowledge updates (pipelined MONITOR). */
export const SUB_GET_PUT = 0x80; // PUT_GET: fetch put value; MONITOR: pipeline ack
/** MONITOR sub-command: start sending updates. */
export const MONITOR_START = 0x44;
/** MONITOR sub-command: stop sending updates. */
export const MONITOR_STOP = 0x04;
/** MONITOR sub-command: acknowledge updates (flow control). */
export const MONITOR_ACK = 0x80;

/** SEARCH flags. */
export const SEARCH_MUST_REPLY = 0x01;
/**
 * SEARCH flag: the search was sent unicast (a server that gets it may forward it to the others on
 * the host).
 */
export const SEARCH_UNICAST = 0x80;

/** Severity of a MESSAGE sent to a client. */
export const enum MessageType {
  INFO = 0,
  WARNING = 1,
  ERROR = 2,
  FATAL = 3,
}

/**
 * pvtree's server answers an execute on a GET/PUT operation whose PV was closed, or opened again
 * with another type, since the operation's INIT with one of these texts: the operation is stale and
 * the client may INIT a fresh one (nothing was done on the server).
 */
export const STALE_TYPE_CHANGED = 'the PV type changed since the operation was created';
/** See {@link STALE_TYPE_CHANGED}. */
export const STALE_PV_CLOSED = 'the PV is closed';
