// Client side of one pvAccess TCP circuit, without I/O: bytes in through `receive`, bytes out
// through the `send` callback the owner supplies. It runs the handshake (the server speaks first),
// creates and destroys channels, and routes operation replies by ioid to their handlers.
import { PVStructure, TypeMemo, Writer, struct, type Structure, type TypeCache, type Status } from '../../pvdata/index.ts';
import { Framer } from '../framer.ts';
import { Cmd, SUB_INIT } from '../protocol.ts';
import {
  ProtocolError,
  decodeMessage,
  encodeMessage,
  encodeOpRequest,
  isBigEndian,
  isControl,
  isFromServer,
  type Frame,
  type OpRequestMsg,
  type PvaMessage,
  type SearchMsg,
  type SearchResponseMsg,
} from '../messages.ts';

export const CLIENT_BUFFER_SIZE = 0x10000;
export const CLIENT_REGISTRY_SIZE = 0x7fff;

/** What an open operation receives: its replies (opResponse / getFieldResponse), MESSAGEs, and the end. */
export interface OpHandler {
  /**
   * Types the decoder needs to decode this operation's values; `base`: decode partial values onto
   * a copy of it (a monitor's last complete value), so they arrive complete.
   */
  types: { get?: Structure; put?: Structure; base?: PVStructure };
  onMessage(m: PvaMessage): void;
  /** A server MESSAGE (0x12) addressed to this ioid. */
  onNotice?(severity: number, text: string): void;
  /**
   * A reply to this operation that is not an INIT reply could not be decoded (e.g. a value that
   * does not fit the type of its INIT). Absent: the circuit is closed as for any undecodable message.
   */
  onUndecodable?(reason: string): void;
  /** The circuit closed while the operation was open. */
  onClosed(reason: string): void;
}

/** Receives the server's answers about one channel of a {@link ClientConnection}. */
export interface ChannelHandler {
  onCreated(sid: number, status: Status): void;
  /** The server destroyed the channel (DESTROY_CHANNEL from the server). */
  onDestroyed(): void;
}

/** What a {@link ClientConnection} needs from its owner: a way to send bytes, and notifications. */
export interface ConnectionCallbacks {
  send(bytes: Buffer): void;
  /** Handshake finished (CONNECTION_VALIDATED with OK status). */
  onReady(): void;
  /** A SEARCH_RESPONSE arriving over this circuit (name-server search). */
  onSearchResponse?(m: SearchResponseMsg): void;
  /** The circuit is unusable (protocol error or failed validation); the owner should close the socket. */
  onFatal(reason: string): void;
}

/** How the client authenticates in the connection validation reply. */
export interface AuthInfo {
  /** 'ca' (user and host) or 'anonymous'. */
  method: 'ca' | 'anonymous';
  user?: string;
  host?: string;
}

export type ConnectionState = 'handshake' | 'ready' | 'closed';

/** A failed reply's text: its message, else the name of its status type. */
export function statusText(s: Status): string {
  return s.message || ['ok', 'warning', 'error', 'fatal error'][s.type] || 'error';
}

/**
 * The client side of one pvAccess TCP circuit, sans-I/O: handshake, channels and operations. Bytes
 * from the server go in, bytes to send come out through {@link ConnectionCallbacks.send}; {@link
 * PvaClient} adds the sockets.
 */
export class ClientConnection {
  state: ConnectionState = 'handshake';
  /** Frames are decoded as they come out, and nothing decoded points into them: no copy. */
  private readonly framer = new Framer(undefined, false);
  private readonly cache: TypeCache = new Map();
  private readonly w = new Writer(true, 1024);
  private readonly channels = new Map<number, ChannelHandler>();
  private readonly ops = new Map<number, OpHandler>();
  /** One decode context for the connection's life (no closure per message). */
  private readonly decodeCtx = { cache: this.cache, typeMemo: new TypeMemo(), opTypes: (ioid: number) => this.ops.get(ioid)?.types };
  /** Messages queued before the handshake completed. */
  private backlog: Buffer[] = [];
  serverBigEndian = false;

  constructor(
    private readonly cb: ConnectionCallbacks,
    private readonly auth: AuthInfo = { method: 'anonymous' },
  ) {}

  get openOps(): number {
    return this.ops.size;
  }

  get openChannels(): number {
    return this.channels.size;
  }

  /** Feeds bytes read from the socket. */
  receive(chunk: Uint8Array): void {
    if (this.state === 'closed') return;
    for (const f of this.framer.push(chunk)) {
      if (f instanceof ProtocolError) return this.fatal(f.toString());
      const m = decodeMessage(f, this.decodeCtx);
      if (m instanceof ProtocolError) {
        // a reply we cannot decode fails that operation only when we can tell which one it is
        if (this.undecodableReply(f, m)) continue;
        return this.fatal(m.toString());
      }
      this.handle(m);
      if ((this.state as ConnectionState) === 'closed') return;
    }
  }

  private handle(m: PvaMessage): void {
    switch (m.type) {
      case 'setByteOrder':
        this.serverBigEndian = m.bigEndian;
        return;
      case 'validationRequest': {
        const methods = m.methods;
        let method: string = this.auth.method;
        if (method === 'ca' && methods.length && !methods.includes('ca')) method = 'anonymous';
        const data =
          method === 'ca'
            ? caAuthData(this.auth.user ?? '', this.auth.host ?? '')
            : null;
        this.write({
          type: 'validationReply',
          bufferSize: CLIENT_BUFFER_SIZE,
          registrySize: CLIENT_REGISTRY_SIZE,
          qos: 0,
          method,
          data,
        });
        return;
      }
      case 'validated':
        if (m.status.type > 1) return this.fatal(`validation failed: ${m.status.message}`);
        if (this.state === 'handshake') {
          this.state = 'ready';
          const b = this.backlog;
          this.backlog = [];
          for (const x of b) this.cb.send(x);
          this.cb.onReady();
        }
        return;
      case 'echoRequest':
        this.writeNow({ type: 'echoResponse', value: m.value });
        return;
      case 'echo':
        // the server's answer to our keep-alive echo: receiving anything is what counts
        return;
      case 'searchResponse':
        this.cb.onSearchResponse?.(m);
        return;
      case 'createChannelResponse': {
        const h = this.channels.get(m.cid);
        if (!h) return;
        if (m.status.type > 1) this.channels.delete(m.cid);
        h.onCreated(m.sid, m.status);
        return;
      }
      case 'destroyChannel': {
        const h = this.channels.get(m.cid);
        if (!h) return;
        this.channels.delete(m.cid);
        h.onDestroyed();
        return;
      }
      case 'opResponse':
      case 'getFieldResponse': {
        this.ops.get(m.ioid)?.onMessage(m);
        return;
      }
      case 'message': {
        this.ops.get(m.ioid)?.onNotice?.(m.severity, m.message);
        return;
      }
      default:
        return; // beacons, acks, origin tags, unknown commands: nothing to do
    }
  }

  /**
   * A GET or PUT reply that did not decode goes to its operation when that can take it (the frame
   * was cut by its length, so the stream stays in step). Not INIT replies: their type descriptions
   * may have half-filled the type cache.
   */
  private undecodableReply(f: Frame, e: ProtocolError): boolean {
    if (isControl(f) || !isFromServer(f) || (f.command !== Cmd.GET && f.command !== Cmd.PUT) || f.payload.length < 5) return false;
    if (f.payload[4] & SUB_INIT) return false;
    const ioid = isBigEndian(f) ? f.payload.readUInt32BE(0) : f.payload.readUInt32LE(0);
    const h = this.ops.get(ioid);
    if (!h?.onUndecodable) return false;
    h.onUndecodable(e.message);
    return true;
  }

  private fatal(reason: string): void {
    if (this.state === 'closed') return;
    this.cb.onFatal(reason);
    this.closed(reason);
  }

  /** The socket closed (or is being closed): fail every open operation. */
  closed(reason: string): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.backlog = [];
    const ops = [...this.ops.values()];
    this.ops.clear();
    this.channels.clear();
    for (const o of ops) o.onClosed(reason);
  }

  private encode(fn: (w: Writer) => void): Buffer {
    this.w.reset();
    fn(this.w);
    return this.w.toBuffer();
  }

  /** Sends now, even during the handshake (validation reply, echo). */
  private writeNow(m: PvaMessage): void {
    this.cb.send(this.encode((w) => encodeMessage(w, m)));
  }

  /** Sends once validated (queued before). */
  private write(m: PvaMessage): void {
    if (m.type === 'validationReply') return this.writeNow(m);
    this.sendBytes(this.encode((w) => encodeMessage(w, m)));
  }

  private sendBytes(b: Buffer): void {
    if (this.state === 'closed') return;
    if (this.state === 'handshake') this.backlog.push(b);
    else this.cb.send(b);
  }

  // ------------------------------------------------------------ requests

  search(m: Omit<SearchMsg, 'type'>): void {
    // name-server search: pvxs sends these big-endian like UDP ones; either order is valid
    this.write({ type: 'search', ...m });
  }

  createChannel(cid: number, name: string, h: ChannelHandler): void {
    this.channels.set(cid, h);
    this.write({ type: 'createChannel', channels: [{ cid, name }] });
  }

  destroyChannel(sid: number, cid: number): void {
    this.channels.delete(cid);
    this.write({ type: 'destroyChannel', fromServer: false, sid, cid });
  }

  /** Forgets a channel without telling the server (it never got created). */
  forgetChannel(cid: number): void {
    this.channels.delete(cid);
  }

  register(ioid: number, h: OpHandler): void {
    this.ops.set(ioid, h);
  }

  unregister(ioid: number): void {
    this.ops.delete(ioid);
  }

  opRequest(m: Omit<OpRequestMsg, 'type'>): void {
    this.sendBytes(this.encode((w) => encodeOpRequest(w, m)));
  }

  /** Keep-alive: an application ECHO, which the server answers. */
  echo(): void {
    if (this.state === 'ready') this.write({ type: 'echo', fromServer: false, payload: Buffer.alloc(0) });
  }

  getField(sid: number, ioid: number, subField = ''): void {
    this.write({ type: 'getField', sid, ioid, subField });
  }

  destroyRequest(sid: number, ioid: number): void {
    this.ops.delete(ioid);
    this.write({ type: 'destroyRequest', sid, ioid });
  }

  cancelRequest(sid: number, ioid: number): void {
    this.write({ type: 'cancelRequest', sid, ioid });
  }
}

const caAuthType = struct('', { user: 'string', host: 'string' });

function caAuthData(user: string, host: string): { type: Structure; value: PVStructure } {
  return { type: caAuthType, value: new PVStructure(caAuthType, { user, host }) };
}
