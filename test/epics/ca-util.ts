// Shared set-up for the bridge's Channel Access end-to-end tests: a tree served over pvAccess and CA
// on 127.0.0.1 (ephemeral ports), and a real CA client (Debian's python3-pyepics, libca) run as
// inline Python scripts with timeouts and a loopback-only EPICS_CA_* environment.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { EpicsPvServer, type EpicsPvServerOptions } from '../../src/epics/index.ts';
import { PvaClient } from '../../src/pva/client/index.ts';
import { memoryLogger } from '../../src/pva/server/index.ts';
import type { Root } from '../../src/tree/index.ts';
import { PYTHON, lastJson, runPython, type PyResult } from '../util/python.ts';

export { PYTHON, lastJson, runPython, type PyResult };

export const SKIP_PYEPICS = 'python3-pyepics not installed: apt-get install -y python3-pyepics';

export const havePyepics = ((): boolean => {
  try {
    return spawnSync(PYTHON, ['-c', 'import epics'], { timeout: 20000, stdio: 'ignore' }).status === 0;
  } catch {
    return false;
  }
})();

export async function freeUdpPort(): Promise<number> {
  const u = createSocket('udp4');
  await new Promise<void>((r) => u.bind(0, '127.0.0.1', () => r()));
  const port = u.address().port;
  await new Promise<void>((r) => u.close(() => r()));
  return port;
}

export async function freeTcpPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

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

/** A loopback-only CA client environment for a server on `port`. */
export async function caEnv(port: number, extra: Record<string, string> = {}): Promise<NodeJS.ProcessEnv> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('EPICS_')) env[k] = v;
  return {
    ...env,
    EPICS_CA_AUTO_ADDR_LIST: 'NO',
    EPICS_CA_ADDR_LIST: '127.0.0.1',
    EPICS_CA_SERVER_PORT: String(port),
    EPICS_CA_REPEATER_PORT: String(await freeUdpPort()),
    ...extra,
  };
}

/** Python helpers: j() makes values JSON-able, g() is caget, p() is caput(wait=True) returning 'EXC: …' on errors. */
export const PY_PRELUDE = `
import json, math, sys, time
import epics
from epics import ca, dbr
def j(v):
    if hasattr(v, 'tolist'):
        v = v.tolist()
    if isinstance(v, float) and math.isnan(v):
        return 'NaN'
    if isinstance(v, dict):
        return {k: j(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [j(x) for x in v]
    if isinstance(v, bytes):
        return v.decode()
    return v
def g(name, **kw):
    return j(epics.caget(name, timeout=5, **kw))
def p(name, value, **kw):
    try:
        return j(epics.caput(name, value, wait=True, timeout=5, **kw))
    except Exception as e:
        return 'EXC: %s' % e
def ftype(name):
    ch = ca.create_channel(name, connect=True)
    ca.connect_channel(ch, timeout=5)
    n = dbr.Name(ca.field_type(ch)).lower()
    return 'short' if n == 'int' else n  # DBR_SHORT and DBR_INT are both 1
`;

/** Runs a script against a CA server on `port` and returns its last JSON line. */
export async function py(port: number, body: string, timeoutMs = 45000, onLine?: (line: string) => void): Promise<{ o: Record<string, unknown>; r: PyResult }> {
  const r = await runPython(`${PY_PRELUDE}\n${body}`, await caEnv(port), timeoutMs, onLine);
  return { o: lastJson(r), r };
}
