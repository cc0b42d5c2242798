// Memories named in configuration: YAML `memory:` entries on the root and on devices, and the
// spec forms `pvtree serve --memory` takes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Emulate, Root, Device, RemoteVariable, loadTreeFromYaml } from '../../src/tree/index.ts';
import { SrpV3Memory } from '../../src/tree/memory/srpv3.ts';
import { MemoryRegistry, memoryFromSpec } from '../../src/tree/memory/spec.ts';
import { SrpV3EmulatorServer } from '../../src/srp/emulator-server.ts';

test('spec forms: emulate, srpv3:// URLs, mappings; the same board named twice is one link', () => {
  assert.ok(memoryFromSpec('emulate') instanceof Emulate);
  assert.ok(memoryFromSpec({ type: 'emulate' }) instanceof Emulate);
  const reg = new MemoryRegistry();
  const a = reg.get('srpv3://127.0.0.1:9000?packetizer=2');
  assert.ok(a instanceof SrpV3Memory);
  assert.equal(String(a), 'srpv3://127.0.0.1:9000');
  assert.equal(reg.get('srpv3://127.0.0.1:9000?packetizer=2'), a, 'one link per board');
  assert.equal(reg.get({ type: 'srpv3', host: '127.0.0.1', port: 9000n, packetizer: 2 }), a, 'mapping with YAML bigints, same options');
  assert.throws(() => reg.get('srpv3://127.0.0.1:9000?packetizer=1'), /named twice with different options/);
  const m = reg.get({ type: 'srpv3', host: '127.0.0.1', port: 9001, rssi: false, packetizer: 0, tDest: 3, timeout: 0.25, retries: 2, jumbo: true, crc: true }) as SrpV3Memory;
  assert.equal(m.tDest, 3);
  assert.equal(m.link.stack.rssi, undefined);
  assert.equal(m.link.stack.packetizer, undefined);
  assert.throws(() => reg.get({ type: 'srpv3' }), /needs a host/);
  assert.throws(() => reg.get({ type: 'srpv3', host: 'x', speed: 1 }), /unknown memory option speed/);
  assert.throws(() => reg.get({ type: 'srpv3', host: 'x', packetizer: 3 }), /0, 1 or 2/);
  assert.throws(() => reg.get({ type: 'srpv3', host: 'x', rssi: 'yes' }), /true or false/);
  assert.throws(() => reg.get({ type: 'srpv3', host: 'x', timeout: 0 }), /more than 0/);
  assert.throws(() => reg.get({ type: 'ethernet' }), /srpv3 or emulate/);
  assert.throws(() => reg.get(42), /emulate, an srpv3:\/\/ URL/);
  assert.throws(() => reg.get('tcp://x'), /unsupported memory URL scheme/);
});

test('YAML: memory on the root and on a device; errors name the entry', { timeout: 30000 }, async () => {
  const srv = await new SrpV3EmulatorServer().start();
  const other = await new SrpV3EmulatorServer().start();
  const root = loadTreeFromYaml(`
root: { name: Lab, pollEn: false, memory: 'srpv3://127.0.0.1:${srv.port}' }
devices:
  - name: Main
    offset: 0x100
    variables: [ { name: Reg, offset: 0x0, bitSize: 32, base: UInt, mode: RW } ]
  - name: Aux
    memory: { type: srpv3, host: 127.0.0.1, port: ${other.port}, timeout: 2 }
    offset: 0x40
    variables: [ { name: Reg, offset: 0x0, bitSize: 32, base: UInt, mode: RW } ]
  - name: Sim
    memory: emulate
    variables: [ { name: Reg, offset: 0x0, bitSize: 32, base: UInt, mode: RW } ]
`);
  try {
    await root.start();
    const reg = (p: string) => root.getNode(p) as RemoteVariable<number>;
    await reg('Lab.Main.Reg').set(0x11);
    await reg('Lab.Aux.Reg').set(0x22);
    await reg('Lab.Sim.Reg').set(0x33);
    assert.equal(srv.emulation.read(0x100, 1)[0], 0x11);
    assert.equal(other.emulation.read(0x40, 1)[0], 0x22, "Aux's own board, its offset from 0");
    assert.equal(srv.emulation.read(0, 1)[0], 0, 'Sim stayed in emulated memory');
  } finally {
    await root.stop();
    await srv.close();
    await other.close();
  }
  assert.throws(() => loadTreeFromYaml('root: { memory: "srpv3://h?packetizer=7" }'), /root\.memory: packetizer=7 .* must be 0, 1 or 2/);
  assert.throws(() => loadTreeFromYaml('devices: [ { name: D, memory: { type: srpv3 } } ]'), /devices\[0\] \(D\)\.memory: memory type srpv3 needs a host/);
});

test('setMemBase: a tree built on emulated memory is pointed at a board before start, not after', { timeout: 30000 }, async () => {
  const srv = await new SrpV3EmulatorServer().start();
  const root = new Root({ name: 'R', pollEn: false });
  const d = new Device({ name: 'D', offset: 0x200 });
  root.add(d);
  const v = new RemoteVariable({ name: 'V', offset: 0, bitSize: 32, base: 'UInt', mode: 'RW' });
  d.add(v);
  void v.block; // blocks built on the emulated memory first
  const mem = new SrpV3Memory({ host: '127.0.0.1', port: srv.port });
  root.setMemBase(mem);
  try {
    await root.start();
    await v.set(0xabcd);
    assert.deepEqual([...srv.emulation.read(0x200, 2)], [0xcd, 0xab]);
    assert.throws(() => root.setMemBase(new Emulate()), /cannot change the memory of a running tree/);
  } finally {
    await root.stop();
    await srv.close();
  }
});
