import { randomUUID } from 'node:crypto';
import { lstatSync, readdirSync, type Dirent } from 'node:fs';
import {
  defaultPolicy,
  type FileEvent,
  type Policy,
  type ProcessRef,
  type SensorState,
} from '@yamori/protocol';
import { matchGlob } from '@yamori/detection';
import {
  FanMask,
  type FileEvent as RawFileEvent,
  type FileWatcher,
  type FileWatcherOptions,
} from '@yamori/sensor-linux';
import type { Log } from './agent.ts';
import { createProcessDescriber } from './net-events.ts';
import type { EventSource } from './sensors.ts';

/**
 * File events on the policy's watched paths (`telemetry.watchedPaths`, globs such as '/etc/**',
 * '/home/* /.ssh/**' without the space) as ECS FileEvents with the writer's process.
 *
 * Marks: fanotify inode marks, one per directory. An inode mark on a directory reports only its
 * direct children, so a recursive glob needs a mark on every directory below its static prefix.
 * The alternative, one filesystem (or mount) mark filtered by prefix in JavaScript, would deliver
 * every write on that filesystem to the agent (logs, databases, package installs) just to drop
 * nearly all of it; per-directory marks cost the kernel one mark per directory and deliver only
 * what is in scope. So: walk from the deepest existing directory of each glob's static prefix,
 * mark directories whose children may match with the full mask and directories that only lead
 * to matches (/home for '/home/* /.ssh/**', /root while /root/.ssh does not exist) with a
 * structure mask (creations and moves in), follow new directories as they appear, and stop at
 * `maxDirs` directories (reported as degraded). Files written into a new directory before its
 * mark is placed are picked up by a listing right after marking (reported without a process).
 *
 * Bursts are coalesced: changes (MODIFY, CLOSE_WRITE) of one file by one process are reported
 * once per `coalesceMs` window (default 1 s), and a change right after that process created
 * the file is part of the creation.
 */

export interface FileEventsOptions {
  sensors: { startFileWatcher(options: FileWatcherOptions): FileWatcher };
  /** Until the first applyPolicy (default: the default policy's watched paths). */
  watchedPaths?: readonly string[];
  /** Directories marked at most (default 4096; the kernel's per-user limit is far higher). */
  maxDirs?: number;
  coalesceMs?: number;
  /** Events caused by this pid (the agent's own writes) are dropped (default process.pid). */
  selfPid?: number;
  describeProcess?: (pid: number) => ProcessRef | undefined;
  now?: () => number;
  newId?: () => string;
  log?: Log;
}

const FULL_MASK =
  FanMask.MODIFY |
  FanMask.CLOSE_WRITE |
  FanMask.CREATE |
  FanMask.DELETE |
  FanMask.MOVED_FROM |
  FanMask.MOVED_TO |
  FanMask.EVENT_ON_CHILD |
  FanMask.ONDIR;
const STRUCTURE_MASK = FanMask.CREATE | FanMask.MOVED_TO | FanMask.EVENT_ON_CHILD | FanMask.ONDIR;

// ---------- glob planning (pure) ----------

const segRegex = new Map<string, RegExp>();
function segMatch(glob: string, seg: string): boolean {
  let re = segRegex.get(glob);
  if (!re) {
    re = new RegExp(
      `^${glob
        .split('')
        .map((c) => (c === '*' ? '[^/]*' : c === '?' ? '[^/]' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
        .join('')}$`,
      's',
    );
    if (segRegex.size > 4096) segRegex.clear();
    segRegex.set(glob, re);
  }
  return re.test(seg);
}

const segments = (p: string) => p.split('/').filter((s) => s !== '');

/** Positions in the glob's segments reachable after matching the directory's segments. */
function positions(globSegs: readonly string[], dirSegs: readonly string[]): Set<number> {
  const closure = (s: Set<number>) => {
    for (const i of [...s])
      for (let j = i; j < globSegs.length && globSegs[j]?.includes('**'); j++) s.add(j + 1);
    return s;
  };
  let cur = closure(new Set([0]));
  for (const d of dirSegs) {
    const next = new Set<number>();
    for (const i of cur) {
      const g = globSegs[i];
      if (g === undefined) continue;
      if (g.includes('**')) next.add(i); // '**' also takes this segment and stays
      if (g.includes('**') ? true : segMatch(g, d)) next.add(i + 1);
    }
    cur = closure(next);
    if (cur.size === 0) break;
  }
  return cur;
}

/** How a directory relates to the globs: 'children' (a direct child may match), 'below' (only deeper paths), or none. */
export function dirScope(dir: string, globs: readonly string[]): 'children' | 'below' | undefined {
  const d = segments(dir);
  let below = false;
  for (const g of globs) {
    const gs = segments(g);
    for (const i of positions(gs, d)) {
      if (i === gs.length - 1 || (i < gs.length && gs[i]?.includes('**'))) return 'children';
      if (i < gs.length - 1) below = true;
    }
  }
  return below ? 'below' : undefined;
}

/** The literal directory part of a glob ('/home/* /.ssh/**' → '/home'; '/etc/passwd' → '/etc/passwd'). */
export function staticPrefix(glob: string): string {
  const out: string[] = [];
  for (const s of segments(glob)) {
    if (/[*?]/.test(s)) break;
    out.push(s);
  }
  return `/${out.join('/')}`;
}

export const matchesAny = (path: string, globs: readonly string[]): boolean =>
  globs.some((g) => matchGlob(g, path));

export function splitPath(path: string): { name: string; directory: string; extension?: string } {
  const i = path.lastIndexOf('/');
  const name = path.slice(i + 1);
  const directory = i <= 0 ? '/' : path.slice(0, i);
  const dot = name.lastIndexOf('.');
  const extension = dot > 0 && dot < name.length - 1 ? name.slice(dot + 1) : undefined;
  return { name, directory, ...(extension && extension.length <= 64 ? { extension } : {}) };
}

// ---------- the source ----------

export type FileEventType = 'creation' | 'change' | 'deletion' | 'rename';

export interface FileEventsStats {
  dirs: number;
  markErrors: number;
  /** Directories not marked because of maxDirs. */
  skippedDirs: number;
  reported: number;
  coalesced: number;
  outOfScope: number;
  unresolved: number;
  overflows: number;
  droppedEvents: number;
}

export interface FileEventSource extends EventSource<FileEvent> {
  stats(): FileEventsStats;
  /** The globs in force. */
  readonly globs: readonly string[];
}

const ACTION: Record<FileEventType, string> = {
  creation: 'creation',
  change: 'modification',
  deletion: 'deletion',
  rename: 'rename',
};

export function createFileEventSource(options: FileEventsOptions): FileEventSource {
  const maxDirs = options.maxDirs ?? 4096;
  const coalesceMs = options.coalesceMs ?? 1000;
  const selfPid = options.selfPid ?? process.pid;
  const now = options.now ?? Date.now;
  const newId = options.newId ?? randomUUID;
  const log: Log = options.log ?? (() => undefined);
  const describe = options.describeProcess ?? createProcessDescriber();
  /** As the policy says, and the absolute ones in force. */
  let configured: string[] = [...(options.watchedPaths ?? defaultPolicy().telemetry.watchedPaths)];
  let globs = configured.filter((g) => g.startsWith('/'));
  let watcher: FileWatcher | undefined;
  let listener: ((e: FileEvent) => void) | undefined;
  let startError: string | undefined;
  const marked = new Set<string>();
  /** `${pid}\0${path}` → when its last creation/change was reported */
  const recent = new Map<string, number>();
  const st = {
    markErrors: 0,
    skippedDirs: 0,
    reported: 0,
    coalesced: 0,
    outOfScope: 0,
    unresolved: 0,
    overflows: 0,
  };
  let lastMarkError: string | undefined;

  const mark = (dir: string, scope: 'children' | 'below'): boolean => {
    if (!watcher) return false;
    if (!marked.has(dir) && marked.size >= maxDirs) {
      st.skippedDirs++;
      return false;
    }
    try {
      watcher.watch(dir, { kind: 'inode', mask: scope === 'children' ? FULL_MASK : STRUCTURE_MASK });
      marked.add(dir);
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'E2' /* ENOENT: gone meanwhile */) {
        st.markErrors++;
        lastMarkError = `${dir}: ${(err as Error).message}`;
      }
      return false;
    }
  };

  /** Marks `start` and the directories below it that may hold matches (breadth first, bounded). Returns the files found in directories that were not marked before. */
  const walk = (start: string, listNew: boolean): string[] => {
    const found: string[] = [];
    const queue = [start];
    while (queue.length > 0) {
      const dir = queue.shift() as string;
      const scope = dirScope(dir, globs);
      if (!scope) continue;
      const fresh = !marked.has(dir);
      if (!mark(dir, scope)) continue;
      let entries: Dirent[];
      try {
        entries = readdirSync(dir, { withFileTypes: true });
      } catch {
        continue;
      }
      for (const e of entries) {
        const p = dir === '/' ? `/${e.name}` : `${dir}/${e.name}`;
        if (e.isDirectory())
          queue.push(p); // not a symlink: Dirent does not follow
        else if (listNew && fresh && scope === 'children') found.push(p);
      }
    }
    return found;
  };

  const deepestDir = (p: string): string => {
    let cur = p;
    for (;;) {
      try {
        if (lstatSync(cur).isDirectory()) return cur;
      } catch {
        // missing: try the parent
      }
      if (cur === '/' || cur === '') return '/';
      const i = cur.lastIndexOf('/');
      cur = i <= 0 ? '/' : cur.slice(0, i);
    }
  };

  const markAll = () => {
    marked.clear();
    st.skippedDirs = 0;
    for (const g of globs) walk(deepestDir(staticPrefix(g)), false);
  };

  const event = (
    type: FileEventType,
    path: string,
    pid: number | undefined,
    extra: { isDir?: boolean; original?: string },
  ): FileEvent => {
    const process = pid === undefined || pid <= 0 ? undefined : (describe(pid) ?? { pid });
    const parts = splitPath(path);
    return {
      '@timestamp': new Date(now()).toISOString(),
      event: {
        id: newId(),
        dataset: 'yamori.file',
        kind: 'event',
        category: ['file'],
        type: [type],
        action: ACTION[type],
      },
      file: {
        path: path.slice(0, 4096),
        name: parts.name.slice(0, 1024),
        directory: parts.directory.slice(0, 4096),
        ...(parts.extension && !extra.isDir ? { extension: parts.extension } : {}),
        ...(extra.isDir ? { type: 'dir' } : {}),
        ...(extra.original ? { Ext: { original: { path: extra.original.slice(0, 4096) } } } : {}),
      },
      ...(process ? { process } : {}),
    };
  };

  const emit = (e: FileEvent) => {
    st.reported++;
    try {
      listener?.(e);
    } catch (err) {
      log('warn', 'file event handler failed', { error: (err as Error).message });
    }
  };

  /** Coalescing: true when this creation/change should be reported now. */
  const due = (type: FileEventType, pid: number, path: string, t: number): boolean => {
    const key = `${pid}\0${path}`;
    if (type === 'deletion' || type === 'rename') {
      recent.delete(key);
      return true;
    }
    const last = recent.get(key);
    if (type === 'change' && last !== undefined && t - last < coalesceMs) {
      st.coalesced++;
      return false;
    }
    if (recent.size >= 8192) for (const [k, at] of recent) if (t - at >= coalesceMs) recent.delete(k);
    if (recent.size >= 8192) recent.delete(recent.keys().next().value as string);
    recent.set(key, t);
    return true;
  };

  const report = (
    type: FileEventType,
    path: string,
    pid: number,
    extra: { isDir?: boolean; original?: string } = {},
  ) => {
    if (!matchesAny(path, globs) && !(extra.original && matchesAny(extra.original, globs))) {
      st.outOfScope++;
      return;
    }
    if (!due(type, pid, path, now())) return;
    emit(event(type, path, pid, extra));
  };

  const onNewDir = (path: string) => {
    if (!dirScope(path, globs)) return;
    for (const f of walk(path, true)) if (matchesAny(f, globs)) emit(event('creation', f, undefined, {}));
  };

  const forgetDir = (path: string) => {
    for (const d of marked) if (d === path || d.startsWith(`${path}/`)) marked.delete(d);
  };

  const onEvents = (batch: RawFileEvent[]) => {
    // MOVED_FROM waits for the MOVED_TO of the same pid (the kernel queues them one after the other)
    let moving: RawFileEvent | undefined;
    const flushMove = () => {
      if (!moving) return;
      const m = moving;
      moving = undefined;
      if (m.mask & FanMask.ONDIR) forgetDir(m.path);
      if (m.pid !== selfPid) report('rename', m.path, m.pid, { isDir: (m.mask & FanMask.ONDIR) !== 0 }); // moved out of sight
    };
    for (const e of batch) {
      if (e.kind !== 'file') continue;
      if (!e.dir) {
        st.unresolved++;
        continue;
      }
      const isDir = (e.mask & FanMask.ONDIR) !== 0;
      const self = e.pid === selfPid;
      if (e.mask & FanMask.CREATE) {
        if (isDir) onNewDir(e.path);
        if (!self) report('creation', e.path, e.pid, { isDir });
      }
      if (e.mask & (FanMask.MODIFY | FanMask.CLOSE_WRITE) && !isDir && !self) report('change', e.path, e.pid);
      if (e.mask & FanMask.MOVED_FROM) {
        flushMove();
        moving = e;
      }
      if (e.mask & FanMask.MOVED_TO) {
        const from = moving && moving.pid === e.pid ? moving : undefined;
        if (from) {
          moving = undefined;
          if (isDir) forgetDir(from.path);
        }
        if (isDir) onNewDir(e.path);
        if (!self) report('rename', e.path, e.pid, { isDir, ...(from ? { original: from.path } : {}) });
      }
      if (e.mask & FanMask.DELETE) {
        if (isDir) forgetDir(e.path);
        if (!self) report('deletion', e.path, e.pid, { isDir });
      }
    }
    flushMove();
  };

  const startWatcher = () => {
    const w = options.sensors.startFileWatcher({
      onEvents,
      onOverflow: () => {
        st.overflows++;
        log('warn', 'file event queue overflowed: events were lost; re-marking watched directories');
        setImmediate(() => {
          if (watcher === w && !w.stopped) markAll();
        });
      },
    });
    watcher = w;
    const bad = configured.filter((g) => !g.startsWith('/'));
    if (bad.length > 0) log('warn', 'watched paths must be absolute: ignored', { globs: bad });
    markAll();
    log('info', 'file events: watched directories marked', {
      dirs: marked.size,
      globs,
      skipped: st.skippedDirs,
    });
  };

  const stats = (): FileEventsStats => {
    const w = watcher?.stats();
    return {
      dirs: marked.size,
      markErrors: st.markErrors,
      skippedDirs: st.skippedDirs,
      reported: st.reported,
      coalesced: st.coalesced,
      outOfScope: st.outOfScope,
      unresolved: st.unresolved + (w?.unresolved ?? 0),
      overflows: st.overflows,
      droppedEvents: w?.droppedEvents ?? 0,
    };
  };

  return {
    name: 'file-events',
    get globs() {
      return globs;
    },
    async start(l) {
      if (watcher && !watcher.stopped) return;
      startError = undefined;
      listener = l;
      try {
        startWatcher();
      } catch (err) {
        startError = (err as Error).message;
        watcher = undefined;
        throw err;
      }
    },
    async stop() {
      watcher?.stop();
      listener = undefined;
    },
    applyPolicy(p: Policy) {
      const next = [...p.telemetry.watchedPaths];
      if (next.length === configured.length && next.every((g, i) => g === configured[i])) return;
      configured = next;
      globs = configured.filter((g) => g.startsWith('/'));
      if (!watcher || watcher.stopped) return;
      // a fresh group drops every old mark at once; events in the few ms between are not seen
      watcher.stop();
      st.markErrors = 0;
      lastMarkError = undefined;
      startWatcher();
    },
    stats,
    state(): SensorState {
      const name = 'file-events';
      if (!watcher)
        return { name, state: 'off', reason: startError ? `failed to start: ${startError}` : 'not started' };
      if (watcher.stopped) return { name, state: 'off', reason: 'stopped' };
      if (globs.length === 0) return { name, state: 'off', reason: 'the policy watches no paths' };
      const s = stats();
      const ignored = configured.filter((g) => !g.startsWith('/'));
      const problems: string[] = [];
      if (s.overflows > 0) problems.push(`${s.overflows} queue overflows (events lost)`);
      if (s.droppedEvents > 0) problems.push(`${s.droppedEvents} events dropped on the way to the agent`);
      if (s.skippedDirs > 0) problems.push(`${s.skippedDirs} directories not watched (more than ${maxDirs})`);
      if (s.markErrors > 0) problems.push(`${s.markErrors} mark errors (last: ${lastMarkError ?? ''})`);
      if (ignored.length > 0) problems.push(`ignored non-absolute globs: ${ignored.join(', ')}`);
      const detail = `${s.dirs} directories watched for ${globs.length} globs; ${s.reported} events, ${s.coalesced} coalesced`;
      return problems.length > 0
        ? { name, state: 'degraded', reason: `${problems.join('; ')}; ${detail}`.slice(0, 1024) }
        : { name, state: 'active', reason: detail.slice(0, 1024) };
    },
  };
}
