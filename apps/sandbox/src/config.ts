/**
 * The worker's configuration, read once from the environment: every problem reported at once,
 * a frozen object returned. Nothing else in the sandbox reads process.env.
 */
import { hostname } from 'node:os';

export interface SandboxConfig {
  intelUrl: string;
  workerKey: string;
  workerId: string;
  waitS: number;
  maxWallClockS: number;
  workDir: string | null;
}

export function loadConfig(env: Record<string, string | undefined>): Readonly<SandboxConfig> {
  const problems: string[] = [];
  const intelUrl = env['YAMORI_INTEL_URL'] ?? '';
  if (!/^https?:\/\/[^\s]+$/.test(intelUrl))
    problems.push('YAMORI_INTEL_URL must be an http(s) URL of the intel service');
  const workerKey = env['YAMORI_SANDBOX_KEY'] ?? '';
  if (workerKey.length < 8)
    problems.push('YAMORI_SANDBOX_KEY must hold the worker key issued by intel (8+ characters)');
  const int = (name: string, dflt: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return dflt;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(`${name} must be an integer between ${min} and ${max}`);
      return dflt;
    }
    return n;
  };
  const waitS = int('YAMORI_SANDBOX_WAIT_S', 20, 0, 60);
  const maxWallClockS = int('YAMORI_SANDBOX_MAX_WALL_S', 120, 1, 600);
  const workerId = env['YAMORI_SANDBOX_WORKER_ID'] || `${hostname()}-${process.pid}`;
  if (workerId.length > 128) problems.push('YAMORI_SANDBOX_WORKER_ID must be at most 128 characters');
  const workDir = env['YAMORI_SANDBOX_WORK_DIR'] || null;
  if (workDir !== null && !workDir.startsWith('/'))
    problems.push('YAMORI_SANDBOX_WORK_DIR must be an absolute path');
  if (problems.length > 0) throw new Error(`invalid sandbox configuration:\n  - ${problems.join('\n  - ')}`);
  return Object.freeze({ intelUrl, workerKey, workerId, waitS, maxWallClockS, workDir });
}
