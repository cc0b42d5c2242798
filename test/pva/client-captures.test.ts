// The client against a scripted fake server that replays what the real pvxs server (softIocPVX /
// rpc_server) sent in the recorded conversations, with the ids patched to the client's. The
// printed output must equal what the pvxs tools printed for the same replies, and the requests
// the client sends must have the shape pvxs's client gave them.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { PvaClient, formatClassic, formatDelta, formatPutReport, formatTree } from '../../src/pva/client/index.ts';
import type { Frame, PvaMessage } from '../../src/pva/messages.ts';
import { Cmd, FLAG_BIG_ENDIAN, FLAG_CONTROL, MONITOR_START, SUB_INIT } from '../../src/pva/protocol.ts';
import type { PVStructure } from '../../src/pvdata/index.ts';
import { until } from '../cli/fixtures.ts';
import { captureFrames, frameBytes, loadCapture, type Capture } from './captures.ts';
import { onClientMessages } from './scripted-server.ts';

interface Fake {
  server: Server;
  port: number;
  /** Messages the client sent, decoded (values of PUT undecoded: no types kept here). */
  received: PvaMessage[];
  close(): Promise<void>;
}

function patchU32(f: Frame, offset: number, v: number): Buffer {
  const b = Buffer.from(frameBytes(f));
  if (f.flags & FLAG_BIG_ENDIAN) b.writeUInt32BE(v >>> 0, 8 + offset);
  else b.writeUInt32LE(v >>> 0, 8 + offset);
  return b;
}

/** A TCP server that answers each client request with the next recorded reply of the same command. */
async function fakeServer(cap: Capture): Promise<Fake> {
  const frames = captureFrames(cap).filter((f) => f.transport === 'tcp' && f.dir === 's2c').map((f) => f.frame);
  const received: PvaMessage[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    const queue = [...frames];
    // the server speaks first: SET_BYTE_ORDER and CONNECTION_VALIDATION
    const hello: Buffer[] = [];
    while (queue.length && ((queue[0].flags & FLAG_CONTROL) || queue[0].command === Cmd.CONNECTION_VALIDATION)) {
      hello.push(frameBytes(queue.shift()!));
    }
    s.write(Buffer.concat(hello));
    /** The next recorded reply of `command`; for an operation request, an INIT reply only to an INIT. */
    const take = (command: number, subcmd?: number): Frame | undefined => {
      const i = queue.findIndex(
        (f) => !(f.flags & FLAG_CONTROL) && f.command === command && (subcmd === undefined || (f.payload[4] & SUB_INIT) === (subcmd & SUB_INIT)),
      );
      return i < 0 ? undefined : queue.splice(i, 1)[0];
    };
    onClientMessages(s, (m) => {
      received.push(m);
      switch (m.type) {
        case 'validationReply': {
          const r = take(Cmd.CONNECTION_VALIDATED);
          if (r) s.write(frameBytes(r));
          break;
        }
        case 'createChannel': {
          const r = take(Cmd.CREATE_CHANNEL);
          if (r) s.write(patchU32(r, 0, m.channels[0].cid));
          break;
        }
        case 'getField': {
          const r = take(Cmd.GET_FIELD);
          if (r) s.write(patchU32(r, 0, m.ioid));
          break;
        }
        case 'opRequest': {
          const r = take(m.command, m.command === Cmd.MONITOR ? undefined : m.subcmd);
          if (r) s.write(patchU32(r, 0, m.ioid));
          if (m.command === Cmd.MONITOR && m.subcmd === MONITOR_START) {
            for (let x = take(Cmd.MONITOR); x; x = take(Cmd.MONITOR)) s.write(patchU32(x, 0, m.ioid));
          }
          break;
        }
        default:
          break;
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    server,
    port,
    received,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

async function withFake<T>(name: string, fn: (client: PvaClient, server: string, fake: Fake, cap: Capture) => Promise<T>): Promise<T> {
  const cap = loadCapture(name);
  const fake = await fakeServer(cap);
  const client = new PvaClient({ addrList: [], autoAddrList: false, nameServers: [], timeout: 3 });
  try {
    return await fn(client, `127.0.0.1:${fake.port}`, fake, cap);
  } finally {
    client.close();
    await fake.close();
  }
}

describe('client against replayed pvxs server replies', () => {
  for (const name of ['pvxs-get-ai', 'pvxs-get-mbbo', 'pvxs-get-str', 'pvxs-get-wf', 'pvxs-get-ai-field-value']) {
    it(`${name}: prints exactly what pvxget printed`, async () => {
      await withFake(name, async (client, server, fake, cap) => {
        const pv = cap.command.split(' ').pop()!;
        const request = name.endsWith('field-value') ? 'field(value)' : undefined;
        const v = await client.get(pv, { server, request });
        assert.equal(`${pv}\n${formatDelta(v)}`, cap.clientOutput);
        await until(() => fake.received.length >= 4, 2000, 'the GET');
        // handshake and requests shaped like pvxs's: 'ca' auth, GET INIT with the pvRequest, GET;
        // no DESTROY: the operation is kept for the next get (pvxget destroys it)
        const types = fake.received.map((m) => (m.type === 'opRequest' ? `op${m.command}:${m.subcmd}` : m.type));
        assert.deepEqual(types, ['validationReply', 'createChannel', 'op10:8', 'op10:0']);
        const vr = fake.received[0];
        assert.ok(vr.type === 'validationReply' && vr.method === 'ca');
      });
    });
  }

  for (const op of ['get-ai', 'get-mbbo', 'get-str', 'get-wf', 'get-ai-field-value']) {
    it(`pvxs-${op} replies in the pvget (pvAccessCPP) one-line form match pvacpp-${op}`, async () => {
      const tz = process.env.TZ;
      process.env.TZ = 'UTC'; // the recordings were made on a UTC host
      try {
        await withFake(`pvxs-${op}`, async (client, server, _fake, cap) => {
          const pv = cap.command.split(' ').pop()!;
          const v = await client.get(pv, { server, request: op.endsWith('field-value') ? 'field(value)' : undefined });
          assert.equal(formatClassic(pv, v), loadCapture(`pvacpp-${op}`).clientOutput);
        });
      } finally {
        if (tz === undefined) delete process.env.TZ;
        else process.env.TZ = tz;
      }
    });
  }

  it('pvxs-info-ai: prints the type exactly as pvxinfo', async () => {
    await withFake('pvxs-info-ai', async (client, server, _fake, cap) => {
      const t = await client.info('peer:ai', { server });
      const expected = cap.clientOutput.slice(cap.clientOutput.indexOf('\n') + 1);
      assert.equal(formatTree(t), expected);
    });
  });

  it('pvxs-rpc-add: sends the same NTURI as pvxcall and prints the same result', async () => {
    await withFake('pvxs-rpc-add', async (client, server, fake, cap) => {
      const r = await client.rpc('peer:rpc', { lhs: '1.5', rhs: '2.25' }, { server });
      assert.equal(formatTree(r), cap.clientOutput);
      // our RPC argument bytes equal the recorded pvxcall request (ids aside)
      const ours = fake.received.find((m) => m.type === 'opRequest' && m.command === Cmd.RPC && m.subcmd === 0);
      assert.ok(ours && ours.type === 'opRequest');
      const arg = ours.argument!;
      assert.equal(arg.type.kind === 'structure' && arg.type.id, 'epics:nt/NTURI:1.0');
      assert.deepEqual((arg.value as PVStructure).toJSON(), {
        scheme: '',
        authority: '',
        path: 'peer:rpc',
        query: { lhs: '1.5', rhs: '2.25' },
      });
    });
  });

  it('pvxs-monitor-count: prints each update like pvxmonitor', async () => {
    await withFake('pvxs-monitor-count', async (client, server, _fake, cap) => {
      let out = '';
      let n = 0;
      await new Promise<void>((resolve) => {
        const sub = client.monitor(
          'peer:count',
          (v) => {
            out += `peer:count\n${formatDelta(v)}`;
            if (++n === 5) {
              sub.close();
              resolve();
            }
          },
          { server },
        );
      });
      const expected = cap.clientOutput.slice(cap.clientOutput.indexOf('\n') + 1);
      assert.equal(out, expected);
    });
  });

  it('pvxs-put-mbbo-index: PUT INIT, execute with only value.index marked (kept: no DESTROY)', async () => {
    await withFake('pvxs-put-mbbo-index', async (client, server, fake) => {
      await client.put('peer:mbbo', { 'value.index': 2 }, { server });
      const ops = fake.received.filter((m) => m.type === 'opRequest' || m.type === 'destroyRequest');
      const shape = ops.map((m) => (m.type === 'opRequest' ? `op${m.command}:${m.subcmd}` : m.type));
      // pvxput also fetches the current value (0x40) first; we only do when needed (enum by name)
      assert.deepEqual(shape, ['op11:8', 'op11:0']);
    });
  });

  it('pvxs-put-mbbo-index: an enum choice name makes the client fetch the choices first', async () => {
    await withFake('pvxs-put-mbbo-index', async (client, server, fake) => {
      await client.put('peer:mbbo', 'Two', { server });
      const shape = fake.received
        .filter((m) => m.type === 'opRequest')
        .map((m) => (m.type === 'opRequest' ? `op${m.command}:${m.subcmd}` : ''));
      assert.deepEqual(shape, ['op11:8', 'op11:64', 'op11:0']);
    });
  });

  it('pvxs-put-ao: writes the value as a double', async () => {
    await withFake('pvxs-put-ao', async (client, server) => {
      await client.put('peer:ao', '2.5', { server });
    });
  });

  for (const [name, value] of [
    ['pvacpp-put-ao', '2.5'],
    ['pvacpp-put-mbbo-index', '2'],
    ['pvacpp-put-str', 'hello pva'],
  ] as const) {
    it(`${name}: read, put, read (as pvtree put does) prints exactly what pvput printed`, async () => {
      const tz = process.env.TZ;
      process.env.TZ = 'UTC'; // the recordings were made on a UTC host
      try {
        await withFake(name, async (client, server, fake, cap) => {
          const pv = cap.command.split(' ')[1];
          const old = await client.get(pv, { server });
          await client.put(pv, value, { server });
          const now = await client.get(pv, { server });
          assert.equal(formatPutReport(old, now), cap.clientOutput);
          // the operations pvput made: GET, PUT, GET (pvput INITs each; the second GET here runs
          // again the first one's operation, so it is the execute alone)
          const ops = fake.received.filter((m) => m.type !== 'validationReply' && m.type !== 'createChannel').map((m) => (m.type === 'opRequest' ? `op${m.command}:${m.subcmd}` : m.type));
          assert.deepEqual(ops, ['op10:8', 'op10:0', 'op11:8', 'op11:0', 'op10:0']);
        });
      } finally {
        if (tz === undefined) delete process.env.TZ;
        else process.env.TZ = tz;
      }
    });
  }
});
