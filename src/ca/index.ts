/**
 * Channel Access: constants, messages, framer and DBR codec (sans-I/O), the per-circuit
 * {@link CaServerConnection}, and {@link CaServer} on Node sockets serving a {@link CaSource}.
 * @module pvtree/ca
 */
export * from './constants.ts';
export * from './messages.ts';
export * from './framer.ts';
export * from './dbr.ts';
export * from './convert.ts';
export * from './source.ts';
export * from './long-string.ts';
export * from './connection.ts';
export * from './udp-responder.ts';
export * from './server.ts';
