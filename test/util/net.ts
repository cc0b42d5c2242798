// Free loopback ports for tests that must name a port before a server binds it.
import { createSocket } from 'node:dgram';
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
