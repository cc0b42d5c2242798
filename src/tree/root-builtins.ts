// The variables, commands and processes every PyRogue Root carries, with PyRogue's names, modes,
// groups and hidden flags, so a Root's EPICS namespace and configuration files match PyRogue's.
// All of them are also in the group 'Builtin' (pvtree's addition), so a server can leave them out
// with the usual group rules (`--exc-groups NoServe,Builtin`).

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname } from 'node:path';
import { LocalVariable } from './local-variable.ts';
import { LinkVariable } from './link-variable.ts';
import { LocalCommand } from './command.ts';
import { LoadConfigProcess, SaveConfigProcess } from './config-process.ts';
import { BUILTIN_GROUP, type Node } from './node.ts';
import type { Root } from './root.ts';

const HERE = dirname(fileURLToPath(import.meta.url));

/** pvtree's version, served as RogueVersion (e.g. 'v0.1.0-pvtree'). */
export const PVTREE_VERSION: string = (() => {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return `v${pkg.version ?? '0.0.0'}-pvtree`;
  } catch {
    return 'v0.0.0-pvtree';
  }
})();

/** strftime('%Y-%m-%d %H:%M:%S %Z') of a time in seconds, in local time. */
export function localTimeString(seconds: number): string {
  const d = new Date(seconds * 1000);
  const two = (n: number): string => String(n).padStart(2, '0');
  let zone = '';
  try {
    zone = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' }).formatToParts(d).find((p) => p.type === 'timeZoneName')?.value ?? '';
  } catch { /* no Intl time zones: leave the zone out */ }
  const s = `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
  return zone ? `${s} ${zone}` : s;
}

/** Handles the Root keeps on its built-ins. */
export interface RootBuiltins {
  systemLog: LocalVariable<string>;
  systemLogLast: LocalVariable<string>;
  forceWrite: LocalVariable<boolean>;
  initAfterConfig: LocalVariable<boolean>;
  time: LocalVariable<number>;
  pollEn: LocalVariable<boolean>;
}

/** Adds PyRogue's Root variables, commands and the two config processes, in PyRogue's order. */
export function addRootBuiltins(root: Root): RootBuiltins {
  const h = { hidden: true };
  const systemLog = new LocalVariable({
    name: 'SystemLog', value: '[]', mode: 'RO', ...h, groups: ['NoStream', 'NoSql', 'NoState'],
    description: 'String containing newline separated system logic entries',
  });
  const systemLogLast = new LocalVariable({
    name: 'SystemLogLast', value: '', mode: 'RO', ...h, groups: ['NoStream', 'NoState'],
    description: 'String containing last system log entry',
  });
  const forceWrite = new LocalVariable({
    name: 'ForceWrite', value: false, mode: 'RW', ...h,
    description: 'Configuration Flag To Always Write Non Stale Blocks For WriteAll, LoadConfig and setYaml',
  });
  const initAfterConfig = new LocalVariable({
    name: 'InitAfterConfig', value: false, mode: 'RW', ...h,
    description: 'Configuration Flag To Execute Initialize after LoadConfig or setYaml',
  });
  const time = new LocalVariable({
    name: 'Time', value: Date.now() / 1000, typeStr: 'Float64', mode: 'RO', ...h, groups: ['NoSql'],
    description: 'Current Time In Seconds Since EPOCH UTC',
  });
  const localTime = new LinkVariable<string>({
    name: 'LocalTime', typeStr: 'str', mode: 'RO', groups: ['NoStream', 'NoSql', 'NoState'], dependencies: [time],
    linkedGet: () => localTimeString(time.value), description: 'Local Time',
  });
  const pollEn = new LocalVariable({
    name: 'PollEn', value: root.pollEn, mode: 'RW', groups: ['NoStream', 'NoSql', 'NoState'],
    description: 'Polling enable: False stops every poll',
    localSet: ({ value }) => root._applyPollEn(value),
    localGet: () => root.pollEn,
  });

  const str = { argType: 'str', value: '', retType: 'str', ...h };
  const cmd = (name: string, description: string, fn: (arg: string) => unknown, extra: object = str): LocalCommand<string, unknown> =>
    new LocalCommand<string, unknown>({ name, description, ...extra, function: ({ arg }) => fn(arg ?? '') });

  const nodes: Node[] = [
    new LocalVariable({ name: 'RogueVersion', value: PVTREE_VERSION, mode: 'RO', description: 'Rogue Version String (here: pvtree\'s version)' }),
    new LocalVariable({ name: 'RogueDirectory', value: HERE, mode: 'RO', description: 'Rogue Library Directory (here: pvtree\'s tree library)' }),
    systemLog, systemLogLast, forceWrite, initAfterConfig, time, localTime, pollEn,
    new LocalCommand({ name: 'WriteAll', ...h, description: 'Write all values to the hardware', function: () => root.writeAll() }),
    new LocalCommand({ name: 'ReadAll', ...h, description: 'Read all values from the hardware', function: () => root.readAll() }),
    cmd('SaveState', 'Save state to file. Data is saved in YAML format. Passed arg is full path to file to sore data to.',
      (arg) => root.saveYamlFile(arg, 'state')),
    cmd('SaveConfig', 'Save configuration to file. Data is saved in YAML format. Passed arg is full path to file to store data to.',
      (arg) => root.saveYamlFile(arg, 'config')),
    cmd('LoadConfig', 'Read configuration from file. Data is read in YAML format. Passed arg is full path to file to read data from.',
      async (arg) => notFoundText(await root.loadConfig(root.configLoadList(arg)))),
    cmd('RemoteVariableDump', 'Save a dump of the remote variable state', (arg) => root.remoteVariableDump(arg, ['RW', 'WO', 'RO'], true)),
    cmd('RemoteConfigDump', 'Save a dump of the remote variable state', (arg) => root.remoteVariableDump(arg, ['RW', 'WO'], true)),
    new LocalCommand({ name: 'Initialize', ...h, description: 'Generate a soft reset to each device in the tree', function: () => root.initialize() }),
    new LocalCommand({ name: 'HardReset', ...h, description: 'Generate a hard reset to each device in the tree', function: () => root.hardReset() }),
    new LocalCommand({ name: 'CountReset', ...h, description: 'Generate a count reset to each device in the tree', function: () => root.countReset() }),
    new LocalCommand({ name: 'ClearLog', ...h, description: 'Clear the message log contained in the SystemLog variable', function: () => root.clearLog() }),
    cmd('SetYamlConfig', 'Set configuration from YAML string. Passed arg is configuration string in YAML format.',
      async (arg) => notFoundText(await root.setYaml(arg))),
    new LocalCommand<boolean, string>({
      name: 'GetYamlConfig', argType: 'Bool', value: true, retType: 'str', ...h,
      description: 'Get configuration in YAML string. Passed arg is a boolean indicating if a full system read should be generated. Return data is configuration as a YAML string.',
      function: ({ arg }) => root.getYamlConfig(arg !== false),
    }),
    new LocalCommand<boolean, string>({
      name: 'GetYamlState', argType: 'Bool', value: true, retType: 'str', ...h,
      description: 'Get current state as YAML string. Pass read first arg.',
      function: ({ arg }) => root.getYamlState(arg !== false),
    }),
    new LoadConfigProcess({ name: 'LoadConfigProcess' }),
    new SaveConfigProcess({ name: 'SaveConfigProcess' }),
  ];
  for (const n of nodes) n.addToGroup(BUILTIN_GROUP);
  root.add(...nodes);
  return { systemLog, systemLogLast, forceWrite, initAfterConfig, time, pollEn };
}

/** A load's reply: the entries that named nothing, one per line ('' when all were found). */
function notFoundText(r: { notFound: string[] }): string {
  return r.notFound.map((p) => `Entry ${p} not found`).join('\n');
}
