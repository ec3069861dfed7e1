import type { DetectionEvent, FileEvent, NetworkEvent, Policy, SensorState } from '@yamori/protocol';
import {
  captureExec,
  hashFd,
  loadLinuxSensors,
  type CloseWriteWatch,
  type ExecGate as NativeGate,
  type ExecGateStats,
  type ExecRequest as NativeExecRequest,
  type GateNotice,
  type LinuxSensors,
  type ProcConnector,
  type ProcEvent,
  type Protection,
  type SensorLoadResult,
} from '@yamori/sensor-linux';
import type { Log } from './agent.ts';
import { createFileEventSource } from './file-events.ts';
import { createNetEventSource } from './net-events.ts';
import { createOverflowReporter } from './gate-overflow.ts';
import { createPreHasher, type PreHasher, type PreHashStats } from './exec-prepare.ts';
import { createPopupNotifier } from './notify/notifier.ts';
import type { ProcConnectorEvent } from './process-tree.ts';
import { snapshotFromExec, WATCHED_ENV } from './proc-reader.ts';
import type { EventSource, ExecAnswer, ExecGate, ExecPreparer, ExecRequest, Sensors } from './sensors.ts';

/**
 * The composition of the real Linux sensors (@yamori/sensor-linux: fanotify exec gate, proc
 * connector) into the agent's Sensors. The addon only senses, holds and answers; this adapter
 * reads each held exec (argv, cwd, user, sha256 through the event fd), hands it to the agent's
 * decision, answers the kernel, and lets the kernel remember clean files (native cache + ignore
 * mark). The policy's timeout and fail rule go to the gate thread, which answers on its own when
 * JavaScript is late, so a stalled agent costs at most that timeout per exec, never a hung host.
 */

export interface LinuxSensorOptions {
  /** Default: loadLinuxSensors(). */
  load?: () => SensorLoadResult;
  log?: Log;
  /** Mark only mounts at or below these paths (tests, debugging); default every real filesystem. */
  gateMounts?: readonly string[];
  markMode?: 'filesystem' | 'mount';
  /**
   * The agent's own children are answered by the gate thread (default true): with false, a spawn by
   * the agent of an unknown binary would block its own event loop until the timeout.
   */
  allowChildren?: boolean;
  /** Added to the policy's decision timeout for the gate thread's fail rule, so the agent's own
   * (glob-exact, alerting) fail rule normally answers first (default 50 ms). */
  failRuleGraceMs?: number;
  /** Protections to leave off (debugging). */
  disable?: readonly Protection[];
  /**
   * Hash and prepare executables when they are written (close-write watch on the gate's mounts),
   * so their first exec is decided from memory (default true; ADR 0011).
   */
  prepareOnWrite?: boolean;
  /** Written files bigger than this are left to the exec (default 64 MiB). */
  prepareMaxBytes?: number;
  /** Written files hashed at once (default 1). */
  prepareConcurrency?: number;
  /** Security events the sensors raise themselves (exec queue overflow): the agent records them as alerts. */
  onSecurityEvent?: (event: DetectionEvent) => void;
}

export interface LinuxSensorSet {
  sensors: Sensors;
  available: boolean;
  /** Protections that are off, and why (empty when everything is on). */
  off: { protection: Protection; reason: string }[];
  native?: LinuxSensors;
}

const fileKey = (r: { dev: number; ino: number; size: number; mtimeNs: bigint; ctimeNs: bigint }) =>
  `${r.dev}:${r.ino}:${r.size}:${r.mtimeNs}:${r.ctimeNs}`;

/** Policy globs the gate thread can apply as path prefixes ('/tmp/**' → '/tmp'); the rest stay with the agent. */
export function failClosedPrefixes(policy: Pick<Policy, 'exec'>): {
  prefixes: string[];
  notNative: string[];
} {
  if (policy.exec.onTimeout === 'deny') return { prefixes: ['/'], notNative: [] };
  const prefixes: string[] = [];
  const notNative: string[] = [];
  for (const g of policy.exec.failClosedPaths) {
    const base = g.endsWith('/**') ? g.slice(0, -3) : g;
    if (base.startsWith('/') && !/[*?[\]{}]/.test(base)) prefixes.push(base === '' ? '/' : base);
    else notNative.push(g);
  }
  return { prefixes, notNative };
}

const offState = (name: string, reason: string): SensorState => ({
  name,
  state: 'off',
  reason: reason.slice(0, 1024),
});

function offSource<E>(name: string, reason: string): EventSource<E> {
  return {
    name,
    start: async () => undefined,
    stop: async () => undefined,
    state: () => offState(name, reason),
  };
}

function offGate(reason: string): ExecGate {
  return {
    name: 'exec-gate',
    start: async () => undefined,
    stop: async () => undefined,
    flush: () => undefined,
    state: () => offState('exec-gate', reason),
  };
}

export function createLinuxSensors(options: LinuxSensorOptions = {}): LinuxSensorSet {
  const log: Log = options.log ?? (() => undefined);
  const loaded = (options.load ?? loadLinuxSensors)();
  if (!loaded.available) {
    const reason = `sensor addon unavailable (${loaded.reason}); protections off: ${loaded.protectionsOff.join(', ')}`;
    return {
      available: false,
      off: loaded.protectionsOff.map((protection) => ({ protection, reason: loaded.reason })),
      sensors: {
        execGate: offGate(reason),
        procEvents: offSource<ProcConnectorEvent>('proc-connector', reason),
        fileEvents: offSource<FileEvent>('file-events', reason),
        netEvents: offSource<NetworkEvent>('network-connections', reason),
        notifier: createPopupNotifier({ log }),
      },
    };
  }
  const native = loaded.sensors;
  const disabled = new Set(options.disable ?? []);
  const off: LinuxSensorSet['off'] = [...disabled].map((protection) => ({
    protection,
    reason: 'disabled by configuration',
  }));
  return {
    available: true,
    off,
    native,
    sensors: {
      execGate: disabled.has('exec-gate')
        ? offGate('exec gate disabled by configuration')
        : createExecGateAdapter(native, options, log),
      procEvents: disabled.has('proc-connector')
        ? offSource<ProcConnectorEvent>('proc-connector', 'proc connector disabled by configuration')
        : createProcAdapter(native, log),
      fileEvents: disabled.has('file-events')
        ? offSource<FileEvent>('file-events', 'file events disabled by configuration')
        : createFileEventSource({ sensors: native, log }),
      netEvents: disabled.has('network-connections')
        ? offSource<NetworkEvent>('network-connections', 'network connections disabled by configuration')
        : createNetEventSource({ sensors: native, log }),
      notifier: createPopupNotifier({ log }),
    },
  };
}

/** Where the hash an exec was decided with came from. */
export interface ExecHashStats {
  /** Hashed while the exec was held. */
  atExec: number;
  /** Found in the map, hashed when the file was written. */
  preHashed: number;
  /** The exec waited for the hash of the written file that was under way. */
  joined: number;
}

export interface ExecGateAdapter extends ExecGate {
  applyPolicy(policy: Policy): void;
  stats():
    | (ExecGateStats & {
        decideErrors: number;
        inFlight: number;
        hashes: ExecHashStats;
        /** The close-write pre-hash (ADR 0011); absent when it is off. */
        prepare?: PreHashStats & { watch: ReturnType<CloseWriteWatch['stats']> };
      })
    | undefined;
}

export function createExecGateAdapter(
  native: LinuxSensors,
  options: LinuxSensorOptions,
  log: Log,
): ExecGateAdapter {
  const grace = options.failRuleGraceMs ?? 50;
  let gate: NativeGate | undefined;
  let fatal: string | undefined;
  let overflows = 0;
  let decideErrors = 0;
  let inFlight = 0;
  let startError: string | undefined;
  let expiredSinceLog = 0;
  let lastExpiredLog = -Infinity;
  let policy: Partial<{ timeoutMs: number; failClosedPrefixes: string[] }> = {};
  const overflowReporter = options.onSecurityEvent ? createOverflowReporter({ emit: options.onSecurityEvent }) : undefined;
  // Unchanged files (same dev, ino, size, mtime, ctime) are not hashed twice.
  const hashes = new Map<string, string>();
  // sha256 → the inodes seen with that content, to flush exactly those when a verdict changes.
  const inodes = new Map<string, Map<string, { dev: number; ino: number; path: string }>>();
  // Keys hashed at close-write and not yet used by an exec (counted once in hashStats.preHashed).
  const preHashed = new Set<string>();
  const hashStats: ExecHashStats = { atExec: 0, preHashed: 0, joined: 0 };
  // Keys an exec is hashing right now: a close-write candidate for the same key is not hashed again.
  const hashingAtExec = new Set<string>();
  let watch: CloseWriteWatch | undefined;
  let preHasher: PreHasher | undefined;
  const remember = (req: { dev: number; ino: number; size: number; mtimeNs: bigint; ctimeNs: bigint; path: string }, sha256: string) => {
    if (hashes.size >= 65_536) hashes.delete(hashes.keys().next().value as string);
    hashes.set(fileKey(req), sha256);
    let set = inodes.get(sha256);
    if (!set) {
      if (inodes.size >= 65_536) inodes.delete(inodes.keys().next().value as string);
      set = new Map();
      inodes.set(sha256, set);
    }
    if (set.size < 64) set.set(`${req.dev}:${req.ino}`, { dev: req.dev, ino: req.ino, path: req.path });
  };

  async function handle(
    req: NativeExecRequest,
    decide: (r: ExecRequest) => Promise<ExecAnswer>,
  ): Promise<void> {
    inFlight++;
    let answer: ExecAnswer | undefined;
    try {
      const key = fileKey(req);
      const known = hashes.get(key);
      // a hash of this very file (same key) under way since it was written: wait for it
      const underWay = known === undefined ? preHasher?.pending(key) : undefined;
      const hashHere = known === undefined && underWay === undefined;
      if (hashHere) hashingAtExec.add(key);
      const [c, written] = await Promise.all([
        captureExec(req, { hash: hashHere, envNames: WATCHED_ENV }).finally(() => hashingAtExec.delete(key)),
        underWay,
      ]);
      let sha256 = known ?? written ?? c.sha256;
      if (known !== undefined && preHashed.delete(key)) hashStats.preHashed++;
      else if (written !== undefined) hashStats.joined++;
      else if (underWay !== undefined) sha256 = await hashFd(req.fd, { size: req.size }).catch(() => undefined); // changed meanwhile
      if (known === undefined && written === undefined && sha256 !== undefined) hashStats.atExec++;
      if (sha256) remember(req, sha256);
      answer = await decide({
        pid: req.pid,
        path: req.path,
        sha256,
        fd: req.fd,
        deadline: req.deadline,
        capture: { ppid: c.ppid, uid: c.uid, gid: c.gid, argv: c.argv, cwd: c.cwd, exe: c.exe || req.path, env: c.env },
      });
    } catch (err) {
      decideErrors++;
      log('error', 'exec decision failed: answering by the fail rule', {
        path: req.path,
        pid: req.pid,
        error: (err as Error).message,
      });
    } finally {
      inFlight--;
    }
    const g = gate;
    if (!g) return;
    const verdict = answer ? (answer.allow ? 'allow' : 'deny') : req.failClosed ? 'deny' : 'allow';
    const cache = answer?.cache === true;
    const r = g.respond(req.id, verdict, { cache, ignoreMark: cache && verdict === 'allow' });
    if (r === 'expired')
      log('debug', 'exec answered by the fail rule before the agent', { path: req.path, pid: req.pid });
  }

  const onNotice = (n: GateNotice) => {
    switch (n.kind) {
      case 'expired': {
        // counted in stats(); logged at most every 10 s so a slow spell cannot flood the log
        expiredSinceLog++;
        const t = Date.now();
        if (t - lastExpiredLog >= 10_000) {
          log(
            'warn',
            `exec decisions timed out: the gate's fail rule answered (last: ${n.verdict} for pid ${n.pid})`,
            { count: expiredSinceLog },
          );
          lastExpiredLog = t;
          expiredSinceLog = 0;
        }
        break;
      }
      case 'overflow':
        overflows += n.count;
        overflowReporter?.add(n.count);
        log('error', 'fanotify queue overflow: the kernel allowed execs the agent did not see', {
          count: n.count,
        });
        break;
      case 'fatal':
        fatal = `${n.message} (errno ${n.errno})`;
        log('error', 'exec gate stopped on a fatal error: pending execs were allowed', { error: fatal });
        break;
      case 'mounts':
        log('debug', 'exec gate re-marked mounts', { count: n.count });
        break;
    }
  };

  /** The close-write watch on the gate's mounts feeding the pre-hasher; a failure leaves the gate as it was. */
  const startPrepare = (preparer: ExecPreparer) => {
    const hasher = createPreHasher({
      key: fileKey,
      known: (key) => hashes.has(key) || hashingAtExec.has(key),
      remember: (file, sha256) => {
        const key = fileKey(file);
        if (hashes.has(key)) return;
        remember(file, sha256);
        if (preHashed.size >= 65_536) preHashed.clear();
        preHashed.add(key);
      },
      wanted: () => preparer.wanted(),
      prepare: (file) => preparer.prepare(file),
      hash: (fd, size) => hashFd(fd, { size, background: true }),
      concurrency: options.prepareConcurrency ?? 1,
      log,
    });
    try {
      watch = native.startCloseWriteWatch({
        ...(options.gateMounts ? { mounts: options.gateMounts } : {}),
        markMode: options.markMode ?? 'filesystem',
        maxSize: options.prepareMaxBytes ?? 64 * 1024 * 1024,
        onFiles: (files) => hasher.offer(files),
        onError: (message) => log('warn', 'close-write watch stopped: executables are hashed at their exec again', { error: message }),
      });
      preHasher = hasher;
    } catch (err) {
      log('warn', 'close-write watch did not start: executables are hashed at their exec', { error: (err as Error).message });
    }
  };

  return {
    name: 'exec-gate',
    async start(decide, preparer) {
      if (gate && !gate.stopped) return;
      fatal = undefined;
      startError = undefined;
      try {
        gate = native.startExecGate({
          ...(options.gateMounts ? { mounts: options.gateMounts } : {}),
          markMode: options.markMode ?? 'filesystem',
          allowChildren: options.allowChildren ?? true,
          failClosedMemfd: true,
          // who is exec'ing what is read in C on the gate's capture thread, off this thread
          capture: true,
          captureEnv: WATCHED_ENV,
          ...policy,
          onExec: (req) => void handle(req, decide),
          onNotice,
        });
      } catch (err) {
        startError = (err as Error).message;
        throw err;
      }
      if (preparer && (options.prepareOnWrite ?? true)) startPrepare(preparer);
      const s = gate.stats();
      log('info', 'exec gate started', {
        marks: s.marks,
        markErrors: s.markErrors,
        markMode: s.markMode,
        mounts: options.gateMounts ?? 'all',
        closeWriteWatch: watch ? watch.stats().marks : 'off',
      });
    },
    async stop() {
      // the gate first: an exec it holds pins the watch's marks, and closing the watch would wait
      // for that exec's answer, which may need this (then blocked) thread
      gate?.stop();
      watch?.stop();
      preHasher?.stop();
      watch = undefined;
      preHasher = undefined;
      overflowReporter?.flush();
    },
    flush(sha256s) {
      if (!gate) return;
      if (sha256s === undefined) {
        gate.invalidateAll();
        return;
      }
      for (const h of sha256s) {
        for (const f of inodes.get(h.toLowerCase())?.values() ?? []) gate.invalidate(f);
      }
    },
    setFallback(timeoutMs, onTimeout) {
      policy = {
        ...policy,
        timeoutMs: timeoutMs + grace,
        ...(onTimeout === 'deny' ? { failClosedPrefixes: ['/'] } : {}),
      };
      gate?.configure(policy);
    },
    applyPolicy(p) {
      const { prefixes, notNative } = failClosedPrefixes(p);
      if (notNative.length > 0)
        log(
          'info',
          'fail-closed globs the gate thread cannot apply (the agent still does, when it answers in time)',
          { globs: notNative },
        );
      policy = { timeoutMs: p.exec.decisionTimeoutMs + grace, failClosedPrefixes: prefixes };
      overflowReporter?.setMode(p.modules.malware.mode);
      gate?.configure(policy);
    },
    stats() {
      if (!gate) return undefined;
      const prepare = preHasher && watch ? { ...preHasher.stats(), watch: watch.stats() } : undefined;
      return { ...gate.stats(), decideErrors, inFlight, hashes: { ...hashStats }, ...(prepare ? { prepare } : {}) };
    },
    state(): SensorState {
      if (!gate) return offState('exec-gate', startError ? `failed to start: ${startError}` : 'not started');
      if (fatal) return offState('exec-gate', `stopped: ${fatal}`);
      if (gate.stopped) return offState('exec-gate', 'stopped');
      const s = gate.stats();
      const problems: string[] = [];
      if (s.marks === 0) problems.push('no filesystem is marked');
      if (s.markErrors > 0) problems.push(`${s.markErrors} mark errors`);
      if (overflows > 0) problems.push(`${overflows} execs lost to queue overflow`);
      if (s.timeouts > 0)
        problems.push(
          `${s.timeouts} decisions timed out (${s.failOpen} allowed, ${s.failClosed} denied by the fail rule)`,
        );
      if (s.queueFull > 0) problems.push(`${s.queueFull} answered by the fail rule at a full queue`);
      if (decideErrors > 0) problems.push(`${decideErrors} decision errors`);
      const written = preHasher && watch?.stats().running ? `; ${preHasher.stats().hashed} executables hashed when written, ${hashStats.preHashed} of them run since` : '';
      const detail = `${s.events} execs seen, ${s.cacheHits} answered from cache, ${s.jsAllowed} allowed, ${s.jsDenied} denied${written}`;
      return problems.length > 0 || s.marks === 0
        ? { name: 'exec-gate', state: 'degraded', reason: `${problems.join('; ')}; ${detail}`.slice(0, 1024) }
        : { name: 'exec-gate', state: 'active', reason: detail };
    },
  };
}

/** Proc connector events (fork/exec/exit of thread-group leaders matter) → the process tree's events. */
export function toProcConnectorEvent(e: ProcEvent): ProcConnectorEvent | undefined {
  switch (e.kind) {
    case 'fork':
      return {
        type: 'fork',
        pid: e.pid,
        tgid: e.tgid,
        ppid: e.parentTgid ?? e.parentPid ?? 0,
        ...(e.startTicks !== undefined ? { startTicks: e.startTicks } : {}),
      };
    case 'exec':
      return {
        type: 'exec',
        pid: e.pid,
        tgid: e.tgid,
        ...(e.snapshot !== undefined ? { snapshot: e.snapshot && snapshotFromExec(e.pid, e.snapshot) } : {}),
      };
    case 'exit':
      return {
        type: 'exit',
        pid: e.pid,
        tgid: e.tgid,
        ...(e.exitCode !== undefined ? { exitCode: e.exitCode } : {}),
      };
    case 'uid':
      return e.real !== undefined && e.effective !== undefined
        ? { type: 'uid', pid: e.pid, tgid: e.tgid, ruid: e.real, euid: e.effective }
        : undefined;
    case 'ptrace':
      return { type: 'ptrace', pid: e.pid, tgid: e.tgid, tracerPid: e.tracerPid ?? 0, tracerTgid: e.tracerTgid ?? 0 };
    default:
      return undefined;
  }
}

export function createProcAdapter(
  native: LinuxSensors,
  log: Log,
): EventSource<ProcConnectorEvent> & { stats(): ReturnType<ProcConnector['stats']> | undefined } {
  let conn: ProcConnector | undefined;
  let startError: string | undefined;
  return {
    name: 'proc-connector',
    async start(listener) {
      if (conn && !conn.stopped) return;
      startError = undefined;
      try {
        conn = native.startProcConnector({
          envNames: WATCHED_ENV,
          onEvents: (events) => {
            for (const e of events) {
              const ev = toProcConnectorEvent(e);
              if (!ev) continue;
              try {
                listener(ev);
              } catch (err) {
                log('warn', 'process event handler failed', { error: (err as Error).message });
              }
            }
          },
        });
      } catch (err) {
        startError = (err as Error).message;
        throw err;
      }
    },
    async stop() {
      conn?.stop();
    },
    stats: () => conn?.stats(),
    state(): SensorState {
      if (!conn)
        return offState('proc-connector', startError ? `failed to start: ${startError}` : 'not started');
      if (conn.stopped) return offState('proc-connector', 'stopped');
      const s = conn.stats();
      if (s.lost > 0 || s.overruns > 0 || s.droppedEvents > 0) {
        return {
          name: 'proc-connector',
          state: 'degraded',
          reason: `${s.lost} process events lost, ${s.overruns} receive overruns, ${s.droppedEvents} dropped; ${s.received} received`,
        };
      }
      return { name: 'proc-connector', state: 'active', reason: `${s.received} process events received` };
    },
  };
}
