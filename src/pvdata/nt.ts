// Normative types (epics:nt/...) laid out field for field as pvxs and its IOC server QSRV2 build
// them, so a client sees the same types from pvtree as from an IOC. Built types are cached: the
// same options give the same Structure instance, which the server encodes once per connection.
import {
  ANY,
  Structure,
  SCALAR_TYPES,
  scalar,
  scalarArray,
  struct,
  structArray,
  toDesc,
  union,
  type FieldDesc,
  type FieldSpec,
  type Member,
  type ScalarType,
  typeEquals,
} from './types.ts';
import { PVStructure } from './value.ts';

// ---------------------------------------------------------------- ids and constants

/** Type id of NTScalar. */
export const NT_SCALAR = 'epics:nt/NTScalar:1.0';
/** Type id of NTScalarArray. */
export const NT_SCALAR_ARRAY = 'epics:nt/NTScalarArray:1.0';
/** Type id of NTEnum. */
export const NT_ENUM = 'epics:nt/NTEnum:1.0';
/** Type id of NTURI (RPC arguments). */
export const NT_URI = 'epics:nt/NTURI:1.0';
/** Type id of NTTable. */
export const NT_TABLE = 'epics:nt/NTTable:1.0';
/** Type id of NTNDArray. */
export const NT_NDARRAY = 'epics:nt/NTNDArray:1.0';
/** Type id of NTAttribute. */
export const NT_ATTRIBUTE = 'epics:nt/NTAttribute:1.0';

/** alarm_t.severity */
export const AlarmSeverity = Object.freeze({ NONE: 0, MINOR: 1, MAJOR: 2, INVALID: 3, UNDEFINED: 4 } as const);
export type AlarmSeverity = (typeof AlarmSeverity)[keyof typeof AlarmSeverity];
/** Names of the alarm severities, by number. */
export const ALARM_SEVERITY_NAMES: readonly string[] = Object.freeze(['NONE', 'MINOR', 'MAJOR', 'INVALID', 'UNDEFINED']);

/** alarm_t.status as the normative types number it (not the CA/database alarm condition). */
export const AlarmStatus = Object.freeze({
  NONE: 0, DEVICE: 1, DRIVER: 2, RECORD: 3, DB: 4, CONF: 5, UNDEFINED: 6, CLIENT: 7,
} as const);
export type AlarmStatus = (typeof AlarmStatus)[keyof typeof AlarmStatus];
/** Names of the alarm status values, by number. */
export const ALARM_STATUS_NAMES: readonly string[] = Object.freeze([
  'NONE', 'DEVICE', 'DRIVER', 'RECORD', 'DB', 'CONF', 'UNDEFINED', 'CLIENT',
]);

/** display.form choices, in QSRV2's order (the index is what goes on the wire). */
export const DISPLAY_FORMS: readonly string[] = Object.freeze([
  'Default', 'String', 'Binary', 'Decimal', 'Hex', 'Exponential', 'Engineering',
]);
/**
 * display.form.index values: how a client should show a number (Default, String, Binary, Decimal,
 * Hex, Exponential, Engineering).
 */
export const DisplayForm = Object.freeze({
  DEFAULT: 0, STRING: 1, BINARY: 2, DECIMAL: 3, HEX: 4, EXPONENTIAL: 5, ENGINEERING: 6,
} as const);

/** Seconds from the POSIX epoch (1970) to the EPICS epoch (1990); time_t counts from POSIX's. */
export const POSIX_TIME_AT_EPICS_EPOCH = 631152000;

// ---------------------------------------------------------------- common sub-structures

/** The alarm_t structure: severity, status, message. */
export const alarmType: Structure = struct('alarm_t', { severity: 'int', status: 'int', message: 'string' });
/** The time_t structure: secondsPastEpoch, nanoseconds, userTag. */
export const timeType: Structure = struct('time_t', { secondsPastEpoch: 'long', nanoseconds: 'int', userTag: 'int' });
/** The enum_t structure: index and choices. */
export const enumType: Structure = struct('enum_t', { index: 'int', choices: 'string[]' });

const NUMERIC = new Set<ScalarType>(['byte', 'short', 'int', 'long', 'ubyte', 'ushort', 'uint', 'ulong', 'float', 'double']);

/** Whether a scalar type is a number (not boolean or string). */
export function isNumeric(t: ScalarType): boolean {
  return NUMERIC.has(t);
}

const cache = new Map<string, Structure>();

function cached(key: string, build: () => Structure): Structure {
  let s = cache.get(key);
  if (!s) {
    s = build();
    cache.set(key, s);
  }
  return s;
}

/**
 * Ids of display/control/valueAlarm. pvxs (and so QSRV2 and p4p) leaves them empty, which is what
 * the captures show; the normative types document calls them display_t, control_t, valueAlarm_t.
 */
export interface SubtypeNaming {
  /** Use 'display_t', 'control_t', 'valueAlarm_t' instead of pvxs's empty ids. */
  namedSubtypes?: boolean;
}

export interface DisplayOptions extends SubtypeNaming {
  /** Add precision and form (enum_t), as QSRV2 does. Default true. */
  form?: boolean;
}

/** display: limits of the value's scalar type for numbers, only description and units otherwise. */
export function displayType(valueType: ScalarType, opts: DisplayOptions = {}): Structure {
  const form = opts.form ?? true;
  const named = !!opts.namedSubtypes;
  return cached(`display:${valueType}:${form}:${named}`, () => {
    const id = named ? 'display_t' : '';
    if (!isNumeric(valueType)) return struct(id, { description: 'string', units: 'string' });
    const f: Record<string, FieldSpec> = {
      limitLow: valueType,
      limitHigh: valueType,
      description: 'string',
      units: 'string',
    };
    if (form) {
      f.precision = 'int';
      f.form = enumType;
    }
    return struct(id, f);
  });
}

/** The control_t structure for a value type (limitLow, limitHigh, minStep). */
export function controlType(valueType: ScalarType, opts: SubtypeNaming = {}): Structure {
  const named = !!opts.namedSubtypes;
  return cached(`control:${valueType}:${named}`, () =>
    struct(named ? 'control_t' : '', { limitLow: valueType, limitHigh: valueType, minStep: valueType }),
  );
}

/** The valueAlarm_t structure for a value type (limits, severities, hysteresis). */
export function valueAlarmType(valueType: ScalarType, opts: SubtypeNaming = {}): Structure {
  const named = !!opts.namedSubtypes;
  return cached(`valueAlarm:${valueType}:${named}`, () =>
    struct(named ? 'valueAlarm_t' : '', {
      active: 'boolean',
      lowAlarmLimit: valueType,
      lowWarningLimit: valueType,
      highWarningLimit: valueType,
      highAlarmLimit: valueType,
      lowAlarmSeverity: 'int',
      lowWarningSeverity: 'int',
      highWarningSeverity: 'int',
      highAlarmSeverity: 'int',
      hysteresis: 'double',
    }),
  );
}

// ---------------------------------------------------------------- NTScalar / NTScalarArray

export interface NTScalarOptions extends DisplayOptions {
  display?: boolean;
  /** Numeric values only (pvxs leaves it out for strings and booleans). */
  control?: boolean;
  /** Numeric values only. */
  valueAlarm?: boolean;
}

function scalarLike(array: boolean, valueType: ScalarType, o: NTScalarOptions): Structure {
  if (!SCALAR_TYPES.includes(valueType)) throw new TypeError(`unknown scalar type '${valueType}'`);
  const display = !!o.display;
  const numeric = isNumeric(valueType);
  const control = !!o.control && numeric;
  const valueAlarm = !!o.valueAlarm && numeric;
  const form = o.form ?? true;
  const named = !!o.namedSubtypes;
  const key = `${array ? 'A' : 'S'}:${valueType}:${display}:${control}:${valueAlarm}:${form}:${named}`;
  return cached(key, () => {
    const members: Member[] = [
      { name: 'value', type: array ? scalarArray(valueType) : scalar(valueType) },
      { name: 'alarm', type: alarmType },
      { name: 'timeStamp', type: timeType },
    ];
    if (display) members.push({ name: 'display', type: displayType(valueType, { form, namedSubtypes: named }) });
    if (control) members.push({ name: 'control', type: controlType(valueType, { namedSubtypes: named }) });
    if (valueAlarm) members.push({ name: 'valueAlarm', type: valueAlarmType(valueType, { namedSubtypes: named }) });
    return new Structure(array ? NT_SCALAR_ARRAY : NT_SCALAR, members);
  });
}

/** epics:nt/NTScalar:1.0 — value, alarm, timeStamp, then display, control, valueAlarm when asked. */
export function ntScalar(valueType: ScalarType, opts: NTScalarOptions = {}): Structure {
  return scalarLike(false, valueType, opts);
}

/** epics:nt/NTScalarArray:1.0 — as ntScalar with an array value. */
export function ntScalarArray(valueType: ScalarType, opts: NTScalarOptions = {}): Structure {
  return scalarLike(true, valueType, opts);
}

// ---------------------------------------------------------------- NTEnum

/** Which optional fields an NTEnum type gets. */
export interface NTEnumOptions {
  /** display { description } as pvxs and QSRV2 include it. Default true. */
  display?: boolean;
}

/** epics:nt/NTEnum:1.0 — value enum_t {index, choices}, alarm, timeStamp, display {description}. */
export function ntEnum(opts: NTEnumOptions = {}): Structure {
  const display = opts.display ?? true;
  return cached(`enum:${display}`, () => {
    const members: Member[] = [
      { name: 'value', type: enumType },
      { name: 'alarm', type: alarmType },
      { name: 'timeStamp', type: timeType },
    ];
    if (display) members.push({ name: 'display', type: struct('', { description: 'string' }) });
    return new Structure(NT_ENUM, members);
  });
}

// ---------------------------------------------------------------- NTURI

/** A key that tells apart every type description (bounds and ids included). */
export function typeKey(t: FieldDesc): string {
  switch (t.kind) {
    case 'scalar':
      return t.bound === undefined ? t.type : `${t.type}<${t.bound}>`;
    case 'scalarArray':
      return `${t.type}[${t.bound === undefined ? '' : (t.fixed ? '=' : '<') + t.bound}]`;
    case 'any':
      return 'any';
    case 'structure':
    case 'union':
      return `${t.kind === 'structure' ? 'S' : 'U'}${JSON.stringify(t.id)}{${t.fields
        .map((m) => `${JSON.stringify(m.name)}:${typeKey(m.type)}`)
        .join(',')}}`;
    case 'structureArray':
    case 'unionArray':
      return `${typeKey(t.element)}[]`;
  }
}

function specKey(fields: Record<string, FieldSpec>): string {
  return Object.entries(fields)
    .map(([k, v]) => `${JSON.stringify(k)}:${typeKey(toDesc(v))}`)
    .join(',');
}

/** epics:nt/NTURI:1.0 — scheme, authority, path, query { ...queryFields } (the RPC argument form). */
export function ntURI(queryFields: Record<string, FieldSpec> = {}): Structure {
  return cached(`uri:${specKey(queryFields)}`, () =>
    struct(NT_URI, { scheme: 'string', authority: 'string', path: 'string', query: struct('', queryFields) }),
  );
}

/**
 * An NTURI value for an RPC call. pvxcall sends every argument as a string and leaves scheme and
 * authority empty (see the rpc-add capture); pass `queryFields` to type the arguments.
 */
export function ntURIValue(
  path: string,
  query: Record<string, unknown>,
  queryFields?: Record<string, FieldSpec>,
  where: { scheme?: string; authority?: string } = {},
): PVStructure {
  const fields = queryFields ?? Object.fromEntries(Object.keys(query).map((k) => [k, 'string' as FieldSpec]));
  const v = new PVStructure(ntURI(fields));
  v.set('scheme', where.scheme ?? '');
  v.set('authority', where.authority ?? '');
  v.set('path', path);
  for (const [k, x] of Object.entries(query)) v.set(`query.${k}`, x);
  return v;
}

// ---------------------------------------------------------------- NTTable

/** One column of an NTTable: its name and element type. */
export interface TableColumn {
  name: string;
  type: ScalarType;
  /** Column heading for `labels`; the name when absent. */
  label?: string;
}

function columnList(columns: Record<string, ScalarType> | readonly TableColumn[]): TableColumn[] {
  return Array.isArray(columns)
    ? (columns as readonly TableColumn[]).slice()
    : Object.entries(columns as Record<string, ScalarType>).map(([name, type]) => ({ name, type }));
}

/** epics:nt/NTTable:1.0 — labels, value { column: type[] ... }, descriptor, alarm, timeStamp (pvxs order). */
export function ntTable(columns: Record<string, ScalarType> | readonly TableColumn[]): Structure {
  const cols = columnList(columns);
  return cached(`table:${cols.map((c) => `${JSON.stringify(c.name)}:${c.type}`).join(',')}`, () => {
    const value = new Structure(
      '',
      cols.map((c) => ({ name: c.name, type: scalarArray(c.type) })),
    );
    return new Structure(NT_TABLE, [
      { name: 'labels', type: scalarArray('string') },
      { name: 'value', type: value },
      { name: 'descriptor', type: scalar('string') },
      { name: 'alarm', type: alarmType },
      { name: 'timeStamp', type: timeType },
    ]);
  });
}

/** A table value with `labels` filled in and, optionally, the columns. */
export function ntTableValue(
  columns: Record<string, ScalarType> | readonly TableColumn[],
  data?: Record<string, unknown>,
): PVStructure {
  const cols = columnList(columns);
  const v = new PVStructure(ntTable(cols));
  v.set('labels', cols.map((c) => c.label ?? c.name));
  if (data) for (const [k, x] of Object.entries(data)) v.set(`value.${k}`, x);
  return v;
}

// ---------------------------------------------------------------- NTNDArray

/** Members of NTNDArray's value union, in pvxs's order. */
export const NDARRAY_VALUE_MEMBERS: readonly string[] = Object.freeze([
  'booleanValue', 'byteValue', 'shortValue', 'intValue', 'longValue', 'ubyteValue',
  'ushortValue', 'uintValue', 'ulongValue', 'floatValue', 'doubleValue',
]);

/** epics:nt/NTNDArray:1.0 as pvxs builds it (areaDetector images). */
export function ntNDArray(): Structure {
  return cached('ndarray', () => {
    const element: Record<string, FieldSpec> = {};
    const kinds: ScalarType[] = ['boolean', 'byte', 'short', 'int', 'long', 'ubyte', 'ushort', 'uint', 'ulong', 'float', 'double'];
    kinds.forEach((k, i) => (element[NDARRAY_VALUE_MEMBERS[i]] = `${k}[]`));
    const attribute = struct(NT_ATTRIBUTE, {
      name: 'string',
      value: ANY,
      tags: 'string[]',
      descriptor: 'string',
      alarm: alarmType,
      timeStamp: timeType,
      sourceType: 'int',
      source: 'string',
    });
    return struct(NT_NDARRAY, {
      value: union('', element),
      codec: struct('codec_t', { name: 'string', parameters: ANY }),
      compressedSize: 'long',
      uncompressedSize: 'long',
      uniqueId: 'int',
      dataTimeStamp: timeType,
      alarm: alarmType,
      timeStamp: timeType,
      dimension: structArray(struct('dimension_t', { size: 'int', offset: 'int', fullSize: 'int', binning: 'int', reverse: 'boolean' })),
      attribute: structArray(attribute),
    });
  });
}

// ---------------------------------------------------------------- recognising types

/** 'NTScalar' for 'epics:nt/NTScalar:1.0' and the like; undefined for other ids. */
export function ntName(id: string): string | undefined {
  const m = /^epics:nt\/([A-Za-z]+):\d+(\.\d+)*$/.exec(id);
  return m ? m[1] : undefined;
}

/** True when `t` carries the normative type id `name` (any 1.x version). */
export function isNT(t: FieldDesc | undefined, name: string): boolean {
  return !!t && t.kind === 'structure' && t.id.startsWith(`epics:nt/${name}:1.`);
}

// ---------------------------------------------------------------- time_t and alarm_t helpers

/** A time_t value. */
export interface TimeStampValue {
  /** Seconds since the POSIX epoch (1970-01-01 UTC). */
  secondsPastEpoch: bigint;
  nanoseconds: number;
  userTag: number;
}

/** time_t fields of a Date or of milliseconds since the POSIX epoch (fractions of a ms kept). */
export function timeFromDate(d: Date | number, userTag = 0): TimeStampValue {
  const ms = typeof d === 'number' ? d : d.getTime();
  if (!Number.isFinite(ms)) throw new RangeError('invalid time');
  const secs = Math.floor(ms / 1000);
  let ns = Math.round((ms - secs * 1000) * 1e6);
  let s = secs;
  if (ns >= 1e9) {
    s += 1;
    ns -= 1e9;
  }
  return { secondsPastEpoch: BigInt(s), nanoseconds: ns, userTag };
}

/** time_t fields of nanoseconds since the POSIX epoch. */
export function timeFromNanos(ns: bigint, userTag = 0): TimeStampValue {
  let s = ns / 1_000_000_000n;
  let rem = ns % 1_000_000_000n;
  if (rem < 0n) {
    rem += 1_000_000_000n;
    s -= 1n;
  }
  return { secondsPastEpoch: s, nanoseconds: Number(rem), userTag };
}

/** The current time with sub-millisecond resolution. */
export function timeNow(userTag = 0): TimeStampValue {
  return timeFromDate(performance.timeOrigin + performance.now(), userTag);
}

/** Offset of a sub-structure that must have the layout of `want` (checked by identity first). */
function subOffset(v: PVStructure, path: string, want: Structure): number {
  const base = v.type.offsetOf(path);
  if (base === undefined) throw new RangeError(`no field '${path}'`);
  const t = v.type.layout[base].type;
  if (t !== want && !typeEquals(t, want)) throw new TypeError(`'${path}' is not a ${want.id}`);
  return base;
}

type TimeLike = { secondsPastEpoch: bigint | number; nanoseconds: number };

/** Milliseconds since the POSIX epoch of time_t fields (or of a value holding them). */
export function timeToMs(t: TimeLike): number {
  return Number(t.secondsPastEpoch) * 1000 + t.nanoseconds / 1e6;
}

/** A time_t value as a Date (millisecond precision). */
export function timeToDate(t: TimeLike): Date {
  return new Date(timeToMs(t));
}

/** Stores time_t fields at `path` (default 'timeStamp') of a value, marking them changed. */
export function setTimeStamp(v: PVStructure, t: TimeStampValue = timeNow(), path = 'timeStamp'): void {
  const base = subOffset(v, path, timeType);
  // offsets inside time_t are fixed: secondsPastEpoch, nanoseconds, userTag follow the struct
  v.setAt(base + 1, BigInt.asIntN(64, t.secondsPastEpoch));
  v.setAt(base + 2, t.nanoseconds | 0);
  v.setAt(base + 3, t.userTag | 0);
}

/** The time_t value at `path` of a structure. */
export function getTimeStamp(v: PVStructure, path = 'timeStamp'): TimeStampValue {
  return v.get(path) as TimeStampValue;
}

/** An alarm_t value. */
export interface AlarmValue {
  severity: number;
  status: number;
  message: string;
}

/** Stores alarm_t fields at `path` (default 'alarm'), marking them changed. */
export function setAlarm(v: PVStructure, a: Partial<AlarmValue>, path = 'alarm'): void {
  const base = subOffset(v, path, alarmType);
  if (a.severity !== undefined) v.setAt(base + 1, a.severity | 0);
  if (a.status !== undefined) v.setAt(base + 2, a.status | 0);
  if (a.message !== undefined) v.setAt(base + 3, String(a.message));
}
