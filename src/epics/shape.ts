// PvShape: the pvData form of one kind of served variable (its normative type and the offsets a
// holder writes), built once per distinct kind and shared by every PV of that kind, so a served PV
// carries no type of its own.
import type { Structure } from '../pvdata/index.ts';
import { ntEnum, ntScalar, ntScalarArray } from '../pvdata/nt.ts';
import type { BaseVariable } from '../tree/index.ts';
import { pvKindOf, type PvKind } from './type-map.ts';

/** Offsets into a shape's layout; -1 when the type has no such field. */
export interface PvShape {
  readonly kind: PvKind;
  readonly type: Structure;
  readonly value: number;
  /** alarm; its leaves severity, status, message follow at +1, +2, +3. */
  readonly alarm: number;
  /** timeStamp; its leaves secondsPastEpoch, nanoseconds, userTag follow at +1, +2, +3. */
  readonly timeStamp: number;
  readonly description: number;
  readonly units: number;
  readonly displayLow: number;
  readonly displayHigh: number;
  readonly precision: number;
  /** display.form; its leaves index and choices follow at +1, +2. */
  readonly form: number;
  readonly controlLow: number;
  readonly controlHigh: number;
  /** valueAlarm; its leaves follow in NT order (active, the four limits, the four severities). */
  readonly valueAlarm: number;
}

function keyOf(k: PvKind): string {
  return k.kind === 'scalar' ? `${k.array ? 'A' : 'S'}:${k.type}` : k.kind;
}

function typeOf(k: PvKind): Structure {
  if (k.kind === 'enum') return ntEnum();
  if (k.kind === 'display') return ntScalar('string', { display: true });
  if (k.array) return ntScalarArray(k.type, { display: true, control: true });
  return ntScalar(k.type, { display: true, control: true, valueAlarm: true });
}

function build(kind: PvKind): PvShape {
  const type = typeOf(kind);
  const at = (path: string): number => type.offsetOf(path) ?? -1;
  return {
    kind,
    type,
    value: at('value'),
    alarm: at('alarm'),
    timeStamp: at('timeStamp'),
    description: at('display.description'),
    units: at('display.units'),
    displayLow: at('display.limitLow'),
    displayHigh: at('display.limitHigh'),
    precision: at('display.precision'),
    form: at('display.form'),
    controlLow: at('control.limitLow'),
    controlHigh: at('control.limitHigh'),
    valueAlarm: at('valueAlarm'),
  };
}

const shapes = new Map<string, PvShape>();

/** The shared shape of a PV kind. */
export function shapeOfKind(kind: PvKind): PvShape {
  const key = keyOf(kind);
  let s = shapes.get(key);
  if (!s) {
    s = build(kind);
    shapes.set(key, s);
  }
  return s;
}

/** The shared shape of a tree variable's PV. */
export function shapeOf(variable: BaseVariable<unknown>): PvShape {
  return shapeOfKind(pvKindOf(variable.nativeType));
}
