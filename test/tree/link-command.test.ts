import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Root, Device, LocalVariable, RemoteVariable, LinkVariable, LocalCommand, RemoteCommand, VariableError, MemoryError } from '../../src/tree/index.ts';
import { SpyMemory } from './helpers.ts';

test('link propagation: dependencies, linkedGet, linkedSet', async () => {
  const root = new Root({ pollEn: false });
  const dev = new Device({ name: 'Dev' });
  const raw = new RemoteVariable({ name: 'Raw', offset: 0, bitSize: 16 });
  const scale = new LocalVariable({ name: 'Scale', value: 0.5 });
  const volts = new LinkVariable({
    name: 'Volts', units: 'V', disp: '{:.2f}', dependencies: [raw, scale],
    linkedGet: ({ dev: d }) => Number(d!.node('Raw') === raw ? raw.value : 0) * (scale.value as number),
    linkedSet: async ({ value, write }) => { await raw.set(Math.round((value as number) / (scale.value as number)), { write }); },
  });
  dev.add(raw, scale, volts);
  root.add(dev);
  assert.equal(volts.typeStr, 'Float64');
  const seen: number[] = [];
  volts.addListener((_p, vv) => seen.push(vv.value as number));
  await raw.set(100);
  assert.equal(volts.value, 50);
  await scale.set(2);
  assert.equal(volts.value, 200);
  assert.deepEqual(seen, [50, 200]);
  await volts.set(10);
  assert.equal(raw.value, 5);
  assert.equal(volts.value, 10);
  assert.equal(volts.valueDisp, '10.00');
  // hardware change seen through a read of the dependency
  (root.memBase as import('../../src/tree/index.ts').Emulate).writeBytes(0, new Uint8Array([7, 0]));
  assert.equal(await volts.get(), 10, 'linkedGet with read=true may choose not to read');
  await raw.get();
  assert.equal(volts.value, 14);
  // inside a group: two dependencies change, the link notifies once
  seen.length = 0;
  await root.updateGroup(async () => { await raw.set(1, { write: false }); await scale.set(3); });
  assert.deepEqual(seen, [3]);
  // a link without linkedSet is read-only
  const ro = new LinkVariable({ name: 'Twice', dependencies: [scale], linkedGet: () => (scale.value as number) * 2 });
  dev.add(ro);
  assert.equal(ro.mode, 'RO');
  await assert.rejects(ro.set(1), VariableError);
});

test('link alias of a variable inherits disp/enum/units and passes get/set through', async () => {
  const m = new LocalVariable({ name: 'Mode', value: 0, enum: { 0: 'Off', 1: 'On' }, units: 'u' });
  const alias = new LinkVariable({ name: 'ModeAlias', variable: m });
  assert.deepEqual(alias.enum, { 0: 'Off', 1: 'On' });
  assert.equal(alias.units, 'u');
  assert.equal(alias.typeStr, 'Int64');
  await alias.setDisp('On');
  assert.equal(m.value, 1);
  assert.equal(alias.valueDisp, 'On');
  await m.set(0);
  assert.equal(alias.value, 0);
});

test('LocalCommand: with and without argument, types, errors propagate', async () => {
  const root = new Root({ pollEn: false });
  const dev = new Device({ name: 'Dev' });
  const calls: unknown[] = [];
  const add = new LocalCommand<number, number>({
    name: 'Add', argType: 'Int32', retType: 'Int32', value: 1,
    function: ({ root: r, dev: d, cmd, arg }) => { calls.push([r?.name, d?.name, cmd.name]); return (arg ?? 0) + 1; },
  });
  const boom = new LocalCommand({ name: 'Boom', function: async () => { throw new Error('kaput'); } });
  dev.add(add, boom);
  root.add(dev);
  assert.equal(await add.call(41), 42);
  assert.equal(await add.call(), 2, 'default argument');
  assert.equal(await add.call('0x10' as never), 17, 'string argument parsed by argType');
  await assert.rejects(add.call(2 ** 31), /bad argument/);
  assert.deepEqual(calls[0], ['Root', 'Dev', 'Add']);
  await assert.rejects(boom.call(), /kaput/);
  assert.equal(add.argType, 'Int32');
  assert.equal(add.retType, 'Int32');
  assert.equal(boom.argType, undefined);
  assert.equal(add.path, 'Root.Dev.Add');
});

test('RemoteCommand: toggle, touch, setArg, memory errors', async () => {
  const mem = new SpyMemory();
  const root = new Root({ memBase: mem, pollEn: false });
  const dev = new Device({ name: 'Dev', offset: 0x40 });
  const status = new RemoteVariable({ name: 'Status', offset: 0, bitSize: 4, bitOffset: 4 });
  const reset = new RemoteCommand({ name: 'Reset', offset: 0, bitSize: 1, function: RemoteCommand.toggle });
  const load = new RemoteCommand({ name: 'Load', offset: 8, bitSize: 16, function: RemoteCommand.setArg, argType: 'UInt16' });
  const touch = new RemoteCommand({ name: 'Touch', offset: 12 });
  dev.add(status, reset, load, touch);
  root.add(dev);
  await status.set(0xa);
  mem.clear();
  const writes: number[] = [];
  const orig = mem.inner.doTransaction.bind(mem.inner);
  mem.inner.doTransaction = async (t) => { if (t.type === 'write') writes.push(t.data[0]); return orig(t); };
  await reset.call();
  assert.deepEqual(writes, [0xa1, 0xa0], 'pulse keeps the neighbouring status bits');
  await load.call(0x1234);
  assert.deepEqual([...mem.inner.readBytes(0x48, 2)], [0x34, 0x12]);
  await assert.rejects(load.call(), /needs an argument/);
  await assert.rejects(load.call(0x10000), /bad argument/);
  await touch.call();
  assert.equal(mem.inner.readBytes(0x4c, 1)[0], 1);
  mem.failWhen = (t) => (t.address === 0x4c ? 'nack' : undefined);
  await assert.rejects(touch.call(5), MemoryError);
  assert.equal(touch.value, 1);
  // reading the block does not disturb command bits
  mem.failWhen = undefined;
  await status.get();
  assert.equal(reset.value, 0);
});

test('a link over two fields of one block sees the whole read at once', async () => {
  const root = new Root({ pollEn: false });
  const dev = new Device({ name: 'Dev' });
  const lo = new RemoteVariable({ name: 'Lo', offset: 0, bitSize: 16 });
  const hi = new RemoteVariable({ name: 'Hi', offset: 2, bitSize: 16 });
  const both = new LinkVariable({ name: 'Both', typeStr: 'UInt32', dependencies: [lo, hi], linkedGet: () => (hi.value as number) * 65536 + (lo.value as number) });
  dev.add(lo, hi, both);
  root.add(dev);
  const seen: unknown[] = [];
  both.addListener((_p, vv) => seen.push(vv.value));
  (root.memBase as import('../../src/tree/index.ts').Emulate).writeBytes(0, new Uint8Array([1, 0, 2, 0]));
  await lo.get();
  assert.deepEqual(seen, [0x20001], 'one notification, no half-updated intermediate value');
});
