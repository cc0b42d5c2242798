// The async memory interface: what a Device's registers travel over (Rogue's memory Master/Slave).

/** Kind of a memory transaction: read, write, post (a write nobody waits on) or verify. */
export type TransactionType = 'read' | 'write' | 'post' | 'verify';

/** One memory access. `data` is filled by reads/verifies and consumed by writes/posts. */
export interface Transaction {
  readonly type: TransactionType;
  /** Byte address seen by the receiving memory (Hubs add their offsets on the way down). */
  readonly address: number;
  readonly size: number;
  readonly data: Uint8Array;
  /** Seconds, as in Rogue; a memory may fail the transaction when exceeded. */
  readonly timeout: number;
  /** Set by the memory when the transaction failed (doTransaction also rejects). */
  error?: string;
}

/**
 * The memory interface registers travel over (Rogue's memory slave): access sizes and
 * transactions. Implement it to reach real hardware.
 */
export interface Memory {
  /** Smallest access in bytes; block addresses and sizes are aligned to it. */
  readonly minAccess: number;
  /** Largest single transaction in bytes. */
  readonly maxAccess: number;
  /** Resolves when done; rejects with MemoryError (and sets `tran.error`) on failure. */
  doTransaction(tran: Transaction): Promise<void>;
  /** Optional: open connections (a Root calls it at start, before any transaction; may be called again). */
  start?(): void | Promise<void>;
  /** Optional: close connections (a Root calls it when it stops). */
  stop?(): void | Promise<void>;
  /** Optional, for memories reached over a link: whether it is up now. */
  readonly linkUp?: boolean;
  /** Optional: hear the link go down and come back (`detail` says why). Returns an unsubscribe function. */
  onLinkChange?(listener: (up: boolean, detail: string) => void): () => void;
}

/** The error a variable shows while the link to its memory is down. */
export class LinkDownError extends Error {
  override name = 'LinkDownError';
  constructor(readonly memory: string, readonly detail: string) {
    super(`${memory}: link down: ${detail}`);
  }
}

/** A failed memory transaction, with the address and what went wrong. */
export class MemoryError extends Error {
  override name = 'MemoryError';
  constructor(
    message: string,
    readonly address: number,
    readonly size: number,
    readonly type: TransactionType,
  ) {
    super(`${message} (${type} address 0x${address.toString(16)} size ${size})`);
  }
}

/** Fail `tran` with a message: records it on the transaction and returns the error to reject with. */
export function failTransaction(tran: Transaction, message: string): MemoryError {
  tran.error = message;
  return new MemoryError(message, tran.address, tran.size, tran.type);
}
