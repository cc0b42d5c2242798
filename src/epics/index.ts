/**
 * The EPICS bridge: {@link EpicsPvServer} serves a running device tree over pvAccess and
 * Channel Access, one PV per variable and command.
 * @module pvtree/epics
 */
export * from './server.ts';
export * from './holder.ts';
export * from './type-map.ts';
// ca-frontend.ts (the Channel Access side of EpicsPvServer) is internal: imported by server.ts only
