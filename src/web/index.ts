// The web interface: a live tree browser and a pvws-compatible web socket for the served PVs.
export { WebServer, PVWS_PATH, type WebServerOptions, type WebServerStatus } from './server.ts';
export { WebSession, type WebSink, type PvDirectory, type SessionOptions, type SessionStats } from './session.ts';
export { PvFeed, type Holder, type FeedSubscriber } from './feed.ts';
export { treeJson, editorOf, type TreeJson, type DeviceJson, type VariableJson, type CommandJson, type EditorKind } from './tree-json.ts';
export * from './pvws-json.ts';
