// Channel Access long strings (the EPICS `NAME.$` convention) end to end: every PV whose CA value is a
// string is also served as `NAME.$`, a DBR_CHAR array of the whole value, so a string that grows past
// the 39 bytes of DBR_STRING after start stays readable in full (pyepics; base caget -S / caput -S when
// PVA_PEER_BIN names a folder holding them). The plain name keeps the first 39 bytes, as an IOC does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { SEARCH_DO_REPLY, answerUdpDatagram, concatBytes, decodeDatagram, encodeMessage, type CaSource } from '../../src/ca/index.ts';
import { Device, LocalCommand, LocalVariable, Root } from '../../src/tree/index.ts';
import { SKIP_PYEPICS, caEnv, havePyepics, py, serveCa } from './ca-util.ts';

const LONG_CHOICE = 'a state name far longer than the thirty-nine bytes of DBR_STRING';

function buildRoot(calls: unknown[]): Root {
  const root = new Root({ name: 'R', pollEn: false });
  const d = new Device({ name: 'D' });
  root.add(d);
  d.add(new LocalVariable({ name: 'grow', typeStr: 'str', value: 'short' }));
  d.add(new LocalVariable({ name: 'startLong', typeStr: 'str', value: 's'.repeat(45) }));
  d.add(new LocalVariable({ name: 'num', typeStr: 'Float64', value: 1.5 }));
  d.add(new LocalVariable({ name: 'mode', typeStr: 'UInt8', value: 1, enum: { 0: 'Off', 1: 'On' } }));
  d.add(new LocalVariable({ name: 'state', typeStr: 'UInt8', value: 1, enum: { 0: 'Idle', 1: LONG_CHOICE } }));
  d.add(new LocalVariable({ name: 'wide', typeStr: 'UInt128', value: 2n ** 127n + 1n }));
  d.add(new LocalCommand<string, void>({ name: 'load', argType: 'str', function: ({ arg }) => void calls.push(arg) }));
  return root;
}

/** Which names the server answers, asked the way a CA client does: one UDP search datagram with DO_REPLY. */
function searchAnswers(source: CaSource, names: string[]): Record<string, 'found' | 'not found'> {
  const q = concatBytes([
    encodeMessage({ kind: 'version', priority: 0, minorVersion: 13, sequence: 0 }),
    ...names.map((name, cid) => encodeMessage({ kind: 'search', reply: SEARCH_DO_REPLY, minorVersion: 13, cid, name })),
  ]);
  const r = answerUdpDatagram(q, source, 5064);
  assert.ok(r.reply, 'a reply datagram');
  const out: Record<string, 'found' | 'not found'> = {};
  for (const m of decodeDatagram(r.reply, 's2c')) {
    assert.ok(m.ok);
    if (m.message.kind === 'searchReply') out[names[m.message.cid]!] = 'found';
    else if (m.message.kind === 'notFound') out[names[m.message.cid]!] = 'not found';
  }
  return out;
}

test('CA NAME.$: answered for string PVs only', async () => {
  const root = buildRoot([]);
  const s = await serveCa(root, { protocols: ['ca'] });
  try {
    const P = 'test:R:D:';
    const names = ['grow', 'startLong', 'state', 'wide', 'load', 'num', 'mode'].map((n) => `${P}${n}.$`);
    assert.deepEqual(searchAnswers(s.server.caServer!.source, names), {
      [`${P}grow.$`]: 'found',
      [`${P}startLong.$`]: 'found',
      [`${P}state.$`]: 'found',
      [`${P}wide.$`]: 'found',
      [`${P}load.$`]: 'found',
      [`${P}num.$`]: 'not found',
      [`${P}mode.$`]: 'not found',
    });
  } finally {
    await s.close();
  }
});

test('CA NAME.$ with pyepics: a string that grows past 39 bytes, monitors, writes, enums and commands', { timeout: 90000 }, async (t) => {
  if (!havePyepics) return t.skip(SKIP_PYEPICS);
  const calls: unknown[] = [];
  const root = buildRoot(calls);
  const s = await serveCa(root);
  const grow = root.getNode('R.D.grow') as LocalVariable;
  const G150 = 'g'.repeat(100) + ' and then fifty characters more, ending here: END.';
  const UTF = 'Größe über vierzig Bytes: ÄÖÜäöüß ÄÖÜäöüß — µm';
  try {
    const { o, r } = await py(
      s.caPort,
      `
P = 'test:R:D:'
# pyepics reads a char array as text one byte per character: undo that to get UTF-8 back
def text(name):
    return g(name, as_string=True).encode('latin-1').decode('utf-8')
out = {}
for n in ['grow', 'startLong', 'state', 'wide', 'load']:
    out[n + '_type'] = ftype(P + n)
    out[n + '_dollar_type'] = ftype(P + n + '.$')
out['grow_start'] = g(P + 'grow.$', as_string=True)
seen = []
def cb(pvname=None, char_value=None, **kw):
    seen.append(char_value)
m = epics.PV(P + 'grow.$', callback=cb, auto_monitor=True)
m.wait_for_connection(5)
t0 = time.time()
while time.time() - t0 < 5 and 'short' not in seen:
    time.sleep(0.02)
print('GROW', flush=True)
t0 = time.time()
while time.time() - t0 < 10 and ${JSON.stringify(G150)} not in seen:
    time.sleep(0.02)
out['grown_plain'] = g(P + 'grow')
out['grown_dollar'] = g(P + 'grow.$', as_string=True)
out['grown_count'] = len(epics.caget(P + 'grow.$', timeout=5))
print('UTF', flush=True)
t0 = time.time()
while time.time() - t0 < 10 and not any(v and v.startswith('Gr') for v in seen):
    time.sleep(0.02)
out['utf'] = text(P + 'grow.$')
out['utf_plain'] = g(P + 'grow')
out['seen'] = [v.encode('latin-1').decode('utf-8') for v in seen]
out['put_ascii'] = p(P + 'grow.$', 'written by pyepics through NAME.$, far longer than forty characters')
out['put_utf8'] = p(P + 'startLong.$', list('Schöne Grüße, länger als neununddreißig Bytes'.encode('utf-8')) + [0])
out['startLong'] = text(P + 'startLong')
out['state_plain'] = g(P + 'state')
out['state_dollar'] = g(P + 'state.$', as_string=True)
out['wide_dollar'] = g(P + 'wide.$', as_string=True)
out['put_load'] = p(P + 'load.$', '/data/runs/2024/a/path/name/longer/than/thirty/nine/bytes.dat')
m.clear_callbacks()
print(json.dumps(out))
`,
      75000,
      (line) => {
        if (line === 'GROW') void grow.set(G150);
        if (line === 'UTF') void grow.set(UTF);
      },
    );
    const ctx = `\nstderr: ${r.stderr}`;
    assert.equal(o.grow_type, 'string', `short at start: DBR_STRING${ctx}`);
    assert.equal(o.grow_dollar_type, 'char');
    assert.equal(o.startLong_type, 'char', '45 bytes at start: a char array under the plain name too');
    assert.equal(o.startLong_dollar_type, 'char');
    assert.equal(o.state_type, 'string', 'an enum with a choice of more than 25 bytes is a DBR_STRING');
    assert.equal(o.state_dollar_type, 'char');
    assert.equal(o.wide_type, 'string');
    assert.equal(o.wide_dollar_type, 'char');
    assert.equal(o.load_type, 'string');
    assert.equal(o.load_dollar_type, 'char');
    assert.equal(o.grow_start, 'short');
    assert.equal(o.grown_plain, G150.slice(0, 39), 'the plain name shows the first 39 bytes');
    assert.equal(o.grown_dollar, G150, 'NAME.$ the whole value');
    assert.equal(o.grown_count, G150.length + 1, 'a count-0 read returns the value and its NUL');
    assert.equal(o.utf, UTF);
    let fits = '';
    for (const ch of UTF) if (Buffer.byteLength(fits + ch) <= 39) fits += ch; else break;
    assert.equal(o.utf_plain, fits, 'the plain name: the whole characters that fit 39 bytes');
    const seen = o.seen as string[];
    assert.deepEqual(seen.slice(0, 1), ['short']);
    assert.ok(seen.includes(G150) && seen.includes(UTF), `the monitor of NAME.$ followed the growth: ${JSON.stringify(seen)}`);
    assert.equal(o.put_ascii, 1);
    assert.equal(grow.value, 'written by pyepics through NAME.$, far longer than forty characters');
    assert.equal(o.put_utf8, 1);
    assert.equal((root.getNode('R.D.startLong') as LocalVariable).value, 'Schöne Grüße, länger als neununddreißig Bytes');
    assert.equal(o.startLong, 'Schöne Grüße, länger als neununddreißig Bytes');
    assert.equal(o.state_plain, LONG_CHOICE.slice(0, 39));
    assert.equal(o.state_dollar, LONG_CHOICE);
    assert.equal(o.wide_dollar, String(2n ** 127n + 1n));
    assert.equal(o.put_load, 1);
    assert.deepEqual(calls, ['/data/runs/2024/a/path/name/longer/than/thirty/nine/bytes.dat']);
  } finally {
    await s.close();
  }
});

test('CA NAME.$ beyond its bound: the value is cut at a character boundary and the server says so once', { timeout: 60000 }, async (t) => {
  if (!havePyepics) return t.skip(SKIP_PYEPICS);
  const root = buildRoot([]);
  const s = await serveCa(root, { protocols: ['ca'] });
  const grow = root.getNode('R.D.grow') as LocalVariable;
  try {
    // 4096 elements: room for 4095 bytes and the NUL. 'é' is two bytes, so 4095 bytes would end
    // mid-character: the value is cut after 2047 of them (4094 bytes).
    await grow.set('é'.repeat(2500));
    const { o, r } = await py(
      s.caPort,
      `
v = epics.caget('test:R:D:grow.$', timeout=5)
print(json.dumps({'count': len(v), 'last': int(v[-1]), 'text': bytes(v.tolist()[:-1]).decode('utf-8')}))
`,
    );
    assert.equal(o.count, 4095, `2 x 2047 bytes, then the NUL\nstderr: ${r.stderr}`);
    assert.equal(o.last, 0);
    assert.equal(o.text, 'é'.repeat(2047));
    const warnings = s.log.lines.filter((l) => l.startsWith('warn:') && l.includes('test:R:D:grow'));
    assert.equal(warnings.length, 1, s.log.lines.join('\n'));
    assert.match(warnings[0]!, /5000 bytes long; CA clients get its first 4095 bytes/);
  } finally {
    await s.close();
  }
});

const BIN = process.env.PVA_PEER_BIN;
const SKIP_BASE =
  BIN && existsSync(join(BIN, 'caget')) && existsSync(join(BIN, 'caput'))
    ? false
    : 'set PVA_PEER_BIN to a folder with EPICS base caget and caput to run this check';

function run(tool: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(join(BIN!, tool), args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

test('CA NAME.$ with EPICS base: caget -S and caput -S', { skip: SKIP_BASE, timeout: 90000 }, async () => {
  const root = buildRoot([]);
  const s = await serveCa(root, { protocols: ['ca'] });
  const env = await caEnv(s.caPort);
  // libca starts a caRepeater found on PATH and leaves it running: run our own, stopped at the end
  const repeater = existsSync(join(BIN!, 'caRepeater')) ? spawn(join(BIN!, 'caRepeater'), [], { env, stdio: 'ignore' }) : undefined;
  const grow = root.getNode('R.D.grow') as LocalVariable;
  const P = 'test:R:D:grow';
  const LONG = 'a string that grew after start to well over one hundred characters: ' + 'x'.repeat(40) + ' END';
  try {
    let r = await run('caget', ['-S', `${P}.$`], env);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, new RegExp(`^${P}\\.\\$ short\\n$`));
    await grow.set(LONG);
    r = await run('caget', ['-S', `${P}.$`], env);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, `${P}.$ ${LONG}\n`);
    r = await run('caget', [P], env);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, new RegExp(`^${P}\\s+${LONG.slice(0, 39)}\\n$`), 'the plain name: the first 39 characters');
    const PUT = 'written by caput -S through NAME.$, longer than thirty-nine characters';
    r = await run('caput', ['-S', `${P}.$`, PUT], env);
    assert.equal(r.code, 0, r.err);
    assert.ok(r.out.includes(`\nNew : ${P}.$ ${PUT}\n`), r.out);
    assert.equal(grow.value, PUT);
  } finally {
    repeater?.kill();
    await s.close();
  }
});
