// One client's TCP circuit, sans-I/O: bytes in through receive(), bytes out through a sink.
// Handles the handshake, channels, and dispatches operations; everything queued in one tick
// leaves in one sink write.
import {
  BitSet,
  TypeMemo,
  Writer,
  statusError,
  STATUS_OK,
  type PVStructure,
  type Structure,
  type TypeCache,
} from '../../pvdata/index.ts';
import { Framer } from '../framer.ts';
import {
  ProtocolError,
  beginMessage,
  decodeMessage,
  encodeControl,
  encodeMessage,
  endMessage,
  type OpRequestMsg,
  type PvaMessage,
  type SearchMsg,
} from '../messages.ts';
import { CMD_NAME, Cmd, Ctrl, SEARCH_MUST_REPLY } from '../protocol.ts';
import { processFanout, type FanoutBudget, type FanoutSender } from './fanout.ts';
import type { SharedBody } from './shared-body.ts';
import type { Logger } from './log.ts';
import { MonitorOp } from './monitor.ts';
import { SimpleOp, createOperation, initOperation, type Operation } from './ops.ts';
import { RequestOrder } from '../../util/request-order.ts';
import type { PvaClientInfo, SharedPV } from './shared-pv.ts';

/** Access bits of a client on a channel. */
export const PVA_ACCESS_READ = 1;
/** Access bit: the client may put to the channel. */
export const PVA_ACCESS_WRITE = 2;

/**
 * Per-client access control (access security). The server asks `rights` when a channel is created
 * and again on `PvaServer.recomputeAccess()`; gets and monitors need READ. Writes are left to the
 * PV's handlers, which receive the client (PutRequest.client) and make the final decision.
 */
export interface PvaAccessControl {
  /** PVA_ACCESS_READ | PVA_ACCESS_WRITE of `client` on channel `name`. */
  rights(name: string, pv: SharedPV, client: PvaClientInfo): number;
  /** The message a refused read gets (default: "read access denied to NAME for user@peer"). */
  readDenied?(name: string, client: PvaClientInfo): string;
}

/** Where a connection's bytes go (a socket, or a test's buffer). */
export interface ConnectionSink {
  write(data: Buffer): void;
  /**
   * Several buffers as one write, none of them copied (a socket's writev); `done` once they are
   * written (or the sink is gone): some are shared with other connections and then reused.
   * Absent: they are concatenated for write().
   */
  writev?(chunks: Buffer[], done: () => void): void;
  /** Bytes accepted by write() but not yet handed to the network. */
  bufferedBytes(): number;
  close(): void;
}

/** What a connection needs from its server. */
export interface ServerContext {
  readonly guid: Buffer;
  readonly tcpPort: number;
  readonly log: Logger;
  readonly maxMessageSize: number;
  /** Above this many queued bytes monitors squash instead of sending. */
  readonly sendQueueLimit: number;
  /** The monitor fan-out budget (default: the one this process's connections share). */
  readonly fanout?: FanoutBudget;
  has(name: string): boolean;
  lookup(name: string): SharedPV | undefined;
  /** Access control; absent: everyone may read (and the PVs decide on writes). */
  readonly access?: PvaAccessControl;
}

export interface ServerChannel {
  readonly sid: number;
  readonly cid: number;
  readonly name: string;
  readonly pv: SharedPV;
  readonly ops: Set<number>;
  /** Keeps this channel's gets, puts and RPCs in the order the client sent them. */
  readonly order: RequestOrder;
  /** PVA_ACCESS_* bits of this client on this channel (kept current by recomputeAccess). */
  access: number;
}

const REGISTRY_SIZE = 0x7fff;

/**
 * The server side of one pvAccess TCP circuit, sans-I/O: handshake, channels, GET / PUT / PUT_GET
 * / MONITOR / RPC / GET_FIELD and flow control. Bytes from the client go in, bytes to send come
 * out; {@link PvaServer} adds the sockets.
 */
export class ServerConnection implements FanoutSender {
  readonly out = new Writer(true, 4096);
  /** Output queued ahead of what `out` holds from chunkStart on, in order: copies of `out` and shared bodies. */
  private chunks: Buffer[] = [];
  /** The shared bodies among `chunks`, released once the sink has written them. */
  private bodies: SharedBody[] = [];
  /** Bytes of the shared bodies in `chunks`. */
  private sharedBytes = 0;
  /** Where the bytes of `out` not yet in `chunks` begin. */
  private chunkStart = 0;
  readonly fanout: FanoutBudget;
  private readonly framer: Framer;
  private readonly cache: TypeCache = new Map();
  readonly channels = new Map<number, ServerChannel>();
  readonly ops = new Map<number, Operation>();
  /**
   * Monitors waiting for the connection, in the order they started waiting (each once: its `held`
   * flag), from `heldHead` on. An array, not a Set: a Set iterated from its start again and again
   * while entries are deleted walks over every deleted entry each time.
   */
  private held: MonitorOp[] = [];
  private heldHead = 0;
  private nextSid = 1;
  private flushQueued = false;
  /** Sink writes so far (monitors count their updates per write). */
  writes = 0;
  private closed = false;
  /** Authenticated identity from the validation reply. */
  user = '';
  host = '';
  method = '';

  constructor(
    readonly ctx: ServerContext,
    private readonly sink: ConnectionSink,
    readonly peer: string,
  ) {
    // frames are decoded as they come out of the framer, and nothing decoded points into them
    this.framer = new Framer(ctx.maxMessageSize, false);
    this.fanout = ctx.fanout ?? processFanout;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Who this client is, as far as the validation told. */
  get client(): PvaClientInfo {
    return { peer: this.peer, method: this.method, user: this.user, host: this.host };
  }

  /** This client's rights on a channel. */
  rightsOn(name: string, pv: SharedPV): number {
    const ac = this.ctx.access;
    if (!ac) return PVA_ACCESS_READ | PVA_ACCESS_WRITE;
    try {
      return ac.rights(name, pv, this.client);
    } catch (e) {
      this.ctx.log.error(`${this.peer}: access check of ${name} failed: ${(e as Error).message}; no access`);
      return 0;
    }
  }

  /** The message a read refused on `ch` gets. */
  readDeniedMessage(ch: ServerChannel): string {
    const c = this.client;
    return this.ctx.access?.readDenied?.(ch.name, c) ?? `read access denied to ${ch.name} for ${c.user || 'anonymous'}@${c.peer}`;
  }

  /** Re-evaluates this client's rights on every channel (the rules or its identity changed). */
  recomputeAccess(): void {
    if (this.closed) return;
    for (const ch of this.channels.values()) {
      const now = this.rightsOn(ch.name, ch.pv);
      if (now === ch.access) continue;
      ch.access = now;
      for (const ioid of ch.ops) {
        const op = this.ops.get(ioid);
        if (op instanceof MonitorOp) op.accessChanged();
      }
    }
    this.queueFlush();
  }

  /** Sends the server's opening: byte order, then the validation request. */
  start(): void {
    encodeControl(this.out, Ctrl.SET_BYTE_ORDER, 0, true);
    encodeMessage(this.out, {
      type: 'validationRequest',
      bufferSize: 0x10000,
      registrySize: REGISTRY_SIZE,
      methods: ['anonymous', 'ca'],
    });
    this.queueFlush();
  }

  receive(chunk: Uint8Array): void {
    if (this.closed) return;
    for (const f of this.framer.push(chunk)) {
      if (f instanceof ProtocolError) return this.protocolError(f.message);
      const m = decodeMessage(f, this.decodeCtx);
      if (m instanceof ProtocolError) return this.protocolError(m.message);
      // the registry size we offered bounds how many types a client may define
      if (this.cache.size > REGISTRY_SIZE) return this.protocolError(`more than ${REGISTRY_SIZE} cached types`);
      try {
        this.handle(m);
      } catch (e) {
        this.ctx.log.error(`${this.peer}: internal error handling ${m.type}: ${(e as Error).stack ?? e}`);
      }
      if (this.closed) return;
    }
  }

  private protocolError(why: string): void {
    this.ctx.log.warn(`${this.peer}: ${why}; closing connection`);
    this.close();
  }

  private opTypes(ioid: number): { put?: Structure; get?: Structure } | undefined {
    const op = this.ops.get(ioid);
    // a GET/PUT/PUT_GET/RPC: the type its INIT told the client, even after the PV changed type
    const t = op instanceof SimpleOp ? op.clientType() : op?.channel.pv.type;
    return t ? { put: t, get: t } : undefined;
  }

  // ---------------------------------------------------------------- output

  queueFlush(): void {
    if (this.flushQueued || this.closed) return;
    this.flushQueued = true;
    // after the microtasks of this tick (posts flush in microtasks): one write per tick
    process.nextTick(this.flushNow);
  }

  private readonly flushNow = (): void => this.flush();
  /** One decode context for the connection's life (no closure per message). */
  private readonly decodeCtx = { cache: this.cache, typeMemo: new TypeMemo(), opTypes: (ioid: number) => this.opTypes(ioid) };

  flush(): void {
    this.flushQueued = false;
    if (this.closed) return;
    const w = this.out;
    if (this.chunks.length) {
      if (w.pos > this.chunkStart) this.chunks.push(Buffer.from(w.buf.subarray(this.chunkStart, w.pos)));
      w.reset();
      const chunks = this.chunks;
      const bodies = this.bodies;
      this.chunks = [];
      this.bodies = [];
      this.chunkStart = 0;
      this.sharedBytes = 0;
      this.writes++;
      const done = (): void => {
        for (const b of bodies) b.release();
      };
      if (this.sink.writev) this.sink.writev(chunks, done);
      else {
        this.sink.write(Buffer.concat(chunks));
        done();
      }
    } else {
      if (w.pos === 0) return;
      const data = w.toBuffer();
      w.reset();
      this.writes++;
      this.sink.write(data);
    }
    if (this.sink.bufferedBytes() > this.ctx.sendQueueLimit * 8) {
      this.ctx.log.warn(`${this.peer}: client is not reading (${this.sink.bufferedBytes()} bytes queued); closing`);
      this.close();
    }
  }

  /** True when the client is behind: monitors should squash instead of sending. */
  congested(): boolean {
    return this.sink.bufferedBytes() + this.out.pos + this.sharedBytes > this.ctx.sendQueueLimit;
  }

  /**
   * Queues a shared body to go out next, after what `out` holds, without copying it (the message
   * header before it must be complete: those bytes are taken now).
   */
  appendShared(body: SharedBody): void {
    const w = this.out;
    if (w.pos > this.chunkStart) this.chunks.push(Buffer.from(w.buf.subarray(this.chunkStart, w.pos)));
    this.chunkStart = w.pos;
    this.chunks.push(body.bytes);
    this.bodies.push(body);
    body.retain();
    this.sharedBytes += body.bytes.length;
  }

  /**
   * A monitor waits for the connection: it holds back updates (sent when the client has room and
   * the fan-out budget allows), or it wants to hear when it can take updates again (onWritable).
   */
  block(op: MonitorOp): void {
    if (op.held) return;
    op.held = true;
    this.held.push(op);
    if (!this.congested()) this.fanout.wake(this);
  }

  /** The sink has room again: let held-back monitors send (in a later turn if the budget is spent). */
  drained(): void {
    if (this.sendQueued(Infinity)) this.fanout.wake(this);
  }

  /** See FanoutSender: sends held-back updates in the order they were held back. */
  sendQueued(quota: number): boolean {
    if (this.closed) return false;
    const q = this.held;
    let n = 0;
    let more = false;
    while (this.heldHead < q.length) {
      if (this.congested()) break;
      if (n >= quota || this.fanout.spent) {
        more = true;
        break;
      }
      const op = q[this.heldHead++];
      if (!op.held) continue; // ended meanwhile
      op.held = false;
      // false: its pipeline window is shut or it stopped; the client's ack or start brings it back
      if (op.sendPending()) op.channel.pv.notifyWritable();
      n++;
    }
    if (this.heldHead === q.length) {
      q.length = 0;
      this.heldHead = 0;
    } else if (this.heldHead > 1024 && this.heldHead * 2 > q.length) {
      q.splice(0, this.heldHead);
      this.heldHead = 0;
    }
    this.queueFlush();
    return more;
  }

  sendMessage(ioid: number, severity: number, message: string): void {
    encodeMessage(this.out, { type: 'message', ioid, severity, message });
    this.queueFlush();
  }

  // ---------------------------------------------------------------- dispatch

  private handle(m: PvaMessage): void {
    switch (m.type) {
      case 'validationReply':
        this.method = m.method;
        if (m.data && m.data.value && typeof m.data.value === 'object' && 'get' in (m.data.value as object)) {
          const s = m.data.value as PVStructure;
          if (s.has('user')) this.user = String(s.get('user'));
          if (s.has('host')) this.host = String(s.get('host'));
        }
        encodeMessage(this.out, { type: 'validated', status: STATUS_OK });
        if (this.channels.size) this.recomputeAccess();
        break;
      case 'echo':
        encodeMessage(this.out, { type: 'echo', fromServer: true, payload: m.payload });
        break;
      case 'echoRequest':
        encodeControl(this.out, Ctrl.ECHO_RESPONSE, m.value, true);
        break;
      case 'search':
        this.searchOverTcp(m);
        break;
      case 'createChannel':
        for (const c of m.channels) this.createChannel(c.cid, c.name);
        break;
      case 'destroyChannel':
        this.destroyChannel(m.sid, m.cid, true);
        break;
      case 'opRequest':
        this.operation(m);
        break;
      case 'getField':
        this.getField(m.sid, m.ioid, m.subField);
        break;
      case 'destroyRequest':
      case 'cancelRequest':
        this.endOperation(m.ioid, m.type === 'cancelRequest');
        break;
      case 'setByteOrder':
      case 'markTotalBytes':
      case 'ackTotalBytes':
      case 'echoResponse':
      case 'originTag':
        break;
      default:
        this.ctx.log.debug(`${this.peer}: ignoring ${m.type}`);
    }
    this.queueFlush();
  }

  private searchOverTcp(m: SearchMsg): void {
    const found = m.channels.filter((c) => this.ctx.has(c.name)).map((c) => c.cid);
    if (!found.length && !(m.flags & SEARCH_MUST_REPLY)) return;
    encodeMessage(this.out, {
      type: 'searchResponse',
      guid: this.ctx.guid,
      sequence: m.sequence,
      address: '0.0.0.0',
      port: this.ctx.tcpPort,
      protocol: 'tcp',
      found: found.length > 0,
      cids: found.length ? found : m.channels.map((c) => c.cid),
    });
  }

  private createChannel(cid: number, name: string): void {
    const pv = this.ctx.lookup(name);
    if (!pv) {
      this.ctx.log.info(`${this.peer}: create channel '${name}' refused: no such PV`);
      encodeMessage(this.out, { type: 'createChannelResponse', cid, sid: 0, status: statusError(`no such channel: ${name}`) });
      return;
    }
    const sid = this.nextSid++;
    const order = new RequestOrder((e) => this.ctx.log.error(`${this.peer}: ${name}: ${(e as Error).message}`));
    this.channels.set(sid, { sid, cid, name, pv, ops: new Set(), order, access: this.rightsOn(name, pv) });
    pv.attach();
    encodeMessage(this.out, { type: 'createChannelResponse', cid, sid, status: STATUS_OK });
  }

  private destroyChannel(sid: number, cid: number, reply: boolean): void {
    const ch = this.channels.get(sid);
    if (!ch) return;
    for (const ioid of ch.ops) this.endOperation(ioid, false);
    this.channels.delete(sid);
    ch.pv.detach();
    if (reply) encodeMessage(this.out, { type: 'destroyChannel', fromServer: true, sid, cid });
  }

  /** Tells the client a channel is gone (its PV was removed). */
  channelGone(pv: SharedPV): void {
    for (const ch of this.channels.values()) {
      if (ch.pv !== pv) continue;
      this.destroyChannel(ch.sid, ch.cid, true);
    }
    this.queueFlush();
  }

  private operation(m: OpRequestMsg): void {
    const existing = this.ops.get(m.ioid);
    if (existing) {
      existing.request(m);
      return;
    }
    const ch = this.channels.get(m.sid);
    if (!ch) {
      this.ctx.log.warn(`${this.peer}: operation on unknown channel sid ${m.sid}`);
      beginReplyError(this.out, m.command, m.ioid, m.subcmd, `no channel with sid ${m.sid}`);
      return;
    }
    if (!(m.subcmd & 0x08)) {
      this.ctx.log.debug(`${this.peer}: ${CMD_NAME[m.command] ?? m.command} on unknown ioid ${m.ioid}`);
      return;
    }
    const op = createOperation(this, ch, m);
    this.ops.set(m.ioid, op);
    ch.ops.add(m.ioid);
    initOperation(op, m);
  }

  endOperation(ioid: number, cancelOnly: boolean): void {
    const op = this.ops.get(ioid);
    if (!op) return;
    if (cancelOnly) {
      op.cancel();
      return;
    }
    op.destroy();
    this.ops.delete(ioid);
    op.channel.ops.delete(ioid);
    if (op instanceof MonitorOp) op.held = false;
  }

  private getField(sid: number, ioid: number, subField: string): void {
    const ch = this.channels.get(sid);
    const reply = (t: Structure | null | undefined, err?: string) => {
      encodeMessage(this.out, {
        type: 'getFieldResponse',
        ioid,
        status: err ? statusError(err) : STATUS_OK,
        fieldType: err ? null : (t ?? null),
      });
      this.queueFlush();
    };
    if (!ch) return reply(null, `no channel with sid ${sid}`);
    ch.pv.whenOpen().then(() => {
      if (this.closed) return;
      const type = ch.pv.type!;
      if (!subField) return reply(type);
      const sub = type.typeAt(subField);
      if (!sub) return reply(null, `no field '${subField}'`);
      // a sub-field that is not a structure is wrapped as pvxs does not; send it as-is
      reply(sub as Structure);
    });
  }

  /** Socket closed or server stopping: release everything. */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    for (const ioid of [...this.ops.keys()]) this.endOperation(ioid, false);
    for (const ch of this.channels.values()) ch.pv.detach();
    this.channels.clear();
    for (let i = this.heldHead; i < this.held.length; i++) this.held[i].held = false;
    this.held = [];
    this.heldHead = 0;
    this.sink.close();
  }
}

/** Writes an error reply for an operation that could not start. */
export function beginReplyError(w: Writer, command: number, ioid: number, subcmd: number, message: string): void {
  const start = beginMessage(w, command, true);
  w.u32(ioid);
  w.u8(subcmd);
  const s = statusError(message);
  w.u8(s.type);
  w.string(s.message);
  w.string('');
  endMessage(w, start);
}

export const EMPTY_BITSET = new BitSet();
