// The typed face of the Linux sensors. The agent receives these interfaces by injection;
// tests of agent logic use fakes that implement them. No policy lives below this line:
// the addon only senses, holds and answers as told (or by the fail rule on timeout).

export type ExecVerdict = 'allow' | 'deny';

/** An exec held in the kernel until JS responds or `timeoutMs` passes. */
/**
 * What the gate's capture thread read while the exec was held (ExecGateOptions.capture), in C
 * and off the JavaScript thread; captureExec() turns it into an ExecCapture.
 */
export interface NativeExecCapture {
  ppid: number;
  /** Effective uid and gid (the owner of /proc/PID; real ids would cost a read of status). */
  uid: number;
  gid: number;
  cwd: string;
  /**
   * 'execve': argv (and env) are the new image's, from the held execve's arguments; 'remote':
   * some of them sit in memory mapped from FUSE or a network filesystem, which the thread does
   * not read (JavaScript reads those through the thread pool); 'none': not in execve any more.
   */
  argvSource: 'execve' | 'remote' | 'none';
  /** NUL-terminated arguments, concatenated. */
  argv?: string;
  /** The NAME=value entries of `captureEnv`, each NUL-terminated. */
  env?: string;
}

export interface ExecRequest {
  readonly id: number;
  /** tgid of the exec'ing process (it is blocked inside execve while this is pending). */
  readonly pid: number;
  /** The binary being executed, opened by the kernel. Owned by the gate: valid until you
   * respond (or `fdGraceMs` after expiry). Read it with positional reads (it is a dup). */
  readonly fd: number;
  /** pidfd of the exec'ing process (FAN_REPORT_PIDFD), -1 if the kernel gave none. Same lifetime as fd. */
  readonly pidfd: number;
  readonly path: string;
  /** What the fail rule does if JS does not answer in time. */
  readonly failClosed: boolean;
  readonly timeoutMs: number;
  /** When the fail rule answers, in Date.now() milliseconds. */
  readonly deadline: number;
  readonly dev: number;
  readonly ino: number;
  readonly size: number;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
  /** Present when the gate captures (ExecGateOptions.capture). */
  readonly capture?: NativeExecCapture;
}

export interface RespondOptions {
  /** Remember the verdict in the native cache keyed by (dev, ino, size, mtime, ctime). */
  cache?: boolean;
  /** Allow only: add an evictable inode ignore mark; the kernel drops it when the file is written. */
  ignoreMark?: boolean;
}

/** 'answered': sent to the gate thread; 'expired': the fail rule already answered; 'unknown': no such id. */
export type RespondResult = 'answered' | 'expired' | 'unknown' | 'stopped';

export type GateNotice =
  | { kind: 'expired'; id: number; pid: number; verdict: ExecVerdict }
  | { kind: 'overflow'; count: number }
  | { kind: 'mounts'; count: number }
  | { kind: 'fatal'; errno: number; message: string };

export interface GatePolicy {
  /** Decision timeout per exec; then the fail rule answers. */
  timeoutMs: number;
  /** Path prefixes answered deny when JS does not answer in time (e.g. /tmp, /dev/shm). */
  failClosedPrefixes: readonly string[];
  /** memfd execs are fail-closed (note: memfd's internal mount cannot carry a mark on 6.18). */
  failClosedMemfd: boolean;
  /** Allow execs by direct children of this process without asking JS. */
  allowChildren: boolean;
}

export interface ExecGateOptions extends Partial<GatePolicy> {
  /** Mark only mounts at or below these paths (tests); default: every non-pseudo mount. */
  mounts?: readonly string[];
  /** 'filesystem' (default): one FAN_MARK_FILESYSTEM per superblock; 'mount': FAN_MARK_MOUNT per mount. */
  markMode?: 'filesystem' | 'mount';
  /** Re-scan /proc/self/mountinfo on change and mark new mounts (default true). */
  followMounts?: boolean;
  maxPending?: number;
  cacheSize?: number;
  /** How long fd/pidfd of an expired request stay open for JS that is still reading (default 5000). */
  fdGraceMs?: number;
  /** Read each miss's process (ids, cwd, new argv, `captureEnv`) on a native thread before JS hears of it (default false). */
  capture?: boolean;
  /** Environment variables of the new image the capture reads (default none). */
  captureEnv?: readonly string[];
  /** Called for each cache miss. Must not throw; answer with gate.respond(). */
  onExec: (req: ExecRequest) => void;
  onNotice?: (notice: GateNotice) => void;
}

export interface ExecGateStats {
  events: number;
  /** Misses read by the capture thread, and the microseconds that took in all. */
  captures: number;
  captureUs: number;
  selfAllowed: number;
  cacheHits: number;
  misses: number;
  jsAllowed: number;
  jsDenied: number;
  timeouts: number;
  failOpen: number;
  failClosed: number;
  queueFull: number;
  overflows: number;
  lateResponses: number;
  ignoreMarks: number;
  ignoreMarkErrors: number;
  marks: number;
  markErrors: number;
  mountRescans: number;
  writeErrors: number;
  pending: number;
  droppedNotices: number;
  running: boolean;
  reportPidfd: boolean;
  unlimitedQueue: boolean;
  markMode: 'filesystem' | 'mount';
}

export interface ExecGate {
  respond(id: number, verdict: ExecVerdict, options?: RespondOptions): RespondResult;
  /** Drop the cached verdict of one inode; with `path`, also remove its ignore mark. */
  invalidate(file: { dev: number; ino: number; path?: string }): void;
  /** Drop every cached verdict and flush every ignore mark. */
  invalidateAll(): void;
  /** Treat this process like the gate's own (e.g. the agent's helpers). */
  allowPid(pid: number): void;
  forgetPid(pid: number): void;
  configure(policy: Partial<GatePolicy>): void;
  stats(): ExecGateStats;
  /** Let the process exit while the gate runs (default: the gate keeps the event loop alive). */
  unref(): void;
  /** Closes the fanotify group: the kernel allows anything still pending. Idempotent. */
  stop(): void;
  readonly stopped: boolean;
}

export type ProcEventKind = 'fork' | 'exec' | 'exit' | 'uid' | 'gid' | 'sid' | 'ptrace' | 'comm' | 'coredump';

/**
 * What /proc said about a process right after its exec, read by the connector's own thread as it
 * drained the event (so a program that lived a millisecond is still complete).
 */
export interface ProcExecSnapshot {
  ppid: number;
  /** Field 22 of /proc/PID/stat (clock ticks since boot). */
  startTicks: number;
  /** comm */
  name: string;
  exe?: string;
  cwd?: string;
  /** NUL-separated, as /proc/PID/cmdline (at most 128 KiB). */
  cmdline?: string;
  /** Real uid and gid. */
  uid?: number;
  gid?: number;
  /** The NAME=value entries of the variables named in `envNames`, NUL-separated. */
  environ?: string;
}

export interface ProcEvent {
  kind: ProcEventKind;
  pid: number;
  tgid: number;
  cpu: number;
  timestampNs: number;
  /** fork of a process (not a thread): the child's start time, when it was still there to read. */
  startTicks?: number;
  /** exec of a process (not a thread); null when it was gone before /proc could be read. */
  snapshot?: ProcExecSnapshot | null;
  parentPid?: number;
  parentTgid?: number;
  exitCode?: number;
  exitSignal?: number;
  tracerPid?: number;
  tracerTgid?: number;
  /** uid/gid events: real and effective id. */
  real?: number;
  effective?: number;
  comm?: string;
}

export interface ProcConnectorOptions {
  receiveBufferBytes?: number;
  /** Environment variables an exec snapshot carries (default none). */
  envNames?: readonly string[];
  onEvents: (events: ProcEvent[]) => void;
}

export interface ProcConnectorStats {
  received: number;
  batches: number;
  /** ENOBUFS reported by the socket (receive buffer overrun). */
  overruns: number;
  /** Events missed, from gaps in the kernel's per-CPU sequence numbers. */
  lost: number;
  droppedBatches: number;
  droppedEvents: number;
  receiveBufferBytes: number;
}

export interface ProcConnector {
  stats(): ProcConnectorStats;
  stop(): void;
  readonly stopped: boolean;
}

export interface FileEvent {
  kind: 'file' | 'decoy';
  /** FAN_* bits (see FanMask). */
  mask: number;
  pid: number;
  /** Valid only during the onEvents call (use it there, e.g. killPidfd); -1 if none. */
  pidfd: number;
  dir: string;
  name: string;
  /** dir + '/' + name, or dir when the event is about the directory itself. */
  path: string;
  /** decoy: the opener's open(2) flags, -1 if they could not be read. */
  openFlags?: number;
  /** decoy: the open was denied (opened for writing by a non-excluded process). */
  denied?: boolean;
  /**
   * decoy, with `freezeDeniedWriters`: the writer was stopped (SIGSTOP) before its open returned.
   * The receiver kills it or resumes it (SIGCONT through `pidfd` during the call).
   */
  frozen?: boolean;
}

export interface FileWatcherOptions {
  reportPidfd?: boolean;
  /**
   * Stop a writer denied on a decoy (SIGSTOP through its pidfd) before answering the kernel, so it
   * cannot encrypt another file while JS decides. Default false. Events JS never receives (queue
   * full, shutdown) resume their writers.
   */
  freezeDeniedWriters?: boolean;
  onEvents: (events: FileEvent[]) => void;
  /** The kernel queue overflowed: events were lost, rescan what matters. */
  onOverflow?: () => void;
}

export interface WatchOptions {
  /** Default FanMask.defaultWatch. */
  mask?: number;
  /** 'inode' (default: the path and, for a directory, its direct children), 'mount' or 'filesystem'. */
  kind?: 'inode' | 'mount' | 'filesystem';
}

export interface FileWatcherStats {
  events: number;
  overflows: number;
  droppedBatches: number;
  droppedEvents: number;
  unresolved: number;
  decoyOpens: number;
  decoyDenied: number;
  decoyErrors: number;
  decoyFrozen: number;
  reportPidfd: boolean;
}

export interface FileWatcher {
  watch(path: string, options?: WatchOptions): void;
  unwatch(path: string, options?: WatchOptions): void;
  /** Guard a decoy file: opens for writing by non-excluded processes are denied and reported. */
  addDecoy(path: string): void;
  removeDecoy(path: string): void;
  excludeDecoyPid(pid: number, excluded?: boolean): void;
  stats(): FileWatcherStats;
  stop(): void;
  readonly stopped: boolean;
}

/**
 * A file that may be executed soon: closed after writing (or, best effort, its attributes changed,
 * e.g. `chmod +x`), regular, 1 byte to `maxSize`, with an execute bit or starting with `\x7fELF`
 * or `#!`. The identity fields are those of ExecRequest, read with fstat when the event was read.
 */
export interface WrittenFile {
  /** Opened read-only by the kernel. Owned by the receiver: close it when done. */
  readonly fd: number;
  /** The writer's tgid. */
  readonly pid: number;
  readonly path: string;
  readonly dev: number;
  readonly ino: number;
  readonly size: number;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
}

export interface CloseWriteWatchOptions {
  /** Mark only mounts at or below these paths (tests); default: every non-pseudo mount, as the exec gate. */
  mounts?: readonly string[];
  /** As ExecGateOptions.markMode (default 'filesystem'). */
  markMode?: 'filesystem' | 'mount';
  /** Re-scan /proc/self/mountinfo on change and mark new mounts (default true). */
  followMounts?: boolean;
  /** Bigger files are not reported (default 64 MiB). */
  maxSize?: number;
  /** Also hear attribute changes (chmod +x after the write) through a FID group (default true). */
  attrib?: boolean;
  /** Candidates in batches; the receiver owns each fd. */
  onFiles: (files: WrittenFile[]) => void;
  /** The watch stopped on an error (its groups are closed). */
  onError?: (message: string) => void;
}

export interface CloseWriteWatchStats {
  /** Close-write events read. */
  events: number;
  /** Attribute-change events read (FID group). */
  attribEvents: number;
  selfIgnored: number;
  /** Not a candidate (not regular, empty, no x bit and no ELF or #! header). */
  filtered: number;
  /** Over maxSize. */
  tooLarge: number;
  candidates: number;
  /** Lost because the queue to JavaScript was full. */
  droppedBatches: number;
  droppedCandidates: number;
  /** The kernel's queue overflowed (events lost). */
  overflows: number;
  reopenErrors: number;
  marks: number;
  markErrors: number;
  attribMarks: number;
  attribMarkErrors: number;
  mountRescans: number;
  running: boolean;
  markMode: 'filesystem' | 'mount';
}

export interface CloseWriteWatch {
  stats(): CloseWriteWatchStats;
  /** Closes both groups and joins the thread. Idempotent. */
  stop(): void;
  readonly stopped: boolean;
}

/** One NETLINK_SOCK_DIAG dump: an address family and protocol, optionally a state mask (1 << TcpState). */
export interface SocketQuery {
  family: 4 | 6;
  protocol: 'tcp' | 'udp';
  /** Default: every state. */
  states?: number;
}

/** One socket of a sock_diag dump (the agent's network namespace only). */
export interface SocketEntry {
  readonly family: 4 | 6;
  readonly protocol: 'tcp' | 'udp';
  /** TcpState value (UDP: ESTABLISHED when connected, CLOSE otherwise). */
  readonly state: number;
  /** Owner uid (the creator's); 0 for TIME_WAIT and request sockets. */
  readonly uid: number;
  /** Socket inode, as in /proc/PID/fd 'socket:[inode]'; 0 when no file holds it (TIME_WAIT, orphans, accept queue). */
  readonly inode: number;
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** The kernel's socket cookie: unique for the boot, stable while the socket (then its TIME_WAIT) lives. */
  readonly cookie: number;
}

export interface KernelProbe {
  [feature: string]: string;
}

export interface LinuxSensors {
  startExecGate(options: ExecGateOptions): ExecGate;
  startProcConnector(options: ProcConnectorOptions): ProcConnector;
  startFileWatcher(options: FileWatcherOptions): FileWatcher;
  /** Executables written (close-write) on the gate's mounts, filtered natively: see WrittenFile. */
  startCloseWriteWatch(options: CloseWriteWatchOptions): CloseWriteWatch;
  /** pidfd_send_signal(2): no pid-reuse race. */
  killPidfd(pidfd: number, signal: NodeJS.Signals | number): void;
  pidfdOpen(pid: number): number;
  probe(): KernelProbe;
  /** Synchronous NETLINK_SOCK_DIAG dump (about 1 ms per 1,000 sockets); throws with errno on failure. */
  dumpSockets(query: SocketQuery): SocketEntry[];
}

export type Protection =
  'exec-gate' | 'file-events' | 'decoys' | 'proc-connector' | 'pidfd-kill' | 'network-connections';

export type SensorLoadResult =
  | { available: true; sensors: LinuxSensors }
  | { available: false; reason: string; protectionsOff: readonly Protection[] };
