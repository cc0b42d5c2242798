// Rogue as a test peer: its own udp.Server + rssi.Server + packetizer + SrpV3Emulation
// (test/srp/rogue_peer.py), started from the environment script ROGUE_PEER_ENV names.
// Tests skip with this reason when it is not set.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const ROGUE_ENV = process.env.ROGUE_PEER_ENV;
export const ROGUE_SKIP = ROGUE_ENV ? false : 'ROGUE_PEER_ENV is not set (it names the environment script of a Rogue build; see ../shared/PEERS.md)';
export const PEER_SCRIPT = fileURLToPath(new URL('./rogue_peer.py', import.meta.url));

/** Run `args` of rogue_peer.py in Rogue's environment. */
export function rogueSpawn(args: string[]): ChildProcess {
  const sh = `. "$ROGUE_PEER_ENV" >/dev/null && exec "\${ROGUE_PYTHON:-python3}" "$0" "$@"`;
  return spawn('bash', ['-c', sh, PEER_SCRIPT, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: process.env });
}

/** A running Rogue server peer. */
export class RoguePeer {
  port = 0;
  private lines: string[] = [];
  private waiters: { re: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];
  stderr = '';
  private constructor(readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (l) => {
      this.lines.push(l);
      for (const w of [...this.waiters]) {
        const m = l.match(w.re);
        if (m) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve(m);
        }
      }
    });
    child.stderr!.on('data', (d) => void (this.stderr += String(d)));
  }

  /** Start Rogue's server side: packetizer v1 or v2 (with ibCrc: Rogue checks our CRCs). */
  static async start(opts: { pack: 1 | 2; ibCrc?: boolean; port?: number }): Promise<RoguePeer> {
    const args = ['--pack', String(opts.pack), '--port', String(opts.port ?? 0)];
    if (opts.ibCrc) args.push('--ibcrc');
    const p = new RoguePeer(rogueSpawn(args));
    const m = await p.expect(/^PORT (\d+)$/, 30000);
    p.port = Number(m[1]);
    return p;
  }

  /** Wait for a line of output matching `re`. */
  expect(re: RegExp, ms = 15000): Promise<RegExpMatchArray> {
    for (const l of this.lines) {
      const m = l.match(re);
      if (m) {
        this.lines.splice(this.lines.indexOf(l), 1);
        return Promise.resolve(m);
      }
    }
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`Rogue peer: no line matching ${re} after ${ms} ms; stderr: ${this.stderr.slice(-2000)}`)), ms);
      this.waiters.push({ re, resolve: (m) => { clearTimeout(t); resolve(m); } });
      this.child.once('exit', (code) => reject(new Error(`Rogue peer exited (${code}); stderr: ${this.stderr.slice(-2000)}`)));
    });
  }

  /** Send a command line (stop, start, stats, quit). */
  send(cmd: string): void {
    this.child.stdin!.write(`${cmd}\n`);
  }

  async stats(): Promise<{ open: boolean; down: number; drop: number; retran: number; packDrop: number }> {
    this.send('stats');
    const m = await this.expect(/^STATS (.*)$/);
    return JSON.parse(m[1]);
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const done = new Promise((r) => this.child.once('exit', r));
    this.send('quit');
    this.child.stdin!.end();
    const t = setTimeout(() => this.child.kill('SIGKILL'), 10000);
    await done;
    clearTimeout(t);
  }
}
