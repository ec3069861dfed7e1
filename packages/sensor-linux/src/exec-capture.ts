// Capture who is exec'ing what while the exec is held by the gate: the process is blocked
// inside execve(2), so /proc/<pid> is stable, and the new argv is still in the caller's
// memory at the addresses given to the syscall (/proc/<pid>/task/<tid>/syscall). This is what
// makes short-lived processes complete: the proc connector alone loses their argv.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readFile, readdir, readlink } from 'node:fs/promises';

export interface ExecCapture {
  pid: number;
  ppid: number;
  uid: number;
  euid: number;
  gid: number;
  /** The new program's argv ('execve'), or the old image's cmdline when it could not be read ('cmdline'). */
  argv: string[];
  argvSource: 'execve' | 'cmdline';
  cwd: string;
  /** The file being executed (from the event fd). */
  exe: string;
  /** The image doing the exec (e.g. the shell). */
  callerExe: string;
  /** sha256 of the file being executed, hex; absent when hashing was skipped or failed. */
  sha256?: string;
}

const SYS_EXECVE = 59; // x86_64
const SYS_EXECVEAT = 322;
const MAX_ARGS = 1024;
const MAX_ARG_BYTES = 128 * 1024;

const safe = async <T>(p: Promise<T>, fallback: T): Promise<T> => {
  try {
    return await p;
  } catch {
    return fallback;
  }
};

async function readExecArgv(pid: number): Promise<string[] | undefined> {
  if (process.arch !== 'x64') return undefined;
  const tids = await safe(readdir(`/proc/${pid}/task`), [] as string[]);
  let argvAddr: number | undefined;
  for (const tid of tids) {
    const text = await safe(readFile(`/proc/${pid}/task/${tid}/syscall`, 'utf8'), '');
    const parts = text.trim().split(' ');
    const nr = Number(parts[0]);
    if (nr === SYS_EXECVE) argvAddr = Number.parseInt(parts[2] ?? '', 16);
    else if (nr === SYS_EXECVEAT) argvAddr = Number.parseInt(parts[3] ?? '', 16);
    if (argvAddr !== undefined) break;
  }
  if (argvAddr === undefined || !Number.isSafeInteger(argvAddr) || argvAddr === 0) return undefined;
  const mem = await open(`/proc/${pid}/mem`, 'r');
  try {
    const ptr = Buffer.alloc(8);
    const args: string[] = [];
    let total = 0;
    for (let i = 0; i < MAX_ARGS; i++) {
      const { bytesRead } = await mem.read(ptr, 0, 8, argvAddr + i * 8);
      if (bytesRead !== 8) return undefined;
      const addr = Number(ptr.readBigUInt64LE(0));
      if (addr === 0) break;
      const chunk = Buffer.alloc(4096);
      let arg = Buffer.alloc(0);
      for (let off = 0; total + arg.length < MAX_ARG_BYTES; off += chunk.length) {
        const r = await mem.read(chunk, 0, chunk.length, addr + off);
        if (r.bytesRead === 0) break;
        const nul = chunk.subarray(0, r.bytesRead).indexOf(0);
        arg = Buffer.concat([arg, chunk.subarray(0, nul < 0 ? r.bytesRead : nul)]);
        if (nul >= 0) break;
      }
      total += arg.length;
      args.push(arg.toString('utf8'));
    }
    return args;
  } finally {
    await mem.close();
  }
}

async function hashFd(fd: number): Promise<string> {
  const hash = createHash('sha256');
  // start:0 makes every read positional: the gate's own copy of the fd is not disturbed
  const stream = createReadStream('', { fd, start: 0, autoClose: false, highWaterMark: 1 << 20 });
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Read everything the agent records about an exec held by the gate (pid + event fd). */
export async function captureExec(
  req: { pid: number; fd: number },
  options: { hash?: boolean } = {},
): Promise<ExecCapture> {
  const { pid, fd } = req;
  const [status, cwd, exe, callerExe, execArgv] = await Promise.all([
    safe(readFile(`/proc/${pid}/status`, 'utf8'), ''),
    safe(readlink(`/proc/${pid}/cwd`), ''),
    safe(readlink(`/proc/self/fd/${fd}`), ''),
    safe(readlink(`/proc/${pid}/exe`), ''),
    safe(readExecArgv(pid), undefined),
  ]);
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
  let argv = execArgv;
  let argvSource: ExecCapture['argvSource'] = 'execve';
  if (!argv) {
    argvSource = 'cmdline';
    const raw = await safe(readFile(`/proc/${pid}/cmdline`), Buffer.alloc(0));
    argv = raw
      .toString('utf8')
      .split('\0')
      .filter((s, i, a) => s !== '' || i < a.length - 1);
  }
  const capture: ExecCapture = {
    pid,
    ppid: field('PPid')[0] ?? -1,
    uid: field('Uid')[0] ?? -1,
    euid: field('Uid')[1] ?? -1,
    gid: field('Gid')[0] ?? -1,
    argv,
    argvSource,
    cwd,
    exe,
    callerExe,
  };
  if (options.hash ?? true) {
    const sha = await safe(hashFd(fd), undefined);
    if (sha !== undefined) capture.sha256 = sha;
  }
  return capture;
}
