// Per-process figures from /proc for the benchmarks: CPU time, CPU share over a window, RSS.
import { readFileSync } from 'node:fs';

const CLK_TCK = 100;

/** utime + stime of a process, in clock ticks (fields 14 and 15 of /proc/PID/stat). */
export function cpuTicks(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' '); // comm may hold spaces and parentheses
  return Number(rest[11]) + Number(rest[12]);
}

/** The share of one core a process used over the next `ms` milliseconds, in percent. */
export async function cpuPercentOver(pid: number, ms: number): Promise<number> {
  const t0 = cpuTicks(pid);
  const w0 = Date.now();
  await new Promise((r) => setTimeout(r, ms));
  return ((cpuTicks(pid) - t0) / CLK_TCK / ((Date.now() - w0) / 1000)) * 100;
}

/** Resident memory of a process, in MB (VmRSS). */
export function rssMb(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
}
