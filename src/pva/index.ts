// pvAccess: protocol constants, messages, framer, and the Node socket server and client.
export * from './protocol.ts';
export * from './messages.ts';
export * from './framer.ts';
