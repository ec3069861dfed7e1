// On-demand / scheduled scan of file trees: the walk feeds a small pool of workers (read + hash on
// the event loop, YARA on the libuv pool), each file's outcome is reported as it comes, and a
// summary with throughput ends the scan.
import { scanFile, type FileScanResult, type ScanEngines } from './file-scan.ts';
import { walkTree, type WalkEntry, type WalkSkipReason } from './walk.ts';

export type ScanEvent =
  | { type: 'file'; result: FileScanResult }
  | { type: 'skipped'; path: string; reason: WalkSkipReason | 'not_regular'; detail: string }
  | { type: 'error'; path: string; code: string; message: string };

export interface ScanProgress {
  filesDone: number;
  bytesDone: number;
  /** Files and bytes found so far; final once walkDone. */
  filesTotal: number;
  bytesTotal: number;
  walkDone: boolean;
  detections: number;
  errors: number;
  elapsedMs: number;
  current: string | null;
}

export interface ScanSummary {
  files: number;
  bytes: number;
  /** Files with at least one detection. */
  infected: number;
  /** Walk errors + files that could not be (fully) scanned. */
  errors: number;
  skipped: Partial<Record<WalkSkipReason | 'not_regular', number>>;
  /** Files hashed and checked by built-in signatures but over the YARA size bound. */
  yaraTooLarge: number;
  yara: boolean;
  elapsedMs: number;
  filesPerSec: number;
  /** MiB (2^20 bytes) per second. */
  mibPerSec: number;
}

export interface ScanTreeOptions {
  paths: readonly string[];
  engines: ScanEngines;
  followSymlinks?: boolean;
  exclude?: (path: string) => boolean;
  /** Files scanned at once. Default 2. */
  jobs?: number;
  /** Called in order of completion; awaited (e.g. quarantine before moving on). */
  onEvent?: (e: ScanEvent) => void | Promise<void>;
  onProgress?: (p: ScanProgress) => void;
  now?: () => number;
  /** Cancels the scan between files. */
  signal?: AbortSignal;
}

export async function scanTree(options: ScanTreeOptions): Promise<ScanSummary> {
  const now = options.now ?? (() => performance.now());
  const started = now();
  const onEvent = options.onEvent ?? (() => undefined);
  const summary: ScanSummary = {
    files: 0,
    bytes: 0,
    infected: 0,
    errors: 0,
    skipped: {},
    yaraTooLarge: 0,
    yara: options.engines.yara !== null,
    elapsedMs: 0,
    filesPerSec: 0,
    mibPerSec: 0,
  };
  const progress: ScanProgress = { filesDone: 0, bytesDone: 0, filesTotal: 0, bytesTotal: 0, walkDone: false, detections: 0, errors: 0, elapsedMs: 0, current: null };
  const tick = (current: string | null) => {
    progress.elapsedMs = now() - started;
    progress.current = current;
    options.onProgress?.(progress);
  };

  const queue: Extract<WalkEntry, { kind: 'file' }>[] = [];
  const waiters: (() => void)[] = [];
  const notify = () => {
    for (const w of waiters.splice(0)) w();
  };

  const walker = (async () => {
    try {
      for await (const e of walkTree(options.paths, { followSymlinks: options.followSymlinks ?? false, ...(options.exclude ? { exclude: options.exclude } : {}) })) {
        if (options.signal?.aborted) break;
        if (e.kind === 'file') {
          queue.push(e);
          progress.filesTotal++;
          progress.bytesTotal += e.size;
          notify();
        } else if (e.kind === 'skipped') {
          summary.skipped[e.reason] = (summary.skipped[e.reason] ?? 0) + 1;
          await onEvent({ type: 'skipped', path: e.path, reason: e.reason, detail: e.detail });
        } else {
          summary.errors++;
          progress.errors++;
          await onEvent({ type: 'error', path: e.path, code: e.code, message: e.message });
        }
        // Let the workers run while the walk is ahead.
        if (queue.length > 256) await new Promise<void>((r) => setImmediate(r));
      }
    } finally {
      progress.walkDone = true;
      notify();
    }
  })();

  const next = async (): Promise<Extract<WalkEntry, { kind: 'file' }> | null> => {
    for (;;) {
      if (options.signal?.aborted) return null;
      const e = queue.shift();
      if (e) return e;
      if (progress.walkDone) return null;
      await new Promise<void>((r) => waiters.push(r));
    }
  };

  const worker = async () => {
    for (let e = await next(); e; e = await next()) {
      tick(e.path);
      const r = await scanFile(e.path, options.engines);
      if (r.skipped) {
        summary.skipped.not_regular = (summary.skipped.not_regular ?? 0) + 1;
        await onEvent({ type: 'skipped', path: e.path, reason: 'not_regular', detail: r.skipped });
        continue;
      }
      // Files that could not be read are errors, not scanned files (clamscan counts the same way).
      if (r.sha256 !== null) {
        summary.files++;
        summary.bytes += r.size;
      }
      if (r.detections.length > 0) summary.infected++;
      if (r.error) summary.errors++;
      if (r.yara === 'too_large') summary.yaraTooLarge++;
      progress.filesDone++;
      progress.bytesDone += r.size;
      progress.detections = summary.infected;
      progress.errors = summary.errors;
      await onEvent({ type: 'file', result: r });
      tick(null);
    }
  };

  const jobs = Math.max(1, options.jobs ?? 2);
  await Promise.all([walker, ...Array.from({ length: jobs }, worker)]);
  summary.elapsedMs = now() - started;
  const secs = Math.max(summary.elapsedMs / 1000, 1e-6);
  summary.filesPerSec = summary.files / secs;
  summary.mibPerSec = summary.bytes / 1048576 / secs;
  return summary;
}
