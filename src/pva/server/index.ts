// The pvAccess server: PvaServer, SharedPV, sources.
export * from './server.ts';
export * from './shared-pv.ts';
export * from './source.ts';
export * from './config.ts';
export * from './log.ts';
export { ServerConnection, type ConnectionSink, type ServerContext } from './connection.ts';
export { Selection, selectionFromRequest } from './mask.ts';
