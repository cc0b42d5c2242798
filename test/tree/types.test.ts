import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LocalVariable, RemoteVariable, Root, Device, parseTypeStr, inferTypeStr, formatScalar, VariableError } from '../../src/tree/index.ts';

test('typeStr inference and nativeType', () => {
  const cases: [unknown, string, object][] = [
    [1, 'Int64', { kind: 'int', bits: 64, length: undefined }],
    [1.5, 'Float64', { kind: 'float', bits: 64, length: undefined }],
    [true, 'Bool', { kind: 'bool', bits: undefined, length: undefined }],
    ['x', 'str', { kind: 'str', bits: undefined, length: undefined }],
    [5n, 'Int64', { kind: 'int', bits: 64, length: undefined }],
    [new Float64Array(3), 'Float64[3]', { kind: 'float', bits: 64, length: 3 }],
    [new Int32Array(2), 'Int32[2]', { kind: 'int', bits: 32, length: 2 }],
    [new Uint16Array(4), 'UInt16[4]', { kind: 'uint', bits: 16, length: 4 }],
    [[1, 2, 3], 'Float64[3]', { kind: 'float', bits: 64, length: 3 }],
    [[true, false], 'Bool[2]', { kind: 'bool', bits: undefined, length: 2 }],
  ];
  for (const [value, ts, nt] of cases) {
    const v = new LocalVariable({ name: 'V', value: value as never });
    assert.equal(v.typeStr, ts, String(value));
    assert.deepEqual(v.nativeType, nt, String(value));
  }
  const e = new LocalVariable({ name: 'E', value: 0, enum: { 0: 'Off', 1: 'On' } });
  assert.equal(e.nativeType.kind, 'enum');
  assert.equal(e.disp, 'enum');
  assert.equal(new LocalVariable({ name: 'T', value: 3, typeStr: 'Int16' }).nativeType.bits, 16);
  assert.equal(new LocalVariable({ name: 'W', value: [1, 2], typeStr: 'UInt8[2]' }).value instanceof Uint8Array, true);
  assert.equal(parseTypeStr('UInt12').bits, 12);
  assert.equal(parseTypeStr('float').typeStr, 'float');
  assert.throws(() => parseTypeStr('Float16'), { name: 'VariableError', message: /typeStr 'Float16': floats are 32 or 64 bits/ });
  assert.equal(inferTypeStr(2.0), 'Int64');
});

test('range errors never wrap', async () => {
  const i8 = new LocalVariable({ name: 'I8', value: 0, typeStr: 'Int8' });
  await assert.rejects(i8.set(128), VariableError);
  await assert.rejects(i8.set(-129), /out of range/);
  await i8.set(-128);
  await i8.set(127);
  assert.equal(i8.value, 127);
  const u = new LocalVariable({ name: 'U', value: 0, typeStr: 'UInt32' });
  await assert.rejects(u.set(-1), /out of range/);
  await assert.rejects(u.set(2 ** 32), /out of range/);
  await assert.rejects(u.set(1.5), /not an integer/);
  await assert.rejects(u.set('3' as never), /expected an integer/);
  assert.equal(u.value, 0);
  const u64 = new LocalVariable({ name: 'U64', value: 0, typeStr: 'UInt64' });
  await u64.set(2n ** 64n - 1n);
  assert.equal(u64.value, 2n ** 64n - 1n);
  await assert.rejects(u64.set(2n ** 64n), { name: 'VariableError', message: /out of range for UInt64/ });
  await u64.set(2n ** 40n);
  assert.equal(u64.value, 2 ** 40); // number again when it fits in 2^53
  const i64 = new LocalVariable({ name: 'I64', value: 0, typeStr: 'Int64' });
  await i64.set(-(2n ** 63n));
  await assert.rejects(i64.set(2 ** 63), { name: 'VariableError', message: /out of range for Int64/ }); // a number just beyond Int64's max is rejected, not rounded
  const f32 = new LocalVariable({ name: 'F', value: 0, typeStr: 'Float32' });
  await assert.rejects(f32.set(1e39), /out of range/);
  await f32.set(0.1);
  assert.equal(f32.value, Math.fround(0.1));
  const mm = new LocalVariable({ name: 'MM', value: 5, minimum: 0, maximum: 10 });
  await assert.rejects(mm.set(11), /outside/);
  await assert.rejects(mm.set(-1), /outside/);
  await mm.set(10);
  const arr = new LocalVariable({ name: 'Arr', value: [0, 0], typeStr: 'Int8[2]' });
  await assert.rejects(arr.set([1, 200]), /element 1/);
  await assert.rejects(arr.set([1]), /expected 2 values/);
  const u12 = new LocalVariable({ name: 'U12', value: new Uint16Array(2), typeStr: 'UInt12[2]' });
  await assert.rejects(u12.set(new Uint16Array([1, 5000])), /element 1/);
  const i32 = new LocalVariable({ name: 'I32', value: new Int32Array(2) });
  const src = new Int32Array([5, -6]);
  await i32.set(src);
  src[0] = 99;
  assert.deepEqual([...i32.value], [5, -6], 'set copies its input');
});

test('python display formats', () => {
  const f = formatScalar;
  assert.equal(f('{}', 1.5, true), '1.5');
  assert.equal(f('{}', 1, true), '1.0');
  assert.equal(f('{}', 7, false), '7');
  assert.equal(f('{}', true, false), 'True');
  assert.equal(f('{:.3f}', 1.23456, true), '1.235');
  assert.equal(f('{:#x}', 255, false), '0xff');
  assert.equal(f('{:#010x}', 255, false), '0x000000ff');
  assert.equal(f('{:08b}', 5, false), '00000101');
  assert.equal(f('{:X}', 2n ** 64n - 1n, false), 'FFFFFFFFFFFFFFFF');
  assert.equal(f('{:d}', -42, false), '-42');
  assert.equal(f('{:,d}', 1234567, false), '1,234,567');
  assert.equal(f('{:>6}', 42, false), '    42');
  assert.equal(f('{:<6}|', 42, false), '42    |');
  assert.equal(f('{:^7}', 'ab', false), '  ab   ');
  assert.equal(f('{:+.2f}', 3, true), '+3.00');
  assert.equal(f('{:.2e}', 12345.678, true), '1.23e+04');
  assert.equal(f('{:g}', 0.0001, true), '0.0001');
  assert.equal(f('{:g}', 1234567, true), '1.23457e+06');
  assert.equal(f('{:.1%}', 0.25, true), '25.0%');
  assert.equal(f('{:f}', 1.5, true), '1.500000');
  assert.equal(f('{:.2f} V', 1.5, true), '1.50 V');
  assert.equal(f('{}', NaN, true), 'nan');
  assert.equal(f('{:f}', -Infinity, true), '-inf');
});

test('parseDisp / setDisp by type', async () => {
  const u = new LocalVariable({ name: 'U', value: 0, typeStr: 'UInt32', disp: '{:#x}' });
  assert.equal(u.parseDisp('0x1f'), 31);
  assert.equal(u.parseDisp('0b101'), 5);
  assert.equal(u.parseDisp(' 12 '), 12);
  assert.equal(u.parseDisp('3.0'), 3);
  assert.throws(() => u.parseDisp('abc'), /not an integer/);
  await u.setDisp('0xff');
  assert.equal(u.valueDisp, '0xff');
  const big = new LocalVariable({ name: 'B', value: 0, typeStr: 'UInt64' });
  assert.equal(big.parseDisp('0xffffffffffffffff'), 2n ** 64n - 1n);
  const fl = new LocalVariable({ name: 'F', value: 0.5 });
  assert.equal(fl.parseDisp('1e3'), 1000);
  assert.equal(fl.parseDisp('inf'), Infinity);
  assert.throws(() => fl.parseDisp('x'), /not a number/);
  const b = new LocalVariable({ name: 'Bo', value: false });
  assert.equal(b.parseDisp('True'), true);
  assert.equal(b.valueDisp, 'False');
  const arr = new LocalVariable({ name: 'A', value: [1, 2, 3] });
  await arr.setDisp('[4, 5.5, 6]');
  assert.deepEqual([...arr.value as Float64Array], [4, 5.5, 6]);
  assert.equal(arr.valueDisp, '[4.0, 5.5, 6.0]');
  const s = new LocalVariable({ name: 'S', value: 'hi' });
  await s.setDisp('0x10');
  assert.equal(s.value, '0x10');
});

test('enum set by display string', async () => {
  const root = new Root();
  const dev = new Device({ name: 'Dev' });
  const m = new LocalVariable({ name: 'Mode', value: 0, enum: { 0: 'Off', 1: 'On', 2: 'Auto' } });
  const r = new RemoteVariable({ name: 'RMode', offset: 0, bitSize: 2, enum: { 0: 'A', 1: 'B', 3: 'D' } });
  dev.add(m, r);
  root.add(dev);
  await m.setDisp('Auto');
  assert.equal(m.value, 2);
  assert.equal(m.valueDisp, 'Auto');
  await m.setDisp('1');
  assert.equal(m.valueDisp, 'On');
  assert.throws(() => m.parseDisp('Maybe'), /not one of Off, On, Auto/);
  await assert.rejects(m.set(5), /not an enum key/);
  await r.setDisp('D');
  assert.equal(r.value, 3);
  assert.equal(root.memory instanceof Object, true);
  // a value hardware holds that the enum doesn't name
  (root.memBase as import('../../src/tree/index.ts').Emulate).writeBytes(0, new Uint8Array([2]));
  await r.get();
  assert.equal(r.valueDisp, 'INVALID: 2');
  const bo = new LocalVariable({ name: 'Bo', value: false, enum: { 0: 'No', 1: 'Yes' } });
  await bo.setDisp('Yes');
  assert.equal(bo.value, true);
  assert.equal(bo.valueDisp, 'Yes');
});
