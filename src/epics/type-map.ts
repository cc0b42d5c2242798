// How tree variables map to pvData: the scalar type, the normative type, display precision/form.
import type { ScalarType } from '../pvdata/index.ts';
import { DisplayForm } from '../pvdata/nt.ts';
import { parseTypeStr, type NativeType } from '../tree/index.ts';

/** pvData kind for a tree variable: a scalar type, an enum, or a string of the display value. */
export type PvKind =
  | { kind: 'scalar'; type: ScalarType; array: boolean }
  | { kind: 'enum' }
  | { kind: 'display' };

const UINT: Record<number, ScalarType> = { 8: 'ubyte', 16: 'ushort', 32: 'uint', 64: 'ulong' };
const INT: Record<number, ScalarType> = { 8: 'byte', 16: 'short', 32: 'int', 64: 'long' };

/** Which kind of PV (scalar, array, enum, string …) a tree variable's native type is served as. */
export function pvKindOf(nt: NativeType): PvKind {
  const array = nt.length !== undefined;
  switch (nt.kind) {
    case 'uint':
      return { kind: 'scalar', type: UINT[nt.bits ?? 32] ?? 'ulong', array };
    case 'int':
      return { kind: 'scalar', type: INT[nt.bits ?? 32] ?? 'long', array };
    case 'float':
      return { kind: 'scalar', type: nt.bits === 32 ? 'float' : 'double', array };
    case 'bool':
      return { kind: 'scalar', type: 'boolean', array };
    case 'str':
      return { kind: 'scalar', type: 'string', array };
    case 'enum':
      return array ? { kind: 'scalar', type: 'int', array } : { kind: 'enum' };
    default:
      return { kind: 'display' };
  }
}

/** A command's argument or return typeStr as a pvData scalar type (string when unknown). */
export function scalarTypeOfTypeStr(typeStr: string | undefined): { type: ScalarType; array: boolean } | undefined {
  if (!typeStr) return undefined;
  try {
    const info = parseTypeStr(typeStr);
    const k = pvKindOf({
      kind: info.base === 'UInt' ? 'uint' : info.base === 'Int' ? 'int' : info.base === 'Float' ? 'float' : info.base === 'Bool' ? 'bool' : 'str',
      bits: info.base === 'UInt' || info.base === 'Int' ? (info.bits <= 8 ? 8 : info.bits <= 16 ? 16 : info.bits <= 32 ? 32 : 64) : info.bits || undefined,
      length: info.length,
    });
    return k.kind === 'scalar' ? { type: k.type, array: k.array } : { type: 'string', array: false };
  } catch {
    return { type: 'string', array: false };
  }
}

/** Precision and display form from a Python format string such as '{:.3f}', '{:#x}', '{:e}'. */
export function displayFormOf(disp: string | undefined): { precision: number; form: number } {
  const m = /\{[^}:]*:([^}]*)\}/.exec(disp ?? '');
  const spec = m?.[1] ?? '';
  const p = /\.(\d+)/.exec(spec);
  const precision = p ? Number(p[1]) : 0;
  const type = spec.at(-1) ?? '';
  let form: number = DisplayForm.DEFAULT;
  if (type === 'x' || type === 'X') form = DisplayForm.HEX;
  else if (type === 'b') form = DisplayForm.BINARY;
  else if (type === 'd') form = DisplayForm.DECIMAL;
  else if (type === 'e' || type === 'E') form = DisplayForm.EXPONENTIAL;
  else if (type === 's') form = DisplayForm.STRING;
  return { precision, form };
}

/** CA alarm condition DISABLE (epicsAlarmDisable). */
const CA_DISABLE = 18;

/**
 * Tree alarm state to NT alarm fields and the CA alarm condition. A failed hardware access wins:
 * INVALID severity, NT status DEVICE, CA condition READ, and the error as the message. A
 * disabled device's variables: INVALID severity, NT status RECORD with message 'DISABLE', CA
 * condition DISABLE.
 */
export function alarmOf(
  status: string,
  severity: string,
  error?: Error,
): { severity: number; status: number; message: string; caStatus: number } {
  if (error?.name === 'DeviceDisabled') return { severity: 3, status: 3, message: 'DISABLE', caStatus: CA_DISABLE };
  if (error) return { severity: 3, status: 1, message: error.message, caStatus: 1 };
  const sev = severity === 'AlarmMajor' ? 2 : severity === 'AlarmMinor' ? 1 : 0;
  switch (status) {
    case 'AlarmHiHi':
      return { severity: sev, status: 3, message: 'HIHI', caStatus: 3 };
    case 'AlarmHigh':
      return { severity: sev, status: 3, message: 'HIGH', caStatus: 4 };
    case 'AlarmLoLo':
      return { severity: sev, status: 3, message: 'LOLO', caStatus: 5 };
    case 'AlarmLow':
      return { severity: sev, status: 3, message: 'LOW', caStatus: 6 };
    default:
      return { severity: sev, status: 0, message: '', caStatus: 0 };
  }
}
