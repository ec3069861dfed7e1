// Scheduled scans in `yamori agent run`: the policy's `scheduledScan` (every N hours over some
// paths) drives one scheduler; each run walks the paths with the built-in signatures, the policy
// blocklist and the tenant's YARA packs, reports progress in the log and the module state, and
// turns every detection into a malware-module alert through the agent's responder (monitor: alert;
// block: alert, and quarantine when the policy says quarantineOnMalicious).
import { join } from 'node:path';
import type { YaraMatch, YaraRuleset } from '@yamori/detection';
import type { Policy, SensorState } from '@yamori/protocol';
import { readJsonIfExists, writeFileAtomic } from '../atomic-file.ts';
import type { AgentModule, Detection as ModuleDetection, ModuleContext } from '../modules.ts';
import type { AppliedPolicy } from '../policy-store.ts';
import { yaraFindings } from '../yara-rules.ts';
import type { Detection, FileScanResult } from './file-scan.ts';
import { createScanScheduler, type ScanScheduler, type ScanSchedulerDeps } from './schedule.ts';
import { scanTree, type ScanSummary } from './scanner.ts';

type Schedule = NonNullable<Policy['scheduledScan']>;

export interface ScheduledScanDeps {
  /** The tenant's YARA rules in force (null: none) and the pack name of a namespace. */
  yara: () => { ruleset: YaraRuleset | null; packName: (namespace: string) => string };
  /** Files scanned at once (default 1: a background job must not crowd the host). */
  jobs?: number;
  /** Spread a fleet's scans (default: up to 10 % of the interval). */
  maxJitterMs?: (everyMs: number) => number;
  /** For tests: the scheduler (default createScanScheduler). */
  scheduler?: (d: ScanSchedulerDeps) => ScanScheduler;
  /** Progress lines at most this often (ms, default 30 s). */
  progressEveryMs?: number;
}

export interface ScheduledScanModule extends AgentModule {
  /** Runs a scan now with the current schedule's paths (false: none configured, or one is running). */
  runNow(): Promise<boolean>;
  lastRun(): { at: number; summary: ScanSummary } | null;
}

const STATE_FILE = 'scheduled-scan.json';
const MiB = 1024 * 1024;

/** One alert per file: YARA rules keep their pack/rule ids; EICAR and the blocklist their own. */
export function scanDetection(r: FileScanResult, packName: (ns: string) => string, quarantine: boolean): ModuleDetection {
  const yara = r.detections.filter((d) => d.engine === 'yara');
  const first = yaraFindings(yara.map(asMatch), packName)[0];
  const other = r.detections.find((d) => d.engine !== 'yara');
  const rule = first
    ? { id: first.ruleId, name: first.ruleName, ruleset: first.ruleset ?? 'yara' }
    : { id: `yamori.scan.${other?.engine ?? 'builtin'}`, name: other?.name ?? 'signature', ruleset: 'yamori.scan' };
  const reasons = [
    `scheduled scan found ${r.detections.map((d) => `${d.engine}:${d.engine === 'yara' ? `${packName(d.namespace ?? '')}:${d.rule ?? d.name}` : d.name}`).join(', ')} in ${r.path}`,
    ...yaraFindings(yara.map(asMatch), packName).flatMap((f) => f.reasons ?? []),
  ].slice(0, 64);
  const name = r.path.slice(r.path.lastIndexOf('/') + 1);
  return {
    module: 'malware',
    rule: { ...rule, level: 'high' },
    reasons,
    actions: quarantine ? ['quarantine_file'] : [],
    file: { path: r.path, name, ...(r.sha256 ? { hash: { sha256: r.sha256 } } : {}) },
  };
}

function asMatch(d: Detection): YaraMatch {
  return { rule: d.rule ?? d.name, namespace: d.namespace ?? 'default', tags: d.tags ?? [], meta: d.meta ?? {}, strings: d.strings ?? [] };
}

export function createScheduledScanModule(deps: ScheduledScanDeps): ScheduledScanModule {
  const makeScheduler = deps.scheduler ?? createScanScheduler;
  const progressEvery = deps.progressEveryMs ?? 30_000;
  let ctx: ModuleContext | undefined;
  let schedule: Schedule | undefined;
  let key = '';
  let scheduler: ScanScheduler | undefined;
  let running: AbortController | undefined;
  let last: { at: number; summary: ScanSummary } | null = null;
  let lastError: string | null = null;
  let progress = '';

  const statePath = () => join(ctx?.stateDir ?? '.', STATE_FILE);
  const loadLast = (): number | null => {
    try {
      const s = readJsonIfExists(statePath()) as { lastRunAt?: number; summary?: ScanSummary } | undefined;
      if (s?.lastRunAt && s.summary) last = { at: s.lastRunAt, summary: s.summary };
      return typeof s?.lastRunAt === 'number' ? s.lastRunAt : null;
    } catch {
      return null;
    }
  };

  async function run(): Promise<void> {
    const c = ctx;
    const s = schedule;
    if (!c || !s) return;
    const policy = c.policy();
    const blocked = new Set(policy.blocklist.map((b) => b.sha256));
    const quarantine = policy.modules.malware.quarantineOnMalicious;
    const y = deps.yara();
    const abort = new AbortController();
    running = abort;
    let lastProgress = c.now();
    c.log('info', 'scheduled scan started', { paths: s.paths, yaraRules: y.ruleset?.ruleCount ?? 0 });
    try {
      const summary = await scanTree({
        paths: s.paths,
        engines: {
          yara: y.ruleset,
          yaraOptions: { maxBytes: s.maxFileMb * MiB, timeoutMs: 30_000 },
          blocklist: { size: blocked.size, has: (h) => blocked.has(h), label: () => 'policy blocklist' },
        },
        jobs: deps.jobs ?? 1,
        exclude: (p) => p === c.stateDir || p.startsWith(`${c.stateDir}/`),
        signal: abort.signal,
        onProgress: (p) => {
          progress = `${p.filesDone}/${p.walkDone ? p.filesTotal : `${p.filesTotal}+`} files, ${p.detections} detections`;
          if (c.now() - lastProgress >= progressEvery) {
            lastProgress = c.now();
            c.log('info', 'scheduled scan progress', { ...p, current: p.current });
          }
        },
        onEvent: async (e) => {
          if (e.type !== 'file' || e.result.detections.length === 0) return;
          await c.respond(scanDetection(e.result, y.packName, quarantine));
        },
      });
      last = { at: c.now(), summary };
      lastError = null;
      c.log('info', 'scheduled scan done', { ...summary });
      writeFileAtomic(statePath(), JSON.stringify({ lastRunAt: last.at, summary }));
    } finally {
      running = undefined;
      progress = '';
    }
  }

  function configure(p: AppliedPolicy | undefined): void {
    const s = p?.document.scheduledScan;
    const k = s ? JSON.stringify(s) : '';
    if (k === key) return;
    key = k;
    schedule = s;
    scheduler?.stop();
    running?.abort();
    scheduler = undefined;
    if (!s || !ctx) return;
    const everyMs = s.everyHours * 3600_000;
    scheduler = makeScheduler({
      everyMs,
      maxJitterMs: deps.maxJitterMs?.(everyMs) ?? Math.floor(everyMs / 10),
      run,
      lastRunAt: loadLast(),
      now: () => (ctx ? ctx.now() : Date.now()),
      onError: (err) => {
        lastError = (err as Error).message;
        ctx?.log('error', 'scheduled scan failed', { error: lastError });
      },
    });
    scheduler.start();
    ctx.log('info', 'scheduled scans configured', { everyHours: s.everyHours, paths: s.paths, nextAt: scheduler.nextAt ? new Date(scheduler.nextAt).toISOString() : null });
  }

  return {
    name: 'scheduled-scan',
    async start(c) {
      ctx = c;
      key = '';
      configure(c.applied());
    },
    async stop() {
      scheduler?.stop();
      running?.abort();
      scheduler = undefined;
      key = '';
    },
    applyPolicy: (p) => configure(p),
    runNow: () => scheduler?.runNow() ?? Promise.resolve(false),
    lastRun: () => last,
    state(): SensorState {
      if (!schedule) return { name: 'scheduled-scan', state: 'off', reason: 'no scheduledScan in the policy' };
      const l = last ? `last ${new Date(last.at).toISOString()}: ${last.summary.files} files, ${last.summary.infected} infected, ${last.summary.errors} errors` : 'not run yet';
      const next = scheduler?.nextAt ? `; next ${new Date(scheduler.nextAt).toISOString()}` : '';
      const now = progress ? `; running: ${progress}` : '';
      const reason = `every ${schedule.everyHours} h over ${schedule.paths.join(', ')}; ${l}${next}${now}${lastError ? `; last error: ${lastError}` : ''}`.slice(0, 1024);
      return { name: 'scheduled-scan', state: lastError ? 'degraded' : 'active', reason };
    },
  };
}
