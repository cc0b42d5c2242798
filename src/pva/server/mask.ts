// Field selection for replies: which bits of a change set a client's pvRequest lets through.
import { BitSet, type PVStructure, type Structure } from '../../pvdata/index.ts';

/** A client's field selection over a type, precomputed for per-update use. */
export class Selection {
  /** 1 where the field or one of its enclosing structures is selected. */
  private readonly covered: Uint8Array;
  readonly all: boolean;
  /** Stable key: subscribers with equal keys can share an encoded update. */
  readonly key: string;

  constructor(readonly type: Structure, readonly mask: BitSet) {
    const L = type.layout;
    this.all = mask.get(0);
    this.covered = new Uint8Array(L.length);
    for (let i = 0; i < L.length; i++) {
      const p = L[i].parent;
      this.covered[i] = this.all || mask.get(i) || (p >= 0 && this.covered[p] === 1) ? 1 : 0;
    }
    this.key = this.all ? '*' : mask.toArray().join(',');
  }

  /** Writes into `out` the bits of `changed` that this selection lets through. */
  filter(changed: BitSet, out: BitSet): BitSet {
    out.clear();
    if (this.all) return out.or(changed);
    const L = this.type.layout;
    for (let o = changed.nextSetBit(0); o >= 0 && o < L.length; o = changed.nextSetBit(o + 1)) {
      if (this.covered[o]) out.set(o);
      else if (L[o].type.kind === 'structure') {
        const end = L[o].end;
        for (let s = this.mask.nextSetBit(o + 1); s >= 0 && s < end; s = this.mask.nextSetBit(s + 1)) out.set(s);
      }
    }
    return out;
  }

  /** The bits of a complete (get) reply. */
  get full(): BitSet {
    return this.all ? BitSet.of(0) : this.mask;
  }
}

/** Every field. */
export function selectAll(type: Structure): Selection {
  return new Selection(type, BitSet.of(0));
}

/** Options a client put in `record._options`, as strings or numbers. */
export type RequestOptions = Record<string, string | number | boolean>;

/**
 * The selection and options a received pvRequest asks for. An absent or empty `field` selects
 * everything; a request naming only fields the type lacks is an error.
 */
export function selectionFromRequest(
  request: PVStructure | null | undefined,
  type: Structure,
): { selection: Selection; options: RequestOptions } {
  const options: RequestOptions = {};
  if (!request) return { selection: selectAll(type), options };
  const rt = request.type;
  const optOffset = rt.offsetOf('record._options');
  if (optOffset !== undefined) {
    const L = rt.layout;
    for (let i = optOffset + 1; i < L[optOffset].end; i++) {
      const v = request.data[i];
      if (v !== undefined && L[i].type.kind === 'scalar') options[L[i].name] = v as string | number | boolean;
    }
  }
  // put-get requests name their get part getField; plain requests use field
  const fieldOffset = rt.offsetOf('field') ?? rt.offsetOf('getField');
  if (fieldOffset === undefined || rt.layout[fieldOffset].end === fieldOffset + 1) {
    return { selection: selectAll(type), options };
  }
  const mask = new BitSet();
  const unknown: string[] = [];
  const L = rt.layout;
  const base = L[fieldOffset].path;
  for (let i = fieldOffset + 1; i < L[fieldOffset].end; i++) {
    const e = L[i];
    // a leaf of the request tree (an empty structure) names a selected field
    if (e.type.kind === 'structure' && e.end === i + 1) {
      const path = e.path.slice(base.length + 1);
      const o = type.offsetOf(path);
      if (o === undefined) unknown.push(path);
      else mask.set(o);
    }
  }
  if (mask.isEmpty()) {
    throw new Error(`pvRequest selects no field of this PV${unknown.length ? ` (unknown: ${unknown.join(', ')})` : ''}`);
  }
  return { selection: new Selection(type, mask), options };
}
