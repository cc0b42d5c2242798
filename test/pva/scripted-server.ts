// A scripted pvAccess server for client tests that must see what the client put on the wire: it
// runs the handshake, creates every channel asked for, and hands over the first MONITOR INIT.
import { createServer, type Socket } from 'node:net';
import { PvaClient, type MonitorOptions } from '../../src/pva/client/index.ts';
import { Framer } from '../../src/pva/framer.ts';
import { ProtocolError, decodeMessage, encodeMessage, type OpRequestMsg, type PvaMessage } from '../../src/pva/messages.ts';
import { Cmd, SUB_INIT } from '../../src/pva/protocol.ts';
import { STATUS_OK, Writer } from '../../src/pvdata/index.ts';

function bytes(...ms: PvaMessage[]): Buffer {
  const w = new Writer(true);
  for (const m of ms) encodeMessage(w, m);
  return w.toBuffer();
}

/** Feeds what a client sends on `s` to `onMessage`, decoded; a malformed frame or message closes the socket. */
export function onClientMessages(s: Socket, onMessage: (m: PvaMessage) => void): void {
  const framer = new Framer();
  s.on('data', (d: Buffer) => {
    for (const f of framer.push(d)) {
      if (f instanceof ProtocolError) return void s.destroy();
      const m = decodeMessage(f);
      if (m instanceof ProtocolError) return void s.destroy();
      onMessage(m);
    }
  });
}

/** The MONITOR INIT request a PvaClient sends for `monitor('x:y', …, opts)`, as a server decodes it. */
export async function monitorRequestOf(opts: Omit<MonitorOptions, 'server' | 'onEvent'>): Promise<OpRequestMsg> {
  const sockets = new Set<Socket>();
  let got!: (m: OpRequestMsg) => void;
  const seen = new Promise<OpRequestMsg>((r) => (got = r));
  const server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.write(
      bytes(
        { type: 'setByteOrder', bigEndian: false },
        { type: 'validationRequest', bufferSize: 65536, registrySize: 0x7fff, methods: ['anonymous'] },
      ),
    );
    onClientMessages(s, (m) => {
      if (m.type === 'validationReply') s.write(bytes({ type: 'validated', status: STATUS_OK }));
      else if (m.type === 'createChannel') {
        for (const c of m.channels) s.write(bytes({ type: 'createChannelResponse', cid: c.cid, sid: c.cid + 100, status: STATUS_OK }));
      } else if (m.type === 'opRequest' && m.command === Cmd.MONITOR && m.subcmd & SUB_INIT) got(m);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  const client = new PvaClient({ addrList: [], autoAddrList: false, nameServers: [], timeout: 5 });
  const sub = client.monitor('x:y', () => {}, { ...opts, server: `127.0.0.1:${port}` });
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      seen,
      new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error('no MONITOR INIT within 10 s')), 10000))),
    ]);
  } finally {
    clearTimeout(timer);
    sub.close();
    client.close();
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }
}
