// An in-memory LinuxSensors for tests of agent logic (no root, no kernel). It keeps the
// gate's contract: self/registered pids and cached verdicts never reach onExec, a miss is
// answered by respond() or by the fail rule at its deadline, and stop() allows what is pending.
import type {
  CloseWriteWatch,
  CloseWriteWatchOptions,
  ExecGate,
  ExecGateOptions,
  ExecGateStats,
  ExecRequest,
  ExecVerdict,
  FileEvent,
  FileWatcher,
  FileWatcherOptions,
  FileWatcherStats,
  GatePolicy,
  LinuxSensors,
  ProcConnector,
  ProcConnectorOptions,
  ProcEvent,
  RespondOptions,
  RespondResult,
  SocketEntry,
  WrittenFile,
} from './types.ts';

export interface FakeExec {
  path: string;
  pid?: number;
  dev?: number;
  ino?: number;
  size?: number;
  mtimeNs?: bigint;
  ctimeNs?: bigint;
}

export interface FakeSensors extends LinuxSensors {
  /** An exec reaching the running gate; resolves with the kernel's answer (EPERM for 'deny'). */
  exec(e: FakeExec): Promise<ExecVerdict>;
  emitProc(events: ProcEvent[]): void;
  emitFile(events: FileEvent[], overflow?: boolean): void;
  /** Candidates reaching every running close-write watch (the receiver owns their fds). */
  emitWritten(files: WrittenFile[]): void;
  readonly kills: { pidfd: number; signal: NodeJS.Signals | number }[];
  readonly gates: ExecGate[];
  /** What dumpSockets() returns: edit it to model connections coming and going. */
  readonly sockets: SocketEntry[];
}

const emptyStats = (): ExecGateStats => ({
  events: 0,
  captures: 0,
  captureUs: 0,
  selfAllowed: 0,
  cacheHits: 0,
  misses: 0,
  jsAllowed: 0,
  jsDenied: 0,
  timeouts: 0,
  failOpen: 0,
  failClosed: 0,
  queueFull: 0,
  overflows: 0,
  lateResponses: 0,
  ignoreMarks: 0,
  ignoreMarkErrors: 0,
  marks: 1,
  markErrors: 0,
  mountRescans: 1,
  writeErrors: 0,
  pending: 0,
  droppedNotices: 0,
  running: true,
  reportPidfd: true,
  unlimitedQueue: true,
  markMode: 'filesystem',
});

class FakeGate implements ExecGate {
  #opts: ExecGateOptions;
  #policy: GatePolicy;
  #pending = new Map<number, { resolve: (v: ExecVerdict) => void; key: string; timer: NodeJS.Timeout }>();
  #cache = new Map<string, ExecVerdict>();
  #marks = new Set<string>();
  #pids = new Set<number>();
  #expired = new Set<number>();
  #stats = emptyStats();
  #next = 0;
  stopped = false;

  constructor(opts: ExecGateOptions) {
    this.#opts = opts;
    this.#policy = {
      timeoutMs: opts.timeoutMs ?? 1000,
      failClosedPrefixes: opts.failClosedPrefixes ?? [],
      failClosedMemfd: opts.failClosedMemfd ?? true,
      allowChildren: opts.allowChildren ?? true,
    };
  }

  #failClosed(path: string): boolean {
    if (this.#policy.failClosedMemfd && path.startsWith('/memfd:')) return true;
    return this.#policy.failClosedPrefixes.some(
      (p) => path === p || path.startsWith(p.endsWith('/') ? p : `${p}/`),
    );
  }

  exec(e: FakeExec): Promise<ExecVerdict> {
    if (this.stopped) return Promise.resolve('allow');
    const s = this.#stats;
    s.events++;
    const pid = e.pid ?? 1000;
    if (pid === process.pid || this.#pids.has(pid)) {
      s.selfAllowed++;
      return Promise.resolve('allow');
    }
    const ident = `${e.dev ?? 1}:${e.ino ?? 1}`;
    const key = `${ident}:${e.size ?? 0}:${e.mtimeNs ?? 0n}:${e.ctimeNs ?? 0n}`;
    if (this.#marks.has(key)) return Promise.resolve('allow'); // answered by the kernel: not an event
    const cached = this.#cache.get(key);
    if (cached) {
      s.cacheHits++;
      return Promise.resolve(cached);
    }
    s.misses++;
    const id = ++this.#next;
    const failClosed = this.#failClosed(e.path);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        this.#expired.add(id);
        s.timeouts++;
        if (failClosed) s.failClosed++;
        else s.failOpen++;
        const verdict: ExecVerdict = failClosed ? 'deny' : 'allow';
        this.#opts.onNotice?.({ kind: 'expired', id, pid, verdict });
        resolve(verdict);
      }, this.#policy.timeoutMs);
      this.#pending.set(id, { resolve, key, timer });
      const req: ExecRequest = {
        id,
        pid,
        fd: -1,
        pidfd: -1,
        path: e.path,
        failClosed,
        timeoutMs: this.#policy.timeoutMs,
        deadline: Date.now() + this.#policy.timeoutMs,
        dev: e.dev ?? 1,
        ino: e.ino ?? 1,
        size: e.size ?? 0,
        mtimeNs: e.mtimeNs ?? 0n,
        ctimeNs: e.ctimeNs ?? 0n,
      };
      this.#opts.onExec(req);
    });
  }

  respond(id: number, verdict: ExecVerdict, options: RespondOptions = {}): RespondResult {
    if (this.stopped) return 'stopped';
    const p = this.#pending.get(id);
    if (!p) {
      if (this.#expired.has(id)) {
        this.#stats.lateResponses++;
        return 'expired';
      }
      return 'unknown';
    }
    clearTimeout(p.timer);
    this.#pending.delete(id);
    if (verdict === 'allow') this.#stats.jsAllowed++;
    else this.#stats.jsDenied++;
    if (options.cache) this.#cache.set(p.key, verdict);
    if (verdict === 'allow' && options.ignoreMark) {
      this.#marks.add(p.key);
      this.#stats.ignoreMarks++;
    }
    p.resolve(verdict);
    return 'answered';
  }

  invalidate(file: { dev: number; ino: number; path?: string }): void {
    const prefix = `${file.dev}:${file.ino}:`;
    for (const k of [...this.#cache.keys()]) if (k.startsWith(prefix)) this.#cache.delete(k);
    if (file.path !== undefined)
      for (const k of [...this.#marks]) if (k.startsWith(prefix)) this.#marks.delete(k);
  }

  invalidateAll(): void {
    this.#cache.clear();
    this.#marks.clear();
  }

  allowPid(pid: number): void {
    this.#pids.add(pid);
  }

  forgetPid(pid: number): void {
    this.#pids.delete(pid);
  }

  configure(policy: Partial<GatePolicy>): void {
    this.#policy = { ...this.#policy, ...policy };
  }

  stats(): ExecGateStats {
    return { ...this.#stats, pending: this.#pending.size, running: !this.stopped };
  }

  unref(): void {}

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.resolve('allow'); // closing the group allows everything pending
    }
    this.#pending.clear();
  }
}

export function createFakeSensors(): FakeSensors {
  const gates: FakeGate[] = [];
  const procs: { o: ProcConnectorOptions; pc: ProcConnector & { stopped: boolean } }[] = [];
  const watchers: { o: FileWatcherOptions; w: FileWatcher & { stopped: boolean } }[] = [];
  const kills: { pidfd: number; signal: NodeJS.Signals | number }[] = [];
  const sockets: SocketEntry[] = [];
  const watcherStats = (): FileWatcherStats => ({
    events: 0,
    overflows: 0,
    droppedBatches: 0,
    droppedEvents: 0,
    unresolved: 0,
    decoyOpens: 0,
    decoyDenied: 0,
    decoyErrors: 0,
    decoyFrozen: 0,
    reportPidfd: true,
  });
  const writeWatches: { o: CloseWriteWatchOptions; w: CloseWriteWatch }[] = [];
  const closeWriteStats = {
    events: 0,
    attribEvents: 0,
    selfIgnored: 0,
    filtered: 0,
    tooLarge: 0,
    candidates: 0,
    droppedBatches: 0,
    droppedCandidates: 0,
    overflows: 0,
    reopenErrors: 0,
    marks: 1,
    markErrors: 0,
    attribMarks: 1,
    attribMarkErrors: 0,
    mountRescans: 1,
    markMode: 'filesystem' as const,
  };
  return {
    gates,
    kills,
    startExecGate(options) {
      const g = new FakeGate(options);
      gates.push(g);
      return g;
    },
    startProcConnector(o) {
      const pc = {
        stopped: false,
        stats: () => ({
          received: 0,
          batches: 0,
          overruns: 0,
          lost: 0,
          droppedBatches: 0,
          droppedEvents: 0,
          receiveBufferBytes: 0,
        }),
        stop() {
          pc.stopped = true;
        },
      };
      procs.push({ o, pc });
      return pc;
    },
    startCloseWriteWatch(o) {
      const w: CloseWriteWatch = {
        stopped: false,
        stats: () => ({ ...closeWriteStats, running: !w.stopped }),
        stop() {
          (w as { stopped: boolean }).stopped = true;
        },
      };
      writeWatches.push({ o, w });
      return w;
    },
    startFileWatcher(o) {
      const w = {
        stopped: false,
        watch() {},
        unwatch() {},
        addDecoy() {},
        removeDecoy() {},
        excludeDecoyPid() {},
        stats: watcherStats,
        stop() {
          w.stopped = true;
        },
      };
      watchers.push({ o, w });
      return w;
    },
    killPidfd(pidfd, signal) {
      kills.push({ pidfd, signal });
    },
    pidfdOpen: () => 100,
    probe: () => ({ fake: 'ok' }),
    dumpSockets: (q) =>
      sockets.filter(
        (s) =>
          s.family === q.family && s.protocol === q.protocol && ((q.states ?? 0xffffffff) >>> s.state) & 1,
      ),
    sockets,
    exec(e) {
      const g = gates.findLast((x) => !x.stopped);
      return g ? g.exec(e) : Promise.resolve('allow');
    },
    emitProc(events) {
      for (const { o, pc } of procs) if (!pc.stopped) o.onEvents(events);
    },
    emitWritten(files) {
      for (const { o, w } of writeWatches) if (!w.stopped) o.onFiles(files);
    },
    emitFile(events, overflow = false) {
      for (const { o, w } of watchers) {
        if (w.stopped) continue;
        if (overflow) o.onOverflow?.();
        if (events.length) o.onEvents(events);
      }
    },
  };
}
