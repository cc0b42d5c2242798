/**
 * Access security for served trees: EPICS access security files (.acf) decide who may read and
 * write, on every way in, with an audit log.
 *
 * The one check is {@link AccessGate}. Every front end asks it — pvAccess get/monitor (READ),
 * put/put-get/RPC (WRITE), Channel Access read/subscribe/write and ACCESS_RIGHTS, and any later
 * front end (a web interface does the same):
 *
 * ```ts
 * import { AccessGate, type Requester } from 'pvtree/src/security/index.ts';
 *
 * // EpicsPvServer builds it from { acf, readOnly, audit, asgByGroup, checkClientIP } and exposes it
 * // as `server.accessGate`; holders carry `resource` (PV name, tree path, ASG).
 * const gate = server.accessGate;
 * const me: Requester = { protocol: 'web', user: 'alice', host: '10.0.0.5', address: '10.0.0.5' };
 * const h = server.holder('lab:Dev:Gain');                 // EpicsPvHolder or EpicsCommandHolder
 * gate.canRead(h.resource, me);                             // before showing a value
 * await h.set(3, me);                                       // variable write: checked, applied, audited
 * await cmd.call(arg, me);  await cmd.put(arg, me);         // command: RPC-like call / put semantics
 * gate.onChange(() => recheck());                           // reload or a CALC input moved
 * ```
 *
 * A refusal throws {@link AccessDeniedError} (`accessDenied === true`) with the message
 * "write access denied to PV for user@host"; nothing changes.
 *
 * Who is asking ({@link Requester}): the account and host. pvAccess: the "ca" authentication's
 * account (anonymous otherwise) and the peer's IP address; Channel Access: CLIENT_NAME and
 * HOST_NAME, or the peer's IP address with `checkClientIP` (the IOC's asCheckClientIP).
 */
export * from './acf.ts';
export * from './calc.ts';
export * from './policy.ts';
export * from './audit.ts';
export * from './roles.ts';
export * from './gate.ts';
