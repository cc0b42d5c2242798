// What the client's operations fail with, and how failing user callbacks are reported.

/** An operation failed: the message starts with the PV name ('pv: not found (timeout 5 s)'). */
export class PvaClientError extends Error {
  constructor(message: string, readonly pv?: string) {
    super(message);
    this.name = 'PvaClientError';
  }
}

/**
 * A user callback failed: a monitor callback or an `onEvent` listener threw, or the promise it
 * returned rejected. `cause` is what was thrown. See PvaClient.onError.
 */
export class PvaCallbackError extends PvaClientError {
  constructor(pv: string, readonly callback: 'monitor' | 'onEvent', cause: unknown) {
    super(`${pv}: ${callback === 'monitor' ? 'monitor callback' : 'onEvent listener'} failed: ${cause instanceof Error ? cause.message : String(cause)}`, pv);
    this.name = 'PvaCallbackError';
    this.cause = cause;
  }
}

/** The default onError: the failure and its stack on stderr. */
export function printCallbackError(e: PvaCallbackError): void {
  const stack = e.cause instanceof Error && e.cause.stack ? `\n${e.cause.stack}` : '';
  console.error(`pvtree client: ${e.message}${stack}`);
}
