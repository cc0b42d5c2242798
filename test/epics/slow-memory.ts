// Emulated hardware that answers writes slowly: each write takes `writeDelayMs`, or, while held,
// waits until the test releases it. Reads and verifies answer at once.
import { Emulate, type Memory, type Transaction } from '../../src/tree/index.ts';

export class SlowMemory implements Memory {
  readonly inner = new Emulate();
  /** How long each write (or post) takes when not held. */
  writeDelayMs = 0;
  /** Writes begun (including held ones) and finished. */
  writesBegun = 0;
  writesDone = 0;
  private holding = false;
  private readonly held: Array<() => void> = [];

  get minAccess(): number {
    return this.inner.minAccess;
  }
  get maxAccess(): number {
    return this.inner.maxAccess;
  }

  /** Writes from now on wait for release(). */
  hold(): void {
    this.holding = true;
  }

  /** Writes waiting for release(). */
  get waiting(): number {
    return this.held.length;
  }

  /** Lets the held writes finish, and later ones run freely. */
  release(): void {
    this.holding = false;
    for (const go of this.held.splice(0)) go();
  }

  async doTransaction(t: Transaction): Promise<void> {
    if (t.type === 'write' || t.type === 'post') {
      this.writesBegun++;
      if (this.holding) await new Promise<void>((go) => this.held.push(go));
      else if (this.writeDelayMs > 0) await new Promise((r) => setTimeout(r, this.writeDelayMs));
      await this.inner.doTransaction(t);
      this.writesDone++;
      return;
    }
    await this.inner.doTransaction(t);
  }
}
