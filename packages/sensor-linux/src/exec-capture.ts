// Capture who is exec'ing what while the exec is held by the gate: the process is blocked
// inside execve(2), so /proc/<pid> is stable, and the new argv and environment are still in the
// caller's memory at the addresses given to the syscall (/proc/<pid>/task/<tid>/syscall). This
// is what makes short-lived processes complete: the proc connector alone loses their argv, and
// /proc/<pid>/environ of a process that already exited (or, while held, of the old image) does
// not show an LD_PRELOAD set for the new program.
//
// Cost matters: every exec the kernel cache does not answer waits for this. The /proc files and
// small executables are read synchronously (a few syscalls each; the libuv thread pool round
// trip per read cost more than the reads). Memory of the exec'ing process is read synchronously
// only where it cannot stall us: anonymous memory (stack, heap) and files on local disks. A
// string in a file mapped from FUSE or a network filesystem could make the read wait on a server
// the caller controls, so those are read through the thread pool, as before.
import { createHash, webcrypto, type Hash } from 'node:crypto';
import { closeSync, openSync, read, readFileSync, readSync, readdirSync, readlinkSync } from 'node:fs';
import { open } from 'node:fs/promises';
import type { NativeExecCapture } from './types.ts';

export interface ExecCapture {
  pid: number;
  ppid: number;
  uid: number;
  euid: number;
  gid: number;
  /** The new program's argv ('execve'), or the old image's cmdline when it could not be read ('cmdline'). */
  argv: string[];
  argvSource: 'execve' | 'cmdline';
  /**
   * The new program's environment variables named in `envNames` (NAME=value), read from the
   * execve arguments; absent when none is set or the arguments could not be read.
   */
  env?: string[];
  cwd: string;
  /** The file being executed (from the event fd). */
  exe: string;
  /** The image doing the exec (e.g. the shell); not read by the gate's capture thread. */
  callerExe?: string;
  /** sha256 of the file being executed, hex; absent when hashing was skipped or failed. */
  sha256?: string;
}

export interface CaptureOptions {
  /** Hash the executable (default true). */
  hash?: boolean;
  /** Environment variables to capture (default none). */
  envNames?: readonly string[];
}

const SYS_EXECVE = 59; // x86_64
const SYS_EXECVEAT = 322;
const MAX_ARGS = 1024;
const MAX_ENV = 4096;
const MAX_ARG_BYTES = 128 * 1024;
const MAX_ENV_VALUE = 8192;
/** Executables up to this size are hashed synchronously; bigger ones are streamed. */
const SYNC_HASH_MAX = 4 * 1024 * 1024;
/** Up to this size, one read and a hash on the thread pool (a transient buffer as large). */
const OFF_THREAD_HASH_MAX = 16 * 1024 * 1024;
const hashBuf = Buffer.allocUnsafe(1 << 20);
const PAGE = 4096;

const tryRead = (path: string): string => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
};
const tryLink = (path: string): string => {
  try {
    return readlinkSync(path);
  } catch {
    return '';
  }
};

/** The argv and envp addresses of the execve(at) a thread of `pid` is blocked in. */
function execveArgs(pid: number): { argv: number; envp: number } | undefined {
  if (process.arch !== 'x64') return undefined;
  const parse = (text: string) => {
    const parts = text.trim().split(' ');
    const nr = Number(parts[0]);
    const at = nr === SYS_EXECVE ? 2 : nr === SYS_EXECVEAT ? 3 : -1;
    if (at < 0) return undefined;
    const argv = Number.parseInt(parts[at] ?? '', 16);
    const envp = Number.parseInt(parts[at + 1] ?? '', 16);
    return Number.isSafeInteger(argv) && argv !== 0 ? { argv, envp: Number.isSafeInteger(envp) ? envp : 0 } : undefined;
  };
  // the main thread first: almost every exec comes from it
  const main = parse(tryRead(`/proc/${pid}/syscall`));
  if (main) return main;
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return undefined;
  }
  for (const tid of tids) {
    const r = parse(tryRead(`/proc/${pid}/task/${tid}/syscall`));
    if (r) return r;
  }
  return undefined;
}

/**
 * Which address ranges of the process can be read without waiting on someone else's server:
 * anonymous memory and files on filesystems that are not FUSE or network mounts.
 */
function localRanges(pid: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const line of tryRead(`/proc/${pid}/maps`).split('\n')) {
    // start-end perms offset dev inode path
    const m = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ ([0-9a-f]+):([0-9a-f]+) (\d+)\s*(.*)$/.exec(line);
    if (!m) continue;
    const anonymous = m[5] === '0' && (m[6] === '' || m[6]?.startsWith('['));
    if (!anonymous && !localDevice(Number.parseInt(m[3] ?? '', 16), Number.parseInt(m[4] ?? '', 16))) continue;
    out.push([Number.parseInt(m[1] ?? '', 16), Number.parseInt(m[2] ?? '', 16)]);
  }
  return out;
}

const REMOTE_FS = /^(fuse|fuseblk|nfs|nfs4|cifs|smb3|smbfs|9p|ceph|glusterfs|afs|lustre|gfs2|ocfs2|virtiofs)$/;
let devTypes = new Map<string, boolean>();
/** Is the filesystem on device major:minor a local one? (mountinfo, re-read for unknown devices) */
function localDevice(major: number, minor: number): boolean {
  const key = `${major}:${minor}`;
  let local = devTypes.get(key);
  if (local === undefined) {
    const next = new Map<string, boolean>();
    for (const line of tryRead('/proc/self/mountinfo').split('\n')) {
      // id parent major:minor root mountpoint options [optional…] - fstype source superopts
      const dev = line.split(' ')[2];
      const fstype = line.split(' - ')[1]?.split(' ')[0];
      if (dev && fstype) next.set(dev, !REMOTE_FS.test(fstype.split('.')[0] ?? fstype));
    }
    devTypes = next;
    local = next.get(key) ?? false;
  }
  return local;
}

/** Positional reads of another process's memory: synchronous within `ranges`, async elsewhere. */
interface MemReader {
  read(buf: Buffer, addr: number): Promise<number>;
  close(): void;
}

function openMem(pid: number): MemReader {
  const fd = openSync(`/proc/${pid}/mem`, 'r');
  let ranges: Array<[number, number]> | undefined;
  let slow: Awaited<ReturnType<typeof open>> | undefined;
  const inLocal = (addr: number) => (ranges ??= localRanges(pid)).some(([s, e]) => addr >= s && addr < e);
  // Whole pages, read once: the strings of argv and envp sit close together, so a few reads
  // serve dozens of them (a mapping never ends inside a page).
  const pages = new Map<number, Buffer>();
  const page = (base: number): Buffer => {
    let p = pages.get(base);
    if (p === undefined) {
      if (pages.size >= 256) pages.delete(pages.keys().next().value as number);
      const buf = Buffer.allocUnsafe(PAGE);
      let n = 0;
      try {
        n = readSync(fd, buf, 0, PAGE, base);
      } catch {
        // unmapped
      }
      p = buf.subarray(0, n);
      pages.set(base, p);
    }
    return p;
  };
  return {
    async read(buf, addr) {
      const len = buf.length;
      if (inLocal(addr)) {
        const base = addr - (addr % PAGE);
        const p = page(base);
        return p.copy(buf, 0, addr - base, Math.min(p.length, addr - base + len));
      }
      slow ??= await open(`/proc/${pid}/mem`, 'r');
      try {
        return (await slow.read(buf, 0, len, addr)).bytesRead;
      } catch {
        return 0;
      }
    },
    close() {
      closeSync(fd);
      void slow?.close();
    },
  };
}

/** Read a NUL-terminated string of at most `max` bytes at addr. */
async function readString(mem: MemReader, addr: number, max: number, first = 256): Promise<Buffer> {
  const parts: Buffer[] = [];
  let size = 0;
  let chunk = first;
  while (size < max) {
    const buf = Buffer.allocUnsafe(Math.min(chunk, max - size));
    const n = await mem.read(buf, addr + size);
    if (n <= 0) break;
    const nul = buf.subarray(0, n).indexOf(0);
    parts.push(buf.subarray(0, nul < 0 ? n : nul));
    size += nul < 0 ? n : nul;
    if (nul >= 0) break;
    chunk = 4096;
  }
  return Buffer.concat(parts);
}

/** Read a NULL-terminated array of pointers (at most `max`). */
async function readPointers(mem: MemReader, addr: number, max: number): Promise<number[] | undefined> {
  const out: number[] = [];
  const buf = Buffer.allocUnsafe(512);
  while (out.length < max) {
    const n = await mem.read(buf, addr + out.length * 8);
    if (n < 8) return undefined;
    for (let off = 0; off + 8 <= n && out.length < max; off += 8) {
      const p = Number(buf.readBigUInt64LE(off));
      if (p === 0) return out;
      out.push(p);
    }
  }
  return out;
}

async function readExecVectors(pid: number, envNames: readonly string[]): Promise<{ argv?: string[]; env?: string[] }> {
  const at = execveArgs(pid);
  if (!at) return {};
  const mem = openMem(pid);
  try {
    const out: { argv?: string[]; env?: string[] } = {};
    const argvPtrs = await readPointers(mem, at.argv, MAX_ARGS);
    if (argvPtrs) {
      const args: string[] = [];
      let total = 0;
      for (const p of argvPtrs) {
        if (total >= MAX_ARG_BYTES) break;
        const s = await readString(mem, p, MAX_ARG_BYTES - total);
        total += s.length;
        args.push(s.toString('utf8'));
      }
      out.argv = args;
    }
    if (envNames.length > 0 && at.envp !== 0) {
      const envPtrs = (await readPointers(mem, at.envp, MAX_ENV)) ?? [];
      const longest = Math.max(...envNames.map((n) => n.length)) + 1;
      const env: string[] = [];
      for (const p of envPtrs) {
        // the name first (a short read), the value only for the names asked for
        const head = (await readString(mem, p, longest, longest)).toString('latin1');
        if (!envNames.some((n) => head.startsWith(`${n}=`))) continue;
        env.push((await readString(mem, p, MAX_ENV_VALUE)).toString('utf8'));
      }
      if (env.length > 0) out.env = env;
    }
    return out;
  } finally {
    mem.close();
  }
}

/**
 * sha256 of a file from its fd, with positional reads (the fd's offset is neither used nor moved).
 * `size` tells how to go about it: files up to 4 MiB are read synchronously (a thread pool round
 * trip costs more), except in the `background`; files up to 16 MiB are read in one request and
 * hashed on the thread pool (WebCrypto), so the event loop stays free for exec decisions; bigger
 * ones are streamed through one reused buffer, in 256 KiB reads in the background.
 */
export async function hashFd(fd: number, options: { size?: number | undefined; background?: boolean } = {}): Promise<string> {
  const { size } = options;
  if (!options.background && size !== undefined && size <= SYNC_HASH_MAX) return hashSync(fd, createHash('sha256'));
  if (size !== undefined && size <= OFF_THREAD_HASH_MAX) return hashOffThread(fd, size);
  const hash = createHash('sha256');
  // Positional reads (the gate's own copy of the fd is not disturbed) into one buffer, reused: a
  // 10 MB file read in fresh chunks is 10 MB of garbage, whose collection lands on whatever runs
  // next (an exec decision). Background hashing reads in smaller steps.
  const buf = Buffer.allocUnsafe(options.background ? 1 << 18 : 1 << 20);
  for (let pos = 0; ; ) {
    const n = await new Promise<number>((resolve, reject) => read(fd, buf, 0, buf.length, pos, (err, bytes) => (err ? reject(err) : resolve(bytes))));
    if (n === 0) break;
    hash.update(buf.subarray(0, n));
    pos += n;
  }
  return hash.digest('hex');
}

/**
 * The first `size` bytes: the length in the file key the hash is stored under. A file changed while
 * it is read is the race streamed reads have too; the pre-hash checks its identity again afterwards.
 */
async function hashOffThread(fd: number, size: number): Promise<string> {
  const buf = Buffer.allocUnsafe(size);
  let got = 0;
  while (got < size) {
    const n = await new Promise<number>((resolve, reject) => read(fd, buf, got, size - got, got, (err, bytes) => (err ? reject(err) : resolve(bytes))));
    if (n === 0) break;
    got += n;
  }
  return Buffer.from(await webcrypto.subtle.digest('SHA-256', buf.subarray(0, got))).toString('hex');
}

function hashSync(fd: number, hash: Hash): string {
  for (let pos = 0; ; ) {
    const n = readSync(fd, hashBuf, 0, hashBuf.length, pos);
    if (n === 0) break;
    hash.update(hashBuf.subarray(0, n));
    pos += n;
  }
  return hash.digest('hex');
}

const nulList = (s: string): string[] => (s.endsWith('\0') ? s.slice(0, -1) : s).split('\0');

/**
 * Read everything the agent records about an exec held by the gate (pid + event fd). What the
 * gate's capture thread already read (req.capture) is used as it is; /proc and the process's
 * memory are read here only for what it could not.
 */
export async function captureExec(
  req: { pid: number; fd: number; size?: number; path?: string; capture?: NativeExecCapture | undefined },
  options: CaptureOptions = {},
): Promise<ExecCapture> {
  const native = req.capture;
  const capture =
    native && native.argvSource === 'execve' && native.argv !== undefined
      ? fromNative(req, native, native.argv)
      : await readCapture(req.pid, req.fd, options.envNames ?? []);
  if (options.hash ?? true) {
    try {
      capture.sha256 = await hashFd(req.fd, { size: req.size });
    } catch {
      // unreadable: the decision goes on without a hash
    }
  }
  return capture;
}

function fromNative(req: { pid: number; fd: number; path?: string }, native: NativeExecCapture, argv: string): ExecCapture {
  return {
    pid: req.pid,
    ppid: native.ppid,
    uid: native.uid,
    euid: native.uid,
    gid: native.gid,
    argv: argv === '' ? [] : nulList(argv),
    argvSource: 'execve',
    ...(native.env ? { env: nulList(native.env) } : {}),
    cwd: native.cwd,
    exe: req.path ?? tryLink(`/proc/self/fd/${req.fd}`),
  };
}

async function readCapture(pid: number, fd: number, envNames: readonly string[]): Promise<ExecCapture> {
  const status = tryRead(`/proc/${pid}/status`);
  const cwd = tryLink(`/proc/${pid}/cwd`);
  const exe = tryLink(`/proc/self/fd/${fd}`);
  const callerExe = tryLink(`/proc/${pid}/exe`);
  let vectors: Awaited<ReturnType<typeof readExecVectors>> = {};
  try {
    vectors = await readExecVectors(pid, envNames);
  } catch {
    // gone, or not ours to read: the cmdline below
  }
  const field = (name: string): number[] => {
    const line = status.split('\n').find((l) => l.startsWith(`${name}:`));
    return line
      ? line
          .slice(name.length + 1)
          .trim()
          .split(/\s+/)
          .map(Number)
      : [];
  };
  let argv = vectors.argv;
  let argvSource: ExecCapture['argvSource'] = 'execve';
  if (!argv) {
    argvSource = 'cmdline';
    let raw = '';
    try {
      raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      // gone
    }
    argv = raw === '' ? [] : nulList(raw);
  }
  return {
    pid,
    ppid: field('PPid')[0] ?? -1,
    uid: field('Uid')[0] ?? -1,
    euid: field('Uid')[1] ?? -1,
    gid: field('Gid')[0] ?? -1,
    argv,
    argvSource,
    ...(vectors.env ? { env: vectors.env } : {}),
    cwd,
    exe,
    callerExe,
  };
}
