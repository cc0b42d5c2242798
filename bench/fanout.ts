// The CPU cost of monitor fan-out, without sockets: a real tree served by EpicsPvServer, its PVs
// monitored by C sans-I/O server connections, each wired to a sans-I/O pvtree client connection
// with the client's own monitor code. A burst sets every variable in one callback (a poll cycle);
// the table splits the work of one burst into the tree and server side (Variable.set to the bytes
// every connection writes) and the client side (those bytes to every monitor callback), in µs per
// delivered update. No syscalls are counted: what is left is what JavaScript costs.
//
//   node --import tsx bench/fanout.ts [--conns 50] [--pvs 100] [--bursts 400]
import { EpicsPvServer } from '../src/epics/index.ts';
import { Root, Device, LocalVariable } from '../src/tree/index.ts';
import { ServerConnection, memoryLogger, type ConnectionSink, type ServerContext } from '../src/pva/server/index.ts';
import { FanoutBudget } from '../src/pva/server/fanout.ts';
import { ClientConnection } from '../src/pva/client/connection.ts';
import { MonitorImpl, type MonitorHost } from '../src/pva/client/monitor.ts';
import { Channel } from '../src/pva/client/channel.ts';
import type { Circuit } from '../src/pva/client/circuit.ts';
import { parseRequest, type PVStructure } from '../src/pvdata/index.ts';

const argv = process.argv.slice(2);
const opt = (name: string, dflt: number) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : dflt;
};
const CONNS = opt('conns', 50);
const PVS = opt('pvs', 100);
const BURSTS = opt('bursts', 400);

for (const [k, v] of Object.entries({
  EPICS_PVAS_INTF_ADDR_LIST: '127.0.0.1',
  EPICS_PVAS_BEACON_ADDR_LIST: '127.0.0.1',
  EPICS_PVAS_AUTO_BEACON_ADDR_LIST: 'NO',
  EPICS_PVA_ADDR_LIST: '127.0.0.1',
  EPICS_PVA_AUTO_ADDR_LIST: 'NO',
  EPICS_PVAS_SERVER_PORT: '0',
  EPICS_PVAS_BROADCAST_PORT: '0',
}))
  process.env[k] = v;

const tick = () => new Promise<void>((r) => setImmediate(r));

/** Keeps what a server connection writes until the client side is fed. */
class Sink implements ConnectionSink {
  chunks: Buffer[] = [];
  bytes = 0;
  /** Writes (system calls, on a socket) made. */
  writes = 0;
  write(data: Buffer): void {
    this.writes++;
    // the connection reuses its output buffer after the write: keep a copy
    this.chunks.push(Buffer.from(data));
    this.bytes += data.length;
  }
  writev(chunks: Buffer[], done: () => void): void {
    for (const c of chunks) this.write(c);
    this.writes -= chunks.length - 1;
    done();
  }
  bufferedBytes(): number {
    return 0;
  }
  close(): void {}
}

async function main(): Promise<void> {
  const root = new Root({ name: 'Load', pollEn: false });
  const dev = new Device({ name: 'D' });
  const vars: LocalVariable<number>[] = [];
  for (let i = 0; i < PVS; i++) vars.push(new LocalVariable<number>({ name: `V${i}`, value: 0, typeStr: 'Float64', mode: 'RW' }));
  dev.add(...vars);
  root.add(dev);
  const epics = new EpicsPvServer({ base: 'load', root, protocols: ['pva'], logger: memoryLogger() });
  root.addProtocol(epics);
  await root.start();
  const pva = epics.pvaServer!;
  const fanout = new FanoutBudget(opt("budget", 1024));
  const ctx: ServerContext = {
    guid: Buffer.alloc(12, 1),
    tcpPort: 5075,
    log: memoryLogger(),
    maxMessageSize: 1 << 24,
    sendQueueLimit: 1 << 24,
    fanout,
    has: (n) => pva.has(n),
    lookup: (n) => pva.lookup(n),
  };

  // C connections, each a server side and a client side passing bytes by hand
  let delivered = 0;
  const sides = Array.from({ length: CONNS }, (_, i) => {
    const sink = new Sink();
    const server = new ServerConnection(ctx, sink, `bench:${i}`);
    const toServer: Buffer[] = [];
    const client = new ClientConnection({ send: (b) => void toServer.push(Buffer.from(b)), onReady: () => {}, onFatal: (why) => console.error(why) });
    return { sink, server, client, toServer };
  });
  /** Moves bytes both ways until nothing moves. */
  const pump = async () => {
    for (let round = 0; round < 50; round++) {
      await tick();
      let moved = false;
      for (const s of sides) {
        for (const c of s.sink.chunks.splice(0)) (moved = true), s.client.receive(c);
        for (const c of s.toServer.splice(0)) (moved = true), s.server.receive(c);
      }
      if (!moved) return;
    }
  };
  for (const s of sides) s.server.start();
  await pump();

  // channels and monitors, with the client's own MonitorImpl on a stand-in circuit
  let ioid = 1;
  const host: MonitorHost = { nextIoid: () => ioid++, callbackFailed: (_pv, _cb, e) => console.error(e), maybeForget: () => {} };
  const request = parseRequest('');
  const subs: MonitorImpl[] = [];
  for (const [k, s] of sides.entries()) {
    const circuit = { conn: s.client, closed: false, host: '127.0.0.1', port: 5075 } as unknown as Circuit;
    for (let i = 0; i < PVS; i++) {
      const ch = new Channel(`load:Load:D:V${i}`, k * PVS + i + 1, undefined);
      ch.circuit = circuit;
      s.client.createChannel(ch.cid, ch.name, {
        onCreated: (sid) => {
          ch.sid = sid;
          ch.state = 'connected';
          const m = new MonitorImpl(host, ch, request, (_v: PVStructure) => void delivered++, false, 4, undefined);
          subs.push(m);
          m.start();
        },
        onDestroyed: () => {},
      });
    }
  }
  for (let i = 0; i < 10 && subs.length < CONNS * PVS; i++) await pump();
  await pump();
  if (subs.length !== CONNS * PVS) throw new Error(`only ${subs.length} monitors`);
  for (const s of sides) s.sink.chunks.length = 0;
  delivered = 0;

  // bursts: set every variable in one callback, let the server write (microtasks, ticks, the
  // budget's turns), then feed the clients
  // rounds of bursts after a warm-up; the median round is reported (the machine may be busy)
  const ROUNDS = 5;
  const per = Math.max(1, Math.floor(BURSTS / ROUNDS));
  const rounds: Array<{ serverUs: number; clientUs: number }> = [];
  let serverUs = 0;
  let clientUs = 0;
  let bytes = 0;
  const warm = Math.min(100, BURSTS >> 2);
  for (let b = 0; b < warm + per * ROUNDS; b++) {
    if (b >= warm && (b - warm) % per === 0) {
      if (b > warm) rounds.push({ serverUs, clientUs });
      serverUs = clientUs = 0;
      if (b === warm) {
        bytes = delivered = 0;
        for (const s of sides) s.sink.writes = 0;
      }
    }
    const t0 = process.cpuUsage();
    await new Promise<void>((resolve) => {
      setImmediate(() => {
        for (const v of vars) void v.set(b + Math.random());
        // the fan-out runs in microtasks and nextTicks, held-back parts in the budget's turns
        // (a burst larger than the budget's share of a turn takes several turns)
        let quiet = 0;
        let seen = -1;
        const more = () => {
          const now = sides.reduce((t, s) => t + s.sink.chunks.length, 0);
          quiet = now === seen ? quiet + 1 : 0;
          seen = now;
          if (quiet >= 2) resolve();
          else setImmediate(more);
        };
        setImmediate(more);
      });
    });
    const t1 = process.cpuUsage(t0);
    serverUs += t1.user + t1.system;
    const t2 = process.cpuUsage();
    for (const s of sides) {
      for (const c of s.sink.chunks) (bytes += c.length), s.client.receive(c);
      s.sink.chunks.length = 0;
    }
    const t3 = process.cpuUsage(t2);
    clientUs += t3.user + t3.system;
  }
  rounds.push({ serverUs, clientUs });
  const n = per * ROUNDS * CONNS * PVS;
  const perRound = per * CONNS * PVS;
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  if (delivered !== n) console.error(`delivered ${delivered} of ${n} (squashed by the budget)`);
  const row = (a: string, b: string, c: string, d: string) => `| ${a.padEnd(44)} | ${b.padStart(14)} | ${c.padStart(12)} | ${d.padStart(16)} |`;
  console.log(`\nmonitor fan-out without sockets: ${CONNS} connections × ${PVS} Float64 PVs, all set in one callback, ${ROUNDS} rounds of ${per} bursts, the median round (${(bytes / (per * ROUNDS) / CONNS).toFixed(0)} bytes in ${(sides.reduce((t, s) => t + s.sink.writes, 0) / (per * ROUNDS) / CONNS).toFixed(1)} writes per connection per burst)\n`);
  console.log(row('side', 'µs per update', 'ms per burst', 'updates/s on one core'));
  console.log(`|:${'-'.repeat(45)}|${'-'.repeat(15)}:|${'-'.repeat(13)}:|${'-'.repeat(17)}:|`);
  for (const [label, us] of [
    ['tree + server (set → bytes written)', med(rounds.map((r) => r.serverUs))],
    ['client (bytes → monitor callback)', med(rounds.map((r) => r.clientUs))],
    ['both', med(rounds.map((r) => r.serverUs + r.clientUs))],
  ] as const)
    console.log(row(label, (us / perRound).toFixed(2), (us / per / 1000).toFixed(2), Math.round((perRound / us) * 1e6).toLocaleString('en-US')));
  for (const m of subs) m.closeQuietly();
  await root.stop();
}

await main();
process.exit(0);
