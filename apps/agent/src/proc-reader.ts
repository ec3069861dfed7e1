import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { ProcExecSnapshot } from '@yamori/sensor-linux';

/**
 * Robust readers for /proc/<pid>/…: a process may vanish between two reads, so every reader
 * returns undefined (or a partial record) instead of throwing. `root` lets tests point at a fake
 * tree.
 */
export interface ProcSnapshot {
  pid: number;
  ppid: number;
  /** Start time in clock ticks since boot (field 22 of /proc/<pid>/stat): with pid and boot id, a stable identity. */
  startTicks: number;
  name: string;
  exe?: string;
  argv: string[];
  cwd?: string;
  uid?: number;
  gid?: number;
  /** Selected environment variables only (e.g. LD_PRELOAD), as NAME=value. */
  env?: string[];
}

export interface ProcReader {
  listPids(): number[];
  read(pid: number): ProcSnapshot | undefined;
  /** Only the start time (cheap): used to detect pid reuse. */
  startTicks(pid: number): number | undefined;
  bootId(): string;
  /** Boot time in ms since epoch (btime of /proc/stat). */
  bootTimeMs(): number;
}

export const WATCHED_ENV = ['LD_PRELOAD', 'LD_LIBRARY_PATH', 'LD_AUDIT'] as const;
export const CLK_TCK = 100; // USER_HZ on every Linux architecture Node supports

const tryRead = (p: string): string | undefined => {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
};
const tryLink = (p: string): string | undefined => {
  try {
    return readlinkSync(p);
  } catch {
    return undefined;
  }
};

/** Parse /proc/<pid>/stat: comm may hold spaces and parentheses, so split after the LAST ')'. */
export function parseStat(text: string): { name: string; ppid: number; startTicks: number } | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const rest = text.slice(close + 2).split(' ');
  // rest[0] is field 3 (state); ppid is field 4, starttime field 22.
  const ppid = Number(rest[1]);
  const startTicks = Number(rest[19]);
  if (!Number.isFinite(ppid) || !Number.isFinite(startTicks)) return undefined;
  return { name: text.slice(open + 1, close), ppid, startTicks };
}

export function parseStatusIds(text: string): { uid?: number; gid?: number } {
  const uid = /^Uid:\s+(\d+)/m.exec(text)?.[1];
  const gid = /^Gid:\s+(\d+)/m.exec(text)?.[1];
  return { ...(uid !== undefined ? { uid: Number(uid) } : {}), ...(gid !== undefined ? { gid: Number(gid) } : {}) };
}

export function parseNulList(text: string): string[] {
  const parts = text.split('\0');
  if (parts.at(-1) === '') parts.pop();
  return parts;
}

/** A snapshot from what the proc connector's thread read at exec (the same bounds as read()). */
export function snapshotFromExec(pid: number, s: ProcExecSnapshot): ProcSnapshot {
  const snap: ProcSnapshot = { pid, ppid: s.ppid, startTicks: s.startTicks, name: s.name, argv: [] };
  if (s.cmdline) snap.argv = boundArgv(s.cmdline);
  if (s.exe !== undefined) snap.exe = s.exe.replace(/ \(deleted\)$/, '');
  if (s.cwd !== undefined) snap.cwd = s.cwd;
  if (s.uid !== undefined) snap.uid = s.uid;
  if (s.gid !== undefined) snap.gid = s.gid;
  if (s.environ) snap.env = parseNulList(s.environ).map((v) => v.slice(0, 8192));
  return snap;
}

const boundArgv = (cmdline: string): string[] => parseNulList(cmdline).slice(0, 1024).map((a) => a.slice(0, 8192));

export function createProcReader(opts: { root?: string; envNames?: readonly string[] } = {}): ProcReader {
  const root = opts.root ?? '/proc';
  const envNames = opts.envNames ?? WATCHED_ENV;
  let boot: string | undefined;
  let btime: number | undefined;
  return {
    listPids() {
      try {
        return readdirSync(root)
          .filter((n) => /^\d+$/.test(n))
          .map(Number);
      } catch {
        return [];
      }
    },
    startTicks(pid) {
      const t = tryRead(join(root, String(pid), 'stat'));
      return t === undefined ? undefined : parseStat(t)?.startTicks;
    },
    read(pid) {
      const dir = join(root, String(pid));
      const statText = tryRead(join(dir, 'stat'));
      const stat = statText === undefined ? undefined : parseStat(statText);
      if (!stat) return undefined;
      const snap: ProcSnapshot = { pid, ppid: stat.ppid, startTicks: stat.startTicks, name: stat.name, argv: [] };
      const cmdline = tryRead(join(dir, 'cmdline'));
      if (cmdline) snap.argv = boundArgv(cmdline);
      const exe = tryLink(join(dir, 'exe'));
      if (exe !== undefined) snap.exe = exe.replace(/ \(deleted\)$/, '');
      const cwd = tryLink(join(dir, 'cwd'));
      if (cwd !== undefined) snap.cwd = cwd;
      const status = tryRead(join(dir, 'status'));
      if (status) Object.assign(snap, parseStatusIds(status));
      if (envNames.length > 0) {
        const environ = tryRead(join(dir, 'environ'));
        if (environ) {
          const sel = parseNulList(environ).filter((kv) => envNames.some((n) => kv.startsWith(`${n}=`)));
          if (sel.length > 0) snap.env = sel.map((v) => v.slice(0, 8192));
        }
      }
      return snap;
    },
    bootId() {
      boot ??= (tryRead(join(root, 'sys/kernel/random/boot_id')) ?? 'unknown-boot').trim();
      return boot;
    },
    bootTimeMs() {
      btime ??= Number(/^btime (\d+)/m.exec(tryRead(join(root, 'stat')) ?? '')?.[1] ?? 0) * 1000;
      return btime;
    },
  };
}

/** uid → user name from /etc/passwd, cached; unknown uids have no name. */
export function createUserNames(passwdPath = '/etc/passwd'): (uid: number) => string | undefined {
  let map: Map<number, string> | undefined;
  let loadedAt = 0;
  return (uid) => {
    if (!map || (!map.has(uid) && Date.now() - loadedAt > 60_000)) {
      map = new Map();
      loadedAt = Date.now();
      for (const line of (tryRead(passwdPath) ?? '').split('\n')) {
        const f = line.split(':');
        if (f.length >= 3 && f[0]) map.set(Number(f[2]), f[0]);
      }
    }
    return map.get(uid);
  };
}
