// Test support for the sensor tests (real kernel, run as root). Marks are scoped to a private
// tmpfs mounted for the test, so a test gate never sees another engineer's execs, and every
// mount is undone even when a test fails.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadLinuxSensors } from '../index.ts';
import type { LinuxSensors } from '../types.ts';

export const isRoot = process.getuid?.() === 0;

/** The sensors, or the reason the suite must be skipped (not root) — an unloadable addon fails. */
export function sensorsOrSkip(): { sensors?: LinuxSensors; skip?: string } {
  if (!isRoot) return { skip: 'needs root (fanotify, proc connector)' };
  const r = loadLinuxSensors();
  if (r.available) return { sensors: r.sensors };
  if (process.env['YAMORI_SENSOR_OPTIONAL'] === '1') return { skip: r.reason };
  throw new Error(`sensor addon unavailable: ${r.reason}`);
}

/** Diagnostic only: the kernel warns when a permission event stays unanswered this long. */
export function setFanotifyWatchdog(seconds = 5): void {
  try {
    writeFileSync('/proc/sys/fs/fanotify/watchdog_timeout', String(seconds));
  } catch {
    // older kernels have no watchdog
  }
}

export interface Scratch {
  dir: string;
  /** Copy /bin/true (or `source`) to dir/name, executable. */
  binary(name: string, source?: string): string;
  cleanup(): void;
}

export function mountScratch(): Scratch {
  const dir = mkdtempSync(join(tmpdir(), 'yamori-sensor-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=32m,mode=0755', 'yamori-sensor-test', dir]);
  return {
    dir,
    binary(name, source = '/bin/true') {
      const path = join(dir, name);
      copyFileSync(source, path);
      chmodSync(path, 0o755);
      return path;
    },
    cleanup() {
      try {
        execFileSync('umount', ['-l', dir]);
      } catch {
        // already gone
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  pid: number;
  ms: number;
  stdout: string;
}

/** Run a shell command in a child (sh itself lives on an unmarked fs): never blocks our loop. */
export function sh(
  script: string,
  options: { timeoutMs?: number; onSpawn?: (pid: number) => void } = {},
): Promise<RunResult> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', script], { stdio: ['ignore', 'pipe', 'ignore'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`timed out: ${script}`));
    }, options.timeoutMs ?? 15000);
    if (child.pid !== undefined) options.onSpawn?.(child.pid);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, pid: child.pid ?? -1, ms: performance.now() - started, stdout });
    });
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function waitFor(cond: () => boolean, timeoutMs = 5000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (cond()) return true;
    await sleep(10);
  }
  return cond();
}
