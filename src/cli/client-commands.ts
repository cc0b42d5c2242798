// pvtree get | put | monitor | call | info | list: pvAccess client tools, output modelled on pvxs's
// pvxget / pvxput / pvxmonitor / pvxcall / pvxinfo / pvxlist.
import { PvaClient, PvaClientError, configFromEnv, formatClassic, formatPutLine, formatPutReport, formatDelta, formatTree, type ClientConfig } from '../pva/client/index.ts';
import type { PVStructure } from '../pvdata/index.ts';
import { UsageError, numberOpt, parseArgs, stringOpt, type OptSpec, type Parsed } from './args.ts';

/** Where a command's output goes and what it reads besides its arguments (tests pass their own). */
export interface CliIO {
  out(s: string): void;
  err(s: string): void;
  /** Environment the EPICS_* settings are read from (default: process.env). */
  env?: NodeJS.ProcessEnv;
  /** Client settings overriding the environment (tests). */
  config?: Partial<ClientConfig>;
  /** Resolves to stop a monitor or a server (default: SIGINT, and SIGTERM for a server). */
  interrupt?: Promise<void>;
}

let pipeGuard = false;

/** `pvtree list | head` closes our stdout early: stop quietly instead of crashing on EPIPE. */
function guardPipe(): void {
  if (pipeGuard) return;
  pipeGuard = true;
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
}

export const stdio: CliIO = {
  out: (s) => {
    guardPipe();
    process.stdout.write(s);
  },
  err: (s) => void process.stderr.write(s),
};

const COMMON: OptSpec[] = [
  { short: 'h', long: 'help' },
  { short: 'v', long: 'verbose' },
  { short: 'w', long: 'timeout', value: true },
];
const REQUEST: OptSpec = { short: 'r', long: 'request', value: true };
const FORMAT: OptSpec = { short: 'F', long: 'format', value: true };

const USAGE: Record<string, string> = {
  get:
    'Usage: pvtree get [options] <pvname> ...\n\n' +
    'Fetch and print the current value of each PV (pvxget style).\n\n' +
    '  -h             Show this message.\n' +
    '  -r <req>       pvRequest, e.g. \'field(value,alarm)\'. Default: all fields.\n' +
    '  -w <sec>       Operation timeout in seconds. Default 5.\n' +
    '  -F <fmt>       Output format: delta (default, pvxget), tree, or pvget (pvAccessCPP one-line).\n' +
    '  -v             Make more noise (effective configuration, server address).\n',
  put:
    'Usage: pvtree put [options] <pvname> <value>\n' +
    '       pvtree put [options] <pvname> <field>=<value> ...\n\n' +
    'Write a PV. A lone value goes to the `value` field (for an enum: an index or a choice name);\n' +
    'field=value pairs name fields by dotted path, e.g. value.index=2. Arrays: [1,2,3] or 1,2,3.\n' +
    'Prints the value before and after, as pvAccessCPP pvput does (Old : ... / New : ...).\n\n' +
    '  -h             Show this message.\n' +
    '  -r <req>       pvRequest (for the reads and the put).\n' +
    '  -w <sec>       Operation timeout in seconds. Default 5.\n' +
    '  -q             Quiet: print only the new value, without "New : " (pvput -q).\n' +
    '  --put-get      Put and read back in one operation (PUT_GET): the new value is the one this\n' +
    '                 put left. Not for servers without PUT_GET (pvxs, softIocPVX): they never answer.\n' +
    '  -v             Make more noise (effective configuration).\n',
  monitor:
    'Usage: pvtree monitor [options] <pvname> ...\n\n' +
    'Subscribe to PVs and print each update (pvxmonitor style). Runs until interrupted.\n\n' +
    '  -h             Show this message.\n' +
    '  -r <req>       pvRequest.\n' +
    '  -# <N>         (--count) Exit after N updates of each PV.\n' +
    '  -w <sec>       Give up after this many seconds (error if a PV never connected or\n' +
    '                 fewer than N updates arrived). Default: no limit.\n' +
    '  -q <N>         (--queue-size) Monitor queue size.\n' +
    '  -p             (--pipeline) Flow control: acknowledge updates.\n' +
    '  -F <fmt>       Output format: delta (default, pvxmonitor), tree, or pvget (one line).\n' +
    '  -v             Make more noise.\n',
  call:
    'Usage: pvtree call [options] <pvname> [<arg>=<value> ...]\n\n' +
    'Call an RPC PV with an NTURI argument whose query fields are the given strings (pvxcall style).\n\n' +
    '  -h             Show this message.\n' +
    '  -w <sec>       Operation timeout in seconds. Default 5.\n' +
    '  -v             Make more noise.\n',
  info:
    'Usage: pvtree info [options] <pvname> ...\n\n' +
    'Print the server address and the type of each PV (pvxinfo style).\n\n' +
    '  -h             Show this message.\n' +
    '  -w <sec>       Operation timeout in seconds. Default 5.\n' +
    '  -v             Make more noise.\n',
  list:
    'Usage: pvtree list [options] [<host:port> ...]\n\n' +
    'List the channels of servers through their built-in `server` PV (RPC op=channels).\n' +
    'Without an address, asks the server found by searching for `server`.\n\n' +
    '  -h             Show this message.\n' +
    '  -w <sec>       Operation timeout in seconds. Default 5.\n' +
    '  -v             Make more noise.\n',
};

export function usageOf(cmd: string): string {
  return USAGE[cmd] ?? '';
}

function makeClient(p: Parsed, io: CliIO): PvaClient {
  const timeout = numberOpt(p, 'timeout', 5);
  const client = new PvaClient({ ...configFromEnv(io.env), ...io.config, timeout });
  if (p.opts.has('verbose')) {
    const c = client.config;
    io.err(
      `Effective config\n` +
        `EPICS_PVA_ADDR_LIST=${c.addrList.join(' ')}\n` +
        `EPICS_PVA_AUTO_ADDR_LIST=${c.autoAddrList ? 'YES' : 'NO'}\n` +
        `EPICS_PVA_BROADCAST_PORT=${c.broadcastPort}\n` +
        `EPICS_PVA_NAME_SERVERS=${c.nameServers.join(' ')}\n` +
        `EPICS_PVA_SERVER_PORT=${c.serverPort}\n`,
    );
  }
  return client;
}

function errText(e: unknown): string {
  if (e instanceof PvaClientError) return e.message;
  if (e instanceof Error) return e.message;
  return String(e);
}

type Format = 'delta' | 'tree' | 'pvget';

function format(p: Parsed): Format {
  const f = stringOpt(p, 'format') ?? 'delta';
  if (f !== 'delta' && f !== 'tree' && f !== 'pvget') throw new UsageError(`unknown format '${f}' (delta, tree or pvget)`);
  return f;
}

function show(name: string, v: PVStructure, fmt: Format): string {
  if (fmt === 'pvget') return formatClassic(name, v);
  return fmt === 'tree' ? `${name}\n${indentLines(formatTree(v), '    ')}` : `${name}\n${formatDelta(v)}`;
}

function indentLines(s: string, pad: string): string {
  return s.replace(/^(?=.)/gm, pad);
}

/** Runs one client subcommand; returns the exit status. */
export async function runClientCommand(cmd: string, argv: string[], io: CliIO = stdio): Promise<number> {
  let p: Parsed;
  try {
    switch (cmd) {
      case 'get':
        p = parseArgs(argv, [...COMMON, REQUEST, FORMAT]);
        break;
      case 'put':
        p = parseArgs(argv, [...COMMON, REQUEST, { short: 'q', long: 'quiet' }, { long: 'put-get' }]);
        break;
      case 'monitor':
        p = parseArgs(argv, [
          ...COMMON,
          REQUEST,
          FORMAT,
          { short: '#', long: 'count', value: true },
          { short: 'q', long: 'queue-size', value: true },
          { short: 'p', long: 'pipeline' },
        ]);
        break;
      case 'call':
      case 'info':
      case 'list':
        p = parseArgs(argv, COMMON);
        break;
      default:
        io.err(`pvtree: unknown command '${cmd}'\n`);
        return 1;
    }
    if (p.opts.has('help')) {
      io.out(USAGE[cmd]);
      return 0;
    }
    if (cmd !== 'list' && p.positional.length === 0) throw new UsageError('expected a PV name');
    if (cmd === 'get' || cmd === 'monitor') format(p);
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`${USAGE[cmd] ?? ''}\nError: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
  let client: PvaClient;
  try {
    client = makeClient(p, io);
  } catch (e) {
    io.err(`Error: ${errText(e)}\n`);
    return 1;
  }
  try {
    switch (cmd) {
      case 'get':
        return await doGet(client, p, io);
      case 'put':
        return await doPut(client, p, io);
      case 'monitor':
        return await doMonitor(client, p, io);
      case 'call':
        return await doCall(client, p, io);
      case 'info':
        return await doInfo(client, p, io);
      case 'list':
        return await doList(client, p, io);
    }
    return 1;
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`${USAGE[cmd]}\nError: ${e.message}\n`);
      return 1;
    }
    io.err(`Error: ${errText(e)}\n`);
    return 1;
  } finally {
    client.close();
  }
}

async function doGet(client: PvaClient, p: Parsed, io: CliIO): Promise<number> {
  const request = stringOpt(p, 'request');
  const fmt = format(p);
  const results = await Promise.allSettled(p.positional.map((name) => client.get(name, { request })));
  let status = 0;
  results.forEach((r, i) => {
    const name = p.positional[i];
    if (r.status === 'fulfilled') {
      if (p.opts.has('verbose')) io.err(`${name} from ${client.peerOf(name) ?? '?'}\n`);
      io.out(show(name, r.value, fmt));
    } else {
      io.err(`Error: ${errText(r.reason)}\n`);
      status = 1;
    }
  });
  return status;
}

async function doPut(client: PvaClient, p: Parsed, io: CliIO): Promise<number> {
  const [name, ...rest] = p.positional;
  if (rest.length === 0) throw new UsageError('expected a value or field=value');
  let value: unknown;
  if (rest.length === 1 && !rest[0].includes('=')) value = rest[0];
  else {
    const fields: Record<string, string> = {};
    for (const fv of rest) {
      const eq = fv.indexOf('=');
      if (eq <= 0) throw new UsageError(`expected <field>=<value> not "${fv}"`);
      const k = fv.slice(0, eq);
      if (k in fields) throw new UsageError(`duplicate field ${k}`);
      fields[k] = fv.slice(eq + 1);
    }
    value = fields;
  }
  const request = stringOpt(p, 'request');
  const quiet = p.opts.has('quiet');
  if (p.opts.has('put-get')) {
    const r = await client.putGet(name, value, { request, readBefore: !quiet });
    io.out(formatPutReport(r.before, r.value));
    return 0;
  }
  // as pvput: a read, the put, another read (every server answers these)
  const before = quiet ? undefined : await client.get(name, { request });
  if (before) io.out(`Old : ${formatPutLine(before)}`);
  await client.put(name, value, { request });
  const after = await client.get(name, { request });
  io.out(before ? `New : ${formatPutLine(after)}` : formatPutLine(after));
  return 0;
}

function stamp(): string {
  const d = new Date();
  const z = (n: number, w = 2): string => String(n).padStart(w, '0');
  return (
    `${d.getFullYear()}-${z(d.getMonth() + 1)}-${z(d.getDate())} ` +
    `${z(d.getHours())}:${z(d.getMinutes())}:${z(d.getSeconds())}.${z(d.getMilliseconds(), 3)}`
  );
}

/**
 * Where a `pvtree monitor` run stands, in one place: updates printed per PV (Infinity once the PV
 * ended with an error or 'finished'), which PVs connected, whether anything failed, and the exit
 * status once the run is over.
 */
class MonitorRun {
  readonly updates: Map<string, number>;
  readonly connected = new Set<string>();
  failed = false;
  /** Resolves with the exit status. */
  readonly done: Promise<number>;
  private settle!: (code: number) => void;

  /** `count`: updates wanted per PV (0: until interrupted). */
  constructor(readonly names: string[], readonly count: number) {
    this.updates = new Map(names.map((n) => [n, 0]));
    this.done = new Promise<number>((r) => (this.settle = r));
  }

  /** Counts an update; false when the PV already had its `count` (not printed). */
  update(name: string): boolean {
    const n = this.updates.get(name)!;
    if (this.count > 0 && n >= this.count) return false;
    this.updates.set(name, n + 1);
    this.finishIfComplete();
    return true;
  }

  /** The PV's subscription ended (server error or 'finished'). */
  ended(name: string, failed: boolean): void {
    if (failed) this.failed = true;
    this.updates.set(name, Infinity);
    this.finishIfComplete();
  }

  /** Ends the run now (interrupt): the status says whether anything failed. */
  finish(): void {
    this.settle(this.failed ? 1 : 0);
  }

  /** Ends the run at the time limit; returns one message per PV that fell short. */
  timedOut(limitSeconds: number): string[] {
    const shortfalls: string[] = [];
    for (const name of this.names) {
      const n = this.updates.get(name)!;
      if (!this.connected.has(name)) shortfalls.push(`${name}: not found (timeout ${limitSeconds} s)`);
      else if (this.count > 0 && n < this.count) shortfalls.push(`${name}: ${n} of ${this.count} updates (timeout ${limitSeconds} s)`);
    }
    this.settle(this.failed || shortfalls.length ? 1 : 0);
    return shortfalls;
  }

  /** Every PV has its `count` updates or has ended. */
  private finishIfComplete(): void {
    const enough = this.count > 0 ? this.count : Infinity;
    for (const n of this.updates.values()) if (n < enough) return;
    this.finish();
  }
}

async function doMonitor(client: PvaClient, p: Parsed, io: CliIO): Promise<number> {
  const request = stringOpt(p, 'request');
  const fmt = format(p);
  const count = p.opts.has('count') ? numberOpt(p, 'count', 0) : 0;
  const limit = p.opts.has('timeout') ? numberOpt(p, 'timeout', 0) : 0;
  const queueSize = p.opts.has('queue-size') ? numberOpt(p, 'queue-size', 4) : undefined;
  const pipeline = p.opts.has('pipeline');
  const verbose = p.opts.has('verbose');
  const run = new MonitorRun(p.positional, count);
  const subs = run.names.map((name) =>
    client.monitor(
      name,
      (v) => {
        if (run.update(name)) io.out(show(name, v, fmt));
      },
      {
        request,
        queueSize,
        pipeline,
        onEvent: (ev) => {
          switch (ev.type) {
            case 'connected':
              run.connected.add(name);
              io.err(`${stamp()} ${name} Connected to ${ev.peer}\n`);
              if (verbose && queueSize) io.err(`${name} queueSize=${queueSize}\n`);
              break;
            case 'disconnected':
              io.err(`${stamp()} ${name} Disconnected\n`);
              break;
            case 'error':
              io.err(`Error: ${ev.error.message}\n`);
              run.ended(name, true);
              break;
            case 'finished':
              io.err(`${name} Finished\n`);
              run.ended(name, false);
              break;
          }
        },
      },
    ),
  );
  const timer =
    limit > 0
      ? setTimeout(() => {
          for (const msg of run.timedOut(limit)) io.err(`Error: ${msg}\n`);
        }, limit * 1000)
      : undefined;
  const onSigint = (): void => {
    io.err('Interrupted\n');
    run.finish();
  };
  if (io.interrupt) void io.interrupt.then(onSigint);
  else process.once('SIGINT', onSigint);
  try {
    return await run.done;
  } finally {
    if (timer) clearTimeout(timer);
    process.removeListener('SIGINT', onSigint);
    for (const s of subs) s.close();
  }
}

async function doCall(client: PvaClient, p: Parsed, io: CliIO): Promise<number> {
  const [name, ...rest] = p.positional;
  const args: Record<string, string> = {};
  for (const fv of rest) {
    const eq = fv.indexOf('=');
    if (eq <= 0) throw new UsageError(`expected <fld>=<value> not "${fv}"`);
    const k = fv.slice(0, eq);
    if (k in args) throw new UsageError(`duplicate argument name ${k}`);
    args[k] = fv.slice(eq + 1);
  }
  const r = await client.rpc(name, args);
  io.out(formatTree(r));
  return 0;
}

async function doInfo(client: PvaClient, p: Parsed, io: CliIO): Promise<number> {
  const results = await Promise.allSettled(p.positional.map((name) => client.info(name)));
  let status = 0;
  results.forEach((r, i) => {
    const name = p.positional[i];
    if (r.status === 'fulfilled') io.out(`${name} from ${client.peerOf(name) ?? '?'}\n${formatTree(r.value)}`);
    else {
      io.err(`Error: ${errText(r.reason)}\n`);
      status = 1;
    }
  });
  return status;
}

async function doList(client: PvaClient, p: Parsed, io: CliIO): Promise<number> {
  const servers = p.positional.length ? p.positional : [undefined];
  const results = await Promise.allSettled(servers.map((s) => client.list(s)));
  let status = 0;
  results.forEach((r, i) => {
    if (r.status === 'fulfilled') {
      for (const n of r.value) io.out(`${n}\n`);
    } else {
      const s = servers[i];
      io.err(`Error: ${s ? `${s}: ` : ''}${errText(r.reason)}\n`);
      status = 1;
    }
  });
  return status;
}
