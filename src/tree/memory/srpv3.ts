// SrpV3Memory: registers of real hardware (or Rogue's emulator) over SLAC's network stack —
// UDP → RSSI → packetizer → SRPv3 on a tDest — as PyRogue's UdpRssiPack + SrpV3 reach an FPGA.
// A Memory like Emulate: a Root or Device given one as memBase reads and writes the board.

import { performance } from 'node:perf_hooks';
import { type Memory, type Transaction, failTransaction } from './interface.ts';
import { SrpV3Client, type SrpV3ClientStats } from '../../srp/srpv3-client.ts';
import { SRP_HEADER_BYTES, SRP_MAX_BYTES, SRP_MIN_BYTES, SRP_TAIL_BYTES } from '../../srp/srpv3.ts';
import { UdpLink, type LinkListener } from '../../srp/udp-link.ts';
import { DeadlineTimer } from '../../srp/deadline-timer.ts';
import type { RssiParams } from '../../srp/rssi-header.ts';

/** The UDP port PyRogue's examples and SLAC firmware use for SRPv3 over RSSI. */
export const SRPV3_DEFAULT_PORT = 8192;

/**
 * Where an {@link SrpV3Memory} reaches the board (host, UDP port, packetizer, RSSI, tDest) and its
 * timeouts and retries.
 */
export interface SrpV3MemoryOptions {
  host: string;
  /** Default 8192. */
  port?: number;
  /** Packetizer version 1 (PyRogue's UdpRssiPack default) or 2, or 0 for none. Default 1. */
  packetizer?: 0 | 1 | 2;
  /** RSSI reliable link (default true); false: SRPv3 straight over UDP. */
  rssi?: boolean;
  /** tDest SRP runs on (default 0). */
  tDest?: number;
  /**
   * Seconds a transaction may take. Default: the transaction's own (the device's timeout,
   * 1 s unless set).
   */
  timeout?: number;
  /** Attempts after a transaction timed out, each with a fresh id (default 0). */
  retries?: number;
  /** Hardware bus timeout sent in requests, 100 ms units (default 10, as Rogue). */
  hwTimeout?: number;
  /** 8972-byte datagrams instead of 1472. */
  jumbo?: boolean;
  /** RSSI parameters to offer (Rogue's defaults otherwise). */
  rssiParams?: Partial<RssiParams>;
  /** First reconnect period and its cap, ms (default 100 and 1000). */
  tryPeriod?: number;
  maxTryPeriod?: number;
  /** Packetizer v2: check arriving CRCs (default false, as PyRogue) / send CRCs (default true). */
  ibCrc?: boolean;
  obCrc?: boolean;
  /** Local address to bind (default 127.0.0.1 for a loopback host, else all interfaces). */
  localAddress?: string;
}

/** Parse `srpv3://HOST[:PORT][?packetizer=1|2|0&rssi=0|1&tdest=N&timeout=S&retries=N&jumbo=1&crc=1]`. */
export function parseSrpV3Url(url: string): SrpV3MemoryOptions {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new RangeError(`not a URL: ${url} (expected srpv3://HOST:PORT)`);
  }
  if (u.protocol !== 'srpv3:') throw new RangeError(`unsupported memory URL scheme '${u.protocol}' in ${url} (expected srpv3://HOST:PORT)`);
  if (!u.hostname) throw new RangeError(`no host in ${url}`);
  const o: SrpV3MemoryOptions = { host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port ? Number(u.port) : SRPV3_DEFAULT_PORT };
  const int = (k: string, v: string): number => {
    if (!/^\d+$/.test(v)) throw new RangeError(`${k}=${v} in ${url} must be a whole number`);
    return Number(v);
  };
  const bool = (k: string, v: string): boolean => {
    if (!/^(0|1|true|false|yes|no)$/i.test(v)) throw new RangeError(`${k}=${v} in ${url} must be 0 or 1`);
    return /^(1|true|yes)$/i.test(v);
  };
  for (const [k, v] of u.searchParams) {
    switch (k) {
      case 'packetizer': {
        const n = int(k, v);
        if (n !== 0 && n !== 1 && n !== 2) throw new RangeError(`packetizer=${v} in ${url} must be 0, 1 or 2`);
        o.packetizer = n;
        break;
      }
      case 'rssi': o.rssi = bool(k, v); break;
      case 'tdest': o.tDest = int(k, v); break;
      case 'timeout': {
        const t = Number(v);
        if (!(t > 0)) throw new RangeError(`timeout=${v} in ${url} must be a positive number of seconds`);
        o.timeout = t;
        break;
      }
      case 'retries': o.retries = int(k, v); break;
      case 'jumbo': o.jumbo = bool(k, v); break;
      case 'crc': o.ibCrc = bool(k, v); break;
      default: throw new RangeError(`unknown option '${k}' in ${url} (packetizer, rssi, tdest, timeout, retries, jumbo, crc)`);
    }
  }
  return o;
}

export class SrpV3Memory implements Memory {
  readonly minAccess = SRP_MIN_BYTES;
  /** 4096, or less when RSSI runs without a packetizer (a frame must fit one segment). */
  readonly maxAccess: number;
  readonly tDest: number;
  private _link: UdpLink;
  private readonly makeLink: () => UdpLink;
  private readonly engine: SrpV3Client;
  private readonly timeoutMs: number | undefined;
  private readonly name: string;
  private readonly listeners = new Set<LinkListener>();
  private starting: Promise<void> | undefined;
  /** Stopped and not restarted: transactions fail at once. */
  private stopped = false;
  private readonly deadline: DeadlineTimer;

  constructor(opts: SrpV3MemoryOptions | string) {
    const o = typeof opts === 'string' ? parseSrpV3Url(opts) : opts;
    const port = o.port ?? SRPV3_DEFAULT_PORT;
    this.tDest = o.tDest ?? 0;
    if (!Number.isInteger(this.tDest) || this.tDest < 0 || this.tDest > 255) throw new RangeError('tDest must be 0…255');
    if (o.timeout !== undefined && !(o.timeout > 0)) throw new RangeError('timeout must be a positive number of seconds');
    this.timeoutMs = o.timeout !== undefined ? o.timeout * 1000 : undefined;
    this.name = `srpv3://${o.host}:${port}`;
    this.engine = new SrpV3Client({
      retries: o.retries,
      hwTimeout: o.hwTimeout,
      send: (frame) => void this._link.sendFrame(this.tDest, frame),
    });
    this.deadline = new DeadlineTimer(this.engine);
    this.makeLink = () => {
      const link = new UdpLink({
        role: 'client', host: o.host, port, localAddress: o.localAddress, rssi: o.rssi, packetizer: o.packetizer,
        jumbo: o.jumbo, rssiParams: o.rssiParams, tryPeriod: o.tryPeriod, maxTryPeriod: o.maxTryPeriod, ibCrc: o.ibCrc, obCrc: o.obCrc,
      });
      link.route(this.tDest, (frame, error) => {
        if (error) return; // a frame that ended in error is dropped (as Rogue's SrpV3)
        this.engine.receive(frame);
      });
      link.onLinkChange((open, detail) => {
        this.engine.setLink(open, `link ${open ? 'open' : 'down'}: ${detail}`, performance.now());
        this.arm();
        for (const l of [...this.listeners]) l(open, detail);
      });
      return link;
    };
    this._link = this.makeLink();
    const rssi = this._link.stack.rssi;
    this.maxAccess = rssi && !this._link.stack.packetizer
      ? Math.min(SRP_MAX_BYTES, Math.floor((rssi.maxPayload - SRP_HEADER_BYTES - SRP_TAIL_BYTES) / SRP_MIN_BYTES) * SRP_MIN_BYTES)
      : SRP_MAX_BYTES;
  }

  /** The UDP link under SRP (its stack has the RSSI and packetizer state and counters). */
  get link(): UdpLink { return this._link; }

  /**
   * Bind the socket and start opening the link (it opens in the background; see waitOpen).
   * After stop(), starts again on a fresh link.
   */
  start(): Promise<void> {
    if (this.stopped) {
      this.stopped = false;
      this.starting = undefined;
      this._link = this.makeLink();
    }
    return (this.starting ??= this._link.start().catch((e: Error) => {
      // e.g. an unknown host name: transactions fail naming it; a later start() tries again
      this.engine.setLink(false, `cannot open ${this.name}: ${e.message}`);
      this.starting = undefined;
      this._link = this.makeLink();
      throw e;
    }));
  }

  /** Close the link (RST to the peer) and fail what is outstanding. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.deadline.clear();
    this.engine.abortAll(`${this.name} closed`);
    await this._link.close();
  }

  /** Alias of stop. */
  close(): Promise<void> { return this.stop(); }

  async [Symbol.asyncDispose](): Promise<void> { await this.stop(); }

  /** The link to the hardware is open (RSSI connected; always true without RSSI once started). */
  get linkUp(): boolean { return !this.stopped && this._link.isOpen; }

  /** Hear the link open and go down (detail says why). Returns an unsubscribe function. */
  onLinkChange(l: LinkListener): () => void {
    this.listeners.add(l);
    return () => void this.listeners.delete(l);
  }

  /** Resolves once the link is open (starting it if needed); rejects after `ms`. */
  async waitOpen(ms = 5000): Promise<void> {
    await this.start();
    await this._link.waitOpen(ms);
  }

  /** Transaction counters (sent, completed, failed, timeouts, retries, unmatched, malformed). */
  get stats(): Readonly<SrpV3ClientStats> { return this.engine.stats; }

  /** Transactions submitted and not finished. */
  get outstanding(): number { return this.engine.outstanding; }

  toString(): string { return this.name; }

  doTransaction(t: Transaction): Promise<void> {
    if (this.stopped) return Promise.reject(failTransaction(t, `${this.name} is closed`));
    if (!this.starting) this.start().catch(() => {}); // a bind failure shows as the transaction's timeout
    return new Promise((resolve, reject) => {
      this.engine.submit({
        type: t.type,
        address: t.address,
        size: t.size,
        data: t.data,
        timeoutMs: this.timeoutMs ?? (t.timeout > 0 ? t.timeout * 1000 : 1000),
        done: (err) => {
          if (err === undefined) resolve();
          else reject(failTransaction(t, `${this.name}: ${err}`));
        },
      }, performance.now());
      this.arm();
    });
  }

  /** One timer at the engine's next deadline. */
  private arm(): void {
    if (!this.stopped) this.deadline.arm();
  }
}
