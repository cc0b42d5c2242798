// A software FPGA on UDP: the server side of the stack (UDP, RSSI server, packetizer) with an
// SRPv3 emulator on its tDest, as Rogue's udp.Server + rssi.Server + packetizer + SrpV3Emulation.
// pvtree's tests and benchmarks run the whole client path against it on loopback.

import { UdpLink, type UdpLinkOptions } from './udp-link.ts';
import { SrpV3Emulation, type SrpV3EmulationOptions } from './srpv3-emulation.ts';

export interface SrpV3EmulatorServerOptions extends Omit<UdpLinkOptions, 'role' | 'host' | 'port'>, SrpV3EmulationOptions {
  /** UDP port (default 0: any free port; read `port` after start). */
  port?: number;
  /** tDest the SRP emulator listens on (default 0). */
  tDest?: number;
  /**
   * Answer out of order: hold responses until this many are waiting (or 2 ms passed), then send
   * them newest first. Default 1 (in order).
   */
  reorder?: number;
}

export class SrpV3EmulatorServer {
  readonly link: UdpLink;
  readonly emulation: SrpV3Emulation;
  private readonly tDest: number;
  private readonly reorder: number;
  private held: Uint8Array[] = [];
  private flushTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(opts: SrpV3EmulatorServerOptions = {}) {
    this.link = new UdpLink({ ...opts, role: 'server', port: opts.port ?? 0 });
    this.emulation = new SrpV3Emulation(opts);
    this.tDest = opts.tDest ?? 0;
    this.reorder = Math.max(1, opts.reorder ?? 1);
    this.link.route(this.tDest, (frame, error) => {
      if (error) return; // an errored frame is dropped, as Rogue's emulator
      const resp = this.emulation.handle(frame);
      if (resp) this.respond(resp);
    });
  }

  private respond(resp: Uint8Array): void {
    if (this.reorder === 1) {
      this.link.sendFrame(this.tDest, resp);
      return;
    }
    this.held.push(resp);
    if (this.held.length >= this.reorder) this.flush();
    else this.flushTimer ??= setTimeout(() => this.flush(), 2);
  }

  private flush(): void {
    if (this.flushTimer !== undefined) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    const out = this.held.reverse();
    this.held = [];
    for (const r of out) this.link.sendFrame(this.tDest, r);
  }

  async start(): Promise<this> {
    await this.link.start();
    return this;
  }

  /** The bound UDP port. */
  get port(): number {
    return this.link.port;
  }

  async close(): Promise<void> {
    if (this.flushTimer !== undefined) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    await this.link.close();
  }
}
