/**
 * Resource limits for one detonation: a cgroup under `<cgroup mount>/yamori-sandbox/<job>`
 * (cgroup v2 when its cpu, memory and pids controllers are available; the v1 pids/memory/cpu
 * hierarchies on hybrid hosts), or rlimits through prlimit when neither is writable. The
 * sandbox's first process writes its own pid into `procFiles` before it execs the rest.
 */
import { mkdir, readFile, readdir, rmdir, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

export interface LimitSpec {
  memoryBytes: number;
  pids: number;
  /** Percent of one CPU. */
  cpuPercent: number;
}

export interface Limits {
  kind: 'cgroup-v2' | 'cgroup-v1' | 'rlimit';
  /** `cgroup.procs` files the sandbox joins. */
  procFiles: string[];
  /** Extra prlimit arguments (the rlimit fallback). */
  prlimitArgs: string[];
  /** What could not be enforced, for the report; null when everything is. */
  note: string | null;
  pidsLimitHit(): Promise<boolean>;
  memoryLimitHit(): Promise<boolean>;
  /** SIGKILLs every process in the cgroup until it is empty. */
  killAll(): Promise<void>;
  /** Kills what is left and removes the cgroup directories. */
  remove(): Promise<void>;
}

export interface Mount {
  path: string;
  fstype: string;
  options: string[];
}

export async function cgroupMounts(): Promise<Mount[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  const out: Mount[] = [];
  for (const line of text.split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const f = left.split(' ');
    const r = right.split(' ');
    const fstype = r[0] ?? '';
    if (fstype !== 'cgroup' && fstype !== 'cgroup2') continue;
    out.push({ path: unescapeMount(f[4] ?? ''), fstype, options: (r[2] ?? '').split(',') });
  }
  return out;
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

const ID_OK = /^[A-Za-z0-9._-]{1,64}$/;

/** `mounts` defaults to this host's cgroup mounts (tests pass directories that stand in for them). */
export async function createLimits(jobId: string, spec: LimitSpec, mounts?: Mount[]): Promise<Limits> {
  const id = ID_OK.test(jobId) ? jobId : `job-${Buffer.from(jobId).toString('hex').slice(0, 40)}`;
  mounts ??= await cgroupMounts();
  const problems: string[] = [];
  for (const m of mounts.filter((x) => x.fstype === 'cgroup2')) {
    const v2 = await tryV2(m.path, id, spec).catch((e: unknown) => {
      problems.push(`cgroup v2 at ${m.path}: ${(e as Error).message}`);
      return null;
    });
    if (v2) return v2;
  }
  const v1 = await tryV1(mounts, id, spec).catch((e: unknown) => {
    problems.push(`cgroup v1: ${(e as Error).message}`);
    return null;
  });
  if (v1) return v1;
  return rlimitFallback(spec, problems.join('; ') || 'no cgroup hierarchy mounted');
}

async function tryV2(root: string, id: string, spec: LimitSpec): Promise<Limits | null> {
  const controllers = (await readFile(`${root}/cgroup.controllers`, 'utf8')).trim().split(/\s+/);
  const need = ['cpu', 'memory', 'pids'];
  const missing = need.filter((c) => !controllers.includes(c));
  if (missing.length > 0) throw new Error(`controllers ${missing.join(', ')} not available`);
  const parent = `${root}/yamori-sandbox`;
  await writeFile(`${root}/cgroup.subtree_control`, need.map((c) => `+${c}`).join(' '));
  await mkdir(parent, { recursive: true });
  await writeFile(`${parent}/cgroup.subtree_control`, need.map((c) => `+${c}`).join(' '));
  const dir = `${parent}/${id}`;
  await mkdir(dir);
  try {
    await writeFile(`${dir}/memory.max`, String(spec.memoryBytes));
    await writeFile(`${dir}/memory.swap.max`, '0').catch(() => undefined);
    await writeFile(`${dir}/pids.max`, String(spec.pids));
    await writeFile(`${dir}/cpu.max`, `${Math.round(spec.cpuPercent * 1000)} 100000`);
  } catch (e) {
    await rmdir(dir).catch(() => undefined);
    throw e;
  }
  const procs = `${dir}/cgroup.procs`;
  const killAll = async (): Promise<void> => {
    const ok = await writeFile(`${dir}/cgroup.kill`, '1').then(
      () => true,
      () => false,
    );
    await killLoop([procs], ok ? 20 : 100);
  };
  return {
    kind: 'cgroup-v2',
    procFiles: [procs],
    prlimitArgs: [],
    note: null,
    pidsLimitHit: async () => eventCount(`${dir}/pids.events`, 'max'),
    memoryLimitHit: async () =>
      (await eventCount(`${dir}/memory.events`, 'max')) || eventCount(`${dir}/memory.events`, 'oom_kill'),
    killAll,
    remove: async () => {
      await killAll();
      await rmdirRetry(dir);
    },
  };
}

async function tryV1(mounts: Mount[], id: string, spec: LimitSpec): Promise<Limits | null> {
  const find = (c: string): string | null =>
    mounts.find((m) => m.fstype === 'cgroup' && m.options.includes(c))?.path ?? null;
  const pidsRoot = find('pids');
  const memRoot = find('memory');
  const cpuRoot = find('cpu');
  if (!pidsRoot) throw new Error('no pids hierarchy');
  const dirs: string[] = [];
  const made = async (root: string): Promise<string> => {
    const dir = `${root}/yamori-sandbox/${id}`;
    await mkdir(dir, { recursive: true });
    dirs.push(dir);
    return dir;
  };
  const notes: string[] = [];
  try {
    const p = await made(pidsRoot);
    await writeFile(`${p}/pids.max`, String(spec.pids));
    let memDir: string | null = null;
    if (memRoot) {
      memDir = await made(memRoot);
      await writeFile(`${memDir}/memory.limit_in_bytes`, String(spec.memoryBytes));
      await writeFile(`${memDir}/memory.memsw.limit_in_bytes`, String(spec.memoryBytes)).catch(
        () => undefined,
      );
    } else notes.push('no memory controller (v1): RLIMIT_AS used');
    if (cpuRoot && cpuRoot !== memRoot && cpuRoot !== pidsRoot) {
      const c = await made(cpuRoot);
      await writeFile(`${c}/cpu.cfs_period_us`, '100000');
      await writeFile(`${c}/cpu.cfs_quota_us`, String(Math.round(spec.cpuPercent * 1000)));
    } else if (!cpuRoot) notes.push('no cpu controller (v1): no CPU quota');
    const procFiles = dirs.map((d) => `${d}/cgroup.procs`);
    const pidsProcs = `${p}/cgroup.procs`;
    const killAll = async (): Promise<void> => killLoop([pidsProcs], 100);
    const mem = memDir;
    return {
      kind: 'cgroup-v1',
      procFiles,
      prlimitArgs: mem ? [] : [`--as=${spec.memoryBytes}`],
      note: notes.length > 0 ? notes.join('; ') : null,
      pidsLimitHit: async () => eventCount(`${p}/pids.events`, 'max'),
      memoryLimitHit: async () => {
        if (!mem) return false;
        const fail = Number((await readFile(`${mem}/memory.failcnt`, 'utf8').catch(() => '0')).trim());
        return fail > 0 || eventCount(`${mem}/memory.oom_control`, 'oom_kill');
      },
      killAll,
      remove: async () => {
        await killAll();
        for (const d of dirs) await rmdirRetry(d);
      },
    };
  } catch (e) {
    for (const d of dirs) await rmdir(d).catch(() => undefined);
    throw e;
  }
}

function rlimitFallback(spec: LimitSpec, why: string): Limits {
  return {
    kind: 'rlimit',
    procFiles: [],
    prlimitArgs: [`--nproc=${spec.pids}`, `--as=${spec.memoryBytes}`],
    note: `cgroups not writable (${why}): RLIMIT_NPROC and RLIMIT_AS instead, no CPU quota; the wall clock kills the pid namespace`,
    pidsLimitHit: async () => false,
    memoryLimitHit: async () => false,
    killAll: async () => undefined,
    remove: async () => undefined,
  };
}

async function eventCount(file: string, key: string): Promise<boolean> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const m = new RegExp(`^${key}\\s+(\\d+)`, 'm').exec(text);
  return m !== null && Number(m[1]) > 0;
}

async function pidsIn(files: string[]): Promise<number[]> {
  const all: number[] = [];
  for (const f of files) {
    const text = await readFile(f, 'utf8').catch(() => '');
    for (const l of text.split('\n')) if (/^\d+$/.test(l)) all.push(Number(l));
  }
  return all;
}

async function killLoop(files: string[], rounds: number): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    const pids = await pidsIn(files);
    if (pids.length === 0) return;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await sleep(20);
  }
}

async function rmdirRetry(dir: string): Promise<void> {
  for (let i = 0; i < 50; i++) {
    try {
      await rmdir(dir);
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      await sleep(20);
    }
  }
}

/** Removes leftover per-job cgroups of a previous crashed worker (empty ones only). */
export async function sweepStaleCgroups(): Promise<void> {
  for (const m of await cgroupMounts()) {
    const parent = `${m.path}/yamori-sandbox`;
    const entries = await readdir(parent).catch(() => [] as string[]);
    for (const e of entries) await rmdir(`${parent}/${e}`).catch(() => undefined);
  }
}
