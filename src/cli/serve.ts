// `pvtree serve`: load a tree (declarative YAML or a module exporting a Root), back it with
// emulated memory, and serve it over pvAccess and Channel Access until Ctrl-C.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { EpicsPvServer, type EpicsProtocol } from '../epics/index.ts';
import { consoleLogger } from '../pva/server/index.ts';
import { Root, loadTreeFromFile } from '../tree/index.ts';
import { parseArgs, UsageError, type OptSpec } from './args.ts';

export const SERVE_USAGE = `Usage: pvtree serve <tree.yaml | module.ts|.js> [options]

Serves every Variable and Command of the tree as a PV named <base>:<path with dots as colons>.

Options:
  --base NAME           PV name prefix (default: pvtree)
  --inc-groups A,B      serve only nodes in one of these groups
  --exc-groups A,B      never serve nodes in these groups (default: NoServe)
  --pv-map FILE         YAML/JSON map of tree path -> PV name; serve only those
  --dump [FILE]         print (or write to FILE) 'pvName -> path' lines after start
  --read-on-get MS      a client get reads hardware when the value is older than MS ms
  --protocols LIST      pva, ca or pva,ca (default: pva,ca)
  --loopback            bind, search and beacon on 127.0.0.1 only (sets the EPICS_* variables)
  -h, --help            this help

A module must export a Root (as 'root' or default) or a function createRoot() returning one.
The servers read the standard EPICS_PVAS_* / EPICS_PVA_* and EPICS_CAS_* / EPICS_CA_* variables.
`;

const SPECS: OptSpec[] = [
  { long: 'base', value: true },
  { long: 'inc-groups', value: true },
  { long: 'exc-groups', value: true },
  { long: 'pv-map', value: true },
  { long: 'dump' },
  { long: 'read-on-get', value: true },
  { long: 'protocols', value: true },
  { long: 'loopback' },
  { short: 'h', long: 'help' },
];

/** The loopback-only settings for both protocols. */
export const LOOPBACK_ENV: Record<string, string> = {
  EPICS_PVAS_INTF_ADDR_LIST: '127.0.0.1',
  EPICS_PVAS_BEACON_ADDR_LIST: '127.0.0.1',
  EPICS_PVAS_AUTO_BEACON_ADDR_LIST: 'NO',
  EPICS_PVA_ADDR_LIST: '127.0.0.1',
  EPICS_PVA_AUTO_ADDR_LIST: 'NO',
  EPICS_CAS_INTF_ADDR_LIST: '127.0.0.1',
  EPICS_CAS_BEACON_ADDR_LIST: '127.0.0.1',
  EPICS_CAS_AUTO_BEACON_ADDR_LIST: 'NO',
  EPICS_CA_ADDR_LIST: '127.0.0.1',
  EPICS_CA_AUTO_ADDR_LIST: 'NO',
};

const list = (v: string | true | undefined): string[] | undefined =>
  typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : undefined;

/** Loads a Root from a YAML tree or a JS/TS module. */
export async function loadRoot(file: string): Promise<Root> {
  const path = resolve(file);
  if (/\.ya?ml$/i.test(path)) return loadTreeFromFile(path);
  const mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  const cand = mod.root ?? mod.default ?? (typeof mod.createRoot === 'function' ? await (mod.createRoot as () => unknown)() : undefined);
  const root = typeof cand === 'function' && !(cand instanceof Root) ? await (cand as () => unknown)() : cand;
  if (!(root instanceof Root)) throw new Error(`${file} exports no Root (export 'root', a default Root, or createRoot())`);
  return root;
}

export async function serveCommand(argv: string[]): Promise<number> {
  let parsed;
  // --dump takes an optional file: consume the next argument when it is not an option or the tree
  const dumpAt = argv.indexOf('--dump');
  let dumpFile: string | undefined;
  if (dumpAt >= 0 && argv[dumpAt + 1] && !argv[dumpAt + 1].startsWith('-') && argv.slice(dumpAt + 2).some((a) => !a.startsWith('-'))) {
    dumpFile = argv[dumpAt + 1];
    argv = [...argv.slice(0, dumpAt + 1), ...argv.slice(dumpAt + 2)];
  }
  try {
    parsed = parseArgs(argv, SPECS);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`pvtree serve: ${e.message}\n${SERVE_USAGE}`);
      return 1;
    }
    throw e;
  }
  const o = parsed.opts;
  if (o.has('help')) {
    process.stdout.write(SERVE_USAGE);
    return 0;
  }
  if (parsed.positional.length !== 1) {
    process.stderr.write(`pvtree serve: give exactly one tree file or module\n${SERVE_USAGE}`);
    return 1;
  }
  if (o.has('loopback')) Object.assign(process.env, LOOPBACK_ENV);
  const log = consoleLogger('pvtree');
  let root: Root;
  try {
    root = await loadRoot(parsed.positional[0]);
  } catch (e) {
    process.stderr.write(`pvtree serve: ${(e as Error).message}\n`);
    return 1;
  }
  let pvMap: Record<string, string> | undefined;
  const mapFile = o.get('pv-map');
  if (typeof mapFile === 'string') {
    try {
      pvMap = parseYaml(readFileSync(mapFile, 'utf8')) as Record<string, string>;
      if (!pvMap || typeof pvMap !== 'object') throw new Error('not a mapping of path to PV name');
    } catch (e) {
      process.stderr.write(`pvtree serve: --pv-map ${mapFile}: ${(e as Error).message}\n`);
      return 1;
    }
  }
  const rog = o.get('read-on-get');
  const protocols = (list(o.get('protocols')) ?? ['pva', 'ca']) as EpicsProtocol[];
  if (protocols.some((p) => p !== 'pva' && p !== 'ca')) {
    process.stderr.write(`pvtree serve: --protocols takes pva, ca or pva,ca\n`);
    return 1;
  }
  const server = new EpicsPvServer({
    base: typeof o.get('base') === 'string' ? (o.get('base') as string) : 'pvtree',
    root,
    incGroups: list(o.get('inc-groups')),
    excGroups: list(o.get('exc-groups')),
    pvMap,
    readOnGet: typeof rog === 'string' ? { maxAgeMs: Number(rog) } : undefined,
    protocols,
    logger: log,
  });
  root.addProtocol(server);
  try {
    await root.start();
  } catch (e) {
    process.stderr.write(`pvtree serve: ${(e as Error).message}\n`);
    return 1;
  }
  if (o.has('dump')) server.dump(dumpFile);
  const pva = server.pvaServer;
  const ca = server.caServer;
  process.stdout.write(
    `pvtree: serving ${Object.keys(server.list()).length} PVs of '${root.name}'` +
      (pva ? `; pvAccess TCP ${pva.tcpPort} UDP ${pva.udpPort}` : '') +
      (ca ? `; Channel Access port ${ca.port}` : '') +
      '. Ctrl-C stops.\n',
  );
  await new Promise<void>((res) => {
    const stop = () => res();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await root.stop();
  process.stdout.write('pvtree: stopped\n');
  return 0;
}
