// PUT: write a PV. INIT (the server answers with the put type), [a GET of the current value when
// the input needs it: an enum choice by name], the PUT, then DESTROY_REQUEST. And building the value
// of a put from what the caller gave and the server's put type.
import { PVStructure, type FieldDesc, type Structure } from '../../pvdata/index.ts';
import type { PvaMessage } from '../messages.ts';
import { Cmd, SUB_GET, SUB_INIT } from '../protocol.ts';
import { statusText, type ClientConnection, type OpHandler } from './connection.ts';
import type { Call } from './operation.ts';

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

class PutOp implements OpHandler {
  readonly types: OpHandler['types'] = {};
  private stage: 'init' | 'fetch' | 'put' = 'init';
  private putType: Structure | undefined;

  constructor(
    private readonly conn: ClientConnection,
    private readonly call: Call<void>,
    private readonly input: PutInput,
  ) {}

  private send(current?: PVStructure): void {
    const { conn, call } = this;
    let v: PVStructure;
    try {
      v = buildPutValue(this.putType!, this.input, current);
    } catch (e) {
      conn.destroyRequest(call.sid, call.ioid);
      return call.fail((e as Error).message);
    }
    this.stage = 'put';
    conn.opRequest({ command: Cmd.PUT, sid: call.sid, ioid: call.ioid, subcmd: 0, value: v, changed: v.changed });
  }

  onMessage(m: PvaMessage): void {
    if (m.type !== 'opResponse') return;
    const { conn, call } = this;
    if (m.status && m.status.type > 1) {
      conn.destroyRequest(call.sid, call.ioid);
      return call.fail(statusText(m.status));
    }
    if (this.stage === 'init') {
      if (!m.fieldType) return call.fail('server sent no put type');
      this.putType = this.types.put = this.types.get = m.fieldType;
      if (needsCurrent(this.putType, this.input)) {
        this.stage = 'fetch';
        conn.opRequest({ command: Cmd.PUT, sid: call.sid, ioid: call.ioid, subcmd: SUB_GET });
      } else this.send();
    } else if (this.stage === 'fetch') {
      this.send(m.value);
    } else {
      conn.destroyRequest(call.sid, call.ioid);
      call.ok();
    }
  }

  onClosed(reason: string): void {
    this.call.fail(reason);
  }
}

/** Starts a PUT of `input` to `call`'s channel (see buildPutValue for what `input` may be). */
export function startPut(conn: ClientConnection, call: Call<void>, pvRequest: PVStructure, input: PutInput): void {
  conn.register(call.ioid, new PutOp(conn, call, input));
  conn.opRequest({ command: Cmd.PUT, sid: call.sid, ioid: call.ioid, subcmd: SUB_INIT, pvRequest });
}
