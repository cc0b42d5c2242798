// SRPv3 emulation, the server side (sans-I/O): a register space in 4 KiB pages answering request
// frames with response frames, as Rogue's SrpV3Emulation does (a software FPGA for tests).

import {
  SRP_MAX_BYTES, SRP_MIN_BYTES, SrpFrameError, SrpOpcode, type SrpRequest, decodeSrpRequest, encodeSrpResponse,
} from './srpv3.ts';

const PAGE = 4096;

export interface SrpV3EmulationOptions {
  /** Contents of a page on first touch: zeros (default) or random words, as Rogue's emulator. */
  fill?: 'zero' | 'random';
  /**
   * Fault injection: return a non-zero status word to fail this request (the response then
   * carries no data, as firmware stopping early), or undefined to serve it.
   */
  fault?: (req: SrpRequest) => number | undefined;
}

/** Counters for tests. */
export interface SrpV3EmulationStats {
  reads: number;
  writes: number;
  posts: number;
  /** Frames dropped as invalid (bad version, size, opcode). */
  dropped: number;
  faults: number;
}

export class SrpV3Emulation {
  private readonly pages = new Map<number, Uint8Array>();
  private readonly fill: 'zero' | 'random';
  private readonly fault: SrpV3EmulationOptions['fault'];
  readonly stats: SrpV3EmulationStats = { reads: 0, writes: 0, posts: 0, dropped: 0, faults: 0 };

  constructor(opts: SrpV3EmulationOptions = {}) {
    this.fill = opts.fill ?? 'zero';
    this.fault = opts.fault;
  }

  /** Handle one request frame; returns the response, or undefined (posted write, or a frame Rogue's emulator drops). */
  handle(frame: Uint8Array): Uint8Array | undefined {
    let req: SrpRequest;
    try {
      req = decodeSrpRequest(frame);
    } catch (e) {
      if (!(e instanceof SrpFrameError)) throw e;
      this.stats.dropped++;
      return undefined;
    }
    if (req.opcode === SrpOpcode.null || req.size < SRP_MIN_BYTES || req.size > SRP_MAX_BYTES || req.size % SRP_MIN_BYTES !== 0) {
      this.stats.dropped++;
      return undefined;
    }
    const status = this.fault?.(req);
    if (status) {
      this.stats.faults++;
      return req.opcode === SrpOpcode.post ? undefined : encodeSrpResponse(req, new Uint8Array(0), status);
    }
    if (req.opcode === SrpOpcode.write || req.opcode === SrpOpcode.post) {
      this.write(req.address, req.data!);
      if (req.opcode === SrpOpcode.post) {
        this.stats.posts++;
        return undefined;
      }
      this.stats.writes++;
    } else {
      this.stats.reads++;
    }
    // every answered request carries the memory read back after it
    return encodeSrpResponse(req, this.read(req.address, req.size), 0);
  }

  private page(no: number): Uint8Array {
    let p = this.pages.get(no);
    if (!p) {
      p = new Uint8Array(PAGE);
      if (this.fill === 'random') for (let i = 0; i < PAGE; i++) p[i] = (Math.random() * 256) | 0;
      this.pages.set(no, p);
    }
    return p;
  }

  /** Copy of `size` bytes at `address`. */
  read(address: number, size: number): Uint8Array {
    const out = new Uint8Array(size);
    for (let done = 0; done < size; ) {
      const a = address + done;
      const no = Math.floor(a / PAGE);
      const off = a - no * PAGE;
      const n = Math.min(PAGE - off, size - done);
      out.set(this.page(no).subarray(off, off + n), done);
      done += n;
    }
    return out;
  }

  /** Store `data` at `address` (tests poke hardware state this way). */
  write(address: number, data: Uint8Array): void {
    for (let done = 0; done < data.length; ) {
      const a = address + done;
      const no = Math.floor(a / PAGE);
      const off = a - no * PAGE;
      const n = Math.min(PAGE - off, data.length - done);
      this.page(no).set(data.subarray(done, done + n), off);
      done += n;
    }
  }

  /** Pages touched so far. */
  get pageCount(): number { return this.pages.size; }
}
