// Shared fixtures for the client tests: a pvtree PvaServer on loopback with a few PVs, and client
// settings that search only that server (unicast UDP to 127.0.0.1, ephemeral ports).
import { PvaServer, SharedPV, memoryLogger } from '../../src/pva/server/index.ts';
import { PvaClient, type ClientConfig } from '../../src/pva/client/index.ts';
import { PVStructure, ntEnum, ntScalar, ntScalarArray, type AnyValue } from '../../src/pvdata/index.ts';

export interface Fixture {
  server: PvaServer;
  pvs: Record<string, SharedPV>;
}

export async function startServer(
  opts: {
    tcpPort?: number;
    udpPort?: number;
    prefix?: string;
    initial?: number;
    /** Where beacons go (default: nowhere); port 0 means the server's UDP port. */
    beaconAddrs?: Array<{ host: string; port: number }>;
    beaconPeriodMs?: number;
  } = {},
): Promise<Fixture> {
  const p = opts.prefix ?? 'test:';
  const server = new PvaServer({
    interfaces: ['127.0.0.1'],
    tcpPort: opts.tcpPort ?? 0,
    udpPort: opts.udpPort ?? 0,
    beaconAddrs: opts.beaconAddrs ?? [],
    beaconPeriodMs: opts.beaconPeriodMs,
    logger: memoryLogger(),
  });
  const pvs: Record<string, SharedPV> = {
    ai: SharedPV.mailbox().open(
      new PVStructure(ntScalar('double', { display: true }), {
        value: opts.initial ?? 3.25,
        display: { description: 'double ai', units: 'V', precision: 3 },
      }),
    ),
    mon: SharedPV.mailbox().open(
      new PVStructure(ntScalar('double', { display: true }), {
        value: 3.25,
        display: { description: 'monitored', units: 'V', precision: 3 },
      }),
    ),
    enum: SharedPV.mailbox().open(
      new PVStructure(ntEnum(), { value: { index: 1, choices: ['Zero', 'One', 'Two', 'Three'] } }),
    ),
    str: SharedPV.mailbox().open(new PVStructure(ntScalar('string'), { value: 'hello' })),
    wf: SharedPV.mailbox().open(new PVStructure(ntScalarArray('double'), { value: [1.5, 2.5, 3.5, 4.5] })),
    long: SharedPV.mailbox().open(new PVStructure(ntScalar('int'), { value: 42 })),
    ro: new SharedPV({
      onPut: () => {
        throw new Error('read-only PV');
      },
    }).open(new PVStructure(ntScalar('double'), { value: 1 })),
    add: new SharedPV({
      onRpc: (_pv, arg: AnyValue | null) => {
        const v = arg?.value as PVStructure;
        const q = v.get('query') as Record<string, unknown>;
        if (q.lhs === undefined || q.rhs === undefined) throw new Error('need lhs and rhs');
        return new PVStructure(ntScalar('double'), { value: Number(q.lhs) + Number(q.rhs) });
      },
    }).open(new PVStructure(ntScalar('double'), { value: 0 })),
  };
  for (const [k, pv] of Object.entries(pvs)) server.addPV(p + k, pv);
  await server.start();
  return { server, pvs };
}

export function clientConfig(udpPorts: number | number[], extra: Partial<ClientConfig> = {}): Partial<ClientConfig> {
  const ports = Array.isArray(udpPorts) ? udpPorts : [udpPorts];
  return {
    addrList: ports.map((p) => `127.0.0.1:${p}`),
    autoAddrList: false,
    broadcastPort: ports[0] ?? 5076,
    nameServers: [],
    timeout: 3,
    searchInterval: 50,
    searchMaxInterval: 250,
    ...extra,
  };
}

export function newClient(udpPorts: number | number[], extra: Partial<ClientConfig> = {}): PvaClient {
  return new PvaClient(clientConfig(udpPorts, extra));
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls until `cond` holds (or fails after `ms`). */
export async function until(cond: () => boolean, ms = 3000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}
