// Commands: RPC with and without an argument, argument text parsed by argType, the return value
// in the reply, errors carried to the caller, and a put running the command.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Device, LocalCommand, LocalVariable, Root } from '../../src/tree/index.ts';
import type { Structure } from '../../src/pvdata/index.ts';
import { serve } from './harness.ts';
import { fieldType, rejectsMatching } from './util.ts';

interface Calls {
  args: unknown[];
}

function buildRoot(calls: Calls): Root {
  const root = new Root({ name: 'R', pollEn: false });
  const d = new Device({ name: 'D' });
  root.add(d);
  d.add(new LocalVariable({ name: 'var', typeStr: 'Int32', value: 0 }));
  d.add(
    new LocalCommand<number, number>({
      name: 'double',
      argType: 'Int32',
      retType: 'Int32',
      function: async ({ dev, arg }) => {
        calls.args.push(arg);
        await (dev!.node('var') as LocalVariable).set(arg!);
        return arg! * 2;
      },
    }),
  );
  d.add(
    new LocalCommand({
      name: 'reset',
      function: ({ dev, arg }) => {
        calls.args.push(arg);
        void (dev!.node('var') as LocalVariable).set(0);
      },
    }),
  );
  d.add(new LocalCommand<number, string>({ name: 'scale', argType: 'Float64', retType: 'str', function: ({ arg }) => `x${arg! * 1.5}` }));
  d.add(new LocalCommand<string, string>({ name: 'greet', argType: 'str', function: ({ arg }) => `hello ${arg}` }));
  d.add(new LocalCommand<number, number>({ name: 'withDefault', argType: 'Int32', value: 7, function: ({ arg }) => arg! + 1 }));
  d.add(
    new LocalCommand({
      name: 'broken',
      function: () => {
        throw new Error('the widget is jammed');
      },
    }),
  );
  return root;
}

test('RPC with a string argument: parsed by argType, the return value in the reply', async () => {
  const calls: Calls = { args: [] };
  const root = buildRoot(calls);
  const s = await serve(root);
  try {
    const r = await s.client.rpc('test:R:D:double', { arg: '21' });
    assert.deepEqual(calls.args, [21], 'the command got the number 21');
    assert.equal(r.get('value'), 42);
    assert.equal(fieldType(r.type as Structure), 'int', 'retType Int32 is an int reply');
    assert.equal((root.getNode('R.D.var') as LocalVariable).value, 21);
    const r2 = await s.client.rpc('test:R:D:double', { arg: '0x10' });
    assert.equal(r2.get('value'), 32);
  } finally {
    await s.close();
  }
});

test('RPC with a numeric argument', async () => {
  const calls: Calls = { args: [] };
  const s = await serve(buildRoot(calls));
  try {
    const r = await s.client.rpc('test:R:D:double', { arg: 5 });
    assert.equal(r.get('value'), 10);
    assert.deepEqual(calls.args, [5]);
    const f = await s.client.rpc('test:R:D:scale', { arg: '2' });
    assert.equal(f.get('value'), 'x3');
    assert.equal(fieldType(f.type as Structure), 'string');
  } finally {
    await s.close();
  }
});

test('RPC with a string-typed argument', async () => {
  const s = await serve(buildRoot({ args: [] }));
  try {
    const r = await s.client.rpc('test:R:D:greet', { arg: 'world' });
    assert.equal(r.get('value'), 'hello world');
  } finally {
    await s.close();
  }
});

test('RPC without an argument (and with the default argument)', async () => {
  const calls: Calls = { args: [] };
  const root = buildRoot(calls);
  await (root.getNode('R.D.var') as LocalVariable).set(9);
  const s = await serve(root);
  try {
    await s.client.rpc('test:R:D:reset', {});
    assert.deepEqual(calls.args, [undefined]);
    assert.equal((root.getNode('R.D.var') as LocalVariable).value, 0);
    const r = await s.client.rpc('test:R:D:withDefault', {});
    assert.equal(Number(r.get('value')), 8, 'default argument 7 + 1');
  } finally {
    await s.close();
  }
});

test('a command that throws gives an RPC error with its message', async () => {
  const s = await serve(buildRoot({ args: [] }));
  try {
    await rejectsMatching(s.client.rpc('test:R:D:broken', {}), /the widget is jammed/);
    // still usable afterwards
    await rejectsMatching(s.client.rpc('test:R:D:broken', {}), /jammed/);
    assert.ok(s.log.lines.some((l) => /command test:R:D:broken failed: the widget is jammed/.test(l)));
  } finally {
    await s.close();
  }
});

test('an argument argType cannot parse is an RPC error and the command does not run', async () => {
  const calls: Calls = { args: [] };
  const s = await serve(buildRoot(calls));
  try {
    await rejectsMatching(s.client.rpc('test:R:D:double', { arg: 'abc' }), /abc|bad argument/);
    await rejectsMatching(s.client.rpc('test:R:D:double', { arg: 2.5 }), /integer|bad argument/);
    assert.deepEqual(calls.args, []);
  } finally {
    await s.close();
  }
});

test('a put on a command PV runs the command with the value', async () => {
  const calls: Calls = { args: [] };
  const root = buildRoot(calls);
  const s = await serve(root);
  try {
    await s.client.put('test:R:D:double', 13);
    assert.deepEqual(calls.args, [13]);
    assert.equal((root.getNode('R.D.var') as LocalVariable).value, 13);
    assert.equal((await s.client.get('test:R:D:double')).get('value'), 13, 'the PV shows the last argument');
    await rejectsMatching(s.client.put('test:R:D:broken', 1), /jammed/);
  } finally {
    await s.close();
  }
});

test('RPC with an array argType: the argument text is parsed element by element; an array reply', async () => {
  const root = new Root({ name: 'R', pollEn: false });
  const got: number[][] = [];
  root.add(
    new LocalCommand<Int32Array, number[]>({
      name: 'sum',
      argType: 'Int32[3]',
      retType: 'Float64[2]',
      function: ({ arg }) => {
        const a = Array.from(arg!);
        got.push(a);
        const t = a.reduce((x, y) => x + y, 0);
        return [t, t / 2];
      },
    }),
  );
  const s = await serve(root);
  try {
    const r = await s.client.rpc('test:R:sum', { arg: '[1, 2, 3]' });
    assert.deepEqual(Array.from(r.get('value') as Float64Array), [6, 3]);
    assert.equal(fieldType(r.type as Structure), 'double[]');
    await s.client.rpc('test:R:sum', { arg: '0x10, -1, 5' });
    assert.deepEqual(got, [[1, 2, 3], [16, -1, 5]]);
    await rejectsMatching(s.client.rpc('test:R:sum', { arg: '1, x, 3' }), /bad argument/);
    await rejectsMatching(s.client.rpc('test:R:sum', { arg: '1, 2' }), /3 values/);
    assert.equal(got.length, 2);
    // a put of an array runs it too
    await s.client.put('test:R:sum', [4, 5, 6]);
    assert.deepEqual(got[2], [4, 5, 6]);
  } finally {
    await s.close();
  }
});
