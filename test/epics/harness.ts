// Shared set-up for bridge tests: a tree, an EpicsPvServer on 127.0.0.1 ephemeral ports, a client.
import { EpicsPvServer, type EpicsPvServerOptions } from '../../src/epics/index.ts';
import { PvaClient } from '../../src/pva/client/index.ts';
import { memoryLogger } from '../../src/pva/server/index.ts';
import type { Root } from '../../src/tree/index.ts';

export interface Served {
  server: EpicsPvServer;
  client: PvaClient;
  log: ReturnType<typeof memoryLogger>;
  close(): Promise<void>;
}

/** Starts `root` (which starts the server as its protocol) and a client pointed at it. */
export async function serve(root: Root, opts: Partial<EpicsPvServerOptions> = {}): Promise<Served> {
  const log = memoryLogger();
  const server = new EpicsPvServer({
    base: 'test',
    root,
    protocols: ['pva'],
    logger: log,
    pva: { tcpPort: 0, udpPort: 0, interfaces: ['127.0.0.1'], beaconAddrs: [] },
    ...opts,
  });
  root.addProtocol(server);
  await root.start();
  const udp = server.pvaServer!.udpPort;
  const client = new PvaClient({ addrList: [`127.0.0.1:${udp}`], autoAddrList: false, nameServers: [], timeout: 3 });
  return {
    server,
    client,
    log,
    close: async () => {
      client.close();
      await root.stop();
    },
  };
}
