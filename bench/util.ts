// Helpers the benchmarks share: number formatting, markdown tables, the loopback-only EPICS
// environment for child processes, and a process's CPU time and resident memory from /proc.
import { readFileSync } from 'node:fs';

/** A number with thousands separators and `d` decimals. */
export const fmt = (n: number, d = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

/** Prints a markdown table under a title: the first column left-aligned, the others right-aligned. */
export function table(title: string, head: string[], rows: string[][]): void {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => '| ' + r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join(' | ') + ' |';
  console.log(`\n${title}\n`);
  console.log(line(head));
  console.log('|' + w.map((n, i) => (i === 0 ? ':' : '') + '-'.repeat(n + 1) + (i === 0 ? '' : ':')).join('|') + '|');
  for (const r of rows) console.log(line(r));
}

/** The environment for a child serving or searching pvAccess on 127.0.0.1 only, on these ports. */
export function loopEnv(tcp: number, udp: number): NodeJS.ProcessEnv {
  return {
    ...process.env,
    EPICS_PVAS_SERVER_PORT: String(tcp),
    EPICS_PVAS_BROADCAST_PORT: String(udp),
    EPICS_PVAS_INTF_ADDR_LIST: '127.0.0.1',
    EPICS_PVAS_BEACON_ADDR_LIST: '127.0.0.1',
    EPICS_PVAS_AUTO_BEACON_ADDR_LIST: 'NO',
    EPICS_PVA_ADDR_LIST: '127.0.0.1',
    EPICS_PVA_AUTO_ADDR_LIST: 'NO',
    EPICS_PVA_BROADCAST_PORT: String(udp),
    EPICS_PVA_SERVER_PORT: String(tcp),
  };
}

/** CPU seconds (user + system, all threads) a process has used, from /proc; NaN once it is gone. */
export function cpuSeconds(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return NaN;
  }
}

/** Resident memory of a process in MB, from /proc; NaN once it is gone. */
export function rssMB(pid: number | undefined): number {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}
