/**
 * Pure parser for `strace -f -ttt -q -y -s N -o FILE` output, and the reduction of the parsed
 * events to the behaviour of one process tree (the sample and its descendants).
 *
 * No I/O: the detonation shell reads the trace file and hands the text here, so the parser is
 * tested on recorded text.
 */

export interface SyscallEvent {
  kind: 'syscall';
  pid: number;
  time: number;
  name: string;
  /** Top-level arguments, as strace printed them (strings still quoted). */
  args: string[];
  /** Numeric return value, null when strace printed `?`. */
  ret: number | null;
  /** `ENOENT`, `EACCES`… when the call failed. */
  errno: string | null;
  /** The `-y` decoration of the return value (`3</home/x>` → `/home/x`), when present. */
  retPath: string | null;
}

export interface ExitEvent {
  kind: 'exit';
  pid: number;
  time: number;
  code: number | null;
  signal: string | null;
  coreDumped: boolean;
}

export interface SignalEvent {
  kind: 'signal';
  pid: number;
  time: number;
  signal: string;
}

export type StraceEvent = SyscallEvent | ExitEvent | SignalEvent;

const LINE = /^(?:(\d+)\s+)?(\d+(?:\.\d+)?)\s+(.*)$/;

/** Parses a whole trace; `<unfinished ...>` / `<... resumed>` pairs are merged per pid. */
export function parseStrace(text: string): StraceEvent[] {
  const events: StraceEvent[] = [];
  const pending = new Map<number, { time: number; head: string; index: number }>();
  for (const raw of text.split('\n')) {
    const m = LINE.exec(raw.trimEnd());
    if (!m) continue;
    const pid = m[1] === undefined ? 0 : Number(m[1]);
    const time = Number(m[2]);
    const body = m[3] ?? '';
    if (body.startsWith('+++ ')) {
      const exited = /^\+\+\+ exited with (\d+) \+\+\+/.exec(body);
      const killed = /^\+\+\+ killed by (SIG[A-Z0-9]+)( \(core dumped\))? \+\+\+/.exec(body);
      if (exited)
        events.push({ kind: 'exit', pid, time, code: Number(exited[1]), signal: null, coreDumped: false });
      else if (killed)
        events.push({
          kind: 'exit',
          pid,
          time,
          code: null,
          signal: killed[1] ?? null,
          coreDumped: killed[2] !== undefined,
        });
      continue;
    }
    if (body.startsWith('--- ')) {
      const sig = /^--- (SIG[A-Z0-9]+)/.exec(body);
      if (sig?.[1]) events.push({ kind: 'signal', pid, time, signal: sig[1] });
      continue;
    }
    const resumed = /^<\.\.\. ([a-z0-9_]+) resumed>\s?(.*)$/.exec(body);
    if (resumed) {
      const head = pending.get(pid);
      if (!head) continue;
      pending.delete(pid);
      const ev = parseCall(pid, head.time, `${head.head}${resumed[2] ?? ''}`);
      if (ev) events[head.index] = ev;
      continue;
    }
    const unfinished = /^(.*?)\s*<unfinished \.\.\.>$/.exec(body);
    if (unfinished) {
      // Reserve the slot so events keep the order in which the calls started.
      pending.set(pid, { time, head: unfinished[1] ?? '', index: events.length });
      events.push({ kind: 'signal', pid, time, signal: '' });
      continue;
    }
    const ev = parseCall(pid, time, body);
    if (ev) events.push(ev);
  }
  // Calls that never resumed (process killed mid-call) keep their arguments, without a result.
  for (const [pid, head] of pending) {
    const ev = parseCall(pid, head.time, `${head.head}) = ?`);
    if (ev) events[head.index] = ev;
  }
  return events.filter((e) => !(e.kind === 'signal' && e.signal === ''));
}

function parseCall(pid: number, time: number, body: string): SyscallEvent | null {
  const open = /^([a-z_][a-z0-9_]*)\(/.exec(body);
  if (!open?.[1]) return null;
  const name = open[1];
  const { args, end } = splitArgs(body, name.length + 1);
  const rest = body.slice(end + 1);
  const res =
    /^\s*=\s*(\?|-?\d+|0x[0-9a-f]+)(<([^>]*)>)?(?:\s+\/\* (\d+) in strace's PID NS \*\/)?(?:\s+([A-Z][A-Z0-9_]+))?/.exec(
      rest,
    );
  let ret: number | null = null;
  let errno: string | null = null;
  let retPath: string | null = null;
  if (res) {
    const v = res[1] ?? '?';
    ret = v === '?' ? null : v.startsWith('0x') ? Number.parseInt(v, 16) : Number(v);
    retPath = res[3] ?? null;
    // --pidns-translation: a pid returned inside the sandbox's pid namespace, as the tracer sees it.
    if (res[4] !== undefined) ret = Number(res[4]);
    if (ret !== null && ret < 0) errno = res[5] ?? 'EUNKNOWN';
  }
  return { kind: 'syscall', pid, time, name, args, ret, errno, retPath };
}

/** Splits `a, "b, c", {x=1, y=[2, 3]})` at top-level commas; returns the index of the closing paren. */
export function splitArgs(s: string, start: number): { args: string[]; end: number } {
  const args: string[] = [];
  let depth = 0;
  let cur = '';
  let i = start;
  for (; i < s.length; i++) {
    const c = s[i] ?? '';
    if (c === '"') {
      let j = i + 1;
      while (j < s.length && s[j] !== '"') j += s[j] === '\\' ? 2 : 1;
      cur += s.slice(i, j + 1);
      i = j;
      continue;
    }
    if (c === '<' && /[A-Za-z0-9_]/.test(s[i - 1] ?? '')) {
      // A `-y` decoration (`3</path>`, `3<UDP:[a->b]>`): runs to a `>` that ends the argument.
      let j = i + 1;
      while (j < s.length && !(s[j] === '>' && s[j - 1] !== '-' && /^(?:[,)\s]|$)/.test(s[j + 1] ?? ''))) j++;
      cur += s.slice(i, j + 1);
      i = j;
      continue;
    }
    if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ']' || c === '}') depth--;
    else if (c === ')') {
      if (depth === 0) break;
      depth--;
    } else if (c === ',' && depth === 0) {
      args.push(cur.trim());
      cur = '';
      continue;
    }
    cur += c;
  }
  if (cur.trim() !== '') args.push(cur.trim());
  return { args, end: i };
}

/** Decodes a strace C string literal (`"a\nb\x41\101"`, possibly followed by `...`); null if not a string. */
export function decodeString(arg: string | undefined): string | null {
  if (arg === undefined) return null;
  const m = /^@?"((?:[^"\\]|\\.)*)"(\.\.\.)?$/s.exec(arg.trim());
  if (!m) return null;
  const bytes: number[] = [];
  const s = m[1] ?? '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i] ?? '';
    if (c !== '\\') {
      for (const b of Buffer.from(c, 'utf8')) bytes.push(b);
      continue;
    }
    const n = s[i + 1] ?? '';
    const simple: Record<string, number> = {
      n: 10,
      t: 9,
      r: 13,
      v: 11,
      f: 12,
      '"': 34,
      '\\': 92,
      a: 7,
      b: 8,
    };
    if (n in simple) {
      bytes.push(simple[n] ?? 0);
      i++;
    } else if (n === 'x') {
      bytes.push(Number.parseInt(s.slice(i + 2, i + 4), 16));
      i += 3;
    } else if (/[0-7]/.test(n)) {
      const oct = /^[0-7]{1,3}/.exec(s.slice(i + 1))?.[0] ?? '0';
      bytes.push(Number.parseInt(oct, 8));
      i += oct.length;
    } else {
      bytes.push(n.charCodeAt(0));
      i++;
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** `3</home/alice/x>` or `AT_FDCWD</home/alice>` → the decorated path. */
export function fdPath(arg: string | undefined): string | null {
  const m = arg === undefined ? null : /^[A-Z_0-9]+<(.*)>$/.exec(arg.trim());
  return m?.[1] ?? null;
}

export function joinPath(dir: string | null, p: string): string {
  if (p.startsWith('/') || dir === null) return normalize(p);
  return normalize(`${dir}/${p}`);
}

function normalize(p: string): string {
  const abs = p.startsWith('/');
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return (abs ? '/' : '') + out.join('/');
}

// ---------------------------------------------------------------------------------------------
// Reduction to behaviour

export interface TracedProcess {
  pid: number;
  ppid: number;
  executable: string;
  args: string[];
  exitCode: number | null;
  signal: string | null;
  coreDumped: boolean;
}

export type FileOpKind = 'read' | 'write' | 'delete' | 'rename' | 'chmod_exec' | 'exec';

export interface FileOp {
  pid: number;
  time: number;
  op: FileOpKind;
  path: string;
  /** Destination of a rename or link. */
  to?: string;
  ok: boolean;
  errno: string | null;
}

export interface NetAttempt {
  pid: number;
  time: number;
  call: string;
  family: 'inet' | 'inet6' | 'unix';
  address: string;
  port: number | null;
  ok: boolean;
  errno: string | null;
}

export interface CredChange {
  pid: number;
  call: string;
  args: string[];
  ok: boolean;
}

export interface PtraceCall {
  pid: number;
  request: string;
  target: number | null;
  ok: boolean;
}

export interface Behaviour {
  rootPid: number | null;
  processes: TracedProcess[];
  files: FileOp[];
  network: NetAttempt[];
  creds: CredChange[];
  ptraces: PtraceCall[];
  /** clone/fork calls that failed with EAGAIN (pids limit or RLIMIT_NPROC). */
  forkFailures: number;
  /** Events of the sample's tree that were kept. */
  eventCount: number;
}

export interface AnalyzeOptions {
  /** The path the sandbox executes; the first successful execve of it is the tree's root. */
  rootExecutable: string;
}

const WRITE_FLAGS = /O_WRONLY|O_RDWR|O_CREAT|O_TRUNC|O_APPEND/;
const CLONES = new Set(['clone', 'clone3', 'fork', 'vfork']);
const CRED_CALLS = new Set([
  'setuid',
  'setgid',
  'setreuid',
  'setregid',
  'setresuid',
  'setresgid',
  'setfsuid',
  'setfsgid',
  'setgroups',
  'capset',
]);

/** Keeps only the events of the sample's process tree and turns them into behaviour facts. */
export function analyzeTrace(events: readonly StraceEvent[], options: AnalyzeOptions): Behaviour {
  const out: Behaviour = {
    rootPid: null,
    processes: [],
    files: [],
    network: [],
    creds: [],
    ptraces: [],
    forkFailures: 0,
    eventCount: 0,
  };
  // Pass 1: the root, and every parent → child link (a child's first events may be printed
  // before its parent's clone returns, so membership is decided before reducing).
  let rootIndex = -1;
  const parent = new Map<number, number>();
  events.forEach((ev, i) => {
    if (ev.kind !== 'syscall') return;
    if (rootIndex < 0 && isRootExec(ev, options.rootExecutable)) rootIndex = i;
    if (CLONES.has(ev.name) && ev.ret !== null && ev.ret > 0 && !parent.has(ev.ret))
      parent.set(ev.ret, ev.pid);
  });
  const rootEv = events[rootIndex];
  if (!rootEv || rootEv.kind !== 'syscall') return out;
  const rootPid = rootEv.pid;
  out.rootPid = rootPid;
  const member = new Map<number, boolean>([[rootPid, true]]);
  const isMember = (pid: number): boolean => {
    const known = member.get(pid);
    if (known !== undefined) return known;
    const chain: number[] = [];
    let p: number | undefined = pid;
    let result = false;
    while (p !== undefined && chain.length < 10_000) {
      const k = member.get(p);
      if (k !== undefined) {
        result = k;
        break;
      }
      chain.push(p);
      p = parent.get(p);
    }
    for (const c of chain) member.set(c, result);
    return result;
  };
  const procs = new Map<number, TracedProcess>();
  procs.set(rootPid, {
    pid: rootPid,
    ppid: parent.get(rootPid) ?? 0,
    executable: options.rootExecutable,
    args: decodeArgv(rootEv.args[rootEv.name === 'execve' ? 1 : 2]),
    exitCode: null,
    signal: null,
    coreDumped: false,
  });
  out.eventCount = 1;
  // Pass 2: reduce the tree's events (the root's only after its exec of the sample).
  for (let i = 0; i < events.length; i++) {
    const ev = events[i];
    if (!ev || (ev.pid === rootPid && i <= rootIndex) || !isMember(ev.pid)) continue;
    let proc = procs.get(ev.pid);
    if (!proc) {
      const pp = procs.get(parent.get(ev.pid) ?? -1);
      proc = {
        pid: ev.pid,
        ppid: parent.get(ev.pid) ?? 0,
        executable: pp?.executable ?? '',
        args: pp?.args ?? [],
        exitCode: null,
        signal: null,
        coreDumped: false,
      };
      procs.set(ev.pid, proc);
    }
    out.eventCount++;
    if (ev.kind === 'exit') {
      proc.exitCode = ev.code;
      proc.signal = ev.signal;
      proc.coreDumped = ev.coreDumped;
      continue;
    }
    if (ev.kind === 'signal') continue;
    reduceCall(ev, proc, procs, out);
  }
  out.processes = [...procs.values()];
  return out;
}

function isRootExec(ev: SyscallEvent, root: string): boolean {
  return (
    (ev.name === 'execve' || ev.name === 'execveat') &&
    ev.ret === 0 &&
    decodeString(ev.args[ev.name === 'execve' ? 0 : 1]) === root
  );
}

function reduceCall(
  ev: SyscallEvent,
  proc: TracedProcess,
  procs: Map<number, TracedProcess>,
  out: Behaviour,
): void {
  const ok = ev.errno === null;
  const a = ev.args;
  const file = (op: FileOpKind, path: string | null, to?: string | null): void => {
    if (path === null) return;
    const rec: FileOp = { pid: ev.pid, time: ev.time, op, path, ok, errno: ev.errno };
    if (to) rec.to = to;
    out.files.push(rec);
  };
  const at = (dirArg: string | undefined, pathArg: string | undefined): string | null => {
    const p = decodeString(pathArg);
    if (p === null) return null;
    return joinPath(fdPath(dirArg), p);
  };
  switch (ev.name) {
    case 'clone':
    case 'clone3':
    case 'fork':
    case 'vfork':
      if (ev.ret !== null && ev.ret > 0 && !procs.has(ev.ret)) {
        procs.set(ev.ret, {
          pid: ev.ret,
          ppid: ev.pid,
          executable: proc.executable,
          args: proc.args,
          exitCode: null,
          signal: null,
          coreDumped: false,
        });
      } else if (ev.errno === 'EAGAIN') out.forkFailures++;
      return;
    case 'execve':
    case 'execveat': {
      const path = ev.name === 'execve' ? at(undefined, a[0]) : at(a[0], a[1]);
      if (path === null) return;
      file('exec', path);
      if (ok && ev.ret === 0) {
        proc.executable = path;
        proc.args = decodeArgv(a[ev.name === 'execve' ? 1 : 2]);
      }
      return;
    }
    case 'open':
    case 'creat':
    case 'openat':
    case 'openat2': {
      const path = ev.name === 'open' || ev.name === 'creat' ? at(undefined, a[0]) : at(a[0], a[1]);
      const flags = ev.name === 'open' ? (a[1] ?? '') : ev.name === 'creat' ? 'O_CREAT' : (a[2] ?? '');
      file(WRITE_FLAGS.test(flags) ? 'write' : 'read', ev.retPath ?? path);
      return;
    }
    case 'unlink':
    case 'rmdir':
      file('delete', at(undefined, a[0]));
      return;
    case 'unlinkat':
      file('delete', at(a[0], a[1]));
      return;
    case 'rename':
      file('rename', at(undefined, a[0]), at(undefined, a[1]));
      return;
    case 'renameat':
    case 'renameat2':
      file('rename', at(a[0], a[1]), at(a[2], a[3]));
      return;
    case 'link':
    case 'symlink':
      file('write', at(undefined, a[1]));
      return;
    case 'linkat':
      file('write', at(a[2], a[3]));
      return;
    case 'symlinkat':
      file('write', at(a[1], a[2]));
      return;
    case 'chmod':
      if (isExecMode(a[1])) file('chmod_exec', at(undefined, a[0]));
      return;
    case 'fchmodat':
    case 'fchmodat2':
      if (isExecMode(a[2])) file('chmod_exec', at(a[0], a[1]));
      return;
    case 'fchmod':
      if (isExecMode(a[1])) file('chmod_exec', fdPath(a[0]));
      return;
    case 'connect':
    case 'sendto':
    case 'sendmsg': {
      const sa = ev.name === 'connect' ? a[1] : ev.name === 'sendto' ? a[4] : a[1];
      const addr = parseSockaddr(sa);
      if (addr) out.network.push({ pid: ev.pid, time: ev.time, call: ev.name, ...addr, ok, errno: ev.errno });
      return;
    }
    case 'ptrace': {
      const target = Number(a[1]);
      out.ptraces.push({
        pid: ev.pid,
        request: a[0] ?? '',
        target: Number.isFinite(target) ? target : null,
        ok,
      });
      return;
    }
    default:
      if (CRED_CALLS.has(ev.name)) out.creds.push({ pid: ev.pid, call: ev.name, args: a, ok });
      else if (CLONES.has(ev.name) && ev.errno === 'EAGAIN') out.forkFailures++;
  }
}

function isExecMode(arg: string | undefined): boolean {
  if (arg === undefined) return false;
  const mode = /^0[0-7]*$/.test(arg) ? Number.parseInt(arg, 8) : Number(arg);
  return Number.isFinite(mode) && (mode & 0o111) !== 0;
}

function decodeArgv(arg: string | undefined): string[] {
  if (arg === undefined || !arg.startsWith('[')) return [];
  const { args } = splitArgs(`${arg.slice(1, -1)})`, 0);
  return args.map((x) => decodeString(x)).filter((x): x is string => x !== null);
}

/** `{sa_family=AF_INET, sin_port=htons(443), sin_addr=inet_addr("1.2.3.4")}` → family/address/port. */
export function parseSockaddr(
  arg: string | undefined,
): { family: 'inet' | 'inet6' | 'unix'; address: string; port: number | null } | null {
  if (arg === undefined) return null;
  const v4 = /sa_family=AF_INET,.*?sin_port=htons\((\d+)\).*?sin_addr=inet_addr\("([0-9.]+)"\)/.exec(arg);
  if (v4) return { family: 'inet', address: v4[2] ?? '', port: Number(v4[1]) };
  const v6 = /sa_family=AF_INET6,.*?sin6_port=htons\((\d+)\).*?inet_pton\(AF_INET6, "([^"]+)"/.exec(arg);
  if (v6) return { family: 'inet6', address: v6[2] ?? '', port: Number(v6[1]) };
  const un = /sa_family=AF_UNIX,\s*sun_path=(@?"(?:[^"\\]|\\.)*")/.exec(arg);
  if (un?.[1]) {
    const abstract = un[1].startsWith('@');
    return { family: 'unix', address: (abstract ? '@' : '') + (decodeString(un[1]) ?? ''), port: null };
  }
  return null;
}
