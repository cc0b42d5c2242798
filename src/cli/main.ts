// pvtree command-line entry: dispatches subcommands. Each command's code is imported only when
// that command runs, so `pvtree get` loads the pvAccess client and not the tree, the servers or
// YAML (start-up time is what operators feel: bench/cli.ts).
import type { CliIO } from './client-commands.ts';

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

/**
 * Runs the `pvtree` command line with `argv` (the arguments after `pvtree`); resolves to the exit
 * status. Output goes through `io` (default: standard output and error).
 */
export async function main(argv: string[], io?: CliIO): Promise<number> {
  const out = io ? io.out : (s: string): void => void process.stdout.write(s);
  const err = io ? io.err : (s: string): void => void process.stderr.write(s);
  const [cmd, ...args] = argv;
  if (!cmd || cmd === '-h' || cmd === '--help' || cmd === 'help') {
    if (cmd === 'help' && args[0] && CLIENT_COMMANDS.includes(args[0])) {
      const { usageOf } = await import('./client-commands.ts');
      out(usageOf(args[0]));
      return 0;
    }
    if (cmd === 'help' && args[0] === 'serve') {
      const { SERVE_USAGE } = await import('./serve.ts');
      out(SERVE_USAGE);
      return 0;
    }
    (cmd ? out : err)(USAGE);
    return cmd ? 0 : 1;
  }
  if (cmd === 'serve') {
    const { serveCommand } = await import('./serve.ts');
    return await serveCommand(args, io);
  }
  if (CLIENT_COMMANDS.includes(cmd)) {
    const { runClientCommand } = await import('./client-commands.ts');
    return runClientCommand(cmd, args, io);
  }
  err(`pvtree: unknown command '${cmd}'\n${USAGE}`);
  return 1;
}
