// A device tree on SrpV3Memory against the in-project emulator on loopback: registers and bit
// fields, blocks beyond 4 KiB split, posted writes and verify; the Root starts and stops the
// link; a lost link marks every remote variable and recovery clears it with fresh values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Device, Hub, LinkDownError, RemoteVariable, Root } from '../../src/tree/index.ts';
import { SrpV3EmulatorServer } from '../../src/srp/emulator-server.ts';
import { SrpV3Memory } from '../../src/tree/memory/srpv3.ts';
import { LossyShim } from './lossy-shim.ts';

async function until(cond: () => boolean, what: string, ms = 15000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const u32 = (srv: SrpV3EmulatorServer, a: number) => Buffer.from(srv.emulation.read(a, 4)).readUInt32LE(0);
const poke = (srv: SrpV3EmulatorServer, a: number, v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  srv.emulation.write(a, b);
};

function board(mem: SrpV3Memory, pollEn = false) {
  const root = new Root({ name: 'Board', memBase: mem, pollEn, onError: () => {} });
  const fpga = new Device({ name: 'Fpga', offset: 0x10000 });
  root.add(fpga);
  fpga.add(
    new RemoteVariable({ name: 'Scratch', offset: 0x0, bitSize: 32, base: 'UInt', mode: 'RW' }),
    new RemoteVariable({ name: 'Mode', offset: 0x4, bitSize: 4, bitOffset: 0, base: 'UInt', mode: 'RW' }),
    new RemoteVariable({ name: 'Gain', offset: 0x4, bitSize: 12, bitOffset: 4, base: 'UInt', mode: 'RW' }),
    new RemoteVariable({ name: 'Enable', offset: 0x4, bitSize: 1, bitOffset: 31, base: 'Bool', mode: 'RW' }),
    new RemoteVariable({ name: 'Status', offset: 0x8, bitSize: 32, base: 'UInt', mode: 'RO', pollInterval: 0.1 }),
    // 8 KiB: more than one SRPv3 transaction can carry
    new RemoteVariable({ name: 'Table', offset: 0x2000, base: 'UInt', bitSize: 32, numValues: 2048, valueBits: 32, valueStride: 32, mode: 'RW' }),
  );
  // a second device behind a Hub on the same link
  const hub = new Hub({ offset: 0x800000, memBase: mem });
  const adc = new Device({ name: 'Adc', memBase: hub });
  root.add(adc);
  adc.add(new RemoteVariable({ name: 'Config', offset: 0x10, bitSize: 16, base: 'UInt', mode: 'RW' }));
  return { root, fpga, adc };
}

test('registers, bit fields, an 8 KiB block in two transactions, posted writes and verify reach the emulator', { timeout: 30000 }, async () => {
  const srv = await new SrpV3EmulatorServer({ packetizer: 2 }).start();
  const mem = new SrpV3Memory({ host: '127.0.0.1', port: srv.port, packetizer: 2 });
  const { root, fpga, adc } = board(mem);
  try {
    await root.start();
    await mem.waitOpen(10000);
    const v = (n: string) => fpga.node(n) as RemoteVariable<unknown>;
    await v('Scratch').set(0xdeadbeef);
    assert.equal(u32(srv, 0x10000), 0xdeadbeef);
    await v('Mode').set(5);
    await v('Gain').set(0xabc);
    await v('Enable').set(true);
    assert.equal(u32(srv, 0x10004), (1 << 31 | 0xabc << 4 | 5) >>> 0, 'bit fields share one word');
    poke(srv, 0x10004, 0x3);
    assert.equal(await v('Mode').get(), 3);
    assert.equal(await v('Enable').get(), false);
    const table = Uint32Array.from({ length: 2048 }, (_, i) => i * 3 + 1);
    const sent = mem.stats.sent;
    await v('Table').set(table, { verify: false });
    assert.equal(mem.stats.sent - sent, 2, '8 KiB written as two 4 KiB transactions');
    assert.equal(u32(srv, 0x12000 + 4 * 2047), 2047 * 3 + 1);
    poke(srv, 0x12000 + 4 * 1500, 77);
    const back = (await v('Table').get()) as Uint32Array;
    assert.equal(back[1500], 77);
    assert.equal(back[2047], 2047 * 3 + 1);
    // verify: a register that does not hold what was written fails the set
    const posts = srv.emulation.stats.posts;
    await v('Scratch').post(0x1234);
    await until(() => srv.emulation.stats.posts === posts + 1, 'the posted write');
    assert.equal(u32(srv, 0x10000), 0x1234);
    await (adc.node('Config') as RemoteVariable<number>).set(0x55aa);
    assert.equal(u32(srv, 0x800010) & 0xffff, 0x55aa, 'through the Hub at its offset');
    await root.stop();
    assert.equal(mem.linkUp, false, 'Root.stop closes the link');
    await until(() => !srv.link.isOpen, 'the server to see the RST');
  } finally {
    await root.stop();
    await srv.close();
  }
});

test('a verify mismatch fails the write (a register the hardware changes)', { timeout: 30000 }, async () => {
  const srv = await new SrpV3EmulatorServer().start();
  const mem = new SrpV3Memory({ host: '127.0.0.1', port: srv.port });
  const root = new Root({ name: 'R', memBase: mem, pollEn: false });
  const d = new Device({ name: 'D' });
  root.add(d);
  const stuck = new RemoteVariable({ name: 'Stuck', offset: 0x20, bitSize: 32, base: 'UInt', mode: 'RW' });
  d.add(stuck);
  try {
    await root.start();
    await mem.waitOpen(10000);
    await stuck.set(6);
    // from now on bit 0 of the register sticks at 1: the verify read-back differs from what was written
    const orig = srv.emulation.write.bind(srv.emulation);
    srv.emulation.write = (a, data) => orig(a, a === 0x20 ? Uint8Array.of(data[0] | 1, data[1], data[2], data[3]) : data);
    await assert.rejects(stuck.set(8), /verify error/);
  } finally {
    await root.stop();
    await srv.close();
  }
});

test('link loss marks every remote variable (polled or not), recovery reads them again and clears it', { timeout: 60000 }, async () => {
  const srv = await new SrpV3EmulatorServer().start();
  const shim = await new LossyShim({ serverPort: srv.port }).start();
  const mem = new SrpV3Memory({ host: '127.0.0.1', port: shim.port, timeout: 0.5 });
  const { root, fpga, adc } = board(mem, true);
  const status = fpga.node('Status') as RemoteVariable<number>;
  const scratch = fpga.node('Scratch') as RemoteVariable<number>;
  const config = adc.node('Config') as RemoteVariable<number>;
  try {
    await root.start();
    await mem.waitOpen(10000);
    await until(() => status.lastError === undefined && root.pollCycles > 1, 'polling');
    await scratch.set(11);
    shim.blackhole = true;
    await until(() => !mem.linkUp, 'the link to go down');
    assert.ok(scratch.lastError instanceof LinkDownError, `not polled: ${scratch.lastError}`);
    assert.match(scratch.lastError!.message, /srpv3:\/\/127\.0\.0\.1:\d+: link down: the peer stopped answering/);
    assert.ok(config.lastError instanceof LinkDownError, 'behind the Hub too');
    await until(() => status.lastError !== undefined, 'the polled variable to fail');
    // the hardware changes while the link is down
    poke(srv, 0x10000, 99);
    poke(srv, 0x10008, 1234);
    shim.blackhole = false;
    await mem.waitOpen(15000);
    await until(() => scratch.lastError === undefined && config.lastError === undefined && status.lastError === undefined, 'errors cleared');
    assert.equal(scratch.value, 99, 're-read when the link came back');
    assert.equal(status.value, 1234);
  } finally {
    await root.stop();
    await shim.close();
    await srv.close();
  }
});

test('a tree started before its board answers shows "not connected yet" until the link opens', { timeout: 30000 }, async () => {
  const srv = await new SrpV3EmulatorServer().start();
  const shim = await new LossyShim({ serverPort: srv.port }).start();
  shim.blackhole = true;
  const mem = new SrpV3Memory({ host: '127.0.0.1', port: shim.port, timeout: 0.5 });
  const { root, fpga } = board(mem);
  const scratch = fpga.node('Scratch') as RemoteVariable<number>;
  poke(srv, 0x10000, 42);
  try {
    await root.start();
    assert.match(String(scratch.lastError?.message), /link down: not connected yet/);
    shim.blackhole = false;
    await mem.waitOpen(10000);
    await until(() => scratch.lastError === undefined, 'the error to clear');
    assert.equal(scratch.value, 42);
  } finally {
    await root.stop();
    await shim.close();
    await srv.close();
  }
});
