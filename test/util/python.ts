// Inline Python scripts for end-to-end tests with real clients (pyepics): bounded, killed on timeout.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { freeUdpPort } from './net.ts';

/** Debian's interpreter, where python3-pyepics lives (the python3 first on PATH may lack it). */
export const PYTHON = '/usr/bin/python3';

export interface PyResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs an inline Python script, killed after `timeoutMs`; `onLine` sees each stdout line as it comes. */
export function runPython(script: string, env: NodeJS.ProcessEnv, timeoutMs: number, onLine?: (line: string) => void): Promise<PyResult> {
  return new Promise((resolve) => {
    const child = spawn(PYTHON, ['-u', '-c', script], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let partial = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      partial += d.toString();
      let i: number;
      while ((i = partial.indexOf('\n')) >= 0) {
        const line = partial.slice(0, i);
        partial = partial.slice(i + 1);
        onLine?.(line);
      }
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      stderr += `\n[killed after ${timeoutMs} ms]`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The last JSON object line a script printed. */
export function lastJson(r: PyResult): Record<string, unknown> {
  const line = r.stdout
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('{'));
  assert.ok(line, `no JSON output; exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return JSON.parse(line) as Record<string, unknown>;
}

export const havePyepics = ((): boolean => {
  try {
    return spawnSync(PYTHON, ['-c', 'import epics'], { timeout: 20000, stdio: 'ignore' }).status === 0;
  } catch {
    return false;
  }
})();

export const SKIP_PYEPICS = 'python3-pyepics not installed: apt-get install -y python3-pyepics';

/** A loopback-only CA client environment for a server on `port`. */
export async function caEnv(port: number, extra: Record<string, string> = {}): Promise<NodeJS.ProcessEnv> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('EPICS_')) env[k] = v;
  return {
    ...env,
    EPICS_CA_AUTO_ADDR_LIST: 'NO',
    EPICS_CA_ADDR_LIST: '127.0.0.1',
    EPICS_CA_SERVER_PORT: String(port),
    EPICS_CA_REPEATER_PORT: String(await freeUdpPort()),
    ...extra,
  };
}

/** Python helpers: j() makes values JSON-able, g() is caget, p() is caput(wait=True) returning 'EXC: …' on errors. */
export const PY_PRELUDE = `
import json, math, sys, time
import epics
from epics import ca, dbr
# pyepics race (seen with 3.4.1): PV.__init__ reads the field type right after creating the channel
# and stores it after the connection callback may already have stored the right one; when the
# channel connected in between (within microseconds over a TCP name server), the PV keeps the type
# of an unconnected channel (-1, so DBR_STS_DOUBLE for form='time') and its get then fails inside
# pyepics. Re-derive the type once __init__ is done if the channel is connected by then.
_pv_init = epics.PV.__init__
def _pv_init_fixed(self, *a, **kw):
    _pv_init(self, *a, **kw)
    if self.chid is not None and ca.field_type(self.chid) >= 0:
        self.ftype = ca.promote_type(self.chid, use_ctrl=self.form == 'ctrl', use_time=self.form == 'time')
        self._args['type'] = dbr.Name(self.ftype).lower()
epics.PV.__init__ = _pv_init_fixed
def j(v):
    if hasattr(v, 'tolist'):
        v = v.tolist()
    if isinstance(v, float) and math.isnan(v):
        return 'NaN'
    if isinstance(v, dict):
        return {k: j(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [j(x) for x in v]
    if isinstance(v, bytes):
        return v.decode()
    return v
def g(name, **kw):
    return j(epics.caget(name, timeout=5, **kw))
def p(name, value, **kw):
    try:
        return j(epics.caput(name, value, wait=True, timeout=5, **kw))
    except Exception as e:
        return 'EXC: %s' % e
def ftype(name):
    ch = ca.create_channel(name, connect=True)
    ca.connect_channel(ch, timeout=5)
    n = dbr.Name(ca.field_type(ch)).lower()
    return 'short' if n == 'int' else n  # DBR_SHORT and DBR_INT are both 1
`;
