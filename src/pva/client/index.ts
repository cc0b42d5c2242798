// pvAccess client: search, circuits, channels and operations, plus pvxs-style value formatting.
//
//   const client = new PvaClient();                       // EPICS_PVA_* from the environment
//   const client = new PvaClient({ addrList: ['127.0.0.1'], autoAddrList: false, broadcastPort: 5076 });
//
//   await client.get('pv', { request: 'field(value,alarm)', timeout: 5 })   → PVStructure
//   await client.put('pv', 2.5)                           // plain value → `value` (enum: index or choice)
//   await client.put('pv', { 'value.index': 2, 'alarm.message': '' })
//   await client.putGet('pv', 2.5, { readBefore: true }) → { value, before }   (PUT_GET: put and read back)
//   const sub = client.monitor('pv', (v) => { ... }, { request, queueSize: 4, pipeline: true,
//                                                   onEvent: (e) => ... })    ; sub.close()
//   await client.rpc('pv', { lhs: '1', rhs: '2' })        // plain object → NTURI query; or a PVStructure
//   await client.info('pv')                               → FieldDesc (GET_FIELD)
//   await client.list('host:port')                        → channel names (server PV, op=channels)
//   client.close()
//
// Every operation also takes { server: 'host:port' } to bypass search. Errors are PvaClientError
// with messages that start with the PV name: 'pv: not found (timeout 5 s)', 'pv: <server message>'.
// A monitor callback or onEvent listener that throws is reported to client.onError (a
// PvaCallbackError; default: printed to stderr), never swallowed: new PvaClient({ onError: (e) => … }).
export { PvaClient, PvaClientError, PvaCallbackError, ntUri } from './client.ts';
export type { PvaClientOptions, OpOptions, MonitorOptions, MonitorEvent, Subscription } from './client.ts';
export { configFromEnv, splitHostPort } from './config.ts';
export type { ClientConfig } from './config.ts';
export { ClientConnection } from './connection.ts';
export type { AuthInfo, ChannelHandler, ConnectionCallbacks, OpHandler } from './connection.ts';
export { buildPutValue, needsCurrent } from './put.ts';
export type { PutGetResult } from './put-get.ts';
export type { PutInput } from './put.ts';
export { formatDelta, formatTree, formatType, formatNumber, formatClassic, formatClassicLine, formatPutReport, formatPutLine, escape, typeName } from './format.ts';
export type { FormatOptions } from './format.ts';
