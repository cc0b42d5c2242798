// pvAccess client: search, circuits, channels and operations, plus pvxs-style value formatting.
export { PvaClient, PvaClientError, ntUri } from './client.ts';
export type { OpOptions, MonitorOptions, MonitorEvent, Subscription } from './client.ts';
export { configFromEnv, splitHostPort } from './config.ts';
export type { ClientConfig } from './config.ts';
export { ClientConnection } from './connection.ts';
export { buildPutValue, needsCurrent } from './put.ts';
export type { PutInput } from './put.ts';
export { formatDelta, formatTree, formatType, formatNumber, formatClassic } from './format.ts';
