// Shared set-up for the bridge's Channel Access end-to-end tests: a tree served over pvAccess and CA
// on 127.0.0.1 (ephemeral ports), and a real CA client (Debian's python3-pyepics, libca) run as
// inline Python scripts with timeouts and a loopback-only EPICS_CA_* environment.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { EpicsPvServer, type EpicsPvServerOptions } from '../../src/epics/index.ts';
import { PvaClient } from '../../src/pva/client/index.ts';
import { memoryLogger } from '../../src/pva/server/index.ts';
import type { Root } from '../../src/tree/index.ts';
import { freeTcpPort, freeUdpPort } from '../util/net.ts';
import { PYTHON, PY_PRELUDE, SKIP_PYEPICS, caEnv, havePyepics, lastJson, runPython, type PyResult } from '../util/python.ts';

export { PYTHON, PY_PRELUDE, SKIP_PYEPICS, caEnv, freeTcpPort, freeUdpPort, havePyepics, lastJson, runPython, type PyResult };

/** A port free for both TCP and UDP on 127.0.0.1 (CA serves both on one number). */
export async function freeCaPort(): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const p = await freeTcpPort();
    const u = createSocket('udp4');
    const ok = await new Promise<boolean>((r) => {
      u.once('error', () => r(false));
      u.bind(p, '127.0.0.1', () => r(true));
    });
    await new Promise<void>((r) => {
      try {
        u.close(() => r());
      } catch {
        r();
      }
    });
    if (ok) return p;
  }
  throw new Error('no free TCP+UDP port');
}

export interface CaServed {
  server: EpicsPvServer;
  /** pvtree's own pvAccess client pointed at the server (undefined when PVA is not served). */
  client: PvaClient | undefined;
  caPort: number;
  log: ReturnType<typeof memoryLogger>;
  close(): Promise<void>;
}

/** Starts `root` with an EpicsPvServer (both protocols by default) on loopback ephemeral ports. */
export async function serveCa(root: Root, opts: Partial<EpicsPvServerOptions> = {}): Promise<CaServed> {
  const log = memoryLogger();
  const server = new EpicsPvServer({
    base: 'test',
    root,
    protocols: ['pva', 'ca'],
    logger: log,
    pva: { tcpPort: 0, udpPort: 0, interfaces: ['127.0.0.1'], beaconAddrs: [] },
    ca: { port: 0, interfaces: ['127.0.0.1'], beacons: false },
    ...opts,
  });
  root.addProtocol(server);
  await root.start();
  const pva = server.pvaServer;
  const client = pva
    ? new PvaClient({ addrList: [`127.0.0.1:${pva.udpPort}`], autoAddrList: false, nameServers: [], timeout: 3 })
    : undefined;
  return {
    server,
    client,
    caPort: server.caServer?.port ?? 0,
    log,
    close: async () => {
      client?.close();
      await root.stop();
    },
  };
}


/** Runs a script against a CA server on `port` and returns its last JSON line. */
export async function py(port: number, body: string, timeoutMs = 45000, onLine?: (line: string) => void): Promise<{ o: Record<string, unknown>; r: PyResult }> {
  const r = await runPython(`${PY_PRELUDE}\n${body}`, await caEnv(port), timeoutMs, onLine);
  return { o: lastJson(r), r };
}
