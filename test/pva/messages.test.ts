// Every message of the recorded pvxs / pvAccessCPP conversations decodes to the expected command
// and content (checked against what the client printed), and re-encodes byte for byte.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  ConnectionDecoder,
  decodeConversation,
  frameBytes,
  loadCapture,
  loadCaptures,
  messageLabel,
  norm,
  type Capture,
  type DecodedMessage,
} from './captures.ts';
import {
  ProtocolError,
  decodeMessage,
  encodeMessage,
  encodeOpRequest,
  encodeOpResponse,
  isBigEndian,
  type OpRequestMsg,
  type OpResponseMsg,
  type PvaMessage,
} from '../../src/pva/messages.ts';
import { Framer } from '../../src/pva/framer.ts';
import { Cmd } from '../../src/pva/protocol.ts';
import {
  PVStructure,
  SCALAR_CNAME,
  Writer,
  type FieldDesc,
  type ScalarType,
  type Structure,
} from '../../src/pvdata/index.ts';

// ---------------------------------------------------------------- helpers

const labels = (ms: DecodedMessage[]): string[] =>
  ms.map((d) => `${d.transport === 'udp' ? 'udp ' : ''}${d.dir === 'c2s' ? '>' : '<'} ${messageLabel(d.msg)}`);

/** Encodes any message with the encoder that fits it, in the given byte order. */
export function encodeAny(m: PvaMessage, littleEndian: boolean): Buffer {
  const w = new Writer(littleEndian);
  if (m.type === 'opRequest') encodeOpRequest(w, m);
  else if (m.type === 'opResponse') encodeOpResponse(w, m);
  else encodeMessage(w, m);
  return w.toBuffer();
}

const ofType = <T extends PvaMessage['type']>(ms: DecodedMessage[], type: T) =>
  ms.filter((d) => d.msg.type === type).map((d) => d.msg as Extract<PvaMessage, { type: T }>);

const replies = (ms: DecodedMessage[], label: string): OpResponseMsg[] =>
  ms.filter((d) => messageLabel(d.msg) === label).map((d) => d.msg as OpResponseMsg);

const requests = (ms: DecodedMessage[], label: string): OpRequestMsg[] =>
  ms.filter((d) => messageLabel(d.msg) === label).map((d) => d.msg as OpRequestMsg);

/** The PV named on the client's command line (its last argument that looks like a PV name). */
function pvName(cap: Capture): string {
  return cap.command.split(/\s+/).find((w) => w.startsWith('peer:'))!;
}

// ---------------------------------------------------------------- expected sequences

const UDP_SEARCH = ['udp > search', 'udp > originTag', 'udp > search', 'udp < searchResponse', 'udp < searchResponse'];
const HANDSHAKE = ['< setByteOrder', '< validationRequest', '> validationReply', '< validated'];
const TCP_SEARCH = ['> search', '< searchResponse'];
const CREATE = ['> createChannel', '< createChannelResponse'];
const GET = ['> GET init', '< GET init reply', '> GET exec', '< GET exec reply'];
const PUT = ['> PUT init', '< PUT init reply', '> PUT get', '< PUT get reply', '> PUT exec', '< PUT exec reply'];
const RPC = ['> RPC init', '< RPC init reply', '> RPC exec', '< RPC exec reply'];
const INFO = ['> getField', '< getFieldResponse'];
const MONITOR = ['> MONITOR init', '< MONITOR init reply', '> MONITOR start', ...Array(5).fill('< MONITOR update')];
const DESTROY = ['> destroyRequest'];

const OPS: Record<string, string[]> = {
  'get-ai': GET,
  'get-ai-field-value': GET,
  'get-mbbo': GET,
  'get-str': GET,
  'get-wf': GET,
  'info-ai': INFO,
  'monitor-count': MONITOR,
  'put-ao': PUT,
  'put-mbbo-index': PUT,
  'put-str': PUT,
  'rpc-add': RPC,
};

function expectedSequence(name: string): string[] {
  const [client, ...rest] = name.split('-');
  const udp = rest[0] === 'udp';
  const op = (udp ? rest.slice(1) : rest).join('-');
  const body = OPS[op];
  // GET_FIELD is never destroyed; the clients end a GET/PUT/MONITOR/RPC with DESTROY_REQUEST,
  // except that pvAccessCPP just closes the connection after a get and a monitor
  const destroy = op === 'info-ai' ? [] : client === 'pvacpp' && /^(get|monitor)/.test(op) ? [] : DESTROY;
  if (client === 'pvxs' && !udp) return [...HANDSHAKE, ...TCP_SEARCH, ...CREATE, ...body, ...destroy];
  if (client === 'pvacpp' && op.startsWith('put')) {
    // pvput: GET for the old value, (CANCEL_REQUEST,) DESTROY, the PUT, DESTROY, and a GET for the new one
    const cancel = op === 'put-str' ? [] : ['> cancelRequest'];
    return [...UDP_SEARCH, ...HANDSHAKE, ...CREATE, ...GET, ...cancel, ...DESTROY, ...PUT, ...DESTROY, ...GET, ...DESTROY];
  }
  return [...UDP_SEARCH, ...HANDSHAKE, ...CREATE, ...body, ...destroy];
}

// ---------------------------------------------------------------- client output parsing

/** `path type = value` lines of pvxget / pvxmonitor output, grouped per printed update. */
function pvxsBlocks(output: string): Array<Map<string, { type: string; text: string }>> {
  const blocks: Array<Map<string, { type: string; text: string }>> = [];
  for (const line of output.split('\n')) {
    const m = /^ {4}(\S+) (\S+) = (.*)$/.exec(line);
    if (m) blocks[blocks.length - 1]?.set(m[1], { type: m[2], text: m[3] });
    else if (/^peer:\S+$/.test(line)) blocks.push(new Map());
  }
  return blocks;
}

function parsePrinted(text: string): unknown {
  if (text === 'nan') return NaN;
  const arr = /^\{\d+\}(\[.*\])$/.exec(text);
  if (arr) return JSON.parse(arr[1]);
  return JSON.parse(text);
}

function plainValue(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v);
  if (ArrayBuffer.isView(v)) return Array.from(v as unknown as ArrayLike<number>);
  return v;
}

/** Asserts that every field the pvxs tool printed has that value in `value`. */
function assertPrinted(value: PVStructure, printed: Map<string, { type: string; text: string }>, what: string): void {
  assert.ok(printed.size > 0, `${what}: nothing printed`);
  for (const [path, { type, text }] of printed) {
    const t = value.type.typeAt(path);
    assert.ok(t, `${what}: no field ${path}`);
    assert.equal(cname(t), type, `${what}: type of ${path}`);
    assert.deepEqual(plainValue(value.get(path)), parsePrinted(text), `${what}: ${path}`);
  }
}

function cname(t: FieldDesc): string {
  if (t.kind === 'scalar') return SCALAR_CNAME[t.type];
  if (t.kind === 'scalarArray') return `${SCALAR_CNAME[t.type]}[]`;
  return t.kind;
}

/** The leaf paths a change mask covers (what the pvxs tools print). */
function maskedLeaves(value: PVStructure, bits: number[]): string[] {
  const L = value.type.layout;
  const out = new Set<string>();
  for (const b of bits) {
    if (b >= L.length) continue;
    for (let i = b; i < L[b].end; i++) if (L[i].type.kind !== 'structure') out.add(L[i].path);
  }
  return [...out].sort();
}

/** A type as `pvxinfo` prints it. */
function pvxsTypeText(t: FieldDesc, name = '', indent = 0): string[] {
  const pad = '    '.repeat(indent);
  const nm = name ? ` ${name}` : '';
  if (t.kind === 'structure') {
    return [
      `${pad}struct${t.id ? ` "${t.id}"` : ''} {`,
      ...t.fields.flatMap((m) => pvxsTypeText(m.type, m.name, indent + 1)),
      `${pad}}${nm}`,
    ];
  }
  return [`${pad}${cname(t)}${nm}`];
}

const PVDATA_NAME: Record<ScalarType, string> = {
  boolean: 'boolean', byte: 'byte', short: 'short', int: 'int', long: 'long', ubyte: 'ubyte', ushort: 'ushort',
  uint: 'uint', ulong: 'ulong', float: 'float', double: 'double', string: 'string',
};

/** A type as pvAccessCPP's `pvinfo` prints it. */
function pvinfoTypeText(t: FieldDesc, name = '', indent = 1): string[] {
  const pad = '    '.repeat(indent);
  const nm = name ? ` ${name}` : '';
  if (t.kind === 'structure') {
    return [`${pad}${t.id || 'structure'}${nm}`, ...t.fields.flatMap((m) => pvinfoTypeText(m.type, m.name, indent + 1))];
  }
  if (t.kind === 'scalar') return [`${pad}${PVDATA_NAME[t.type]}${nm}`];
  if (t.kind === 'scalarArray') return [`${pad}${PVDATA_NAME[t.type]}[]${nm}`];
  return [`${pad}${t.kind}${nm}`];
}

// ---------------------------------------------------------------- per-capture tests

const captures = loadCaptures();

describe('captured conversations', () => {
  it('covers every client, transport and operation', () => {
    assert.equal(captures.length, 33);
    for (const client of ['pvxs', 'pvxs-udp', 'pvacpp']) {
      for (const op of Object.keys(OPS)) {
        assert.ok(captures.some((c) => c.name === `${client}-${op}`), `${client}-${op}`);
      }
    }
  });

  for (const cap of captures) {
    describe(cap.name, () => {
      const msgs = decodeConversation(cap);

      it('decodes every message to the expected command sequence', () => {
        assert.deepEqual(labels(msgs), expectedSequence(cap.name));
        for (const d of msgs) assert.notEqual(d.msg.type, 'unknown');
      });

      it('re-encodes every message byte-identically (inline types), or equivalently (cached types)', () => {
        let identical = 0;
        for (const d of msgs) {
          const orig = frameBytes(d.frame);
          const again = encodeAny(d.msg, !isBigEndian(d.frame));
          if (!d.usedCache) {
            assert.equal(again.toString('hex'), orig.toString('hex'), `${messageLabel(d.msg)} (${d.dir})`);
            identical++;
            continue;
          }
          // only pvAccessCPP uses the introspection cache, and only from the client
          assert.match(cap.name, /^pvacpp-/);
          assert.equal(d.dir, 'c2s');
          // our encoder writes the type inline; that must decode (without any cache) to the same message
          const [frame] = new Framer().push(again);
          assert.ok(!(frame instanceof ProtocolError));
          const back = decodeMessage(frame, {});
          assert.deepEqual(norm(back), norm(d.msg), messageLabel(d.msg));
        }
        assert.ok(identical >= msgs.length - 6);
      });

      it('without the operation types, keeps data raw and still re-encodes byte-identically', () => {
        let raw = 0;
        for (const d of msgs) {
          if (d.usedCache) continue;
          const m = decodeMessage(d.frame, {});
          assert.ok(!(m instanceof ProtocolError), String(m));
          if ((m.type === 'opRequest' || m.type === 'opResponse') && m.raw) {
            assert.equal(m.value, undefined);
            raw++;
          }
          assert.equal(encodeAny(m, !isBigEndian(d.frame)).toString('hex'), frameBytes(d.frame).toString('hex'), messageLabel(m));
        }
        if (!/info-ai|rpc-add/.test(cap.name)) assert.ok(raw >= 1);
      });

      it('has the byte orders the README describes', () => {
        for (const d of msgs) {
          const be = isBigEndian(d.frame);
          if (d.msg.type === 'search') assert.equal(be, cap.name.startsWith('pvxs'), 'SEARCH');
          else if (d.msg.type === 'searchResponse') assert.equal(be, d.transport === 'udp', 'SEARCH_RESPONSE');
          else if (d.msg.type === 'originTag') assert.equal(be, true);
          else assert.equal(be, false, messageLabel(d.msg));
        }
      });

      it('handshakes as the README describes', () => {
        const [req] = ofType(msgs, 'validationRequest');
        assert.deepEqual(req, { type: 'validationRequest', bufferSize: 65536, registrySize: 0x7fff, methods: ['anonymous', 'ca'] });
        const [rep] = ofType(msgs, 'validationReply');
        assert.equal(rep.method, 'ca');
        assert.equal(rep.registrySize, 0x7fff);
        assert.ok(rep.data && rep.data.value instanceof PVStructure);
        const auth = rep.data.value as PVStructure;
        assert.deepEqual(auth.type.fields.map((f) => f.name), ['user', 'host']);
        if (cap.name.startsWith('pvacpp')) assert.deepEqual(auth.toJSON(), { user: 'root', host: 'vm' });
        const [ok] = ofType(msgs, 'validated');
        assert.equal(ok.status.type, 0);
      });

      it('searches for and creates the channel', () => {
        const name = pvName(cap);
        const port = name === 'peer:rpc' ? 15085 : 15075;
        const searches = ofType(msgs, 'search');
        assert.ok(searches.length >= 1);
        for (const s of searches) {
          assert.deepEqual(s.channels.map((c) => c.name), [name]);
          assert.deepEqual(s.protocols, ['tcp']);
        }
        const cid = searches[0].channels[0].cid;
        for (const r of ofType(msgs, 'searchResponse')) {
          assert.equal(r.found, true);
          assert.deepEqual(r.cids, [cid]);
          assert.equal(r.protocol, 'tcp');
          assert.equal(r.port, port);
          assert.equal(r.address, '0.0.0.0'); // "any": connect to the address the reply came from
          assert.equal(r.sequence, searches[0].sequence);
          assert.equal(r.guid.length, 12);
        }
        const udp = msgs.filter((d) => d.transport === 'udp');
        if (udp.length) {
          // the unicast search asks for replies to the client's own UDP port; the server's
          // multicast re-forward is preceded by an ORIGIN_TAG and names the client's address
          const first = udp[0];
          assert.equal(first.msg.type, 'search');
          const src = cap.chunks[first.chunk].src!;
          assert.equal((first.msg as { port: number }).port, Number(src.split(':')[1]));
          assert.equal((first.msg as { flags: number }).flags & 0x80, 0x80, 'unicast flag');
          assert.deepEqual(udp[1].msg, { type: 'originTag', address: '127.0.0.1' });
          assert.equal((udp[2].msg as { address: string }).address, '127.0.0.1');
          assert.equal((udp[2].msg as { flags: number }).flags & 0x80, 0, 're-forward is not unicast');
        } else {
          assert.equal(searches[0].address, '::'); // pvxs TCP search: 16 zero bytes
          assert.equal(searches[0].port, 0);
        }
        const [create] = ofType(msgs, 'createChannel');
        assert.deepEqual(create.channels, [{ cid, name }]);
        const [created] = ofType(msgs, 'createChannelResponse');
        assert.equal(created.cid, cid);
        assert.equal(created.status.type, 0);
        // every later request names the channel's sid
        for (const d of msgs) {
          const m = d.msg;
          if (m.type === 'opRequest' || m.type === 'destroyRequest' || m.type === 'cancelRequest' || m.type === 'getField') {
            assert.equal(m.sid, created.sid);
          }
        }
      });

      it('carries the values the client printed', () => checkContent(cap, msgs));
    });
  }
});

function checkContent(cap: Capture, msgs: DecodedMessage[]): void {
  const op = cap.name.replace(/^(pvxs-udp|pvxs|pvacpp)-/, '');
  const pvxs = cap.name.startsWith('pvxs');
  const out = cap.clientOutput;
  // every data reply decoded to a value, thanks to the types from the INIT replies
  for (const d of msgs) {
    const m = d.msg;
    if (m.type === 'opResponse' && !(m.subcmd & 0x08) && m.command !== Cmd.RPC && m.command !== Cmd.PUT) {
      assert.ok(m.value instanceof PVStructure, messageLabel(m));
      assert.equal(m.raw, undefined);
    }
  }
  const getReplies = replies(msgs, 'GET exec reply');
  switch (op) {
    case 'get-ai':
    case 'get-ai-field-value': {
      const v = getReplies[0].value!;
      assert.equal(v.type.id, 'epics:nt/NTScalar:1.0');
      assert.equal(v.get('value'), 3.25);
      if (op === 'get-ai-field-value') {
        // the pvRequest field(value) selects only the value
        const [init] = requests(msgs, 'GET init');
        assert.deepEqual(init.pvRequest!.toJSON(), { field: { value: {} } });
        assert.deepEqual(getReplies[0].changed!.toArray(), [1]);
      }
      break;
    }
    case 'get-mbbo': {
      const v = getReplies[0].value!;
      assert.equal(v.type.id, 'epics:nt/NTEnum:1.0');
      assert.deepEqual(v.get('value'), { index: 2, choices: ['Zero', 'One', 'Two', 'Three'] });
      if (!pvxs) assert.match(out, /\(2\) Two/);
      break;
    }
    case 'get-wf': {
      const v = getReplies[0].value!;
      assert.equal(v.type.id, 'epics:nt/NTScalarArray:1.0');
      assert.ok(v.get('value') instanceof Float64Array);
      assert.deepEqual(Array.from(v.get('value') as Float64Array), [1.5, 2.5, 3.5, 4.5]);
      if (!pvxs) assert.match(out, /\[1\.5,2\.5,3\.5,4\.5\]/);
      break;
    }
    case 'get-str': {
      const v = getReplies[0].value!;
      assert.equal(v.get('value'), 'hello ca');
      assert.equal(v.get('display.description'), 'stringout');
      if (!pvxs) assert.match(out, /"hello ca"/);
      break;
    }
    case 'info-ai': {
      const [r] = ofType(msgs, 'getFieldResponse');
      assert.equal(r.status.type, 0);
      const t = r.fieldType as Structure;
      assert.equal(t.kind, 'structure');
      if (pvxs) assert.equal(pvxsTypeText(t).join('\n'), out.split('\n').slice(1).join('\n').trimEnd());
      else assert.equal(pvinfoTypeText(t).join('\n'), out.split('Type:\n')[1].trimEnd());
      const [q] = ofType(msgs, 'getField');
      assert.equal(q.subField, '');
      break;
    }
    case 'monitor-count': {
      const ups = replies(msgs, 'MONITOR update');
      // the conversation checks below only mean something with a first update and later ones
      assert.ok(ups.length >= 2, `${ups.length} monitor updates recorded`);
      const values = ups.map((u) => u.value!.get('value') as number);
      for (let i = 1; i < values.length; i++) assert.equal(values[i], values[i - 1] + 1, 'counter increments');
      for (const u of ups) assert.deepEqual(u.overrun!.toArray(), []);
      // later updates carry only what changed: value and timeStamp
      for (const u of ups.slice(1)) assert.deepEqual(maskedLeaves(u.value!, u.changed!.toArray()), [
        'timeStamp.nanoseconds', 'timeStamp.secondsPastEpoch', 'timeStamp.userTag', 'value']);
      if (!pvxs) {
        const printed = [...out.matchAll(/ (\d+) \n/g)].map((m) => Number(m[1]));
        assert.deepEqual(values, printed);
      }
      break;
    }
    case 'put-ao':
    case 'put-mbbo-index':
    case 'put-str': {
      const [path, before, after] =
        op === 'put-ao' ? ['value', 1, 2.5] : op === 'put-mbbo-index' ? ['value.index', 0, 2] : ['value', 'reset', 'hello pva'];
      const [old] = replies(msgs, 'PUT get reply');
      assert.equal(old.value!.get(path), before, 'value before the put');
      const [put] = requests(msgs, 'PUT exec');
      assert.equal(put.value!.get(path), after, 'value put');
      assert.deepEqual(put.changed!.toArray(), [put.value!.type.offsetOf(path)]);
      const [done] = replies(msgs, 'PUT exec reply');
      assert.equal(done.status!.type, 0);
      assert.equal(done.value, undefined);
      if (!pvxs) {
        // pvput's own GETs, before and after
        assert.equal(getReplies[0].value!.get(path), before);
        assert.equal(getReplies[1].value!.get(path), after);
        const shown = op === 'put-ao' ? [' 1 ', ' 2.5 '] : op === 'put-mbbo-index' ? ['(0) Zero', '(2) Two'] : ['reset', '"hello pva"'];
        assert.ok(out.split('\n')[0].includes(shown[0]) && out.split('\n')[1].includes(shown[1]), out);
      }
      break;
    }
    case 'rpc-add': {
      const [call] = requests(msgs, 'RPC exec');
      const arg = call.argument!;
      assert.equal((arg.type as Structure).id, 'epics:nt/NTURI:1.0');
      const uri = arg.value as PVStructure;
      assert.equal(uri.get('path'), 'peer:rpc');
      assert.deepEqual(uri.get('query'), { lhs: '1.5', rhs: '2.25' });
      const [res] = replies(msgs, 'RPC exec reply');
      assert.equal(res.status!.type, 0);
      const result = res.result!.value as PVStructure;
      assert.equal(result.type.id, 'epics:nt/NTScalar:1.0');
      assert.equal(result.get('value'), 3.75);
      if (pvxs) assert.match(out, /double value = 3\.75/);
      else assert.match(out, / 3\.75 /);
      break;
    }
    default:
      assert.fail(`no content check for ${op}`);
  }
  if (pvxs && (op.startsWith('get') || op === 'monitor-count')) {
    // pvxget / pvxmonitor print exactly the fields the server marked, with their values
    const blocks = pvxsBlocks(out);
    const data = op === 'monitor-count' ? replies(msgs, 'MONITOR update') : getReplies;
    assert.equal(blocks.length, data.length);
    blocks.forEach((b, i) => {
      assertPrinted(data[i].value!, b, `update ${i}`);
      if (op !== 'monitor-count' || i > 0) {
        // (the tool leaves out a few fields of the first, complete monitor update)
        assert.deepEqual([...b.keys()].sort(), maskedLeaves(data[i].value!, data[i].changed!.toArray()));
      }
    });
  }
}

// ---------------------------------------------------------------- introspection cache

describe('pvAccessCPP introspection cache', () => {
  it('defines types with 0xFD and refers to them with 0xFE, per direction', () => {
    const cap = loadCapture('pvacpp-put-ao');
    const msgs = decodeConversation(cap);
    const cached = msgs.filter((d) => d.usedCache).map((d) => messageLabel(d.msg));
    assert.deepEqual(cached, ['validationReply', 'GET init', 'PUT init', 'GET init']);
    // the PUT INIT refers to the pvRequest type the GET INIT defined: alone it cannot be decoded
    const putInit = msgs.find((d) => messageLabel(d.msg) === 'PUT init')!;
    const alone = decodeMessage(putInit.frame, { cache: new Map() });
    assert.ok(alone instanceof ProtocolError);
    assert.match(alone.message, /introspection id 2/);
    // with the connection's client-side cache it decodes to an empty pvRequest
    assert.deepEqual((putInit.msg as OpRequestMsg).pvRequest!.toJSON(), {});
  });

  it('keeps the two directions apart', () => {
    const cap = loadCapture('pvacpp-get-ai-field-value');
    const dec = new ConnectionDecoder();
    for (const d of decodeConversation(cap)) if (d.transport === 'tcp') dec.decode(d.frame, d.dir);
    assert.deepEqual([...dec.caches.c2s.keys()].sort(), [1, 2, 3, 4]);
    assert.equal(dec.caches.s2c.size, 0);
  });
});
