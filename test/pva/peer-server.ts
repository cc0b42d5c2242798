// A pvtree server holding the PVs of ../shared/peer.db (peer:ai, peer:ao, peer:mbbo, peer:str,
// peer:wf, peer:count, peer:rpc), on 127.0.0.1 with ephemeral ports, for tests.
import { PVStructure, struct } from '../../src/pvdata/index.ts';
import { ntEnum, ntScalar, ntScalarArray, setTimeStamp } from '../../src/pvdata/nt.ts';
import { PvaServer, SharedPV, memoryLogger } from '../../src/pva/server/index.ts';

export interface PeerServer {
  server: PvaServer;
  pvs: Record<string, SharedPV>;
  log: ReturnType<typeof memoryLogger>;
  stop(): Promise<void>;
}

export const LOOPBACK_ENV = {
  EPICS_PVAS_INTF_ADDR_LIST: '127.0.0.1',
  EPICS_PVAS_BEACON_ADDR_LIST: '127.0.0.1',
  EPICS_PVAS_AUTO_BEACON_ADDR_LIST: 'NO',
  EPICS_PVA_ADDR_LIST: '127.0.0.1',
  EPICS_PVA_AUTO_ADDR_LIST: 'NO',
};

function numeric(type: 'double', value: number, meta: { description: string; units: string; precision: number; low: number; high: number; hihi?: number }): PVStructure {
  const v = new PVStructure(ntScalar(type, { display: true, control: true, valueAlarm: true }));
  v.assign({
    value,
    display: { limitLow: meta.low, limitHigh: meta.high, description: meta.description, units: meta.units, precision: meta.precision },
    control: { limitLow: meta.low, limitHigh: meta.high },
    valueAlarm: {
      lowAlarmLimit: NaN,
      lowWarningLimit: NaN,
      highWarningLimit: NaN,
      highAlarmLimit: meta.hihi ?? NaN,
    },
  });
  v.set('display.form.choices', ['Default', 'String', 'Binary', 'Decimal', 'Hex', 'Exponential', 'Engineering']);
  setTimeStamp(v);
  return v;
}

/** Fresh SharedPVs shaped like the records of ../shared/peer.db, by name (opened). */
export function peerPVs(): Record<string, SharedPV> {
  const pvs: Record<string, SharedPV> = {};
  const add = (name: string, pv: SharedPV, init: PVStructure) => {
    pv.open(init);
    pvs[name] = pv;
  };
  add('peer:ai', new SharedPV(), numeric('double', 3.25, { description: 'double ai', units: 'V', precision: 3, low: -10, high: 10, hihi: 9 }));
  add('peer:ao', SharedPV.mailbox(), numeric('double', 1.0, { description: 'double ao', units: 'A', precision: 2, low: -100, high: 100 }));
  const mbbo = new PVStructure(ntEnum(), { value: { index: 1, choices: ['Zero', 'One', 'Two', 'Three'] }, display: { description: 'mbbo enum' } });
  add('peer:mbbo', SharedPV.mailbox(), mbbo);
  add('peer:str', SharedPV.mailbox(), new PVStructure(ntScalar('string', { display: true }), { value: 'reset', display: { description: 'stringout' } }));
  add('peer:wf', new SharedPV(), new PVStructure(ntScalarArray('double', { display: true }), { value: [1.5, 2.5, 3.5, 4.5] }));
  add('peer:count', new SharedPV(), numeric('double', 0, { description: 'counts up once per second', units: '', precision: 0, low: 0, high: 0 }));
  const rpcResult = ntScalar('double');
  add(
    'peer:rpc',
    new SharedPV({
      onRpc: (_pv, arg) => {
        const q = (arg?.value as PVStructure | undefined)?.get('query') as Record<string, string> | undefined;
        if (!q || q.lhs === undefined || q.rhs === undefined) throw new Error('need lhs and rhs');
        return new PVStructure(rpcResult, { value: Number(q.lhs) + Number(q.rhs) });
      },
    }),
    new PVStructure(struct('', { value: 'double' })),
  );
  return pvs;
}

export async function startPeerServer(opts: { tcpPort?: number; udpPort?: number } = {}): Promise<PeerServer> {
  const log = memoryLogger();
  const server = new PvaServer({
    tcpPort: opts.tcpPort ?? 0,
    udpPort: opts.udpPort ?? 0,
    interfaces: ['127.0.0.1'],
    beaconAddrs: [],
    logger: log,
    env: LOOPBACK_ENV,
  });
  const pvs = peerPVs();
  for (const [name, pv] of Object.entries(pvs)) server.addPV(name, pv);
  await server.start();
  return { server, pvs, log, stop: () => server.stop() };
}
