// pvData type descriptions: scalars, arrays, structures (with type id), unions, variant unions,
// structure and union arrays. Structures precompute their depth-first field numbering, which is
// both the BitSet numbering on the wire and the index into a value's storage.

/** The pvData scalar types. */
export type ScalarType =
  | 'boolean'
  | 'byte'
  | 'short'
  | 'int'
  | 'long'
  | 'ubyte'
  | 'ushort'
  | 'uint'
  | 'ulong'
  | 'float'
  | 'double'
  | 'string';

/** Every {@link ScalarType}. */
export const SCALAR_TYPES: readonly ScalarType[] = [
  'boolean', 'byte', 'short', 'int', 'long', 'ubyte', 'ushort', 'uint', 'ulong', 'float', 'double', 'string',
];

/** Wire type codes of the scalar types (the array forms add 0x08). */
export const SCALAR_CODE: Record<ScalarType, number> = {
  boolean: 0x00,
  byte: 0x20,
  short: 0x21,
  int: 0x22,
  long: 0x23,
  ubyte: 0x24,
  ushort: 0x25,
  uint: 0x26,
  ulong: 0x27,
  float: 0x42,
  double: 0x43,
  string: 0x60,
};

/** Scalar type by its type-code byte. */
export const CODE_SCALAR: Map<number, ScalarType> = new Map(
  Object.entries(SCALAR_CODE).map(([k, v]) => [v, k as ScalarType]),
);

/** Byte width of fixed-size scalars (string is variable: 0). */
export const SCALAR_WIDTH: Record<ScalarType, number> = {
  boolean: 1, byte: 1, short: 2, int: 4, long: 8, ubyte: 1, ushort: 2, uint: 4, ulong: 8, float: 4, double: 8, string: 0,
};

/** Type names as the pvxs tools print them. */
export const SCALAR_CNAME: Record<ScalarType, string> = {
  boolean: 'bool', byte: 'int8_t', short: 'int16_t', int: 'int32_t', long: 'int64_t', ubyte: 'uint8_t',
  ushort: 'uint16_t', uint: 'uint32_t', ulong: 'uint64_t', float: 'float', double: 'double', string: 'string',
};

/** Description of a scalar field. */
export interface ScalarDesc {
  readonly kind: 'scalar';
  readonly type: ScalarType;
  /** Bounded string maximum length (type code 0x83). */
  readonly bound?: number;
}

/** Description of a scalar array field. */
export interface ScalarArrayDesc {
  readonly kind: 'scalarArray';
  readonly type: ScalarType;
  /** Bounded (0x10) or fixed (0x18) array size; plain variable arrays have none. */
  readonly bound?: number;
  readonly fixed?: boolean;
}

/** A named field of a structure or union. */
export interface Member {
  readonly name: string;
  readonly type: FieldDesc;
}

/** Description of a variant union field (`any`): each value carries its own type. */
export interface AnyDesc {
  readonly kind: 'any';
}

/** Description of an array of structures. */
export interface StructureArrayDesc {
  readonly kind: 'structureArray';
  readonly element: Structure;
}

/** Description of an array of unions. */
export interface UnionArrayDesc {
  readonly kind: 'unionArray';
  readonly element: UnionDesc;
}

/** Description of a (regular) union: an id and the members it can hold. */
export class UnionDesc {
  readonly kind = 'union' as const;
  readonly index: ReadonlyMap<string, number>;
  constructor(readonly id: string, readonly fields: readonly Member[]) {
    this.index = new Map(fields.map((m, i) => [m.name, i]));
  }
}

/** One entry of a structure's depth-first layout. */
export interface LayoutEntry {
  /** Dotted path from the top structure ('' for the top itself). */
  readonly path: string;
  readonly name: string;
  readonly type: FieldDesc;
  /** Bit number / storage index. */
  readonly offset: number;
  /** One past the last offset of this field's subtree. */
  readonly end: number;
  /** Offset of the enclosing structure (-1 for the top). */
  readonly parent: number;
}

/**
 * Description of a structure: its id and fields, with the depth-first field numbering that BitSets
 * and values use. Built with {@link struct}.
 */
export class Structure {
  readonly kind = 'structure' as const;
  readonly layout: readonly LayoutEntry[];
  private readonly byPath: Map<string, number>;
  private readonly memberIndex: Map<string, number>;

  constructor(readonly id: string, readonly fields: readonly Member[]) {
    const layout: LayoutEntry[] = [];
    const walk = (s: Structure, prefix: string, parent: number, name: string, type: FieldDesc): void => {
      const offset = layout.length;
      const entry = { path: prefix, name, type, offset, end: 0, parent };
      layout.push(entry);
      if (type.kind === 'structure') {
        for (const m of type.fields) walk(s, prefix ? `${prefix}.${m.name}` : m.name, offset, m.name, m.type);
      }
      entry.end = layout.length;
    };
    walk(this, '', -1, '', this);
    this.layout = layout;
    this.byPath = new Map(layout.map((e) => [e.path, e.offset]));
    this.memberIndex = new Map(fields.map((m, i) => [m.name, i]));
  }

  /** Number of fields including the top structure: the BitSet width. */
  get numberOfFields(): number {
    return this.layout.length;
  }

  offsetOf(path: string): number | undefined {
    return this.byPath.get(path);
  }

  field(name: string): FieldDesc | undefined {
    const i = this.memberIndex.get(name);
    return i === undefined ? undefined : this.fields[i].type;
  }

  /** Type at a dotted path, or undefined. */
  typeAt(path: string): FieldDesc | undefined {
    const o = this.byPath.get(path);
    return o === undefined ? undefined : this.layout[o].type;
  }
}

/** Description of any pvData field. */
export type FieldDesc = ScalarDesc | ScalarArrayDesc | Structure | UnionDesc | AnyDesc | StructureArrayDesc | UnionArrayDesc;

// ---- builders ----

const scalarCache = new Map<ScalarType, ScalarDesc>();
const arrayCache = new Map<ScalarType, ScalarArrayDesc>();
for (const t of SCALAR_TYPES) {
  scalarCache.set(t, Object.freeze({ kind: 'scalar', type: t }));
  arrayCache.set(t, Object.freeze({ kind: 'scalarArray', type: t }));
}

/** The description of a scalar of this type (shared, frozen). */
export function scalar(type: ScalarType): ScalarDesc {
  return scalarCache.get(type)!;
}

/** The description of an array of this scalar type (shared, frozen). */
export function scalarArray(type: ScalarType): ScalarArrayDesc {
  return arrayCache.get(type)!;
}

/** The variant union (`any`) description. */
export const ANY: AnyDesc = Object.freeze({ kind: 'any' });

/** A field given as a type name ('double', 'string[]', 'any') or a description. */
export type FieldSpec = FieldDesc | `${ScalarType}` | `${ScalarType}[]` | 'any';

/** A type description from a type name ('double', 'string[]', 'any') or a description. */
export function toDesc(spec: FieldSpec): FieldDesc {
  if (typeof spec !== 'string') return spec;
  if (spec === 'any') return ANY;
  if (spec.endsWith('[]')) {
    const t = spec.slice(0, -2) as ScalarType;
    if (!arrayCache.has(t)) throw new TypeError(`unknown scalar type '${t}'`);
    return scalarArray(t);
  }
  if (!scalarCache.has(spec as ScalarType)) throw new TypeError(`unknown scalar type '${spec}'`);
  return scalar(spec as ScalarType);
}

/**
 * A structure description from its id and fields.
 *
 * ```ts
 * const point = struct('point_t', { x: 'double', y: 'double', tags: 'string[]' });
 * ```
 */
export function struct(id: string, fields: Record<string, FieldSpec> | readonly Member[]): Structure {
  const members = Array.isArray(fields)
    ? (fields as readonly Member[])
    : Object.entries(fields as Record<string, FieldSpec>).map(([name, t]) => ({ name, type: toDesc(t) }));
  return new Structure(id, members);
}

/** A (regular) union description from its id and members. */
export function union(id: string, fields: Record<string, FieldSpec>): UnionDesc {
  return new UnionDesc(
    id,
    Object.entries(fields).map(([name, t]) => ({ name, type: toDesc(t) })),
  );
}

/** The description of an array of this structure. */
export function structArray(element: Structure): StructureArrayDesc {
  return { kind: 'structureArray', element };
}

/** The description of an array of this union. */
export function unionArray(element: UnionDesc): UnionArrayDesc {
  return { kind: 'unionArray', element };
}

/** Structural equality of two type descriptions. */
export function typeEquals(a: FieldDesc, b: FieldDesc): boolean {
  if (a === b) return true;
  if (a.kind !== b.kind) return false;
  switch (a.kind) {
    case 'scalar':
    case 'scalarArray':
      // a fixed array and a bounded one of the same size are different types (0x18 vs 0x10)
      return (
        a.type === (b as typeof a).type &&
        a.bound === (b as typeof a).bound &&
        (a.kind === 'scalar' || !!a.fixed === !!(b as ScalarArrayDesc).fixed)
      );
    case 'any':
      return true;
    case 'structure':
    case 'union': {
      const bb = b as typeof a;
      if (a.id !== bb.id || a.fields.length !== bb.fields.length) return false;
      for (let i = 0; i < a.fields.length; i++) {
        if (a.fields[i].name !== bb.fields[i].name || !typeEquals(a.fields[i].type, bb.fields[i].type)) return false;
      }
      return true;
    }
    case 'structureArray':
    case 'unionArray':
      return typeEquals(a.element, (b as typeof a).element);
  }
}

/** The type as pvxs's tools print it (one line per field, indented). */
export function formatType(t: FieldDesc, name = '', indent = 0): string {
  const pad = '    '.repeat(indent);
  const nm = name ? ` ${name}` : '';
  switch (t.kind) {
    case 'scalar':
      return `${pad}${SCALAR_CNAME[t.type]}${nm}\n`;
    case 'scalarArray':
      return `${pad}${SCALAR_CNAME[t.type]}[]${nm}\n`;
    case 'any':
      return `${pad}any${nm}\n`;
    case 'structure':
    case 'union': {
      let s = `${pad}${t.kind === 'structure' ? 'struct' : 'union'}${t.id ? ` "${t.id}"` : ''}${nm}\n`;
      for (const m of t.fields) s += formatType(m.type, m.name, indent + 1);
      return s;
    }
    case 'structureArray':
    case 'unionArray': {
      const e = t.element;
      let s = `${pad}${t.kind === 'structureArray' ? 'struct' : 'union'}[]${e.id ? ` "${e.id}"` : ''}${nm}\n`;
      for (const m of e.fields) s += formatType(m.type, m.name, indent + 1);
      return s;
    }
  }
}
