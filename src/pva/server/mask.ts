// Field selection for replies: which bits of a change set a client's pvRequest lets through.
import { BitSet, requestToMask, type PVStructure, type RequestOptions, type Structure } from '../../pvdata/index.ts';

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

/**
 * The selection and options a received pvRequest asks for (`putField`/`getField` sections for
 * put-get). Throws when the request names only fields the type lacks.
 */
export function selectionFromRequest(
  request: PVStructure | null | undefined,
  type: Structure,
  section: 'field' | 'putField' | 'getField' = 'field',
): { selection: Selection; options: RequestOptions } {
  const { mask, options, all } = requestToMask(request ?? undefined, type, section);
  return { selection: all ? selectAll(type) : new Selection(type, mask), options };
}
