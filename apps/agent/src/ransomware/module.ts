import { createHash } from 'node:crypto';
import { closeSync, openSync, readdirSync, readlinkSync, readSync, statSync, constants as fsConstants } from 'node:fs';
import type { Policy, SensorState } from '@yamori/protocol';
import { FanMask, type FileEvent, type FileWatcher } from '@yamori/sensor-linux';
import type { AgentModule, Detection, ModuleContext } from '../modules.ts';
import type { AppliedPolicy } from '../policy-store.ts';
import { DECOYS, isDecoyName } from './decoy-content.ts';
import { expandDecoyFolders } from './decoy-folders.ts';
import { loadManifest, placeDecoy, removeDecoy, saveManifest, type DecoyRecord } from './decoy-manager.ts';
import {
  createEncryptionDetector,
  DEFAULT_LIMITS,
  encryptedReason,
  inspectContent,
  isRansomNoteName,
  PROBE_BYTES,
  type DetectorLimits,
  type Signal,
} from './encryption-detector.ts';

/**
 * Ransomware protection on Linux (issue 5, item 7), in two lines:
 * 1. decoys: hidden files of real formats at both ends of each policy folder's sort order, guarded
 *    by a fanotify open-permission mark (its own group, answered by the addon's thread without
 *    waiting for JS): in block mode an open for writing is denied in the kernel and the writer's
 *    process tree is killed through the pidfd the event carries; in monitor mode the decoys are only
 *    watched and a write becomes a "would have" alert (nothing is denied: monitor stops nothing);
 * 2. a behavioural detector per process over the folders' notification events (inode marks on each
 *    folder and its subdirectories, bounded): files rewritten or renamed into high-entropy data that
 *    no longer matches their extension, decoys deleted or renamed, ransom notes, within a window.
 * Exclusions (module `ransomware`, by path or sha256 of the process executable) are applied by the
 * responder; the module also tells the addon to let excluded processes write decoys, from the
 * process list at start and from each exec, so a backup tool is never denied.
 */

export interface RansomwareModuleOptions {
  /** How often decoys are checked and folders re-expanded (ms, default 60 s). */
  checkIntervalMs?: number;
  /** Most folders that get decoys (default 256). */
  maxFolders?: number;
  /** Most directories watched for the behavioural detector, folders and their subdirectories (default 4096). */
  maxWatchDirs?: number;
  limits?: DetectorLimits;
}

export interface RansomwareModule extends AgentModule {
  /** The decoys in place now (what the manifest lists). */
  decoys(): DecoyRecord[];
  /** Check and re-create decoys now (the periodic check; tests call it). */
  check(): void;
  stats(): Readonly<RansomwareStats>;
  /** The addon lets this process write decoys (an exclusion covers it). */
  excludedPid(pid: number): boolean;
}

export interface RansomwareStats {
  folders: number;
  decoys: number;
  watchedDirs: number;
  decoyWrites: number;
  recreated: number;
  detections: number;
  excludedPids: number;
  probes: number;
  skipped: string[];
}

const TECHNIQUES = ['T1486'];
const WATCH_MASK =
  FanMask.CLOSE_WRITE | FanMask.CREATE | FanMask.DELETE | FanMask.MOVED_FROM | FanMask.MOVED_TO | FanMask.EVENT_ON_CHILD | FanMask.ONDIR;
const ENTRY_GONE = FanMask.DELETE | FanMask.MOVED_FROM;

const basename = (p: string) => p.slice(p.lastIndexOf('/') + 1);

/** Read at most PROBE_BYTES from the start of a file (no symlinks, no FIFOs, never blocks). */
function readHead(path: string): Uint8Array | undefined {
  let fd: number;
  try {
    fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const buf = Buffer.allocUnsafe(PROBE_BYTES);
    const n = readSync(fd, buf, 0, PROBE_BYTES, 0);
    return buf.subarray(0, n);
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

function startTicksOf(pid: number): number | undefined {
  try {
    const text = readFileSyncSmall(`/proc/${pid}/stat`);
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const v = Number(rest[19]);
    return Number.isFinite(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

function readFileSyncSmall(path: string): string {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(4096);
    const n = readSync(fd, buf, 0, buf.length, 0);
    return buf.toString('utf8', 0, n);
  } finally {
    closeSync(fd);
  }
}

export function createRansomwareModule(options: RansomwareModuleOptions = {}): RansomwareModule {
  const checkEvery = options.checkIntervalMs ?? 60_000;
  const maxWatchDirs = options.maxWatchDirs ?? 4096;
  const detector = createEncryptionDetector(options.limits ?? DEFAULT_LIMITS);
  let ctx: ModuleContext | undefined;
  let watcher: FileWatcher | undefined;
  let timer: NodeJS.Timeout | undefined;
  let recreateTimer: NodeJS.Timeout | undefined;
  let offReason: string | undefined;
  let mode: Policy['modules']['ransomware']['mode'] = 'off';
  let armed = false;
  const decoys = new Map<string, DecoyRecord>();
  /** Folder → decoys guarded there; plus every watched directory (folders and subdirectories). */
  const folders = new Set<string>();
  const watched = new Set<string>();
  let skipped: string[] = [];
  let truncated = 0;
  /** pid → exclusion decision for one process incarnation (start time). */
  const exclusionCache = new Map<number, { ticks: number | undefined; excluded: boolean }>();
  const excludedInAddon = new Set<number>();
  /** pid → the process incarnation already reported (one alert per process). */
  const reported = new Map<number, number | undefined>();
  const movedFrom = new Map<number, { path: string; at: number }>();
  const hashCache = new Map<string, string>();
  const stats = { decoyWrites: 0, recreated: 0, detections: 0, probes: 0 };

  const log = (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => ctx?.log(level, `ransomware: ${msg}`, fields);

  // ---------- exclusions ----------

  const applied = (): AppliedPolicy | undefined => ctx?.applied();
  const ransomwareExclusions = () =>
    (applied()?.document.exclusions ?? []).filter((e) => !e.modules || e.modules.length === 0 || e.modules.includes('ransomware'));
  let needSha = false;
  let hasProcessExclusions = false;
  const refreshExclusionKinds = () => {
    const list = ransomwareExclusions();
    needSha = list.some((e) => e.kind === 'sha256');
    hasProcessExclusions = list.some((e) => e.kind === 'sha256' || e.kind === 'path' || e.kind === 'parent_child');
  };

  /** sha256 of an executable, remembered per (path, inode, size, mtime). */
  function exeHash(path: string): string | undefined {
    try {
      const st = statSync(path);
      const key = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`; // the file, whichever /proc/PID/exe names it
      const hit = hashCache.get(key);
      if (hit) return hit;
      const h = createHash('sha256');
      const fd = openSync(path, 'r');
      try {
        const buf = Buffer.allocUnsafe(1 << 20);
        let off = 0;
        for (;;) {
          const n = readSync(fd, buf, 0, buf.length, off);
          if (n <= 0) break;
          h.update(buf.subarray(0, n));
          off += n;
        }
      } finally {
        closeSync(fd);
      }
      const hex = h.digest('hex');
      if (hashCache.size > 1024) hashCache.clear();
      hashCache.set(key, hex);
      return hex;
    } catch {
      return undefined;
    }
  }

  /**
   * Make sure the agent's process tree knows `pid` with its executable (and, when the policy has
   * sha256 exclusions, its hash): the responder matches exclusions on what the tree says, and a
   * process the tree has not seen (or whose hash the exec gate never computed) would otherwise be
   * judged by the decoy's path.
   */
  function ensureKnown(pid: number, justHandled: boolean): void {
    if (!ctx) return;
    const tree = ctx.tree;
    let node = tree.get(pid);
    if (!justHandled && (!node || node.exe === undefined)) {
      tree.handle({ type: 'exec', pid });
      node = tree.get(pid);
    }
    if (needSha && node?.exe && !node.sha256) {
      const sha = exeHash(`/proc/${pid}/exe`);
      if (sha) tree.attachHash(pid, node.exe, sha);
    }
  }

  /**
   * `exec`: the process's start time, for an exec the tree has just handled (nothing to read from
   * /proc again: the tree has what there was).
   */
  function isExcluded(pid: number, exec?: { ticks: number | undefined }): boolean {
    if (pid === process.pid) return true;
    if (!hasProcessExclusions || !ctx) return false;
    const ticks = exec ? exec.ticks : startTicksOf(pid);
    const hit = exclusionCache.get(pid);
    // a process that has exited keeps its decision for the events still queued about it
    if (hit && (hit.ticks === ticks || ticks === undefined)) return hit.excluded;
    ensureKnown(pid, exec !== undefined);
    const node = ctx.tree.get(pid);
    const found = applied()?.exclusions.find(
      { module: 'ransomware', path: node?.exe, sha256: node?.sha256, parentPath: node ? ctx.tree.get(node.ppid)?.exe : undefined },
      ctx.now(),
    );
    const excluded = found !== undefined;
    if (exclusionCache.size > 8192) exclusionCache.clear();
    exclusionCache.set(pid, { ticks, excluded });
    setAddonExclusion(pid, excluded);
    return excluded;
  }

  function setAddonExclusion(pid: number, excluded: boolean): void {
    if (!watcher || watcher.stopped) return;
    if (excluded === excludedInAddon.has(pid)) return;
    watcher.excludeDecoyPid(pid, excluded);
    if (excluded) excludedInAddon.add(pid);
    else excludedInAddon.delete(pid);
  }

  /** Processes already running that the exclusions cover (backup daemons started before the agent). */
  function scanRunning(): void {
    // decided afresh, applied as a difference: an excluded backup tool is never briefly un-excluded
    exclusionCache.clear();
    const seen = new Set<number>();
    let pids: number[] = [];
    if (hasProcessExclusions) {
      try {
        pids = readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number);
      } catch {
        // no /proc: exec events still decide
      }
    }
    for (const pid of pids) {
      try {
        readlinkSync(`/proc/${pid}/exe`);
      } catch {
        continue; // kernel thread or gone
      }
      seen.add(pid);
      isExcluded(pid);
    }
    for (const pid of [...excludedInAddon]) if (!seen.has(pid)) setAddonExclusion(pid, false);
  }

  // ---------- decoys ----------

  function persist(): void {
    if (!ctx) return;
    try {
      saveManifest(ctx.stateDir, [...decoys.values()], { mode, folders: [...folders], skipped, truncated });
    } catch (err) {
      log('warn', 'cannot write the decoy manifest', { error: (err as Error).message });
    }
  }

  const guard = (path: string) => {
    if (!watcher || watcher.stopped || mode !== 'block') return;
    try {
      watcher.addDecoy(path);
    } catch (err) {
      skipped.push(`${path}: cannot guard: ${(err as Error).message}`);
    }
  };
  const unguard = (path: string) => {
    try {
      if (watcher && !watcher.stopped) watcher.removeDecoy(path);
    } catch {
      // the inode is gone, so is its mark
    }
  };
  const watchDir = (dir: string): boolean => {
    if (!watcher || watcher.stopped || watched.has(dir)) return true;
    if (watched.size >= maxWatchDirs) return false;
    try {
      watcher.watch(dir, { mask: WATCH_MASK });
      watched.add(dir);
    } catch {
      // gone or not permitted: the periodic check tries again
    }
    return true;
  };
  const unwatchDir = (dir: string) => {
    watched.delete(dir);
    try {
      if (watcher && !watcher.stopped) watcher.unwatch(dir, { mask: WATCH_MASK });
    } catch {
      // gone
    }
  };

  /**
   * The folder and its subdirectories, breadth first, up to the watch bound. Hidden directories
   * (.cache, .git, .npm …) are left out: build tools and caches write there all day, and they hold
   * nothing a ransomware author encrypts for ransom.
   */
  function watchTree(folder: string): void {
    const queue = [folder];
    while (queue.length > 0) {
      const dir = queue.shift() as string;
      if (!watchDir(dir)) return;
      try {
        for (const d of readdirSync(dir, { withFileTypes: true })) {
          if (d.isDirectory() && !d.name.startsWith('.')) queue.push(dir === '/' ? `/${d.name}` : `${dir}/${d.name}`);
        }
      } catch {
        // unreadable
      }
    }
  }

  function ensureFolder(folder: string): void {
    for (const spec of DECOYS) {
      const path = folder === '/' ? `/${spec.name}` : `${folder}/${spec.name}`;
      const known = decoys.get(path);
      const r = placeDecoy(folder, spec, known, ctx?.now() ?? Date.now());
      if (r.record) {
        if (r.written && known) stats.recreated++;
        if (r.written || !known) guard(path);
        decoys.set(path, r.record);
      } else if (r.skipped) {
        skipped.push(r.skipped);
        if (known) decoys.delete(path);
      }
    }
  }

  /** Bring decoys, guards and watches in line with the policy (and, on a new policy, the excluded processes). */
  function sync(policy: Policy, rescan: boolean): void {
    if (!ctx || !watcher) return;
    const was = mode;
    mode = policy.modules.ransomware.mode;
    skipped = [];
    refreshExclusionKinds();
    const wanted = mode === 'off' ? { folders: [], truncated: 0, rejected: [] } : expandDecoyFolders(policy.modules.ransomware.decoyFolders, { ...(options.maxFolders ? { maxFolders: options.maxFolders } : {}) });
    truncated = wanted.truncated;
    skipped.push(...wanted.rejected.map((g) => `decoy folder glob rejected: ${g}`));
    const keep = new Set(wanted.folders);
    for (const [path, rec] of [...decoys]) {
      if (keep.has(rec.folder)) continue;
      unguard(path);
      removeDecoy(rec);
      decoys.delete(path);
    }
    for (const dir of [...watched]) if (![...keep].some((f) => dir === f || dir.startsWith(`${f}/`))) unwatchDir(dir);
    folders.clear();
    for (const f of wanted.folders) folders.add(f);
    for (const f of wanted.folders) ensureFolder(f);
    for (const f of wanted.folders) watchTree(f);
    // block ↔ monitor: the permission marks exist in block mode only
    if (was !== mode || !armed) {
      for (const path of decoys.keys()) {
        if (mode === 'block') guard(path);
        else unguard(path);
      }
      armed = true;
    }
    if (rescan) scanRunning();
    persist();
  }

  function check(): void {
    if (!ctx) return;
    sync(ctx.policy(), false);
  }

  let pendingRecreate = false;
  function scheduleRecreate(): void {
    if (pendingRecreate) return;
    pendingRecreate = true;
    // a short delay lets a burst of deletions finish; the files come back in one pass
    recreateTimer = setTimeout(() => {
      pendingRecreate = false;
      if (!ctx || mode === 'off') return;
      for (const f of folders) ensureFolder(f);
      persist();
    }, 200);
    recreateTimer.unref();
  }

  // ---------- detections ----------

  function alreadyReported(pid: number): boolean {
    if (!reported.has(pid)) return false;
    const ticks = startTicksOf(pid);
    return ticks === undefined || reported.get(pid) === ticks; // gone: late events of a killed process
  }

  function respond(pid: number, pidfd: number, d: Omit<Detection, 'module' | 'process' | 'techniques' | 'actions'>, frozen = false): void {
    if (!ctx || alreadyReported(pid)) return;
    if (reported.size > 4096) reported.clear();
    reported.set(pid, startTicksOf(pid));
    ensureKnown(pid, false);
    const node = ctx.tree.get(pid);
    stats.detections++;
    // synchronous up to the kill: the pidfd is valid only during the watcher's callback
    ctx
      .respond({
        module: 'ransomware',
        techniques: TECHNIQUES,
        actions: ['kill_tree'],
        process: { pid, ...(pidfd >= 0 ? { pidfd } : {}), ...(node ? { entityId: node.entityId } : {}) },
        ...d,
      })
      .then((outcome) => {
        if (outcome.excluded) setAddonExclusion(pid, true);
        // frozen by the addon and not killed (excluded after all, monitor, kill failed): let it go
        if (frozen && !outcome.done.includes('kill_tree')) {
          try {
            process.kill(pid, 'SIGCONT');
          } catch {
            // gone
          }
        }
        if (outcome.failed.length > 0) log('warn', 'response failed', { pid, failed: outcome.failed });
      })
      .catch((err: unknown) => log('error', 'respond failed', { error: (err as Error).message }));
  }

  const fileInfo = (path: string) => {
    const name = basename(path);
    const dot = name.lastIndexOf('.');
    return { path, name, directory: path.slice(0, path.lastIndexOf('/')) || '/', ...(dot > 0 ? { extension: name.slice(dot + 1).slice(0, 64) } : {}) };
  };

  /** Let a writer the addon froze go on (excluded, or no longer block mode); its write stays denied. */
  function resume(e: FileEvent): void {
    try {
      if (e.pidfd >= 0) ctx?.native?.killPidfd(e.pidfd, 'SIGCONT');
      else process.kill(e.pid, 'SIGCONT');
    } catch {
      // gone
    }
  }

  function onDecoyWrite(e: FileEvent, how: string): void {
    stats.decoyWrites++;
    if (isExcluded(e.pid) || (e.frozen && mode !== 'block')) {
      if (e.frozen) resume(e);
      return;
    }
    if (e.frozen && alreadyReported(e.pid)) return; // its kill is under way
    const exe = ctx?.tree.get(e.pid)?.exe;
    respond(e.pid, e.pidfd, {
      rule: {
        id: 'yamori-ransomware-decoy-write',
        name: 'Ransomware decoy file written',
        ruleset: 'yamori',
        level: 'critical',
        description: 'A process opened a decoy file for writing. Decoys are hidden files no person or program has a reason to change; ransomware that encrypts a folder reaches them first or last.',
      },
      reasons: [`${exe ?? 'a process'} (pid ${e.pid}) ${how} decoy ${e.path}${e.frozen ? ' (stopped inside the open)' : ''}`],
      file: fileInfo(e.path),
      score: 100,
    }, e.frozen === true);
  }

  function signal(e: FileEvent, s: Signal): void {
    if (!ctx) return;
    const finding = detector.observe(e.pid, s, ctx.now());
    if (!finding) return;
    if (isExcluded(e.pid) || alreadyReported(e.pid)) return;
    // Block mode: stop it now, as the addon does for a decoy writer. The kill that follows walks the
    // process table (milliseconds), and at full speed ransomware encrypts several files per millisecond.
    const frozen = mode === 'block' && freeze(e);
    const exe = ctx.tree.get(e.pid)?.exe;
    respond(e.pid, e.pidfd, {
      rule: {
        id: 'yamori-ransomware-behaviour',
        name: 'Files encrypted in bulk',
        ruleset: 'yamori',
        level: 'critical',
        description: 'One process rewrote or renamed many files into high-entropy data that no longer matches their type, within a short window.',
      },
      reasons: [`${exe ?? 'a process'} (pid ${e.pid}): ${finding.reasons[0] ?? ''}`, ...finding.reasons.slice(1)],
      file: fileInfo(s.path),
      score: Math.min(100, 50 + finding.score * 5),
    }, frozen);
  }

  function freeze(e: FileEvent): boolean {
    try {
      if (e.pidfd >= 0 && ctx?.native) ctx.native.killPidfd(e.pidfd, 'SIGSTOP');
      else process.kill(e.pid, 'SIGSTOP');
      return true;
    } catch {
      return false;
    }
  }

  function onFileEvent(e: FileEvent): void {
    const name = e.name;
    const isDecoy = decoys.has(e.path) || (name !== '' && isDecoyName(name) && folders.has(e.dir));
    if (isDecoy) {
      if (e.mask & ENTRY_GONE) scheduleRecreate();
      if (e.pid === process.pid) return;
      if (e.mask & FanMask.CLOSE_WRITE) {
        onDecoyWrite(e, 'wrote');
        scheduleRecreate();
      } else if (e.mask & ENTRY_GONE && !isExcluded(e.pid)) {
        signal(e, { kind: 'decoy_touched', path: e.path, reason: `${e.mask & FanMask.DELETE ? 'deleted' : 'renamed'} decoy ${e.path}` });
      }
      return;
    }
    if (e.mask & FanMask.ONDIR) {
      if (e.mask & (FanMask.CREATE | FanMask.MOVED_TO) && !name.startsWith('.') && [...folders].some((f) => e.path.startsWith(`${f}/`))) watchTree(e.path);
      return;
    }
    if (e.pid === process.pid || name === '' || excludedInAddon.has(e.pid)) return;
    if (e.mask & FanMask.MOVED_FROM) {
      if (movedFrom.size > 4096) movedFrom.clear();
      movedFrom.set(e.pid, { path: e.path, at: ctx?.now() ?? 0 });
    }
    if (!(e.mask & (FanMask.CLOSE_WRITE | FanMask.MOVED_TO))) return;
    if (isRansomNoteName(name) && e.mask & FanMask.CLOSE_WRITE) {
      if (!isExcluded(e.pid)) signal(e, { kind: 'note', path: e.path, reason: `wrote ${e.path}, a ransom note name` });
      return;
    }
    const from = e.mask & FanMask.MOVED_TO ? movedFrom.get(e.pid) : undefined;
    // written in place, then renamed: the rename adds nothing when the write already counted
    if (from && detector.counted(e.pid, from.path)) return;
    stats.probes++;
    const head = readHead(e.path);
    if (!head) return;
    const content = inspectContent(head);
    if (!content.opaque) return;
    const reason = encryptedReason(name, content, from ? basename(from.path) : undefined);
    if (!reason) return;
    if (isExcluded(e.pid)) return;
    // a file encrypted then renamed is one file: count it under its original name
    signal(e, { kind: 'encrypted', path: from && from.at >= (ctx?.now() ?? 0) - 5_000 ? from.path : e.path, reason });
  }

  function onEvents(batch: FileEvent[]): void {
    for (const e of batch) {
      try {
        if (e.kind === 'decoy') {
          if (e.denied) onDecoyWrite(e, `opened for writing (flags 0x${(e.openFlags ?? -1).toString(16)}; denied)`);
        } else onFileEvent(e);
      } catch (err) {
        log('warn', 'event handling failed', { error: (err as Error).message });
      }
    }
  }

  // ---------- module ----------

  const module: RansomwareModule = {
    name: 'ransomware',
    async start(c) {
      ctx = c;
      if (!c.native) {
        offReason = 'the sensor addon is unavailable: no decoys, no file events';
        return;
      }
      for (const rec of loadManifest(c.stateDir)) decoys.set(rec.path, rec);
      // block mode's decoy guard freezes a denied writer in the kernel's open(): nothing more is encrypted while we decide
      watcher = c.native.startFileWatcher({ onEvents, onOverflow: () => scheduleRecreate(), freezeDeniedWriters: true });
      offReason = undefined;
      sync(c.policy(), true);
      timer = setInterval(check, checkEvery);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      if (recreateTimer) clearTimeout(recreateTimer);
      timer = undefined;
      // decoys stay on disk (see decoy-manager.ts); their guard goes with the fanotify group
      persist();
      watcher?.stop();
      watcher = undefined;
      watched.clear();
      excludedInAddon.clear();
      armed = false;
    },
    applyPolicy(p) {
      if (watcher) sync(p.document, true);
    },
    onProcEvent(ev) {
      if (!watcher) return;
      if (ev.type === 'exit') {
        // decisions (exclusion, reported) stay for the events still queued about it; a new process with the pid differs by start time
        detector.forget(ev.pid);
        movedFrom.delete(ev.pid);
        if (excludedInAddon.has(ev.pid)) setAddonExclusion(ev.pid, false);
      } else if (ev.type === 'exec' && hasProcessExclusions) {
        exclusionCache.delete(ev.pid);
        // the tree handled this exec first: what it knows is all there is
        isExcluded(ev.pid, { ticks: ctx?.tree.get(ev.pid)?.startTicks });
      }
    },
    state(): SensorState {
      if (offReason) return { name: 'ransomware', state: 'off', reason: offReason };
      if (mode === 'off') return { name: 'ransomware', state: 'off', reason: 'module off in the policy: no decoys' };
      const list = [...decoys.keys()];
      const problems = skipped.length > 0 ? `; ${skipped.length} problem(s): ${skipped.slice(0, 2).join('; ')}` : '';
      const reason = `${mode}: ${list.length} decoys in ${folders.size} folder(s)${truncated ? ` (${truncated} more folders over the bound)` : ''}, ${watched.size} dirs watched${problems}; decoys: ${list.join(', ')}`;
      return { name: 'ransomware', state: skipped.length > 0 || folders.size === 0 ? 'degraded' : 'active', reason: reason.slice(0, 1024) };
    },
    decoys: () => [...decoys.values()],
    check,
    excludedPid: (pid) => excludedInAddon.has(pid),
    stats: () => ({
      folders: folders.size,
      decoys: decoys.size,
      watchedDirs: watched.size,
      excludedPids: excludedInAddon.size,
      skipped: [...skipped],
      ...stats,
    }),
  };
  return module;
}
