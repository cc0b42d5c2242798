// A tree and an access security file shared by the enforcement tests, and helpers to serve it on
// loopback ephemeral ports and to run programs as another OS user.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EpicsPvServer, type EpicsPvServerOptions } from '../../src/epics/index.ts';
import { PvaClient } from '../../src/pva/client/index.ts';
import { memoryLogger } from '../../src/pva/server/index.ts';
import { Device, LocalCommand, LocalVariable, Root } from '../../src/tree/index.ts';

/**
 * ops may write Dev (while Interlock is 0, audited), Secret and Interlock; guests only read;
 * Secret (and the group Motion) is invisible to guests; Lab is writable from 127.0.0.1;
 * Watched is readable only while Interlock is 0.
 */
export const SITE_ACF = `# pvtree test rules
UAG(ops) {alice, root}
UAG(guests) {bob, nobody}
HAG(lo) {127.0.0.1}
ASG(DEFAULT) {
  RULE(1, READ)
}
ASG(ctl) {
  INPA("sec:Root:Interlock")
  RULE(1, READ)
  RULE(1, WRITE, TRAPWRITE) {
    UAG(ops)
    CALC("A=0")
  }
}
ASG(interlock) {
  RULE(1, READ)
  RULE(1, WRITE) { UAG(ops) }
}
ASG(secret) {
  RULE(1, WRITE) { UAG(ops) }
}
ASG(lab) {
  RULE(1, READ)
  RULE(1, WRITE) { HAG(lo) }
}
ASG(gated) {
  INPA("sec:Root:Interlock")
  RULE(1, WRITE) { UAG(ops) }
  RULE(1, READ) { CALC("A=0") }
}
`;

/** The tree the rules above protect (PV names sec:Root:…). */
export function buildSecuredRoot(): Root {
  const root = new Root({ name: 'Root', pollEn: false });
  root.add(new LocalVariable({ name: 'Interlock', value: 0, typeStr: 'Int32', asg: 'interlock' }));
  const dev = new Device({ name: 'Dev', asg: 'ctl' });
  root.add(dev);
  dev.add(new LocalVariable({ name: 'Gain', value: 1.5, typeStr: 'Float64' }));
  dev.add(new LocalVariable({ name: 'Label', value: 'hello', typeStr: 'str' }));
  dev.add(new LocalVariable({ name: 'Count', value: 3, typeStr: 'Int32', mode: 'RO' }));
  dev.add(new LocalCommand<number, string>({ name: 'Go', argType: 'Int32', retType: 'str', function: ({ arg }) => `went ${arg}` }));
  const sub = new Device({ name: 'Sub' });
  dev.add(sub);
  sub.add(new LocalVariable({ name: 'Offset', value: 0, typeStr: 'Int32' }));
  root.add(new LocalVariable({ name: 'Secret', value: 42, typeStr: 'Int32', asg: 'secret' }));
  root.add(new LocalVariable({ name: 'Lab', value: 0, typeStr: 'Int32', asg: 'lab' }));
  root.add(new LocalVariable({ name: 'Watched', value: 0, typeStr: 'Int32', asg: 'gated' }));
  root.add(new LocalVariable({ name: 'Axis', value: 0, typeStr: 'Int32', groups: ['Motion'] }));
  return root;
}

export interface Secured {
  root: Root;
  server: EpicsPvServer;
  dir: string;
  acf: string;
  audit: string;
  log: ReturnType<typeof memoryLogger>;
  /** A pvtree client presenting `user` in the "ca" authentication. */
  client(user: string): PvaClient;
  close(): Promise<void>;
}

/** Writes the rules to a temporary folder and serves the tree over both protocols on loopback. */
export async function serveSecured(opts: Partial<EpicsPvServerOptions> = {}, acfText = SITE_ACF): Promise<Secured> {
  const dir = mkdtempSync(join(tmpdir(), 'pvtree-sec-'));
  const acf = join(dir, 'site.acf');
  const audit = join(dir, 'audit.jsonl');
  writeFileSync(acf, acfText);
  const root = buildSecuredRoot();
  const log = memoryLogger();
  const server = new EpicsPvServer({
    base: 'sec',
    root,
    logger: log,
    acf,
    audit,
    asgByGroup: { Motion: 'secret' },
    pva: { tcpPort: 0, udpPort: 0, interfaces: ['127.0.0.1'], beaconAddrs: [] },
    ca: { port: 0, interfaces: ['127.0.0.1'], beacons: false },
    ...opts,
  });
  root.addProtocol(server);
  await root.start();
  const clients: PvaClient[] = [];
  return {
    root,
    server,
    dir,
    acf,
    audit,
    log,
    client(user: string): PvaClient {
      const c = new PvaClient({ addrList: [`127.0.0.1:${server.pvaServer!.udpPort}`], autoAddrList: false, nameServers: [], timeout: 5, user });
      clients.push(c);
      return c;
    },
    async close() {
      for (const c of clients) c.close();
      await root.stop();
    },
  };
}

/** Why running as a second OS user is not possible here, or false. */
export const SKIP_OTHER_USER: string | false =
  process.getuid?.() !== 0
    ? 'running a client as a second OS user needs root (runuser -u nobody); CI runs as root'
    : !existsSync('/usr/sbin/runuser') && !existsSync('/sbin/runuser') && !existsSync('/usr/bin/runuser')
      ? 'runuser not found'
      : false;

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a program, as `user` (through runuser) unless user is undefined; `onLine` sees each stdout
 * line as it arrives. Killed after timeoutMs.
 */
export function runAs(
  user: string | undefined,
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
  onLine?: (line: string) => void,
): Promise<RunResult> & { kill(): void } {
  const [file, argv] = user === undefined ? [cmd, args] : ['runuser', ['-u', user, '--', cmd, ...args]];
  const child = spawn(file, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const done = new Promise<RunResult>((resolve) => {
    let stdout = '';
    let stderr = '';
    let partial = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      partial += d.toString();
      let i: number;
      while ((i = partial.indexOf('\n')) >= 0) {
        const line = partial.slice(0, i);
        partial = partial.slice(i + 1);
        onLine?.(line);
      }
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      stderr += `\n[killed after ${timeoutMs} ms]`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
  // runuser passes the signal on to the program
  return Object.assign(done, { kill: () => void child.kill('SIGTERM') });
}

/** Resolves when `cond()` holds, polling every 20 ms; rejects after timeoutMs naming `what`. */
export async function until(cond: () => boolean, what: string, timeoutMs = 15000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
