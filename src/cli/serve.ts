// `pvtree serve`: load a tree (declarative YAML or a module exporting a Root), back it with
// emulated memory, and serve it over pvAccess and Channel Access until interrupted.
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { EpicsPvServer, type EpicsProtocol } from '../epics/index.ts';
import { consoleLogger, type LogLevel } from '../pva/server/index.ts';
import { Root, loadTreeFromFile, parseSrpV3Url } from '../tree/index.ts';
import { memoryFromSpec } from '../tree/memory/spec.ts';
import { WebServer } from '../web/index.ts';
import { parseMacroList } from '../security/index.ts';
import { parseArgs, UsageError, type OptSpec } from './args.ts';
import { stdio, type CliIO } from './client-commands.ts';
import { TS_TREE, ensureTypeScriptLoader } from './ts-loader.ts';

export const SERVE_USAGE = `Usage: pvtree serve <tree.yaml | module.ts|.js> [options]

Serves every Variable and Command of the tree as a PV named <base>:<path with dots as colons>.

Options:
  --base NAME           PV name prefix (default: pvtree)
  --inc-groups A,B      serve only nodes in one of these groups
  --exc-groups A,B      never serve nodes in these groups (default: NoServe)
  --pv-map FILE         YAML/JSON map of tree path -> PV name; serve only those
  --dump [FILE]         print (or write to FILE) 'pvName -> path' lines after start;
                        --dump=FILE and --dump FILE work before or after the tree
  --read-on-get MS      a client get reads hardware when the value is older than MS ms
  --protocols LIST      pva, ca or pva,ca (default: pva,ca)
  --loopback            bind, search and beacon on 127.0.0.1 only (overrides the EPICS_* lists)
  --config-dir DIR      file paths given to the Root's built-in commands (LoadConfig, SaveConfig,
                        SaveState, RemoteVariableDump, the config processes' ConfigFile) must
                        resolve inside DIR; others are refused (default: the current directory)
  --http [HOST:]PORT    also serve the tree to browsers at http://HOST:PORT/ (HOST default
                        127.0.0.1; 0.0.0.0 for every interface) and a pvws-compatible web
                        socket at /pvws/pv
  --http-read-only      the page and the web socket refuse every write and command call
  --http-throttle MS    at most one update of a PV per MS ms to each web client (the latest)
  --memory URL          the tree's registers live on real hardware: srpv3://HOST[:PORT] (SLAC's
                        SRPv3 over RSSI and packetizer, as PyRogue's UdpRssiPack; port 8192;
                        ?packetizer=2, rssi=0, tdest=N, timeout=S, retries=N, jumbo=1, crc=1),
                        or emulate (the default)
  --acf FILE            EPICS access security file (UAG/HAG/ASG rules, as an IOC's .acf) deciding
                        who may read and write, over pvAccess, Channel Access and the web page;
                        nodes name their ASG with 'asg' (inherited), others are in DEFAULT.
                        SIGHUP, or a put to <base>:ACF:Reload, reloads it
  --acf-macros A=1,B=2  \$(A) substitutions in the access security file
  --asg-map FILE        YAML/JSON map of tree group -> ASG for nodes that name no asg
  --check-client-ip     Channel Access: match HAGs against the client's IP address, not the
                        host name it claims (an IOC's asCheckClientIP)
  --read-only           every client may read, none may write (with --acf: at most READ)
  --audit FILE          log every write and command call (allowed, denied, failed) as one JSON
                        line: time, PV, path, protocol, user, host, old and new value, result
  --audit-max-size N    rotate the audit file at N bytes (k/M suffixes; default 10M), keeping 5
  -h, --help            this help

A module must export a Root (as 'root' or default) or a function createRoot() returning one.
The servers read the standard EPICS_PVAS_* / EPICS_PVA_* and EPICS_CAS_* / EPICS_CA_* variables.
`;

const SPECS: OptSpec[] = [
  { long: 'base', value: true },
  { long: 'inc-groups', value: true },
  { long: 'exc-groups', value: true },
  { long: 'pv-map', value: true },
  { long: 'dump', value: 'optional' },
  { long: 'read-on-get', value: true },
  { long: 'protocols', value: true },
  { long: 'loopback' },
  { long: 'config-dir', value: true },
  { long: 'http', value: true },
  { long: 'http-read-only' },
  { long: 'http-throttle', value: true },
  { long: 'memory', value: true },
  { long: 'acf', value: true },
  { long: 'acf-macros', value: true },
  { long: 'asg-map', value: true },
  { long: 'check-client-ip' },
  { long: 'read-only' },
  { long: 'audit', value: true },
  { long: 'audit-max-size', value: true },
  { short: 'h', long: 'help' },
];

/**
 * The loopback-only settings for both protocols. pvAccess beacons go to loopback's broadcast
 * address, where clients of this host hear them (a unicast beacon to 127.0.0.1 reaches one socket
 * of the port only: see src/pva/client/beacons.ts).
 */
export const LOOPBACK_ENV: Readonly<Record<string, string>> = {
  EPICS_PVAS_INTF_ADDR_LIST: '127.0.0.1',
  EPICS_PVAS_BEACON_ADDR_LIST: '127.255.255.255',
  EPICS_PVAS_AUTO_BEACON_ADDR_LIST: 'NO',
  EPICS_PVA_ADDR_LIST: '127.0.0.1',
  EPICS_PVA_AUTO_ADDR_LIST: 'NO',
  EPICS_CAS_INTF_ADDR_LIST: '127.0.0.1',
  EPICS_CAS_BEACON_ADDR_LIST: '127.0.0.1',
  EPICS_CAS_AUTO_BEACON_ADDR_LIST: 'NO',
  EPICS_CA_ADDR_LIST: '127.0.0.1',
  EPICS_CA_AUTO_ADDR_LIST: 'NO',
};

/** What `pvtree serve` was asked to do, parsed and checked. */
export interface ServeConfig {
  /** The YAML tree or JS/TS module to load. */
  tree: string;
  base: string;
  incGroups?: string[];
  excGroups?: string[];
  /** YAML/JSON file mapping tree paths to PV names. */
  pvMapFile?: string;
  /** Dump the PV names after start: to `file`, or to standard output when `file` is unset. */
  dump?: { file?: string };
  /** A get reads hardware when the value is older than this (milliseconds). */
  readOnGetMs?: number;
  protocols: EpicsProtocol[];
  /** Serve, search and beacon on 127.0.0.1 only. */
  loopback: boolean;
  /** Where file arguments of the Root's built-in commands must resolve (default: the current directory). */
  configDir?: string;
  /** Serve the web page and the pvws web socket. */
  http?: { host: string; port: number; readOnly: boolean; throttleMs?: number };
  /** The memory behind the root (`emulate` or an srpv3:// URL), replacing the tree's own. */
  memory?: string;
  /** Access security: the .acf file, its macros, the group → ASG map file, CA host matching by IP. */
  acf?: string;
  acfMacros?: Record<string, string>;
  asgMapFile?: string;
  checkClientIP: boolean;
  /** Every client at most reads. */
  readOnly: boolean;
  /** Audit log file and its rotation size. */
  audit?: { file: string; maxBytes?: number };
}

/** `10M`, `512k`, `1048576` → bytes. */
function byteSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kKmMgG]?)i?[bB]?$/.exec(text.trim());
  if (!m) throw new UsageError(`--audit-max-size takes a size in bytes (e.g. 10M, 512k), not '${text}'`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g'];
  const n = Math.floor(Number(m[1]) * mult);
  if (n < 1024) throw new UsageError(`--audit-max-size must be at least 1k, not '${text}'`);
  return n;
}

/** `[HOST:]PORT` of --http (HOST may be a bracketed IPv6 address); the host defaults to 127.0.0.1. */
export function parseHttpAddress(text: string): { host: string; port: number } {
  const m = /^(?:(\[[0-9A-Fa-f:.]+\]|[^:\s]+):)?(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new UsageError(`--http takes [HOST:]PORT (e.g. 8080 or 0.0.0.0:8080), not '${text}'`);
  const host = m[1] === undefined ? '127.0.0.1' : m[1].replace(/^\[(.*)\]$/, '$1');
  return { host, port };
}

const list = (v: string | true | undefined): string[] | undefined =>
  typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : undefined;

function checkMemory(url: string | undefined): string | undefined {
  if (url === undefined || url === 'emulate') return url;
  try {
    parseSrpV3Url(url);
  } catch (e) {
    throw new UsageError(`--memory: ${(e as Error).message}`);
  }
  return url;
}

/** Parses `pvtree serve` arguments; 'help' for -h. Throws UsageError on bad input. */
export function parseServeArgs(argv: string[]): ServeConfig | 'help' {
  const { opts: o, positional } = parseArgs(argv, SPECS, { positionals: 1 });
  if (o.has('help')) return 'help';
  if (positional.length !== 1) {
    throw new UsageError(
      positional.length ? `give exactly one tree file or module, not ${positional.map((p) => `'${p}'`).join(' ')}` : 'give a tree file or module',
    );
  }
  const str = (k: string): string | undefined => {
    const v = o.get(k);
    return typeof v === 'string' ? v : undefined;
  };
  const protocols = list(o.get('protocols')) ?? ['pva', 'ca'];
  if (!protocols.length || protocols.some((p) => p !== 'pva' && p !== 'ca')) {
    throw new UsageError(`--protocols takes pva, ca or pva,ca, not '${str('protocols')}'`);
  }
  let readOnGetMs: number | undefined;
  const rog = str('read-on-get');
  if (rog !== undefined) {
    readOnGetMs = rog.trim() === '' ? NaN : Number(rog);
    if (!Number.isFinite(readOnGetMs) || readOnGetMs < 0) {
      throw new UsageError(`--read-on-get takes a number of milliseconds (0 or more), not '${rog}'`);
    }
  }
  const httpText = str('http');
  if (o.has('http-read-only') && httpText === undefined) throw new UsageError('--http-read-only needs --http [HOST:]PORT');
  const throttleText = str('http-throttle');
  if (throttleText !== undefined && httpText === undefined) throw new UsageError('--http-throttle needs --http [HOST:]PORT');
  const throttleMs = throttleText === undefined ? undefined : throttleText.trim() === '' ? NaN : Number(throttleText);
  if (throttleMs !== undefined && !(Number.isFinite(throttleMs) && throttleMs >= 0)) {
    throw new UsageError(`--http-throttle takes a number of milliseconds (0 or more), not '${throttleText}'`);
  }
  const http =
    httpText === undefined
      ? undefined
      : { ...parseHttpAddress(httpText), readOnly: o.has('http-read-only'), ...(throttleMs !== undefined ? { throttleMs } : {}) };
  const dump = o.get('dump');
  if (dump === '') throw new UsageError('--dump= needs a file name (or give --dump alone for standard output)');
  return {
    tree: positional[0],
    base: str('base') ?? 'pvtree',
    incGroups: list(o.get('inc-groups')),
    excGroups: list(o.get('exc-groups')),
    pvMapFile: str('pv-map'),
    dump: dump === undefined ? undefined : { file: dump === true ? undefined : dump },
    readOnGetMs,
    protocols: protocols as EpicsProtocol[],
    loopback: o.has('loopback'),
    configDir: str('config-dir'),
    memory: checkMemory(str('memory')),
    http,
    ...accessOptions(o),
  };
}

/** The access security options of `pvtree serve`, checked. */
function accessOptions(o: Map<string, string | true>): Pick<ServeConfig, 'acf' | 'acfMacros' | 'asgMapFile' | 'checkClientIP' | 'readOnly' | 'audit'> {
  const str = (k: string): string | undefined => {
    const v = o.get(k);
    return typeof v === 'string' ? v : undefined;
  };
  const acf = str('acf');
  const macros = str('acf-macros');
  if (macros !== undefined && acf === undefined) throw new UsageError('--acf-macros needs --acf FILE');
  let acfMacros: Record<string, string> | undefined;
  try {
    acfMacros = macros === undefined ? undefined : parseMacroList(macros);
  } catch (e) {
    throw new UsageError(`--acf-macros: ${(e as Error).message}`);
  }
  const auditFile = str('audit');
  const size = str('audit-max-size');
  if (size !== undefined && auditFile === undefined) throw new UsageError('--audit-max-size needs --audit FILE');
  return {
    acf,
    acfMacros,
    asgMapFile: str('asg-map'),
    checkClientIP: o.has('check-client-ip'),
    readOnly: o.has('read-only'),
    audit: auditFile === undefined ? undefined : { file: auditFile, maxBytes: size === undefined ? undefined : byteSize(size) },
  };
}

/** The environment the servers read: `env` with the loopback settings over it when asked. */
export function serverEnv(config: ServeConfig, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return config.loopback ? { ...env, ...LOOPBACK_ENV } : env;
}

/** Put the memory `--memory` names behind the root, and log its link going down and up. */
function useMemory(root: Root, spec: string, log: ReturnType<typeof consoleLogger>): void {
  const mem = memoryFromSpec(spec);
  root.setMemBase(mem);
  mem.onLinkChange?.((up, detail) => (up ? log.info(`${spec}: ${detail}`) : log.warn(`${spec}: link down: ${detail}`)));
}

/** Loads a Root from a YAML tree or a JS/TS module. */
export async function loadRoot(file: string): Promise<Root> {
  const path = resolve(file);
  if (/\.ya?ml$/i.test(path)) return loadTreeFromFile(path);
  if (TS_TREE.test(path)) await ensureTypeScriptLoader(file);
  const mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  const cand = mod.root ?? mod.default ?? (typeof mod.createRoot === 'function' ? await (mod.createRoot as () => unknown)() : undefined);
  const root = typeof cand === 'function' && !(cand instanceof Root) ? await (cand as () => unknown)() : cand;
  if (!(root instanceof Root)) throw new Error(`${file} exports no Root (export 'root', a default Root, or createRoot())`);
  return root;
}

/** A YAML/JSON mapping of tree group → ASG name. */
function loadAsgMap(file: string): Record<string, string> {
  const m = parseYaml(readFileSync(file, 'utf8')) as unknown;
  if (!m || typeof m !== 'object' || Array.isArray(m)) throw new Error('not a mapping of group to ASG');
  for (const [k, v] of Object.entries(m)) if (typeof v !== 'string') throw new Error(`group '${k}': the ASG must be a name, not ${JSON.stringify(v)}`);
  return m as Record<string, string>;
}

/**
 * SIGHUP reloads the access security file, as an operator expects of a daemon; an error keeps the
 * rules in force. Returns the function that stops listening.
 */
function reloadOnHangup(server: EpicsPvServer, log: ReturnType<typeof consoleLogger>): () => void {
  const onHup = (): void => {
    log.info('SIGHUP: reloading the access security file');
    server.reloadAcf().catch((e: unknown) => log.error(`access security file not reloaded, the rules in force stay: ${(e as Error).message}`));
  };
  process.on('SIGHUP', onHup);
  return () => process.off('SIGHUP', onHup);
}

function loadPvMap(file: string): Record<string, string> {
  const m = parseYaml(readFileSync(file, 'utf8')) as unknown;
  if (!m || typeof m !== 'object' || Array.isArray(m)) throw new Error('not a mapping of path to PV name');
  return m as Record<string, string>;
}

/** Resolves when the user stops the server: `io.interrupt`, or SIGINT / SIGTERM. */
function stopRequested(io: CliIO): Promise<void> {
  if (io.interrupt) return io.interrupt;
  return new Promise<void>((res) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      res();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

/** Runs `pvtree serve`; returns the exit status once stopped. Output goes through `io`. */
export async function serveCommand(argv: string[], io: CliIO = stdio): Promise<number> {
  let config: ServeConfig | 'help';
  try {
    config = parseServeArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    io.err(`pvtree serve: ${e.message}\n${SERVE_USAGE}`);
    return 1;
  }
  if (config === 'help') {
    io.out(SERVE_USAGE);
    return 0;
  }
  const fail = (msg: string): number => {
    io.err(`pvtree serve: ${msg}\n`);
    return 1;
  };
  const env = serverEnv(config, io.env ?? process.env);
  const log = consoleLogger('pvtree', (env.PVTREE_LOG as LogLevel) || 'info', io.err);
  let root: Root;
  let pvMap: Record<string, string> | undefined;
  try {
    root = await loadRoot(config.tree);
    if (config.memory !== undefined) useMemory(root, config.memory, log);
  } catch (e) {
    return fail((e as Error).message);
  }
  if (config.configDir !== undefined) {
    const dir = resolve(config.configDir);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) return fail(`--config-dir ${config.configDir}: not a directory`);
    root.configDir = dir;
  }
  if (config.pvMapFile !== undefined) {
    try {
      pvMap = loadPvMap(config.pvMapFile);
    } catch (e) {
      return fail(`--pv-map ${config.pvMapFile}: ${(e as Error).message}`);
    }
  }
  let asgByGroup: Record<string, string> | undefined;
  if (config.asgMapFile !== undefined) {
    try {
      asgByGroup = loadAsgMap(config.asgMapFile);
    } catch (e) {
      return fail(`--asg-map ${config.asgMapFile}: ${(e as Error).message}`);
    }
  }
  const server = new EpicsPvServer({
    acf: config.acf,
    acfMacros: config.acfMacros,
    asgByGroup,
    checkClientIP: config.checkClientIP,
    readOnly: config.readOnly,
    audit: config.audit?.file,
    auditOptions: config.audit?.maxBytes === undefined ? undefined : { maxBytes: config.audit.maxBytes },
    base: config.base,
    root,
    incGroups: config.incGroups,
    excGroups: config.excGroups,
    pvMap,
    readOnGet: config.readOnGetMs === undefined ? undefined : { maxAgeMs: config.readOnGetMs },
    protocols: config.protocols,
    pva: { env },
    ca: { env },
    logger: log,
  });
  root.addProtocol(server);
  // after the EPICS server: the web server shows its PVs, through its holders
  const h = config.http;
  const web = h
    ? new WebServer({ epics: server, host: h.host, port: h.port, readOnly: h.readOnly || config.readOnly, throttleMs: h.throttleMs, logger: log })
    : undefined;
  if (web) root.addProtocol(web);
  try {
    await root.start();
  } catch (e) {
    return fail((e as Error).message);
  }
  let status = 0;
  if (config.dump) {
    const text = Object.entries(server.list())
      .map(([path, name]) => `${name} -> ${path}\n`)
      .join('');
    try {
      if (config.dump.file === undefined) io.out(text);
      else writeFileSync(config.dump.file, text);
    } catch (e) {
      status = fail(`--dump ${config.dump.file}: ${(e as Error).message}`);
    }
  }
  if (status === 0) {
    // listen for the stop request before saying so: a script may send SIGINT as soon as it reads the line
    const stop = stopRequested(io);
    const unHup = config.acf !== undefined ? reloadOnHangup(server, log) : undefined;
    const pva = server.pvaServer;
    const ca = server.caServer;
    io.out(
      `pvtree: serving ${server.size} PVs of '${root.name}'` +
        (pva ? `; pvAccess TCP ${pva.tcpPort} UDP ${pva.udpPort}` : '') +
        (ca ? `; Channel Access port ${ca.port}` : '') +
        (web ? `; web ${web.url}${web.readOnly ? ' (read-only)' : ''}` : '') +
        '. Ctrl-C stops.\n',
    );
    await stop;
    unHup?.();
  }
  await root.stop();
  io.out('pvtree: stopped\n');
  return status;
}
