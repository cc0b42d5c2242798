// Memories named in configuration (a YAML tree's `memory:` entry, `pvtree serve --memory`):
//
//   emulate                                   emulated memory (the default)
//   srpv3://HOST[:PORT][?packetizer=…&rssi=…&tdest=…&timeout=…&retries=…&jumbo=…&crc=…]
//   { type: srpv3, host, port, packetizer, rssi, tDest, timeout, retries, jumbo, crc }
//   { type: emulate }

import type { Memory } from './interface.ts';
import { Emulate } from './emulate.ts';
import { SRPV3_DEFAULT_PORT, SrpV3Memory, type SrpV3MemoryOptions, parseSrpV3Url } from './srpv3.ts';

const SRP_KEYS = ['type', 'host', 'port', 'packetizer', 'rssi', 'tDest', 'timeout', 'retries', 'jumbo', 'crc'];

/**
 * The memories of one tree, by what names them: the same board named twice is one link (an RSSI
 * server talks to one client at a time), and naming it twice with different options is an error.
 */
export class MemoryRegistry {
  private readonly byBoard = new Map<string, { key: string; memory: Memory }>();

  /** The memory `spec` names (see the file comment). Throws RangeError for a bad spec. */
  get(spec: unknown): Memory {
    if (spec === 'emulate') return new Emulate();
    if (typeof spec === 'string') return this.srp(parseSrpV3Url(spec));
    if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) {
      throw new RangeError('memory must be emulate, an srpv3:// URL or a mapping with type: srpv3');
    }
    const o = spec as Record<string, unknown>;
    if (o.type === 'emulate') {
      const extra = Object.keys(o).filter((k) => k !== 'type');
      if (extra.length) throw new RangeError(`memory type emulate takes no options (${extra.join(', ')})`);
      return new Emulate();
    }
    if (o.type !== 'srpv3') throw new RangeError(`memory type must be srpv3 or emulate, not ${JSON.stringify(o.type)}`);
    const bad = Object.keys(o).filter((k) => !SRP_KEYS.includes(k));
    if (bad.length) throw new RangeError(`unknown memory option${bad.length > 1 ? 's' : ''} ${bad.join(', ')} (${SRP_KEYS.slice(1).join(', ')})`);
    const num = (k: string, int = true): number | undefined => {
      const v = o[k];
      if (v === undefined) return undefined;
      const n = typeof v === 'bigint' ? Number(v) : v;
      if (typeof n !== 'number' || !Number.isFinite(n) || n < 0 || (int && !Number.isInteger(n))) throw new RangeError(`memory ${k} must be a ${int ? 'whole ' : ''}number ≥ 0`);
      return n;
    };
    const flag = (k: string): boolean | undefined => {
      const v = o[k];
      if (v === undefined) return undefined;
      if (typeof v !== 'boolean') throw new RangeError(`memory ${k} must be true or false`);
      return v;
    };
    if (typeof o.host !== 'string' || !o.host) throw new RangeError('memory type srpv3 needs a host');
    const packetizer = num('packetizer');
    if (packetizer !== undefined && packetizer !== 0 && packetizer !== 1 && packetizer !== 2) throw new RangeError('memory packetizer must be 0, 1 or 2');
    const timeout = num('timeout', false);
    if (timeout === 0) throw new RangeError('memory timeout must be more than 0 seconds');
    const opts: SrpV3MemoryOptions = {
      host: o.host, port: num('port') ?? SRPV3_DEFAULT_PORT, packetizer: packetizer as 0 | 1 | 2 | undefined, rssi: flag('rssi'),
      tDest: num('tDest'), timeout, retries: num('retries'), jumbo: flag('jumbo'), ibCrc: flag('crc'),
    };
    for (const k of Object.keys(opts) as (keyof SrpV3MemoryOptions)[]) if (opts[k] === undefined) delete opts[k];
    return this.srp(opts);
  }

  private srp(o: SrpV3MemoryOptions): Memory {
    const board = `${o.host}:${o.port ?? SRPV3_DEFAULT_PORT}`;
    const key = JSON.stringify(Object.entries({ ...o, port: o.port ?? SRPV3_DEFAULT_PORT }).sort());
    const seen = this.byBoard.get(board);
    if (seen) {
      if (seen.key !== key) throw new RangeError(`srpv3://${board} is named twice with different options`);
      return seen.memory;
    }
    const memory = new SrpV3Memory(o);
    this.byBoard.set(board, { key, memory });
    return memory;
  }
}

/** One memory from a spec (no sharing with other specs). */
export function memoryFromSpec(spec: unknown): Memory {
  return new MemoryRegistry().get(spec);
}
