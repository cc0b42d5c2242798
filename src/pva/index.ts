/**
 * pvAccess: the protocol (constants, messages, framer; sans-I/O) and the Node socket server
 * ({@link PvaServer}, {@link SharedPV}) and client ({@link PvaClient}).
 * @module pvtree/pva
 */
export * from './protocol.ts';
export * from './messages.ts';
export * from './framer.ts';
export * from './server/index.ts';
export * from './client/index.ts';
