/**
 * pvtree: model hardware as a tree of devices, variables and commands, the way PyRogue does, and
 * serve it to EPICS clients over pvAccess and Channel Access.
 *
 * This entry point holds what a program needs: the device tree ({@link Root}, {@link Device},
 * {@link LocalVariable}, {@link RemoteVariable}, {@link LocalCommand} …), the server that
 * publishes it ({@link EpicsPvServer}), its web page and pvws-compatible web socket
 * ({@link WebServer}), access security ({@link AccessGate}: EPICS .acf files, used by the server's
 * `acf` option) and a pvAccess client ({@link PvaClient}).
 *
 * ```ts
 * import { Root, Device, LocalVariable, EpicsPvServer } from 'pvtree';
 *
 * const root = new Root({ name: 'Lab' });
 * const dev = new Device({ name: 'Board' });
 * root.add(dev);
 * dev.add(new LocalVariable({ name: 'Gain', value: 1.5 }));
 * root.addProtocol(new EpicsPvServer({ base: 'lab', root }));   // serves lab:Lab:Board:Gain
 * await root.start();
 * ```
 *
 * The layers underneath have their own entry points: `pvtree/tree`, `pvtree/epics`,
 * `pvtree/pva` (pvAccess protocol, server and client), `pvtree/ca` (Channel Access) and
 * `pvtree/pvdata` (pvData types, values and codec).
 * @module pvtree
 */
export * from './tree/index.ts';
export { EpicsPvServer, type EpicsPvServerOptions, type EpicsProtocol } from './epics/server.ts';
export { WebServer, type WebServerOptions } from './web/server.ts';
export {
  AccessGate, AccessDeniedError, AcfSyntaxError, parseAcf, NONE, READ, WRITE,
  type AccessGateOptions, type Requester, type Resource, type AccessLevel, type AcfConfig, type AuditRecord,
} from './security/index.ts';
export { consoleLogger, type Logger } from './pva/server/log.ts';
export {
  PvaClient, PvaClientError, PvaCallbackError, ntUri,
  type PvaClientOptions, type OpOptions, type MonitorOptions, type MonitorEvent, type Subscription,
} from './pva/client/client.ts';
export { configFromEnv, type ClientConfig } from './pva/client/config.ts';
export type { PutInput } from './pva/client/put.ts';
export type { PutGetResult } from './pva/client/put-get.ts';
export { PVStructure } from './pvdata/value.ts';
export type { FieldDesc, Structure, ScalarType } from './pvdata/types.ts';
