// `pvtree serve examples/board.yaml --memory srpv3://127.0.0.1:PORT` in a child process against
// a board on loopback — pvtree's own SRPv3 emulator server, and Rogue's (udp.Server + rssi.Server
// + packetizer + SrpV3Emulation) when ROGUE_PEER_ENV is set — through a shim that can go silent:
// registers read and written over pvAccess, a link loss shows as alarms and recovers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { SrpV3EmulatorServer } from '../../src/srp/emulator-server.ts';
import type { PVStructure } from '../../src/pvdata/index.ts';
import { LossyShim } from '../srp/lossy-shim.ts';
import { ROGUE_SKIP, RoguePeer } from '../srp/rogue.ts';
import { newClient, until } from './fixtures.ts';

const ROOT = new URL('../..', import.meta.url).pathname;

interface Served { child: ChildProcess; out: () => string; udp: number; stop(): Promise<void> }

async function serveBoard(memoryUrl: string): Promise<Served> {
  const child = spawn(process.execPath, ['bin/pvtree.mjs', 'serve', 'examples/board.yaml', '--memory', memoryUrl, '--loopback', '--protocols', 'pva'], {
    cwd: ROOT,
    env: { ...process.env, EPICS_PVAS_SERVER_PORT: '0', EPICS_PVAS_BROADCAST_PORT: '0', PVTREE_LOG: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  try {
    await until(() => /pvAccess TCP \d+ UDP \d+/.test(out) || child.exitCode !== null, 30000, 'pvtree serve to start');
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`${(e as Error).message}: ${out}`);
  }
  if (child.exitCode !== null) throw new Error(`pvtree serve exited ${child.exitCode}: ${out}`);
  const udp = Number(/pvAccess TCP \d+ UDP (\d+)/.exec(out)![1]);
  return {
    child, udp, out: () => out,
    stop: async () => {
      if (child.exitCode !== null) return;
      const done = new Promise((r) => child.once('close', r));
      child.kill('SIGINT');
      await done;
    },
  };
}

/**
 * The scenario, whichever board is behind `shim`. `board` reads and pokes it directly where that
 * is possible (pvtree's emulator); against Rogue the put's verify read-back and the re-read after
 * recovery are the proof that Rogue holds the value.
 */
async function scenario(shim: LossyShim, board: { control?(): number; setStatus?(v: number): void } = {}): Promise<void> {
  const served = await serveBoard(`srpv3://127.0.0.1:${shim.port}?timeout=0.5`);
  const client = newClient(served.udp);
  const status: PVStructure[] = [];
  const sub = client.monitor('pvtree:Board:Regs:Status', (v) => void status.push(v.clone()));
  try {
    await until(() => /srpv3:\/\/127\.0\.0\.1:\d+\?timeout=0\.5: RSSI link open/.test(served.out()), 20000, 'the link to open (logged)');
    board.setStatus?.(0x5a);
    await until(() => status.some((u) => u.get('alarm.severity') === 0 && (!board.setStatus || u.get('value') === 0x5a)), 20000, 'a polled Status from the board');
    await client.put('pvtree:Board:Regs:Control', 0x1234);
    if (board.control) assert.equal(board.control(), 0x1234, 'the put reached the board');
    assert.equal((await client.get('pvtree:Board:Regs:Control')).get('value'), 0x1234);
    shim.blackhole = true;
    await until(() => status.some((u) => u.get('alarm.severity') === 3), 20000, 'Status INVALID');
    // (a poll may time out before RSSI gives the link up: the unpolled PV follows the link state)
    await until(() => /link down: the peer stopped answering/.test(served.out()), 20000, 'the link loss logged');
    const bad = (await client.get('pvtree:Board:Regs:Control'));
    assert.equal(bad.get('alarm.severity'), 3, 'an unpolled register PV shows the link loss too');
    assert.match(String(bad.get('alarm.message')), /link down/);
    shim.blackhole = false;
    const n = status.length;
    await until(() => status.length > n && status.at(-1)!.get('alarm.severity') === 0, 30000, 'Status to recover');
    const good = await client.get('pvtree:Board:Regs:Control');
    assert.equal(good.get('alarm.severity'), 0);
    assert.equal(good.get('value'), 0x1234, 're-read from the board after the link came back');
  } catch (e) {
    throw new Error(`${(e as Error).message}\n--- pvtree serve output ---\n${served.out()}`);
  } finally {
    sub.close();
    client.close();
    await served.stop();
  }
}

test('pvtree serve --memory srpv3:// against pvtree\'s emulator: reads, writes, link loss as alarms, recovery', { timeout: 120000 }, async () => {
  const srv = await new SrpV3EmulatorServer().start();
  const shim = await new LossyShim({ serverPort: srv.port }).start();
  try {
    await scenario(shim, {
      control: () => Buffer.from(srv.emulation.read(0x1004, 4)).readUInt16LE(0),
      setStatus: (v) => srv.emulation.write(0x1010, Uint8Array.of(v, 0, 0, 0)),
    });
  } finally {
    await shim.close();
    await srv.close();
  }
});

test('pvtree serve --memory srpv3:// against Rogue\'s SrpV3Emulation behind udp.Server + rssi.Server + packetizer', { skip: ROGUE_SKIP, timeout: 120000 }, async () => {
  const peer = await RoguePeer.start({ pack: 1 });
  const shim = await new LossyShim({ serverPort: peer.port }).start();
  try {
    await scenario(shim);
  } finally {
    await shim.close();
    await peer.close();
  }
});
