// Scheduled scans: the next run time is a pure function of the last run; the scheduler only sets
// one timer at a time and never overlaps two runs (a run that outlasts the interval pushes the
// next one back instead of piling up).

/** When the next scheduled scan is due: `everyMs` after the last one (plus jitter), now if overdue. */
export function nextScanAt(lastRunAt: number | null, everyMs: number, now: number, jitterMs = 0): number {
  if (lastRunAt === null) return now + jitterMs;
  return Math.max(now, lastRunAt + everyMs + jitterMs);
}

export interface ScanSchedulerDeps {
  everyMs: number;
  /** Spread hosts so a fleet does not scan at the same second (0..maxJitterMs, default 0). */
  maxJitterMs?: number;
  run: () => Promise<void>;
  /** Last completed run (persisted by the caller), so a restart does not rescan at once. */
  lastRunAt?: number | null;
  onRunDone?: (at: number) => void;
  onError?: (err: unknown) => void;
  now?: () => number;
  random?: () => number;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (t: unknown) => void;
}

export interface ScanScheduler {
  start(): void;
  stop(): void;
  /** Runs now (unless a run is in progress) and reschedules from its end. */
  runNow(): Promise<boolean>;
  readonly nextAt: number | null;
}

export function createScanScheduler(deps: ScanSchedulerDeps): ScanScheduler {
  const now = deps.now ?? Date.now;
  const random = deps.random ?? Math.random;
  const setTimer = deps.setTimer ?? ((fn, ms) => setTimeout(fn, ms).unref());
  const clearTimer = deps.clearTimer ?? ((t) => clearTimeout(t as NodeJS.Timeout));
  let last = deps.lastRunAt ?? null;
  let timer: unknown = null;
  let running = false;
  let stopped = true;
  let nextAt: number | null = null;

  const schedule = () => {
    if (stopped) return;
    if (timer !== null) clearTimer(timer);
    const t = now();
    nextAt = nextScanAt(last, deps.everyMs, t, Math.floor(random() * (deps.maxJitterMs ?? 0)));
    timer = setTimer(() => {
      timer = null;
      void runNow();
    }, nextAt - t);
  };

  async function runNow(): Promise<boolean> {
    if (running) return false;
    running = true;
    try {
      await deps.run();
    } catch (err) {
      deps.onError?.(err);
    } finally {
      running = false;
      last = now();
      deps.onRunDone?.(last);
      schedule();
    }
    return true;
  }

  return {
    start() {
      stopped = false;
      schedule();
    },
    stop() {
      stopped = true;
      nextAt = null;
      if (timer !== null) clearTimer(timer);
      timer = null;
    },
    runNow,
    get nextAt() {
      return nextAt;
    },
  };
}
