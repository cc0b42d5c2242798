// pvtree command-line entry: dispatches subcommands.
export async function main(argv: string[]): Promise<number> {
  const [cmd] = argv;
  if (!cmd || cmd === '-h' || cmd === '--help') {
    console.log('usage: pvtree <serve|get|put|monitor|call|info|list> ...');
    return cmd ? 0 : 1;
  }
  console.error(`pvtree: unknown command '${cmd}'`);
  return 1;
}
