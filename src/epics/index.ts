// The EPICS bridge: serves a running device tree over pvAccess and Channel Access.
export * from './server.ts';
export * from './holder.ts';
export * from './type-map.ts';
export * from './ca-frontend.ts';
