// Public API of the Channel Access implementation.
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
