// Access security files: the parser (every construct; bad files with line and column), the CALC
// subset, rule evaluation as asLib does it, and the audit log.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AccessGate,
  AccessPolicy,
  AcfSyntaxError,
  AuditLog,
  NONE,
  OsRoles,
  READ,
  WRITE,
  CalcError,
  compileCalc,
  ipOf,
  parseAcf,
  parseMacroList,
  type Credentials,
  type InputSource,
  type Requester,
} from '../../src/security/index.ts';

/** The example of the EPICS Application Developer's Guide, access security chapter, and more. */
const FULL = `# site rules
UAG(uag) {user1, user2}
UAG(ops) {"role/wheel", alice}   # quoted names may hold any character but '"' and newline
HAG(hag) {host1, "Host2"}
HAG(lab) {127.0.0.1}
ASG(DEFAULT) {
\tRULE(1, READ)
}
ASG(ro) {
\tRULE(0, NONE)
\tRULE(1, READ) { HAG(hag) }
}
ASG(critical) {
\tINPA(LI:OPSTATE)
\tINPB("LI:lock.VAL")
\tRULE(1, WRITE, TRAPWRITE) {
\t\tUAG(uag, ops)
\t\tHAG(hag)
\t\tCALC("A=1")
\t}
\tRULE(1, READ, NOTRAPWRITE)
}
ASG(empty)
UAG(nobody)
`;

const creds = (user: string, host: string, ip?: string): Credentials => ({ users: [user], host, ...(ip ? { ip } : {}) });

test('parser: every construct of an access security file', () => {
  const c = parseAcf(FULL, 'site.acf');
  assert.equal(c.file, 'site.acf');
  assert.deepEqual([...c.uags.keys()], ['uag', 'ops', 'nobody']);
  assert.deepEqual(c.uags.get('uag')!.users, ['user1', 'user2']);
  assert.deepEqual(c.uags.get('ops')!.users, ['role/wheel', 'alice']);
  assert.deepEqual(c.uags.get('nobody')!.users, []);
  assert.deepEqual(c.hags.get('hag')!.hosts, ['host1', 'Host2']);
  assert.deepEqual([...c.asgs.keys()], ['DEFAULT', 'ro', 'critical', 'empty']);
  const crit = c.asgs.get('critical')!;
  assert.equal(crit.inputs[0], 'LI:OPSTATE');
  assert.equal(crit.inputs[1], 'LI:lock.VAL');
  assert.equal(crit.inputs.filter((x) => x !== undefined).length, 2);
  assert.equal(crit.rules.length, 2);
  const [w, r] = crit.rules;
  assert.deepEqual({ level: w.level, access: w.access, trap: w.trapWrite, uags: w.uags, hags: w.hags, calc: w.calc?.text },
    { level: 1, access: WRITE, trap: true, uags: ['uag', 'ops'], hags: ['hag'], calc: 'A=1' });
  assert.deepEqual({ access: r.access, trap: r.trapWrite, uags: r.uags }, { access: READ, trap: false, uags: [] });
  assert.equal(w.pos.line, 16);
  assert.equal(c.asgs.get('ro')!.rules[0].access, NONE);
  assert.equal(c.asgs.get('ro')!.rules[0].level, 0);
  assert.equal(c.asgs.get('empty')!.rules.length, 0);
  // a file without ASG(DEFAULT) still has it, empty (no access for PVs that fall back to it)
  assert.deepEqual([...parseAcf('UAG(a) {b}').asgs.keys()], ['DEFAULT']);
  // an ASG(DEFAULT) may be given once; bare words may hold - + : . [ ] < > ;
  const d = parseAcf('HAG(h) {a-b.c+d:e[1]<2>;}\nASG(DEFAULT) {RULE(1,WRITE){HAG(h)}}');
  assert.deepEqual(d.hags.get('h')!.hosts, ['a-b.c+d:e[1]<2>;']);
  assert.equal(d.asgs.get('DEFAULT')!.rules.length, 1);
  // escapes are kept as written (as asLib does), a CALC may be a bare word
  assert.deepEqual(parseAcf('UAG(u) {"a\\"b"}').uags.get('u')!.users, ['a\\"b']);
  assert.equal(parseAcf('ASG(x) {INPA(pv) RULE(1,READ) {CALC(A)}}').asgs.get('x')!.rules[0].calc!.text, 'A');
});

test('parser: bad files name the file, line and column', () => {
  const bad: Array<[string, number, number, RegExp]> = [
    ['', 1, 1, /no UAG, HAG or ASG/],
    ['\n# only a comment\n', 3, 1, /no UAG, HAG or ASG/],
    ['UAG(a) {b,}', 1, 11, /expected a user name, found '}'/],
    ['UAG(a) {}', 1, 9, /expected a user name/],
    ['UAG a', 1, 5, /expected '\('/],
    ['UAG(a)\nUAG(a)', 2, 5, /duplicate user access group named 'a'/],
    ['HAG(h) {x}\nHAG(h) {y}', 2, 5, /duplicate host access group named 'h'/],
    ['ASG(x)\nASG(x)', 2, 5, /duplicate access security group named 'x'/],
    ['ASG(DEFAULT) {RULE(1,READ)}\nASG(DEFAULT)', 2, 5, /duplicate access security group named 'DEFAULT'/],
    ['ASG(x) {}', 1, 9, /expected INPA..INPL or RULE, found '}'/],
    ['ASG(x) {\n  RULE(1, ALL)\n}', 2, 11, /access rights must be NONE, READ or WRITE, not 'ALL'/],
    ['ASG(x) {\n  RULE(one, READ)\n}', 2, 8, /expected the rule level/],
    ['ASG(x) {\n  RULE(1, READ, LOG)\n}', 2, 17, /log options must be TRAPWRITE or NOTRAPWRITE/],
    ['ASG(x) {\n  RULE(1, WRITE) {\n    UAG(ops)\n  }\n}', 3, 9, /no user access group named 'ops' defined/],
    ['ASG(x) {\n  RULE(1, WRITE) { HAG(lab) }\n}', 2, 24, /no host access group named 'lab' defined/],
    ['ASG(x) {\n  RULE(1, WRITE) {}\n}', 2, 19, /expected UAG, HAG or CALC, found '}'/],
    ['ASG(x) {\n  INPM(pv)\n}', 2, 3, /expected INPA..INPL or RULE, found 'INPM'/],
    ['ASG(x) {\n  RULE(1, WRITE) { CALC("A:=1") }\n}', 2, 25, /assignment \(:=\) is not allowed in CALC expression "A:=1"/],
    ['ASG(x) {\n  RULE(1, WRITE) { CALC("A+") }\n}', 2, 25, /expression ends where an operand is needed/],
    ['ASG(x) {\n  RULE(1, WRITE) { CALC("FOO(1)") }\n}', 2, 25, /unknown name 'FOO'/],
    ['HAG(h) {"abc\n}', 1, 9, /newline in quoted string/],
    ['ASG(x) @', 1, 8, /invalid character '@'/],
    ['ASG(x) {\n  RULE(1,READ)\n', 3, 1, /found the end of the file/],
    ['RULE(1, READ)', 1, 1, /expected UAG, HAG or ASG, found 'RULE'/],
  ];
  for (const [text, line, column, why] of bad) {
    assert.throws(
      () => parseAcf(text, 'bad.acf'),
      (e: unknown) => {
        assert.ok(e instanceof AcfSyntaxError, `${JSON.stringify(text)}: ${String(e)}`);
        assert.equal(e.file, 'bad.acf');
        assert.deepEqual([e.line, e.column], [line, column], `${JSON.stringify(text)}: ${e.message}`);
        assert.match(e.reason, why, JSON.stringify(text));
        assert.ok(e.message.startsWith(`bad.acf:${line}:${column}: `), e.message);
        return true;
      },
    );
  }
});

test('parser: $(macro) substitutions', () => {
  const c = parseAcf('UAG(ops) {$(OPS)}\nASG(x) {INPA("${P}:lock") RULE(1,READ)}', 'm.acf', parseMacroList('OPS=alice, P=LAB'));
  assert.deepEqual(c.uags.get('ops')!.users, ['alice']);
  assert.equal(c.asgs.get('x')!.inputs[0], 'LAB:lock');
  assert.equal(parseAcf('UAG(u) {$(X=dflt)}', 'm.acf', {}).uags.get('u')!.users[0], 'dflt');
  assert.throws(() => parseAcf('UAG(ops)\n{$(OPS)}', 'm.acf', {}), /m\.acf:2:2: macro 'OPS' is not defined/);
  assert.throws(() => parseMacroList('OPS'), /bad macro definition/);
});

test('CALC: the EPICS expression subset', () => {
  const args = [1, 2, 3, 0, -4.5, 0, 0, 0, 0, 0, 0, 12];
  const cases: Array<[string, number]> = [
    ['1+2*3', 7],
    ['(1+2)*3', 9],
    ['2^3^2', 64], // left to right, as postfix.c
    ['2**3', 8],
    ['-2^2', 4], // unary minus binds tighter than ^ in EPICS
    ['7/2', 3.5],
    ['7%3', 1],
    ['A=1', 1],
    ['A==2', 0],
    ['A#B', 1],
    ['A!=A', 0],
    ['B<C && C<=3', 1],
    ['A>B || D', 0],
    ['!D', 1],
    ['!A', 0],
    ['A>0 ? B : C', 2],
    ['D ? B : C', 3],
    ['A ? B ? 5 : 6 : 7', 5],
    ['ABS(E)', 4.5],
    ['MAX(A,B,C)', 3],
    ['MIN(C, E, 7)', -4.5],
    ['L=12', 1],
    ['l=12', 1], // case-insensitive
    ['0x10|1', 17],
    ['6&3', 2],
    ['6 AND 3', 2],
    ['6 OR 1', 7],
    ['6 XOR 3', 5],
    ['1<<4', 16],
    ['-16>>2', -4],
    ['~0', -1],
    ['NOT 0', -1],
    ['FLOOR(2.7)+CEIL(2.2)', 5],
    ['NINT(2.5)', 3],
    ['SQRT(16)', 4],
    ['LOG(100)', 2],
    ['ATAN2(0, 1)', 0],
    ['FMOD(7, 4)', 3],
    ['ISNAN(NAN)', 1],
    ['FINITE(1, INF)', 0],
    ['VAL', 1],
    ['1e2', 100],
    ['.5*4', 2],
    ['AAND 3', 1], // a letter runs into a word operator: A AND 3
  ];
  for (const [text, want] of cases) {
    const c = compileCalc(text);
    assert.equal(c.evaluate(args, 1), want, text);
  }
  assert.ok(Number.isNaN(compileCalc('7%0').evaluate(args, 0)));
  assert.equal(compileCalc('A+B*L').inputsUsed, 1 | 2 | (1 << 11));
  assert.equal(compileCalc('PI>3').inputsUsed, 0);
  for (const bad of ['', 'A:=1', '1+', '(1', '1)', 'MAX()', 'ATAN2(1)', '1 2', 'A;B', 'M', 'FOO']) {
    assert.throws(() => compileCalc(bad), CalcError, bad);
  }
});

test('rules: the best passing rule wins, as asComputePvt', async () => {
  const p = await AccessPolicy.compile(parseAcf(FULL, 'site.acf'), { resolveHost: async () => [] });
  // DEFAULT and unknown groups
  assert.deepEqual(p.decide('DEFAULT', creds('anyone', 'anywhere')), { access: READ, trapWrite: false });
  assert.equal(p.decide('no-such-asg', creds('anyone', 'anywhere')).access, READ);
  assert.equal(p.decide(undefined, creds('anyone', 'anywhere')).access, READ);
  assert.equal(p.groupFor('no-such-asg'), 'DEFAULT');
  // HAG names match case-insensitively (asLib lower-cases both)
  assert.equal(p.decide('ro', creds('x', 'host2')).access, READ);
  assert.equal(p.decide('ro', creds('x', 'HOST1'.toLowerCase())).access, READ);
  assert.equal(p.decide('ro', creds('x', 'other')).access, NONE);
  // rule level: a level-0 rule does not apply to a level-1 PV
  assert.equal(p.decide('ro', creds('x', 'host1'), 1).access, READ);
  // CALC inputs start bad: the WRITE rule fails until INPA is 1
  assert.equal(p.decide('critical', creds('user1', 'host1')).access, READ);
  const a = { value: 0, valid: true, listeners: new Set<() => void>() };
  const input: InputSource = {
    read: () => ({ value: a.value, valid: a.valid }),
    subscribe: (f) => {
      a.listeners.add(f);
      return () => a.listeners.delete(f);
    },
  };
  const moved: string[] = [];
  p.bindInputs((name) => (name === 'LI:OPSTATE' ? input : undefined), (asg) => moved.push(asg));
  assert.equal(p.decide('critical', creds('user1', 'host1')).access, READ);
  const set = (v: number, valid = true): void => {
    a.value = v;
    a.valid = valid;
    for (const f of a.listeners) f();
  };
  set(1);
  assert.deepEqual(moved, ['critical']);
  assert.deepEqual(p.decide('critical', creds('user1', 'host1')), { access: WRITE, trapWrite: true });
  assert.equal(p.decide('critical', { users: ['bob', 'role/wheel'], host: 'host1' }).access, WRITE);
  assert.equal(p.decide('critical', creds('user3', 'host1')).access, READ);
  assert.equal(p.decide('critical', creds('user1', 'host9')).access, READ);
  set(1); // no change, no notice
  assert.equal(moved.length, 1);
  set(1, false); // INVALID: the rule fails
  assert.equal(p.decide('critical', creds('user1', 'host1')).access, READ);
  set(1, true);
  assert.equal(p.decide('critical', creds('user1', 'host1')).access, WRITE);
  set(2);
  assert.equal(p.decide('critical', creds('user1', 'host1')).access, READ);
  assert.deepEqual(p.describe('critical').inputs.map((i) => [i.input, i.valid]), [['INPA', true], ['INPB', false]]);
  p.unbindInputs();
  assert.equal(a.listeners.size, 0);
  // a CALC that reads no input is never computed, so never true (as in an IOC)
  const q = await AccessPolicy.compile(parseAcf('ASG(x) {RULE(1,WRITE) {CALC("1")}}'));
  q.bindInputs(() => undefined, () => {});
  assert.equal(q.decide('x', creds('u', 'h')).access, NONE);
});

test('rules: hosts by address, resolved names, IPv4-mapped peers', async () => {
  const cfg = parseAcf('HAG(lab) {127.0.0.1, labhost}\nASG(DEFAULT) {RULE(1,WRITE) {HAG(lab)}}');
  const p = await AccessPolicy.compile(cfg, { resolveHost: async (n) => (n === 'labhost' ? ['10.1.2.3'] : []) });
  assert.equal(p.decide('DEFAULT', creds('u', '127.0.0.1', '127.0.0.1')).access, WRITE);
  assert.equal(p.decide('DEFAULT', creds('u', '10.1.2.3', '10.1.2.3')).access, WRITE);
  assert.equal(p.decide('DEFAULT', creds('u', '10.1.2.4', '10.1.2.4')).access, NONE);
  // by claimed name (CA without checkClientIP): the name, not the addresses
  assert.equal(p.decide('DEFAULT', creds('u', 'labhost')).access, WRITE);
  assert.equal(p.decide('DEFAULT', creds('u', '10.1.2.3')).access, NONE);
  assert.equal(ipOf('::ffff:127.0.0.1'), '127.0.0.1');
  assert.equal(ipOf('127.0.0.1:5064'), '127.0.0.1');
  assert.equal(ipOf('[::1]:5075'), '::1');
  assert.equal(ipOf('somehost'), undefined);
  // a name that does not resolve is reported, and still matches by name
  const warnings: string[] = [];
  const r = await AccessPolicy.compile(parseAcf('HAG(h) {nowhere.invalid}\nASG(DEFAULT) {RULE(1,READ) {HAG(h)}}'), {
    resolveHost: async () => {
      throw new Error('ENOTFOUND');
    },
    warn: (m) => warnings.push(m),
  });
  assert.match(warnings.join('\n'), /host 'nowhere.invalid' does not resolve/);
  assert.equal(r.decide('DEFAULT', creds('u', 'nowhere.invalid')).access, READ);
});

test('gate: who is asking, per protocol; read-only; audit of writes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvtree-acf-'));
  try {
    const acf = join(dir, 'site.acf');
    writeFileSync(acf, 'UAG(ops) {alice, "role/operators"}\nHAG(lo) {127.0.0.1}\nASG(DEFAULT) {RULE(1,READ) RULE(1,WRITE,TRAPWRITE) {UAG(ops) HAG(lo)}}\n');
    const roles = new OsRoles({ passwd: 'carol:x:1001:2000::/home/carol:/bin/sh\n', group: 'operators:x:2000:\nother:x:2001:carol\n' });
    const audit = join(dir, 'audit.jsonl');
    const gate = await AccessGate.create({ acf, roles, audit, resolveHost: async () => [] });
    const res = { name: 'lab:Gain', path: 'Root.Gain', asg: 'DEFAULT' };
    const pva = (user: string, method = 'ca'): Requester => ({ protocol: 'pva', user, host: 'claimed', address: '127.0.0.1:40000', method });
    const ca = (user: string, host: string): Requester => ({ protocol: 'ca', user, host, address: '127.0.0.1:40001' });
    assert.equal(gate.rights(res, pva('alice')), WRITE); // pvAccess: matched by address
    assert.equal(gate.rights(res, pva('carol')), WRITE); // role/operators from the group files
    assert.equal(gate.rights(res, pva('carol', 'anonymous')), READ); // roles only for 'ca' accounts
    assert.equal(gate.rights(res, pva('bob')), READ);
    assert.equal(gate.rights(res, ca('alice', 'somehost')), READ); // CA: the claimed name
    assert.equal(gate.rights(res, ca('alice', '127.0.0.1')), WRITE);
    let value = 1;
    await gate.write(res, pva('alice'), { op: 'put', old: value, value: 2 }, () => {
      value = 2;
    });
    await assert.rejects(
      gate.write(res, pva('bob'), { op: 'put', old: value, value: 3 }, () => {
        value = 3;
      }),
      (e: Error & { accessDenied?: boolean }) => e.accessDenied === true && e.message === 'write access denied to lab:Gain for bob@127.0.0.1',
    );
    assert.equal(value, 2);
    await assert.rejects(gate.write(res, pva('alice'), { op: 'call', value: 'x' }, () => Promise.reject(new Error('hardware says no'))), /hardware says no/);
    gate.close();
    const lines = readFileSync(audit, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(lines.length, 3);
    assert.deepEqual(
      lines.map(({ pv, path, protocol, op, user, host, old, new: nw, result, trap }) => ({ pv, path, protocol, op, user, host, old, new: nw, result, trap })),
      [
        { pv: 'lab:Gain', path: 'Root.Gain', protocol: 'pva', op: 'put', user: 'alice', host: '127.0.0.1', old: 1, new: 2, result: 'ok', trap: true },
        { pv: 'lab:Gain', path: 'Root.Gain', protocol: 'pva', op: 'put', user: 'bob', host: '127.0.0.1', old: 2, new: 3, result: 'denied', trap: undefined },
        { pv: 'lab:Gain', path: 'Root.Gain', protocol: 'pva', op: 'call', user: 'alice', host: '127.0.0.1', old: undefined, new: 'x', result: 'error', trap: true },
      ],
    );
    assert.ok(!Number.isNaN(Date.parse(lines[0].time as string)));
    assert.equal(lines[2].error, 'hardware says no');
    // read-only: at most READ, for everyone, with or without a file
    const ro = await AccessGate.create({ acf, readOnly: true, roles: false, resolveHost: async () => [] });
    assert.equal(ro.rights(res, pva('alice')), READ);
    const ro2 = await AccessGate.create({ readOnly: true });
    assert.equal(ro2.rights(res, pva('anyone')), READ);
    const open = await AccessGate.create({});
    assert.equal(open.rights(res, pva('anyone')), WRITE);
    // checkClientIP: CA clients by address
    const ip = await AccessGate.create({ acf, checkClientIP: true, roles: false, resolveHost: async () => [] });
    assert.equal(ip.rights(res, ca('alice', 'somehost')), WRITE);
    assert.equal(ip.rights(res, { ...ca('alice', 'somehost'), address: '10.0.0.9:5000' }), READ);
    // trapped writes without an audit file go to the log
    const logged: string[] = [];
    const t = await AccessGate.create({ acf, roles: false, resolveHost: async () => [], logger: { info: (m) => logged.push(m), warn() {}, error() {} } });
    await t.write(res, pva('alice'), { op: 'put', old: 1, value: 5 }, () => {});
    assert.ok(logged.some((l) => l.startsWith('audit {') && l.includes('"trap":true') && l.includes('"new":5')), logged.join('\n'));
    // a reload with an error keeps the rules in force
    writeFileSync(acf, 'ASG(DEFAULT) {RULE(1, WRITE) { UAG(nope) }}');
    await assert.rejects(t.reload(), /site\.acf:1:36: no user access group named 'nope'/);
    assert.equal(t.rights(res, pva('alice')), WRITE);
    let told = 0;
    t.onChange(() => told++);
    writeFileSync(acf, 'ASG(DEFAULT) {RULE(1, READ)}');
    await t.reload();
    assert.equal(told, 1);
    assert.equal(t.rights(res, pva('alice')), READ);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('audit log: one JSON line per record, rotated by size', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvtree-audit-'));
  try {
    const file = join(dir, 'audit.jsonl');
    writeFileSync(file, '{"earlier":true}\n'); // append-only: what is there stays
    const log = new AuditLog(file, { maxBytes: 1024, keep: 2 });
    const rec = (i: number) => ({
      time: new Date(0).toISOString(), pv: `pv${i}`, path: 'Root.X', protocol: 'ca', op: 'put' as const,
      user: 'u', host: 'h', old: 10n ** 20n, new: Float64Array.of(i, 0.5), result: 'ok' as const,
    });
    for (let i = 0; i < 40; i++) log.write(rec(i));
    log.close();
    const files = readdirSync(dir).sort();
    assert.deepEqual(files, ['audit.jsonl', 'audit.jsonl.1', 'audit.jsonl.2']);
    const all = [join(dir, 'audit.jsonl.2'), join(dir, 'audit.jsonl.1'), file].flatMap((f) => readFileSync(f, 'utf8').trim().split('\n'));
    for (const f of files) assert.ok(readFileSync(join(dir, f)).length <= 1024, f);
    const parsed = all.map((l) => JSON.parse(l) as { pv: string; old: string; new: number[] });
    // the newest records are all there, in order; the oldest were dropped with the third rotation
    const pvs = parsed.map((p) => p.pv);
    assert.equal(pvs.at(-1), 'pv39');
    for (let i = 1; i < pvs.length; i++) assert.equal(Number(pvs[i].slice(2)), Number(pvs[i - 1].slice(2)) + 1);
    assert.equal(parsed.at(-1)!.old, '100000000000000000000');
    assert.deepEqual(parsed.at(-1)!.new, [39, 0.5]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the README's example file parses, and means what the README says", async () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const m = /```\n(# site\.acf[\s\S]*?)```/.exec(readme);
  assert.ok(m, 'the example access security file in README.md');
  const cfg = parseAcf(m[1], 'README.md');
  assert.deepEqual([...cfg.asgs.keys()], ['DEFAULT', 'ctl', 'expert']);
  const p = await AccessPolicy.compile(cfg, { resolveHost: async (n) => (n === 'opi1' ? ['10.0.1.5'] : []) });
  let a = 0;
  const listeners = new Set<() => void>();
  p.bindInputs(
    (n) => (n === 'lab:Board:Interlock' ? { read: () => ({ value: a, valid: true }), subscribe: (f) => (listeners.add(f), () => listeners.delete(f)) } : undefined),
    () => {},
  );
  const alice = { users: ['alice'], host: '10.0.1.5', ip: '10.0.1.5' };
  assert.deepEqual(p.decide('ctl', alice), { access: WRITE, trapWrite: true });
  assert.equal(p.decide('ctl', { ...alice, host: '10.9.9.9', ip: '10.9.9.9' }).access, READ);
  assert.equal(p.decide('ctl', { users: ['dave', 'role/operators'], host: '10.0.1.17', ip: '10.0.1.17' }).access, WRITE);
  a = 1;
  for (const f of listeners) f();
  assert.equal(p.decide('ctl', alice).access, READ);
  assert.equal(p.decide('expert', alice).access, NONE);
  assert.equal(p.decide('expert', { users: ['carol'], host: 'x' }).access, WRITE);
});
