// The order of one channel's requests on one connection, sans-I/O, for both protocol servers. A
// client that writes and then reads must read what it wrote, even when the write takes a while
// (hardware behind the PV): rsrv gets this for free by handling a circuit's requests one after the
// other; an asynchronous server has to keep the order itself.

/** A request's work: returns a promise when it finishes later, nothing when it is done. */
export type OrderedTask = () => Promise<unknown> | void;

interface Waiting {
  write: boolean;
  task: OrderedTask;
}

/**
 * Keeps one channel's requests in arrival order while letting the ones that cannot disturb each
 * other overlap:
 * - a write (CA WRITE / WRITE_NOTIFY; pvAccess PUT, the put of a PUT_GET) starts only when every
 *   request before it has finished, and holds back every request after it until it has finished
 *   (writes are applied in order, each sees the one before);
 * - a read (CA READ_NOTIFY, a new subscription's first update; pvAccess GET, RPC) waits only for
 *   the writes before it, so reads run side by side.
 *
 * Each channel of each connection has its own RequestOrder: a slow channel holds back nothing of
 * any other channel, connection or the server. Uncontended, a task runs at once (synchronously)
 * and a synchronous task leaves nothing behind.
 *
 * A task must not throw; `onError` hears it if one does (the task is then counted as finished).
 */
export class RequestOrder {
  private running = 0;
  private writing = false;
  private readonly waiting: Waiting[] = [];

  constructor(private readonly onError: (e: unknown) => void) {}

  /** Requests started or waiting that have not finished. */
  get pending(): number {
    return this.running + this.waiting.length;
  }

  /** True when nothing is running or waiting. */
  get idle(): boolean {
    return this.running === 0 && this.waiting.length === 0;
  }

  /** Runs a read now, or after the writes that came before it. */
  read(task: OrderedTask): void {
    this.submit(false, task);
  }

  /** Runs a write now, or after everything that came before it. */
  write(task: OrderedTask): void {
    this.submit(true, task);
  }

  private submit(write: boolean, task: OrderedTask): void {
    if (this.waiting.length === 0 && this.mayStart(write)) this.start(write, task);
    else this.waiting.push({ write, task });
  }

  private mayStart(write: boolean): boolean {
    return write ? this.running === 0 : !this.writing;
  }

  private start(write: boolean, task: OrderedTask): void {
    let done: Promise<unknown> | void;
    try {
      done = task();
    } catch (e) {
      this.onError(e);
      return;
    }
    if (!done) return;
    this.running++;
    if (write) this.writing = true;
    const finish = (): void => this.finish(write);
    done.then(finish, (e: unknown) => {
      this.onError(e);
      finish();
    });
  }

  private finish(write: boolean): void {
    this.running--;
    if (write) this.writing = false;
    const w = this.waiting;
    while (w.length > 0 && this.mayStart(w[0].write)) {
      const next = w.shift()!;
      this.start(next.write, next.task);
    }
  }
}
