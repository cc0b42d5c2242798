// The layers between UDP datagrams and tDest frames, composed (sans-I/O): RSSI (optional) under
// the packetizer (optional, v1 or v2), as PyRogue's UdpRssiPack stacks them:
//
//   datagram ⇄ RSSI segment ⇄ packetizer segment ⇄ frame on a tDest
//
// Without RSSI, each datagram is one packetizer segment; without a packetizer, each datagram (or
// RSSI payload) is one frame on tDest 0.

import { RssiConnection, type RssiOptions } from './rssi.ts';
import type { RssiParams } from './rssi-header.ts';
import { Packetizer, type PacketizerVersion } from './packetizer.ts';

/** Largest UDP payload on a standard (1500) and jumbo (9000) MTU, as Rogue's udp::Core. */
export const UDP_MAX_PAYLOAD = 1472;
export const UDP_MAX_JUMBO_PAYLOAD = 8972;

export interface StackOptions {
  /** Server end of RSSI (waits for SYNs). Default false. */
  server?: boolean;
  /** Use RSSI (default true). */
  rssi?: boolean;
  /** Packetizer version, or 0 for none (default 1, as PyRogue's UdpRssiPack). */
  packetizer?: 0 | PacketizerVersion;
  /** Jumbo frames: 8972-byte datagrams instead of 1472. */
  jumbo?: boolean;
  /** RSSI parameters to offer (segment size defaults to the datagram size less 8, as PyRogue). */
  rssiParams?: Partial<RssiParams>;
  /** RSSI reconnect timing (ms). */
  tryPeriod?: number;
  maxTryPeriod?: number;
  /** Packetizer v2: check arriving CRCs (default false) / send CRCs (default true). */
  ibCrc?: boolean;
  obCrc?: boolean;
  /** A datagram to send. */
  sendDatagram(datagram: Uint8Array): void;
  /** A frame arrived on `tDest` (error: SSI EOFE). */
  onFrame(tDest: number, frame: Uint8Array, error: boolean): void;
  /** The link opened or went down. */
  onState?(open: boolean, detail: string): void;
}

export class LinkStack {
  readonly rssi: RssiConnection | undefined;
  readonly packetizer: Packetizer | undefined;
  private readonly sendDatagram: StackOptions['sendDatagram'];
  private readonly onFrame: StackOptions['onFrame'];
  private readonly onState: StackOptions['onState'];
  private readonly datagramMax: number;
  private started = false;
  /** Frames that could not be sent (link down, too large). */
  droppedTx = 0;

  constructor(opts: StackOptions) {
    this.sendDatagram = opts.sendDatagram;
    this.onFrame = opts.onFrame;
    this.onState = opts.onState;
    this.datagramMax = opts.jumbo ? UDP_MAX_JUMBO_PAYLOAD : UDP_MAX_PAYLOAD;
    const pv = opts.packetizer ?? 1;
    if (pv !== 0) {
      this.packetizer = new Packetizer({ version: pv, ibCrc: opts.ibCrc, obCrc: opts.obCrc, onFrame: (d, f, e) => this.onFrame(d, f, e) });
    }
    if (opts.rssi ?? true) {
      const ro: RssiOptions = {
        server: opts.server,
        params: { maxSegmentSize: this.datagramMax - 8, ...opts.rssiParams },
        tryPeriod: opts.tryPeriod,
        maxTryPeriod: opts.maxTryPeriod,
        send: (seg) => this.sendDatagram(seg),
        deliver: (payload) => this.up(payload),
        onState: (open, detail) => {
          if (!open) this.packetizer?.reset();
          this.onState?.(open, detail);
        },
      };
      this.rssi = new RssiConnection(ro);
    }
  }

  /** Frames can be sent. */
  get isOpen(): boolean {
    return this.started && (this.rssi ? this.rssi.isOpen : true);
  }

  start(now: number): void {
    this.started = true;
    if (this.rssi) this.rssi.start(now);
    else this.onState?.(true, 'UDP without RSSI: no link state');
  }

  stop(now: number): void {
    if (!this.started) return;
    this.started = false;
    if (this.rssi) this.rssi.stop(now);
    else this.onState?.(false, 'closed locally');
    this.packetizer?.reset();
  }

  /** A datagram from the socket. */
  receive(datagram: Uint8Array, now: number): void {
    if (!this.started) return;
    if (this.rssi) this.rssi.receive(datagram, now);
    else this.up(datagram);
  }

  private up(payload: Uint8Array): void {
    if (this.packetizer) this.packetizer.decode(payload);
    else this.onFrame(0, payload, false);
  }

  /** Largest segment the packetizer may hand down. */
  private segmentMax(): number {
    return this.rssi ? this.rssi.maxPayload : this.datagramMax;
  }

  /** Send a frame on `tDest`; false when the link is not open (the frame is dropped). */
  sendFrame(tDest: number, frame: Uint8Array, now: number): boolean {
    if (!this.isOpen) {
      this.droppedTx++;
      return false;
    }
    if (this.packetizer) {
      this.packetizer.encode(frame, tDest, this.segmentMax(), (seg) => this.down(seg, now));
    } else {
      if (tDest !== 0) throw new RangeError('without a packetizer only tDest 0 exists');
      if (this.rssi && frame.length > this.rssi.maxPayload) {
        throw new RangeError(`a ${frame.length}-byte frame does not fit one RSSI segment (${this.rssi.maxPayload}); use a packetizer`);
      }
      this.down(frame, now);
    }
    return true;
  }

  private down(seg: Uint8Array, now: number): void {
    if (this.rssi) this.rssi.sendData(seg, now);
    else this.sendDatagram(seg);
  }

  nextDeadline(): number {
    return this.rssi ? this.rssi.nextDeadline() : Infinity;
  }

  tick(now: number): void {
    this.rssi?.tick(now);
  }
}
