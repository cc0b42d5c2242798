// Sans-I/O server side of one CA TCP circuit (the UDP search responder is udp-responder.ts).
// The socket glue feeds received bytes in and provides a transport for output.

import {
  CA_ACCESS_READ,
  CA_ACCESS_WRITE,
  CA_ADDRESS_USE_SENDER,
  CA_MINOR_VERSION,
  CaCommand,
  DBE_ALARM,
  DBE_PROPERTY,
  DBE_VALUE,
  DBR,
  ECA,
  SEARCH_DO_REPLY,
  dbrValueType,
  isValidDbrType,
} from './constants.ts';
import { CaConversionError, clientValueToNative, currentCount, nativeDbrType, snapshotToDbr } from './convert.ts';
import { decodeDbr, encodeDbrMessage } from './dbr.ts';
import { CaStreamDecoder, DEFAULT_MAX_PAYLOAD_SIZE } from './framer.ts';
import { encodeMessage, type CaFrame, type CaHeader, type CaMessage } from './messages.ts';
import { RequestOrder } from '../util/request-order.ts';
import type { CaClientInfo, CaPv, CaSource } from './source.ts';

/** Severity of a message a {@link CaServerConnection} logs. */
export type CaLogLevel = 'debug' | 'info' | 'warn' | 'error';
/** Where a {@link CaServerConnection} sends its log messages. */
export type CaLogger = (level: CaLogLevel, message: string) => void;

/** `s` with control characters (newlines included) written as \xNN, for one-line log messages. */
function escapeControl(s: string): string {
  // eslint-disable-next-line no-control-regex
  return /[\x00-\x1f\x7f]/.test(s) ? s.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`) : s;
}

/**
 * What a {@link CaServerConnection} writes to: the socket of one client circuit, or a test double.
 */
export interface CaConnectionTransport {
  /**
   * Queues bytes for the peer. Returns false when the transport is congested;
   * the connection then holds monitor updates (keeping only the latest) until
   * drained() is called.
   */
  send(bytes: Uint8Array): boolean;
  /** Closes the circuit (the connection has already logged why). */
  close(reason: string): void;
}

/** Settings of one Channel Access client circuit ({@link CaServerConnection}). */
export interface CaConnectionOptions {
  source: CaSource;
  /** The server's TCP port, reported in SEARCH replies sent over this circuit. */
  serverPort: number;
  maxPayloadSize?: number;
  /** Peer address for logs and write contexts. */
  clientAddress?: string;
  log?: CaLogger;
}

interface Channel {
  sid: number;
  cid: number;
  name: string;
  pv: CaPv;
  subscriptions: Set<Subscription>;
  /** Access rights last sent to the client. */
  access: number;
  /** Stops watching the PV for access-rights changes. */
  unwatch: () => void;
  /** Keeps this channel's reads, writes and subscriptions in the order the client sent them. */
  order: RequestOrder;
}

interface Subscription {
  id: number;
  channel: Channel;
  dataType: number;
  count: number;
  mask: number;
  unsubscribe: () => void;
  /** An update is owed but was held back (congestion or EVENTS_OFF). */
  dirty: boolean;
}

const noop = (): void => {};

type ReadNotifyMessage = Extract<CaMessage, { kind: 'readNotify' }>;
type WriteMessage = Extract<CaMessage, { kind: 'write' | 'writeNotify' }>;
type EventAddMessage = Extract<CaMessage, { kind: 'eventAdd' }>;

/**
 * Why a request for DBR type `dataType` (and, when given, `count` elements) cannot be served on the
 * channel: the ECA status and a message naming the channel; undefined when it can.
 */
function dbrRequestError(ch: Channel, dataType: number, count?: number): { status: number; message: string } | undefined {
  if (!isValidDbrType(dataType)) return { status: ECA.BADTYPE, message: `${ch.name}: unsupported DBR type ${dataType}` };
  if (count !== undefined && count > ch.pv.maxCount) {
    return { status: ECA.BADCOUNT, message: `${ch.name}: count ${count} exceeds ${ch.pv.maxCount}` };
  }
  return undefined;
}

/**
 * One Channel Access client circuit, sans-I/O: bytes from the client go in ({@link
 * CaServerConnection.receive}), replies and monitor updates go out through the transport.
 * Channels, subscriptions, access rights and the order of requests per channel live here; {@link
 * CaServer} adds the sockets.
 */
export class CaServerConnection {
  private readonly decoder: CaStreamDecoder;
  private readonly channels = new Map<number, Channel>();
  private readonly subscriptions = new Map<number, Subscription>();
  private readonly dirty = new Set<Subscription>();
  private nextSid = 1;
  private congested = false;
  private eventsOff = false;
  private closed = false;
  private readonly log: CaLogger;
  clientMinorVersion = 0;
  clientPriority = 0;
  userName = '';
  hostName = '';

  constructor(
    private readonly transport: CaConnectionTransport,
    private readonly options: CaConnectionOptions,
  ) {
    this.decoder = new CaStreamDecoder('c2s', { maxPayloadSize: options.maxPayloadSize ?? DEFAULT_MAX_PAYLOAD_SIZE });
    const sink = options.log ?? noop;
    // names, user and host names come from the client: control characters would let it forge log lines
    this.log = (level, message) => sink(level, escapeControl(message));
  }

  get channelCount(): number {
    return this.channels.size;
  }
  get subscriptionCount(): number {
    return this.subscriptions.size;
  }
  get isClosed(): boolean {
    return this.closed;
  }

  /** Sends the server's VERSION greeting (RSRV sends it on accept). */
  start(): void {
    this.send({ kind: 'version', priority: 0, minorVersion: CA_MINOR_VERSION, sequence: 0 });
  }

  /** Feeds bytes received from the client. */
  receive(chunk: Uint8Array): void {
    if (this.closed) return;
    for (const r of this.decoder.push(chunk)) {
      if (this.closed) return;
      if (!r.ok) {
        this.fail(`bad frame from ${this.who()}: ${r.error.message}`);
        return;
      }
      try {
        this.handle(r.message, r.frame);
      } catch (e) {
        this.fail(`error handling command ${r.frame.header.command} from ${this.who()}: ${(e as Error).message}`);
        return;
      }
    }
  }

  /** The transport can take more data: send held-back monitor updates. */
  drained(): void {
    this.congested = false;
    this.flushDirty();
  }

  /** Tears down all channels and subscriptions (idempotent). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.subscriptions.values()) s.unsubscribe();
    for (const ch of this.channels.values()) ch.unwatch();
    this.subscriptions.clear();
    this.channels.clear();
    this.dirty.clear();
  }

  /** Tells the client a channel is gone (e.g. its PV was removed) and forgets it. */
  disconnectChannelsFor(pv: CaPv): void {
    for (const ch of [...this.channels.values()]) {
      if (ch.pv !== pv) continue;
      this.dropChannel(ch);
      this.send({ kind: 'serverDisconn', cid: ch.cid });
    }
  }

  // -------------------------------------------------------------------------

  private who(): string {
    const id = [this.userName, this.hostName].filter(Boolean).join('@');
    return `${this.options.clientAddress ?? 'client'}${id ? ` (${id})` : ''}`;
  }

  private fail(reason: string): void {
    this.log('warn', `ca: ${reason}; closing connection`);
    this.close();
    this.transport.close(reason);
  }

  private send(m: CaMessage): void {
    this.sendBytes(encodeMessage(m));
  }

  private sendBytes(b: Uint8Array): void {
    if (this.closed) return;
    if (!this.transport.send(b)) this.congested = true;
  }

  private sendError(request: CaHeader, cid: number, status: number, message: string): void {
    this.send({ kind: 'error', cid, status, request, message });
  }

  private handle(m: CaMessage, frame: CaFrame): void {
    switch (m.kind) {
      case 'version':
        this.clientMinorVersion = m.minorVersion;
        this.clientPriority = m.priority;
        return;
      case 'clientName':
        this.userName = m.name;
        if (this.channels.size) this.recomputeAccess();
        return;
      case 'hostName':
        this.hostName = m.name;
        if (this.channels.size) this.recomputeAccess();
        return;
      case 'echo':
        this.send({ kind: 'echo' });
        return;
      case 'readSync':
        this.send({ kind: 'readSync' });
        return;
      case 'eventsOff':
        this.eventsOff = true;
        return;
      case 'eventsOn':
        this.eventsOff = false;
        this.flushDirty();
        return;
      case 'search': {
        const pv = this.lookup(m.name);
        if (pv) this.send({ kind: 'searchReply', port: this.options.serverPort, serverAddress: CA_ADDRESS_USE_SENDER, cid: m.cid });
        else if (m.reply === SEARCH_DO_REPLY) this.send({ kind: 'notFound', reply: m.reply, minorVersion: CA_MINOR_VERSION, cid: m.cid });
        return;
      }
      case 'createChan':
        this.createChannel(m.cid, m.name);
        return;
      case 'clearChannel': {
        const ch = this.channels.get(m.sid);
        if (!ch) {
          this.sendError(frame.header, m.cid, ECA.BADCHID, `no channel with server id ${m.sid}`);
          return;
        }
        this.dropChannel(ch);
        this.send({ kind: 'clearChannel', sid: ch.sid, cid: ch.cid });
        return;
      }
      // A channel's reads, writes and subscriptions are answered in the order they came (see
      // RequestOrder): a read after a write waits for the write; other channels do not wait.
      case 'readNotify': {
        const ch = this.channelFor(m.sid, frame.header);
        if (ch) ch.order.read(() => this.read(ch, m));
        return;
      }
      case 'write':
      case 'writeNotify': {
        const ch = this.channelFor(m.sid, frame.header);
        if (ch) ch.order.write(() => this.write(ch, m, frame.header));
        return;
      }
      case 'eventAdd': {
        const ch = this.channelFor(m.sid, frame.header);
        if (ch) ch.order.read(() => this.addSubscription(ch, m, frame.header));
        return;
      }
      case 'eventCancel': {
        const ch = this.channels.get(m.sid);
        if (!ch) {
          const sub = this.subscriptions.get(m.subscriptionId);
          this.sendError(frame.header, sub?.channel.cid ?? 0xffffffff, ECA.BADMONID, `no subscription ${m.subscriptionId}`);
          return;
        }
        ch.order.read(() => this.cancelSubscription(ch, m.subscriptionId, frame.header));
        return;
      }
      default:
        this.log('debug', `ca: ignoring command ${frame.header.command} (${m.kind}) from ${this.who()}`);
        return;
    }
  }

  private clientInfo(): CaClientInfo {
    const info: CaClientInfo = {};
    if (this.options.clientAddress) info.address = this.options.clientAddress;
    if (this.userName) info.user = this.userName;
    if (this.hostName) info.host = this.hostName;
    return info;
  }

  private lookup(name: string): CaPv | undefined {
    try {
      return this.options.source.lookup(name, this.clientInfo());
    } catch (e) {
      this.log('error', `ca: source lookup of "${name}" failed: ${(e as Error).message}`);
      return undefined;
    }
  }

  private createChannel(cid: number, name: string): void {
    const pv = this.lookup(name);
    if (!pv) {
      this.send({ kind: 'createChFail', cid });
      return;
    }
    let sid = this.nextSid++ >>> 0;
    while (this.channels.has(sid)) sid = this.nextSid++ >>> 0;
    const access = this.accessOf(pv);
    const order = new RequestOrder((e) => this.log('error', `ca: request on ${name} from ${this.who()} failed: ${(e as Error).message}`));
    const ch: Channel = { sid, cid, name, pv, subscriptions: new Set(), access, unwatch: noop, order };
    this.channels.set(sid, ch);
    ch.unwatch = pv.subscribe((events) => {
      if ((events & DBE_PROPERTY) === 0 || this.closed) return;
      if (this.channels.get(ch.sid) === ch) this.updateAccess(ch);
    });
    this.send({ kind: 'accessRights', cid, access });
    this.send({ kind: 'createChanReply', dataType: nativeDbrType(pv.nativeType), count: pv.maxCount, cid, sid });
  }

  /** This client's rights on a PV: the PV's per-client answer, else READ and WRITE when writable. */
  private accessOf(pv: CaPv): number {
    if (!pv.accessRights) return CA_ACCESS_READ | (pv.writable ? CA_ACCESS_WRITE : 0);
    try {
      return pv.accessRights(this.clientInfo()) & (CA_ACCESS_READ | CA_ACCESS_WRITE);
    } catch (e) {
      this.log('error', `ca: access check for ${this.who()} failed: ${(e as Error).message}; no access`);
      return 0;
    }
  }

  /**
   * Re-evaluates the rights on one channel; when they changed, sends ACCESS_RIGHTS and, as rsrv
   * does, one event to each subscription: the value when READ came back, ECA_NORDACCESS when it went.
   */
  private updateAccess(ch: Channel): void {
    const now = this.accessOf(ch.pv);
    if (now === ch.access) return;
    const readMoved = ((now ^ ch.access) & CA_ACCESS_READ) !== 0;
    ch.access = now;
    this.send({ kind: 'accessRights', cid: ch.cid, access: now });
    if (readMoved) for (const sub of ch.subscriptions) this.post(sub);
  }

  /** Re-evaluates this client's rights on every channel (the rules, or the client's names, changed). */
  recomputeAccess(): void {
    if (this.closed) return;
    for (const ch of [...this.channels.values()]) this.updateAccess(ch);
  }

  private dropChannel(ch: Channel): void {
    ch.unwatch();
    for (const s of [...ch.subscriptions]) this.removeSubscription(s);
    this.channels.delete(ch.sid);
  }

  /** The channel a request names, or undefined after telling the client ECA_BADCHID. */
  private channelFor(sid: number, header: CaHeader): Channel | undefined {
    const ch = this.channels.get(sid);
    if (!ch) this.sendError(header, 0xffffffff, ECA.BADCHID, `no channel with server id ${sid}`);
    return ch;
  }

  /**
   * Encodes a read reply or monitor update of the PV's current value as
   * `dataType`; requested count 0 means the current length. A failed conversion
   * is sent as ECA_GETFAIL with a zeroed payload.
   */
  private encodeReply(command: number, pv: CaPv, dataType: number, requested: number, ioid: number): Uint8Array {
    let count = requested;
    try {
      const snap = pv.snapshot();
      if (count === 0) count = currentCount(snap, pv.maxCount);
      const dbr = snapshotToDbr(pv.nativeType, snap, pv.metadata(), dataType, count);
      return encodeDbrMessage(
        { command, dataType, count, parameter1: ECA.NORMAL, parameter2: ioid },
        dataType,
        dbr,
        count,
      );
    } catch (e) {
      this.log('warn', `ca: reading DBR type ${dataType} from a ${pv.nativeType} PV failed: ${(e as Error).message}`);
      return encodeDbrMessage(
        { command, dataType, count, parameter1: ECA.GETFAIL, parameter2: ioid },
        dataType,
        { value: [] },
        count,
      );
    }
  }

  /** True while the channel is open on this circuit (a request that waited may find it gone). */
  private isOpen(ch: Channel): boolean {
    return !this.closed && this.channels.get(ch.sid) === ch;
  }

  /** Answers a READ_NOTIFY; returns a promise when the PV refreshes first. */
  private read(ch: Channel, m: ReadNotifyMessage): Promise<void> | void {
    if (!this.isOpen(ch)) return;
    const { ioid, dataType, count } = m;
    const bad = dbrRequestError(ch, dataType, count);
    if (bad) {
      this.send({ kind: 'readNotifyReply', dataType, count, status: bad.status, ioid, data: new Uint8Array(0) });
      return;
    }
    if ((ch.access & CA_ACCESS_READ) === 0) {
      this.send({ kind: 'readNotifyReply', dataType, count, status: ECA.NORDACCESS, ioid, data: new Uint8Array(0) });
      return;
    }
    const pv = ch.pv;
    if (!pv.refresh) {
      this.sendBytes(this.encodeReply(CaCommand.READ_NOTIFY, pv, dataType, count, ioid));
      return;
    }
    return pv
      .refresh()
      .catch((e: unknown) => this.log('warn', `ca: refreshing ${ch.name} before a read failed: ${(e as Error).message}`))
      .then(() => {
        // the channel may have been cleared while the PV refreshed
        if (this.isOpen(ch)) this.sendBytes(this.encodeReply(CaCommand.READ_NOTIFY, pv, dataType, count, ioid));
      });
  }

  /**
   * Applies a WRITE / WRITE_NOTIFY; returns a promise that settles when the PV's write has.
   * A write that waited behind others is applied even if its channel or circuit closed meanwhile
   * (a client that wrote and left expects the value written); only the replies are dropped then.
   */
  private write(ch: Channel, m: WriteMessage, header: CaHeader): Promise<void> | void {
    const { ioid, dataType, count } = m;
    const notify = m.kind === 'writeNotify';
    const reply = (status: number): void => {
      if (notify) this.send({ kind: 'writeNotifyReply', dataType, count, status, ioid });
    };
    const pv = ch.pv;
    const denied = (message = `${ch.name}: write access denied`): void => {
      if (notify) reply(ECA.NOWTACCESS);
      else this.sendError(header, ch.cid, ECA.NOWTACCESS, message);
    };
    // with per-client access the PV's write() decides (and may log the refusal); a request that
    // cannot even be decoded is refused here when the client has no write access anyway
    const mayWrite = pv.accessRights ? (ch.access & CA_ACCESS_WRITE) !== 0 : pv.writable;
    if (!mayWrite && !pv.accessRights) return denied();
    if (dataType === DBR.PUT_ACKT || dataType === DBR.PUT_ACKS || dataType === DBR.CLASS_NAME) {
      if (!mayWrite) return denied();
      const msg = `${ch.name}: writing DBR type ${dataType} (alarm acknowledgement / class name) is not supported`;
      this.sendError(header, ch.cid, ECA.PUTFAIL, msg);
      reply(ECA.PUTFAIL);
      return;
    }
    // Clients write plain DBR types; for other families only the value part is used. More elements
    // than the PV holds are cut to its length (no count check).
    const bad = dbrRequestError(ch, dataType);
    if (bad) {
      if (!mayWrite) return denied();
      this.sendError(header, ch.cid, bad.status, bad.message);
      reply(bad.status);
      return;
    }
    let value;
    try {
      const dbr = decodeDbr(dataType, count, m.data);
      value = clientValueToNative(pv.nativeType, pv.maxCount, pv.metadata(), dbrValueType(dataType), dbr.value);
    } catch (e) {
      if (!mayWrite) return denied();
      const msg = `${ch.name}: ${(e as Error).message}`;
      const status = e instanceof CaConversionError ? ECA.PUTFAIL : ECA.BADCOUNT;
      this.sendError(header, ch.cid, status, msg);
      reply(status);
      return;
    }
    let p: Promise<void>;
    try {
      p = Promise.resolve(
        pv.write(value, {
          dbrType: dataType,
          count,
          notify,
          user: this.userName,
          host: this.hostName,
          ...(this.options.clientAddress ? { address: this.options.clientAddress } : {}),
        }),
      );
    } catch (e) {
      p = Promise.reject(e);
    }
    return p.then(
      () => {
        if (!this.closed) reply(ECA.NORMAL);
      },
      (e: unknown) => {
        if (this.closed) return;
        if ((e as { accessDenied?: unknown } | null)?.accessDenied === true) return denied((e as Error).message);
        const msg = `${ch.name}: ${e instanceof Error ? e.message : String(e)}`;
        this.log('info', `ca: put to ${ch.name} from ${this.who()} failed: ${msg}`);
        this.sendError(header, ch.cid, ECA.PUTFAIL, msg);
        reply(ECA.PUTFAIL);
      },
    );
  }

  private addSubscription(ch: Channel, m: EventAddMessage, header: CaHeader): void {
    if (!this.isOpen(ch)) return;
    const { subscriptionId: id, dataType, count, mask } = m;
    const bad = dbrRequestError(ch, dataType, count);
    if (bad) {
      this.sendError(header, ch.cid, bad.status, bad.message);
      return;
    }
    const old = this.subscriptions.get(id);
    if (old) this.removeSubscription(old);
    const sub: Subscription = {
      id,
      channel: ch,
      dataType,
      count,
      mask: mask === 0 ? DBE_VALUE | DBE_ALARM : mask,
      unsubscribe: noop,
      dirty: false,
    };
    this.subscriptions.set(id, sub);
    ch.subscriptions.add(sub);
    sub.unsubscribe = ch.pv.subscribe((events) => this.onEvent(sub, events));
    // The first update is always sent, whatever the mask.
    this.post(sub);
  }

  private cancelSubscription(ch: Channel, id: number, header: CaHeader): void {
    if (!this.isOpen(ch)) return;
    const sub = this.subscriptions.get(id);
    if (!sub || sub.channel !== ch) {
      this.sendError(header, sub?.channel.cid ?? 0xffffffff, ECA.BADMONID, `no subscription ${id}`);
      return;
    }
    this.removeSubscription(sub);
    this.send({ kind: 'eventCancelReply', dataType: sub.dataType, count: sub.count, sid: ch.sid, subscriptionId: sub.id });
  }

  private removeSubscription(sub: Subscription): void {
    sub.unsubscribe();
    this.subscriptions.delete(sub.id);
    sub.channel.subscriptions.delete(sub);
    this.dirty.delete(sub);
  }

  private onEvent(sub: Subscription, events: number): void {
    if (this.closed || (events & sub.mask) === 0 || this.subscriptions.get(sub.id) !== sub) return;
    // without read access the subscription is quiet (rsrv disables it) until access comes back
    if ((sub.channel.access & CA_ACCESS_READ) === 0) return;
    this.post(sub);
  }

  /** Sends an update now, or marks the subscription dirty (latest value wins). */
  private post(sub: Subscription): void {
    if (this.congested || this.eventsOff) {
      sub.dirty = true;
      this.dirty.add(sub);
      return;
    }
    this.sendUpdate(sub);
  }

  private sendUpdate(sub: Subscription): void {
    sub.dirty = false;
    if ((sub.channel.access & CA_ACCESS_READ) === 0) {
      // as rsrv's no_read_access_event: the status says why, the payload is zeroed
      const count = sub.count || sub.channel.pv.maxCount;
      this.sendBytes(
        encodeDbrMessage(
          { command: CaCommand.EVENT_ADD, dataType: sub.dataType, count, parameter1: ECA.NORDACCESS, parameter2: sub.id },
          sub.dataType,
          { value: [] },
          count,
        ),
      );
      return;
    }
    this.sendBytes(this.encodeReply(CaCommand.EVENT_ADD, sub.channel.pv, sub.dataType, sub.count, sub.id));
  }

  private flushDirty(): void {
    if (this.eventsOff || this.closed) return;
    for (const sub of [...this.dirty]) {
      if (this.congested) return;
      this.dirty.delete(sub);
      if (this.subscriptions.get(sub.id) === sub) this.sendUpdate(sub);
    }
  }
}
