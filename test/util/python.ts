// Inline Python scripts for end-to-end tests with real clients (pyepics): bounded, killed on timeout.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';

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
