// Free loopback ports for tests that must name a port before a server binds it.
import { createSocket, type Socket } from 'node:dgram';
import { createServer } from 'node:net';

/** A free UDP port on 127.0.0.1 (released before returning). */
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

/**
 * Binds up to `n` UDP sockets on 127.0.0.1 with SO_REUSEADDR on ephemeral ports, as other servers'
 * shared search ports (stops early when the process runs out of file descriptors). Returns the held
 * ports and a function that closes them.
 */
export async function holdSharedUdpPorts(n: number): Promise<{ ports: Set<number>; release: () => Promise<void> }> {
  const socks: Socket[] = [];
  const ports = new Set<number>();
  for (let i = 0; i < n; i++) {
    const s = createSocket({ type: 'udp4', reuseAddr: true });
    const ok = await new Promise<boolean>((r) => {
      s.once('error', () => r(false));
      s.bind({ port: 0, address: '127.0.0.1' }, () => r(true));
    });
    if (!ok) {
      try {
        s.close();
      } catch {
        // never bound
      }
      break;
    }
    socks.push(s);
    ports.add(s.address().port);
  }
  return {
    ports,
    release: async () => {
      await Promise.all(socks.map((s) => new Promise<void>((r) => s.close(() => r()))));
    },
  };
}
