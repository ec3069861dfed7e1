// Wraps the raw addon into the typed interfaces of types.ts: fd ownership, notices, defaults.
import { closeSync, constants as fsConstants } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { dumpSockets } from './sock-diag.ts';
import type { NativeAddon, NativeExecEvent, NativeGateMessage, NativeHandle } from './native.ts';
import type {
  CloseWriteWatch,
  CloseWriteWatchOptions,
  CloseWriteWatchStats,
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
  ProcConnectorStats,
  RespondOptions,
  RespondResult,
  WatchOptions,
} from './types.ts';

/** fanotify event bits, for FileEvent.mask and WatchOptions.mask. */
export const FanMask = {
  ACCESS: 0x1,
  MODIFY: 0x2,
  ATTRIB: 0x4,
  CLOSE_WRITE: 0x8,
  CLOSE_NOWRITE: 0x10,
  OPEN: 0x20,
  MOVED_FROM: 0x40,
  MOVED_TO: 0x80,
  CREATE: 0x100,
  DELETE: 0x200,
  DELETE_SELF: 0x400,
  MOVE_SELF: 0x800,
  OPEN_EXEC: 0x1000,
  OPEN_PERM: 0x10000,
  ONDIR: 0x40000000,
  EVENT_ON_CHILD: 0x08000000,
  /** MODIFY | CLOSE_WRITE | CREATE | DELETE | MOVED_FROM | MOVED_TO | EVENT_ON_CHILD */
  defaultWatch: 0x2 | 0x8 | 0x100 | 0x200 | 0x40 | 0x80 | 0x08000000,
} as const;

const closeQuietly = (fd: number): void => {
  if (fd < 0) return;
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
};

const signalNumber = (signal: NodeJS.Signals | number): number => {
  if (typeof signal === 'number') return signal;
  const n = osConstants.signals[signal];
  if (n === undefined) throw new TypeError(`unknown signal ${signal}`);
  return n;
};

class NativeExecGate implements ExecGate {
  #addon: NativeAddon;
  #handle: NativeHandle;
  #open = new Map<number, { fd: number; pidfd: number; timer?: NodeJS.Timeout }>();
  #expired = new Set<number>();
  #stopped = false;
  #grace: number;

  constructor(addon: NativeAddon, options: ExecGateOptions) {
    this.#addon = addon;
    this.#grace = options.fdGraceMs ?? 5000;
    const { onExec, onNotice } = options;
    this.#handle = addon.gateStart(
      {
        timeoutMs: options.timeoutMs ?? 1000,
        failClosedPrefixes: [...(options.failClosedPrefixes ?? [])],
        failClosedMemfd: options.failClosedMemfd ?? true,
        allowChildren: options.allowChildren ?? true,
        ...(options.mounts ? { mounts: [...options.mounts] } : {}),
        markMode: options.markMode ?? 'filesystem',
        followMounts: options.followMounts ?? true,
        maxPending: options.maxPending ?? 4096,
        cacheSize: options.cacheSize ?? 65536,
        capture: options.capture ?? false,
        captureEnv: [...(options.captureEnv ?? [])],
      },
      (m: NativeGateMessage) => {
        if (m.kind === 'exec') {
          this.#onExec(m, onExec);
          return;
        }
        if (m.kind === 'expired') this.#onExpired(m.id);
        // the gate thread has already closed the group (pending execs were allowed): release
        // the rest outside this callback, then tell the agent
        if (m.kind === 'fatal') setImmediate(() => this.stop());
        onNotice?.(m);
      },
    );
  }

  #onExec(m: NativeExecEvent, onExec: (req: ExecRequest) => void): void {
    if (this.#stopped) {
      closeQuietly(m.fd);
      closeQuietly(m.pidfd);
      return;
    }
    this.#open.set(m.id, { fd: m.fd, pidfd: m.pidfd });
    const { kind: _kind, ...rest } = m;
    onExec(Object.freeze({ ...rest, deadline: Date.now() + m.timeoutMs }));
  }

  #onExpired(id: number): void {
    this.#expired.add(id);
    if (this.#expired.size > 10000) {
      const first = this.#expired.values().next();
      if (!first.done) this.#expired.delete(first.value);
    }
    const entry = this.#open.get(id);
    if (entry && !entry.timer) {
      entry.timer = setTimeout(() => this.#release(id), this.#grace);
      entry.timer.unref();
    }
  }

  #release(id: number): void {
    const entry = this.#open.get(id);
    if (!entry) return;
    if (entry.timer) clearTimeout(entry.timer);
    closeQuietly(entry.fd);
    closeQuietly(entry.pidfd);
    this.#open.delete(id);
  }

  respond(id: number, verdict: ExecVerdict, options: RespondOptions = {}): RespondResult {
    const known = this.#open.has(id);
    this.#release(id);
    if (this.#stopped) return 'stopped';
    if (this.#expired.has(id)) return 'expired';
    if (!known) return 'unknown';
    const ok = this.#addon.gateRespond(
      this.#handle,
      id,
      verdict === 'allow',
      options.cache ?? false,
      verdict === 'allow' && (options.ignoreMark ?? false),
    );
    return ok ? 'answered' : 'stopped';
  }

  invalidate(file: { dev: number; ino: number; path?: string }): void {
    if (this.#stopped) return;
    this.#addon.gateInvalidate(this.#handle, file.dev, file.ino, file.path);
  }

  invalidateAll(): void {
    if (!this.#stopped) this.#addon.gateInvalidateAll(this.#handle);
  }

  allowPid(pid: number): void {
    if (!this.#stopped) this.#addon.gateAllowPid(this.#handle, pid, true);
  }

  forgetPid(pid: number): void {
    if (!this.#stopped) this.#addon.gateAllowPid(this.#handle, pid, false);
  }

  configure(policy: Partial<GatePolicy>): void {
    if (this.#stopped) return;
    const { failClosedPrefixes, ...rest } = policy;
    this.#addon.gateConfigure(this.#handle, {
      ...rest,
      ...(failClosedPrefixes ? { failClosedPrefixes: [...failClosedPrefixes] } : {}),
    });
  }

  stats(): ExecGateStats {
    return this.#addon.gateStats(this.#handle) as unknown as ExecGateStats;
  }

  unref(): void {
    if (!this.#stopped) this.#addon.gateRef(this.#handle, false);
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#addon.gateStop(this.#handle);
    for (const id of [...this.#open.keys()]) this.#release(id);
  }

  get stopped(): boolean {
    return this.#stopped;
  }
}

class NativeProcConnector implements ProcConnector {
  #addon: NativeAddon;
  #handle: NativeHandle;
  #stopped = false;

  constructor(addon: NativeAddon, options: ProcConnectorOptions) {
    this.#addon = addon;
    this.#handle = addon.procStart(
      { receiveBufferBytes: options.receiveBufferBytes ?? 32 * 1024 * 1024, envNames: options.envNames ?? [] },
      (events) => {
        if (!this.#stopped) options.onEvents(events);
      },
    );
  }

  stats(): ProcConnectorStats {
    return this.#addon.procStats(this.#handle) as unknown as ProcConnectorStats;
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#addon.procStop(this.#handle);
  }

  get stopped(): boolean {
    return this.#stopped;
  }
}

const resume = (addon: NativeAddon, pidfd: number): void => {
  try {
    if (pidfd >= 0) addon.pidfdSendSignal(pidfd, osConstants.signals.SIGCONT);
  } catch {
    // gone
  }
};

class NativeFileWatcher implements FileWatcher {
  #addon: NativeAddon;
  #handle: NativeHandle;
  #stopped = false;

  constructor(addon: NativeAddon, options: FileWatcherOptions) {
    this.#addon = addon;
    this.#handle = addon.watchStart({ reportPidfd: options.reportPidfd ?? true, freezeDeniedWriters: options.freezeDeniedWriters ?? false }, (batch) => {
      const events: FileEvent[] = batch.events.map((e) => ({
        ...e,
        path: e.name ? (e.dir === '/' ? `/${e.name}` : `${e.dir}/${e.name}`) : e.dir,
      }));
      try {
        if (batch.overflow) options.onOverflow?.();
        if (!this.#stopped && events.length > 0) options.onEvents(events);
        else for (const e of events) if (e.frozen) resume(addon, e.pidfd); // stopped: nobody will decide, let it go
      } finally {
        for (const e of events) closeQuietly(e.pidfd);
      }
    });
  }

  watch(path: string, options: WatchOptions = {}): void {
    this.#addon.watchMark(
      this.#handle,
      path,
      options.mask ?? FanMask.defaultWatch,
      options.kind ?? 'inode',
      false,
    );
  }

  unwatch(path: string, options: WatchOptions = {}): void {
    this.#addon.watchMark(
      this.#handle,
      path,
      options.mask ?? FanMask.defaultWatch,
      options.kind ?? 'inode',
      true,
    );
  }

  addDecoy(path: string): void {
    this.#addon.watchDecoy(this.#handle, path, false);
  }

  removeDecoy(path: string): void {
    this.#addon.watchDecoy(this.#handle, path, true);
  }

  excludeDecoyPid(pid: number, excluded = true): void {
    this.#addon.watchExcludePid(this.#handle, pid, excluded);
  }

  stats(): FileWatcherStats {
    return this.#addon.watchStats(this.#handle) as unknown as FileWatcherStats;
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#addon.watchStop(this.#handle);
  }

  get stopped(): boolean {
    return this.#stopped;
  }
}

class NativeCloseWriteWatch implements CloseWriteWatch {
  #addon: NativeAddon;
  #handle: NativeHandle;
  #stopped = false;

  constructor(addon: NativeAddon, options: CloseWriteWatchOptions) {
    this.#addon = addon;
    this.#handle = addon.xwatchStart(
      {
        ...(options.mounts ? { mounts: [...options.mounts] } : {}),
        markMode: options.markMode ?? 'filesystem',
        followMounts: options.followMounts ?? true,
        maxSize: options.maxSize ?? 64 * 1024 * 1024,
        attrib: options.attrib ?? true,
      },
      (batch) => {
        if (this.#stopped) {
          for (const f of batch.candidates) closeQuietly(f.fd);
          return;
        }
        if (batch.candidates.length > 0) options.onFiles(batch.candidates);
        if (batch.error !== undefined) options.onError?.(batch.error);
      },
    );
  }

  stats(): CloseWriteWatchStats {
    return this.#addon.xwatchStats(this.#handle) as unknown as CloseWriteWatchStats;
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#addon.xwatchStop(this.#handle);
  }

  get stopped(): boolean {
    return this.#stopped;
  }
}

export function createLinuxSensors(addon: NativeAddon): LinuxSensors {
  return {
    startExecGate: (options) => new NativeExecGate(addon, options),
    startProcConnector: (options) => new NativeProcConnector(addon, options),
    startFileWatcher: (options) => new NativeFileWatcher(addon, options),
    startCloseWriteWatch: (options) => new NativeCloseWriteWatch(addon, options),
    killPidfd: (pidfd, signal) => addon.pidfdSendSignal(pidfd, signalNumber(signal)),
    pidfdOpen: (pid) => addon.pidfdOpen(pid),
    probe: () => addon.probe(),
    dumpSockets: (query) => dumpSockets(addon, query),
  };
}

/** True when open(2) flags ask for writing (decoy reports). */
export const opensForWrite = (flags: number): boolean =>
  flags < 0 || (flags & 3) !== fsConstants.O_RDONLY || (flags & fsConstants.O_TRUNC) !== 0;
