// Channel Access protocol constants (protocol version 4.13).

/** The minor protocol revision this implementation speaks. */
export const CA_MINOR_VERSION = 13;
/** Default TCP/UDP server port (EPICS_CA_SERVER_PORT). */
export const CA_DEFAULT_SERVER_PORT = 5064;
/** Default repeater port (EPICS_CA_REPEATER_PORT), where beacons are sent. */
export const CA_DEFAULT_REPEATER_PORT = 5065;
/** Size of the fixed message header. */
export const CA_HEADER_SIZE = 16;
/** Size of the extended (large payload) header. */
export const CA_EXTENDED_HEADER_SIZE = 24;
/** Seconds between the POSIX epoch (1970) and the EPICS epoch (1990-01-01 UTC). */
export const EPICS_EPOCH_OFFSET = 631152000;
/** Length of a DBR_STRING element (including the terminating NUL). */
export const MAX_STRING_SIZE = 40;
/** Length of a units string in GR/CTRL structures. */
export const MAX_UNITS_SIZE = 8;
/** Number and length of enum state strings in GR/CTRL_ENUM. */
export const MAX_ENUM_STATES = 16;
/** Bytes of one enum state string in DBR_GR_ENUM / DBR_CTRL_ENUM (25 characters and the NUL). */
export const MAX_ENUM_STRING_SIZE = 26;

/** Command codes (the first 16-bit field of every header). */
export const CaCommand = {
  VERSION: 0,
  EVENT_ADD: 1,
  EVENT_CANCEL: 2,
  READ: 3,
  WRITE: 4,
  SNAPSHOT: 5,
  SEARCH: 6,
  BUILD: 7,
  EVENTS_OFF: 8,
  EVENTS_ON: 9,
  READ_SYNC: 10,
  ERROR: 11,
  CLEAR_CHANNEL: 12,
  RSRV_IS_UP: 13,
  NOT_FOUND: 14,
  READ_NOTIFY: 15,
  READ_BUILD: 16,
  REPEATER_CONFIRM: 17,
  CREATE_CHAN: 18,
  WRITE_NOTIFY: 19,
  CLIENT_NAME: 20,
  HOST_NAME: 21,
  ACCESS_RIGHTS: 22,
  ECHO: 23,
  REPEATER_REGISTER: 24,
  SIGNAL: 25,
  CREATE_CH_FAIL: 26,
  SERVER_DISCONN: 27,
} as const;
/** A Channel Access command code (a value of {@link CaCommand}). */
export type CaCommandCode = (typeof CaCommand)[keyof typeof CaCommand];

/** SEARCH / NOT_FOUND "reply" flag carried in the data type field. */
export const SEARCH_DO_REPLY = 10;
/** SEARCH flag: a server that does not have the name stays silent. */
export const SEARCH_DONT_REPLY = 5;

/** Server address value meaning "the address this reply came from / this circuit". */
export const CA_ADDRESS_USE_SENDER = 0xffffffff;

/** Access rights bits (ACCESS_RIGHTS parameter 2). */
export const CA_ACCESS_READ = 1;
/** ACCESS_RIGHTS bit: the client may write. */
export const CA_ACCESS_WRITE = 2;

/** Monitor event mask bits. */
export const DBE_VALUE = 1;
/** Monitor event mask bit: archive (log) deadband crossed. */
export const DBE_LOG = 2;
/** Monitor event mask bit: alarm state changed. */
export const DBE_ALARM = 4;
/** Monitor event mask bit: a property (units, limits, enum strings …) changed. */
export const DBE_PROPERTY = 8;

/** CA status codes (ECA_*): (message number << 3) | severity. */
function defmsg(severity: number, num: number): number {
  return ((num << 3) & 0xfff8) | (severity & 7);
}
const K_WARNING = 0;
const K_SUCCESS = 1;
const K_ERROR = 2;
const K_INFO = 3;
const K_FATAL = 6;
/** Channel Access status codes by name (ECA_NORMAL …), as caerr.h defines them. */
export const ECA = {
  NORMAL: defmsg(K_SUCCESS, 0),
  ALLOCMEM: defmsg(K_WARNING, 6),
  TOLARGE: defmsg(K_ERROR, 9),
  TIMEOUT: defmsg(K_WARNING, 10),
  NOSUPPORT: defmsg(K_WARNING, 11),
  STRTOBIG: defmsg(K_WARNING, 12),
  BADCHID: defmsg(K_ERROR, 13),
  BADTYPE: defmsg(K_ERROR, 14),
  CHIDNOTFND: defmsg(K_INFO, 15),
  INTERNAL: defmsg(K_FATAL, 17),
  GETFAIL: defmsg(K_WARNING, 19),
  PUTFAIL: defmsg(K_WARNING, 20),
  ADDFAIL: defmsg(K_WARNING, 21),
  BADCOUNT: defmsg(K_WARNING, 22),
  BADSTR: defmsg(K_ERROR, 23),
  DISCONN: defmsg(K_INFO, 24),
  BADMONID: defmsg(K_ERROR, 30),
  BADMASK: defmsg(K_ERROR, 41),
  NORDACCESS: defmsg(K_WARNING, 46),
  NOWTACCESS: defmsg(K_WARNING, 47),
  NOCONVERT: defmsg(K_WARNING, 50),
} as const;

/** DBR type codes. */
export const DBR = {
  STRING: 0,
  SHORT: 1,
  INT: 1,
  FLOAT: 2,
  ENUM: 3,
  CHAR: 4,
  LONG: 5,
  DOUBLE: 6,
  STS_STRING: 7,
  STS_SHORT: 8,
  STS_FLOAT: 9,
  STS_ENUM: 10,
  STS_CHAR: 11,
  STS_LONG: 12,
  STS_DOUBLE: 13,
  TIME_STRING: 14,
  TIME_SHORT: 15,
  TIME_FLOAT: 16,
  TIME_ENUM: 17,
  TIME_CHAR: 18,
  TIME_LONG: 19,
  TIME_DOUBLE: 20,
  GR_STRING: 21,
  GR_SHORT: 22,
  GR_FLOAT: 23,
  GR_ENUM: 24,
  GR_CHAR: 25,
  GR_LONG: 26,
  GR_DOUBLE: 27,
  CTRL_STRING: 28,
  CTRL_SHORT: 29,
  CTRL_FLOAT: 30,
  CTRL_ENUM: 31,
  CTRL_CHAR: 32,
  CTRL_LONG: 33,
  CTRL_DOUBLE: 34,
  /** Write-only: set the alarm acknowledge-transient flag (u16). */
  PUT_ACKT: 35,
  /** Write-only: acknowledge alarms up to a severity (u16). */
  PUT_ACKS: 36,
  /** status, severity, ackt, acks (u16 each), then a 40-byte string value. */
  STSACK_STRING: 37,
  /** The record type ("class") name, as a 40-byte string. */
  CLASS_NAME: 38,
} as const;

/** The 7 value types, indexed by their plain DBR code. */
export const DBR_VALUE_TYPES = ['string', 'short', 'float', 'enum', 'char', 'long', 'double'] as const;
/** The value type of a DBR type: string, short, float, enum, char, long or double. */
export type DbrValueType = (typeof DBR_VALUE_TYPES)[number];
/** The 5 structure families, indexed by (dbrType / 7). */
export const DBR_FAMILIES = ['plain', 'sts', 'time', 'gr', 'ctrl'] as const;
/**
 * The structure family of a DBR type: plain, sts (status), time, gr (graphics) or ctrl (control).
 */
export type DbrFamily = (typeof DBR_FAMILIES)[number];
/** Highest code of the regular families (DBR_CTRL_DOUBLE). */
export const DBR_LAST = 34;
/** Highest DBR code this codec understands (DBR_CLASS_NAME). */
export const DBR_LAST_SPECIAL = 38;

/** The value type carried by a DBR type (PUT_ACKT/ACKS carry a u16 like enum; STSACK/CLASS_NAME a string). */
export function dbrValueType(dbrType: number): DbrValueType {
  if (dbrType > DBR_LAST) return dbrType <= 36 ? 'enum' : 'string';
  return DBR_VALUE_TYPES[dbrType % 7]!;
}
/** The structure family (STSACK_STRING counts as 'sts'; PUT_ACKT/ACKS and CLASS_NAME as 'plain'). */
export function dbrFamily(dbrType: number): DbrFamily {
  if (dbrType > DBR_LAST) return dbrType === 37 ? 'sts' : 'plain';
  return DBR_FAMILIES[Math.floor(dbrType / 7)]!;
}
/** The DBR type code of a family and value type (e.g. time + double → DBR_TIME_DOUBLE, 20). */
export function dbrTypeCode(family: DbrFamily, type: DbrValueType): number {
  return DBR_FAMILIES.indexOf(family) * 7 + DBR_VALUE_TYPES.indexOf(type);
}
/**
 * Whether a number is a DBR type code this server knows (the regular families and the special
 * types).
 */
export function isValidDbrType(dbrType: number): boolean {
  return Number.isInteger(dbrType) && dbrType >= 0 && dbrType <= DBR_LAST_SPECIAL;
}

/** Alarm severities. */
export const NO_ALARM = 0;
/** Alarm severity MINOR. */
export const MINOR_ALARM = 1;
/** Alarm severity MAJOR. */
export const MAJOR_ALARM = 2;
/** Alarm severity INVALID. */
export const INVALID_ALARM = 3;
