// The pvAccess server: PvaServer, SharedPV, sources.
export * from './server.ts';
export * from './shared-pv.ts';
export * from './source.ts';
export * from './config.ts';
export * from './log.ts';
export { ServerConnection, PVA_ACCESS_READ, PVA_ACCESS_WRITE, type ConnectionSink, type ServerContext, type PvaAccessControl } from './connection.ts';
export { Selection, selectionFromRequest } from './mask.ts';
