// PUT: write a PV. INIT (the server answers with the put type), [a GET of the current value when
// the input needs it: an enum choice by name], the PUT; the operation is then kept on the channel
// (reuse.ts) and the next put with the same request there starts at the PUT (or its fetch). And
// building the value of a put from what the caller gave and the server's put type.
import { PVStructure, type FieldDesc, type Structure } from '../../pvdata/index.ts';
import type { PvaMessage } from '../messages.ts';
import { Cmd, STALE_PV_CLOSED, STALE_TYPE_CHANGED, SUB_GET, SUB_INIT } from '../protocol.ts';
import { statusText, type ClientConnection } from './connection.ts';
import type { Call } from './operation.ts';
import { KeptOp } from './reuse.ts';

/** A plain value for `value`, an object of dotted field paths, or a ready PVStructure. */
export type PutInput = PVStructure | Record<string, unknown> | unknown;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object') return false;
  const p = Object.getPrototypeOf(v);
  return p === Object.prototype || p === null;
}

/** An enum_t-like structure: {index: int, choices: string[]}. */
function isEnum(t: FieldDesc | undefined): boolean {
  if (!t || t.kind !== 'structure') return false;
  const i = t.field('index');
  const c = t.field('choices');
  return !!i && i.kind === 'scalar' && !!c && c.kind === 'scalarArray' && c.type === 'string';
}

function isNumericText(v: unknown): boolean {
  return typeof v === 'number' || typeof v === 'bigint' || (typeof v === 'string' && /^\s*[-+]?\d+\s*$/.test(v));
}

/** (path, value) pairs of a put input, objects under structure fields flattened. */
function pairs(type: Structure, input: PutInput): Array<[string, unknown]> {
  if (input instanceof PVStructure) {
    const out: Array<[string, unknown]> = [];
    const L = input.type.layout;
    for (let i = 1; i < L.length; i++) {
      if (L[i].type.kind === 'structure' || !input.isChanged(i)) continue;
      out.push([L[i].path, input.getAt(i)]);
    }
    return out;
  }
  const out: Array<[string, unknown]> = [];
  const walk = (prefix: string, obj: Record<string, unknown>): void => {
    for (const [k, v] of Object.entries(obj)) {
      const p = prefix ? `${prefix}.${k}` : k;
      const t = type.typeAt(p);
      if (t && t.kind === 'structure' && isPlainObject(v)) walk(p, v);
      else out.push([p, v]);
    }
  };
  if (isPlainObject(input)) walk('', input);
  else out.push(['value', input]);
  return out;
}

/** True when writing `input` needs the PV's current value first (an enum set by choice name). */
export function needsCurrent(type: Structure, input: PutInput): boolean {
  if (input instanceof PVStructure) return false;
  for (const [p, v] of pairs(type, input)) {
    if (isEnum(type.typeAt(p)) && !isNumericText(v)) return true;
  }
  return false;
}

/** The PUT value: a structure of the put type with exactly the assigned fields marked. */
export function buildPutValue(type: Structure, input: PutInput, current?: PVStructure): PVStructure {
  const v = new PVStructure(type);
  for (const [p, x] of pairs(type, input)) {
    const t = type.typeAt(p);
    if (!t) throw new Error(`no field '${p}'`);
    if (isEnum(t)) {
      let index: unknown = x;
      if (!isNumericText(x)) {
        const choices = (current?.get(`${p}.choices`) as string[] | undefined) ?? [];
        const i = choices.indexOf(String(x));
        if (i < 0) throw new Error(`'${String(x)}' is not one of the choices [${choices.join(', ')}]`);
        index = i;
      }
      v.set(`${p}.index`, index);
      continue;
    }
    if (t.kind === 'structure') throw new Error(`field '${p}' is a structure; give its fields`);
    try {
      v.set(p, t.kind === 'scalarArray' ? arrayInput(x) : x);
    } catch (e) {
      throw new Error(`field '${p}': ${(e as Error).message}`);
    }
  }
  if (v.changed.isEmpty()) throw new Error('nothing to put');
  return v;
}

/** Array input given as text: JSON ('[1, 2]', '["a"]') or comma separated ('1,2,3'). */
function arrayInput(x: unknown): unknown {
  if (typeof x !== 'string') return x;
  const s = x.trim();
  if (s.startsWith('[')) {
    try {
      const j = JSON.parse(s);
      if (Array.isArray(j)) return j;
    } catch {
      /* fall through to splitting */
    }
    return s.slice(1, s.endsWith(']') ? -1 : undefined).split(',').map((e) => e.trim()).filter((e) => e !== '');
  }
  return s === '' ? [] : s.split(',').map((e) => e.trim());
}

class PutOp extends KeptOp<void> {
  readonly kind = 'put';
  /** What the call using it writes. */
  private input: PutInput;
  /** The value to put, built once the input and (for an enum choice by name) the current value are known. */
  private value: PVStructure | undefined;
  private stage: 'init' | 'fetch' | 'put' = 'init';
  private putType: Structure | undefined;

  /** Initializes it on the server for `call` (the put follows the INIT reply). */
  init(call: Call<void>, input: PutInput, pvRequest: PVStructure): void {
    this.input = input;
    this.sendInit(call, Cmd.PUT, pvRequest);
  }

  /** Runs `call` on it again with the put type of its INIT: the PUT alone (after a fetch when the input needs one). */
  execute(call: Call<void>, input: PutInput): void {
    this.takeFor(call);
    this.input = input;
    this.begin(call);
  }

  /** The call's first execute, in its turn (see Call.inTurn): the fetch of the current value when the input needs it, else the PUT. */
  private begin(call: Call<void>): void {
    if (needsCurrent(this.putType!, this.input)) {
      this.stage = 'fetch';
      call.inTurn(this.sendFetch);
    } else if (this.build(call)) call.inTurn(this.sendPut);
  }

  /** Builds the value to put; false when it cannot be (the call is then settled or retried). */
  private build(call: Call<void>, current?: PVStructure): boolean {
    try {
      this.value = buildPutValue(this.putType!, this.input, current);
      this.stage = 'put';
      return true;
    } catch (e) {
      const message = (e as Error).message;
      // the put type of a reused operation may be stale: a fresh INIT brings the current one
      if (this.reused) this.failed(call, message);
      else {
        // nothing went wrong on the server: the operation stays usable
        this.release();
        call.fail(message);
      }
      return false;
    }
  }

  private readonly sendFetch = (): void => {
    this.conn.opRequest({ command: Cmd.PUT, sid: this.sid, ioid: this.ioid, subcmd: SUB_GET });
  };

  private readonly sendPut = (): void => {
    const v = this.value!;
    this.value = undefined;
    this.conn.opRequest({ command: Cmd.PUT, sid: this.sid, ioid: this.ioid, subcmd: 0, value: v, changed: v.changed });
  };

  /** The call is done with it: kept on the channel for the next put with the same request. */
  protected override release(): void {
    this.input = undefined;
    this.value = undefined;
    super.release();
  }

  protected override failed(call: Call<void>, message: string): void {
    this.input = undefined;
    this.value = undefined;
    super.failed(call, message);
  }

  onMessage(m: PvaMessage): void {
    const call = this.call;
    if (!call || m.type !== 'opResponse') return;
    if (m.status && m.status.type > 1) {
      // a put refused on a reused operation runs again only when the server says the operation
      // is stale (it did nothing): running a refused put twice would repeat what the PV's handler
      // did with it (an audit line, a side effect); the operation itself stays usable
      const text = statusText(m.status);
      if (this.reused && this.stage !== 'init' && m.status.message !== STALE_TYPE_CHANGED && m.status.message !== STALE_PV_CLOSED) {
        this.release();
        return call.fail(text);
      }
      return this.failed(call, text);
    }
    if (this.stage === 'init') {
      if (!m.fieldType) return this.failed(call, 'server sent no put type');
      this.putType = this.types.put = this.types.get = m.fieldType;
      this.begin(call);
    } else if (this.stage === 'fetch') {
      if (this.build(call, m.value)) this.sendPut();
    } else {
      this.release();
      call.ok();
    }
  }

}

/**
 * Starts a PUT of `input` to `call`'s channel (see buildPutValue for what `input` may be).
 * `request` is the pvRequest text: a PUT kept on the channel for it is executed again.
 */
export function startPut(conn: ClientConnection, call: Call<void>, pvRequest: PVStructure, request: string, input: PutInput): void {
  const cache = call.ch.idleOps;
  const kept = call.fresh ? undefined : cache.take('put', request, conn, call.sid);
  if (kept instanceof PutOp) return kept.execute(call, input);
  kept?.destroy();
  new PutOp(conn, cache, call.sid, call.ioid, request).init(call, input, pvRequest);
}
