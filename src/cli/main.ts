// pvtree command-line entry: dispatches subcommands.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runClientCommand, stdio, usageOf, type CliIO } from './client-commands.ts';

const CLIENT_COMMANDS = ['get', 'put', 'monitor', 'call', 'info', 'list'];

const USAGE =
  'Usage: pvtree <command> [options] ...\n\n' +
  'Commands:\n' +
  '  serve     Serve a device tree over pvAccess and Channel Access\n' +
  '  get       Print the value of PVs (like pvxget)\n' +
  '  put       Write a PV (like pvxput)\n' +
  '  monitor   Print updates of PVs (like pvxmonitor)\n' +
  '  call      Call an RPC PV (like pvxcall)\n' +
  '  info      Print the type of PVs (like pvxinfo)\n' +
  '  list      List the PVs of a server (like pvxlist)\n\n' +
  "Run 'pvtree <command> -h' for a command's options.\n" +
  'The client commands read EPICS_PVA_ADDR_LIST, EPICS_PVA_AUTO_ADDR_LIST, EPICS_PVA_BROADCAST_PORT,\n' +
  'EPICS_PVA_NAME_SERVERS and EPICS_PVA_SERVER_PORT.\n';

export async function main(argv: string[], io: CliIO = stdio): Promise<number> {
  const [cmd, ...args] = argv;
  if (!cmd || cmd === '-h' || cmd === '--help' || cmd === 'help') {
    if (cmd === 'help' && args[0] && usageOf(args[0])) {
      io.out(usageOf(args[0]));
      return 0;
    }
    (cmd ? io.out : io.err)(USAGE);
    return cmd ? 0 : 1;
  }
  if (cmd === 'serve') {
    const serveFile = fileURLToPath(new URL('./serve.ts', import.meta.url));
    if (!existsSync(serveFile)) {
      io.err("pvtree: the 'serve' command is not available in this build\n");
      return 1;
    }
    const spec = './serve.ts'; // not a literal import: the file may not exist yet
    const mod = (await import(spec)) as {
      serveCommand?: (args: string[], io: CliIO) => Promise<number> | number;
    };
    if (typeof mod.serveCommand !== 'function') {
      io.err("pvtree: src/cli/serve.ts does not export serveCommand\n");
      return 1;
    }
    return await mod.serveCommand(args, io);
  }
  if (CLIENT_COMMANDS.includes(cmd)) return runClientCommand(cmd, args, io);
  io.err(`pvtree: unknown command '${cmd}'\n${USAGE}`);
  return 1;
}
