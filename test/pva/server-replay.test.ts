// The client half of every captured pvxs / pvAccessCPP conversation, replayed byte for byte
// (channel ids patched to the ones pvtree hands out) against pvtree's server: the replies must
// decode and carry the expected content.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { Framer } from '../../src/pva/framer.ts';
import { ProtocolError, type PvaMessage, type OpResponseMsg } from '../../src/pva/messages.ts';
import { Cmd } from '../../src/pva/protocol.ts';
import { PVStructure } from '../../src/pvdata/index.ts';
import { ConnectionDecoder, clientFrames, frameBytes, loadCaptures, type Capture } from './captures.ts';
import { startPeerServer, type PeerServer } from './peer-server.ts';

let peer: PeerServer;
before(async () => {
  peer = await startPeerServer();
});
after(async () => {
  await peer.stop();
});

const SID_COMMANDS = new Set<number>([Cmd.GET, Cmd.PUT, Cmd.PUT_GET, Cmd.MONITOR, Cmd.RPC, Cmd.GET_FIELD, Cmd.DESTROY_REQUEST, Cmd.CANCEL_REQUEST, Cmd.DESTROY_CHANNEL]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Replays `cap`'s TCP client frames; returns every message pvtree's server sent back. */
async function replay(cap: Capture, between?: (i: number) => Promise<void>): Promise<PvaMessage[]> {
  const frames = clientFrames(cap, 'tcp');
  const sock: Socket = connect(peer.server.tcpPort, '127.0.0.1');
  const received: PvaMessage[] = [];
  const framer = new Framer();
  const decoder = new ConnectionDecoder();
  const sids = new Map<number, number>(); // cid → our sid
  const capturedSids = new Map<number, number>(); // captured sid → cid
  sock.on('data', (d) => {
    for (const f of framer.push(d)) {
      assert.ok(!(f instanceof ProtocolError), String(f));
      const m = decoder.decode(f as never, 's2c');
      assert.ok(!(m instanceof ProtocolError), `${cap.name}: ${m}`);
      if (m.type === 'createChannelResponse') sids.set(m.cid, m.sid);
      received.push(m);
    }
  });
  await new Promise<void>((res, rej) => sock.once('connect', res).once('error', rej));
  await sleep(20);
  // learn the captured server's sids from its own replies
  const capDecoder = new ConnectionDecoder();
  for (const f of (await import('./captures.ts')).serverFrames(cap, 'tcp')) {
    const m = capDecoder.decode(f.frame, 's2c');
    if (!(m instanceof ProtocolError) && m.type === 'createChannelResponse') capturedSids.set(m.sid, m.cid);
  }
  for (let i = 0; i < frames.length; i++) {
    const f = frames[i].frame;
    let bytes = frameBytes(f);
    if (SID_COMMANDS.has(f.command) && !(f.flags & 0x01) && bytes.length >= 12) {
      const be = (f.flags & 0x80) !== 0;
      const sid = be ? bytes.readUInt32BE(8) : bytes.readUInt32LE(8);
      const cid = capturedSids.get(sid);
      const ours = cid === undefined ? undefined : sids.get(cid);
      if (ours !== undefined) {
        bytes = Buffer.from(bytes);
        if (be) bytes.writeUInt32BE(ours, 8);
        else bytes.writeUInt32LE(ours, 8);
      }
    }
    sock.write(bytes);
    await sleep(15);
    await between?.(i);
  }
  await sleep(30);
  sock.destroy();
  return received;
}

const responses = (ms: PvaMessage[], command: number) =>
  ms.filter((m): m is OpResponseMsg => m.type === 'opResponse' && m.command === command);

function dataOf(ms: PvaMessage[], command: number): OpResponseMsg[] {
  return responses(ms, command).filter((m) => !(m.subcmd & 0x08) && m.value);
}

const captures = loadCaptures().filter((c) => c.chunks.some((k) => k.dir === 'c2s' && (k.transport ?? 'tcp') === 'tcp'));

for (const cap of captures) {
  const op = cap.name.replace(/^(pvxs-udp|pvxs|pvacpp)-/, '');
  test(`replay ${cap.name} against pvtree`, async () => {
    if (op === 'monitor-count') {
      let posted = 0;
      const ms = await replay(cap, async () => {
        for (let k = 0; k < 3; k++) {
          peer.pvs['peer:count'].post({ value: 100 + ++posted });
          await sleep(5);
        }
      });
      const updates = dataOf(ms, Cmd.MONITOR);
      assert.ok(updates.length >= 2, `monitor updates: ${updates.length}`);
      assert.equal(typeof updates.at(-1)!.value!.get('value'), 'number');
      return;
    }
    if (op.startsWith('put-')) {
      const pvName = op === 'put-ao' ? 'peer:ao' : op === 'put-str' ? 'peer:str' : 'peer:mbbo';
      // reset to a value different from what the client puts, as the recording did
      const pv = peer.pvs[pvName];
      if (pvName === 'peer:ao') pv.post({ value: 1.0 });
      if (pvName === 'peer:str') pv.post({ value: 'reset' });
      if (pvName === 'peer:mbbo') pv.post({ value: { index: 0 } });
      const ms = await replay(cap);
      const puts = responses(ms, Cmd.PUT).filter((m) => !(m.subcmd & 0x48));
      assert.ok(puts.length >= 1, 'a put reply');
      for (const p of puts) assert.equal(p.status?.type, 0, p.status?.message);
      const v = pv.current.get('value');
      if (pvName === 'peer:ao') assert.equal(v, 2.5);
      if (pvName === 'peer:mbbo') assert.equal((v as { index: number }).index, 2);
      if (pvName === 'peer:str') assert.notEqual(v, 'reset');
      return;
    }
    const ms = await replay(cap);
    assert.ok(ms.some((m) => m.type === 'validated'), 'handshake completes');
    switch (op) {
      case 'get-ai': {
        const [d] = dataOf(ms, Cmd.GET);
        assert.equal(d.value!.get('value'), 3.25);
        assert.equal(d.value!.get('display.units'), 'V');
        break;
      }
      case 'get-ai-field-value': {
        const [d] = dataOf(ms, Cmd.GET);
        assert.deepEqual(d.changed!.toArray(), [1], 'only value is sent');
        assert.equal(d.value!.get('value'), 3.25);
        break;
      }
      case 'get-mbbo': {
        const [d] = dataOf(ms, Cmd.GET);
        const v = d.value!.get('value') as { index: number; choices: string[] };
        assert.equal(typeof v.index, 'number');
        assert.deepEqual(v.choices, ['Zero', 'One', 'Two', 'Three']);
        break;
      }
      case 'get-str': {
        const [d] = dataOf(ms, Cmd.GET);
        assert.equal(d.value!.get('value'), peer.pvs['peer:str'].current.get('value'));
        break;
      }
      case 'get-wf': {
        const [d] = dataOf(ms, Cmd.GET);
        assert.deepEqual(Array.from(d.value!.get('value') as Float64Array), [1.5, 2.5, 3.5, 4.5]);
        break;
      }
      case 'info-ai': {
        const r = ms.find((m) => m.type === 'getFieldResponse');
        assert.ok(r && r.type === 'getFieldResponse');
        assert.equal((r.fieldType as { id: string }).id, 'epics:nt/NTScalar:1.0');
        break;
      }
      case 'rpc-add': {
        const r = responses(ms, Cmd.RPC).find((m) => !(m.subcmd & 0x08));
        assert.ok(r, 'rpc reply');
        assert.equal(r.status?.type, 0, r.status?.message);
        assert.equal((r.result!.value as PVStructure).get('value'), 3.75);
        break;
      }
      default:
        assert.fail(`no expectation for ${op}`);
    }
  });
}
