import { fstat, open, read, close } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  compileYaraRules,
  formatYaraDiagnostic,
  yaraAvailability,
  type YaraMatch,
  type YaraRuleFile,
  type YaraRuleset,
} from '@yamori/detection';
import { parseWith, YaraRuleBundle, type SensorState } from '@yamori/protocol';
import type { AgentClient } from './agent-client.ts';
import type { ExecEngine, Log } from './agent.ts';
import { readJsonIfExists, writeFileAtomic } from './atomic-file.ts';
import { backoffMs } from './backoff.ts';
import type { EngineFinding } from './decision.ts';
import type { AgentModule, ModuleContext } from './modules.ts';

/**
 * Tenant YARA rules on the agent: learn the tenant's revision from the check-in, fetch the enabled
 * packs, compile them here (each pack in its own namespace), keep the last set that compiled on
 * disk, and scan executables on a decision-cache miss with a size and a time bound.
 *
 * A pack that does not compile with this agent's libyara never replaces a good one: it is left out
 * (its previous version kept when there was one) and reported in the module's state. Removing or
 * disabling packs on the server does take effect.
 */

export const YARA_EXEC_DEFAULTS = Object.freeze({
  /** Executables larger than this are not scanned on exec (left to scheduled and on-demand scans). */
  maxScanBytes: 32 * 1024 * 1024,
  /** libyara's own bound for one scan (whole seconds); a scan past the exec budget still finishes into the memo. */
  scanTimeoutMs: 10_000,
  /** Exec budget when no policy is known: the exec is decided without YARA after this. */
  budgetMs: 200,
  memo: 4096,
});

/** The pack bundle kept on disk: what compiled last, and the server revision it came from. */
const STATE_FILE = join('yara', 'rules.json');

export interface YaraRulesDeps {
  stateDir: string;
  client: Pick<AgentClient, 'yaraRules'>;
  log?: Log;
  /** Called after a new rule set is in force (flush the exec gate's kernel cache so known files are scanned again). */
  onRulesChanged?: () => void;
  maxScanBytes?: number;
  scanTimeoutMs?: number;
  /** Time a scan may hold an exec (ms); default: 80 % of the policy's exec.decisionTimeoutMs once started. */
  budgetMs?: () => number;
  memo?: number;
  random?: () => number;
}

export interface YaraRules extends AgentModule {
  /** False when libyara is missing: then nothing is fetched and no revision is sent. */
  readonly available: boolean;
  /** The revision to send with the check-in: the one asked for last (fetched, or being fetched). */
  revision(): string | null;
  /** The check-in's revision: when it differs, fetch and compile in the background. */
  offer(revision: string): void;
  /** Fetch and compile now (also what offer runs); resolves when done. */
  sync(): Promise<void>;
  /** Loads the last good set from disk (start() does this). */
  load(): Promise<void>;
  readonly engine: ExecEngine;
  /** The rules in force (for scheduled and on-demand scans), and the pack name of a rule's namespace. */
  ruleset(): YaraRuleset | null;
  packName(namespace: string): string;
  /** What is in force. */
  status(): { revision: string | null; packs: number; rules: number; problem: string | null };
}

type Bundle = YaraRuleBundle;

const readP = promisify(read);
const fstatP = promisify(fstat);
const openP = promisify(open);
const closeP = promisify(close);

/** Reads up to `max` bytes of the file behind `fd` (positional, so the gate's offset is untouched) or `path`. */
async function readBounded(req: { path: string; fd?: number | undefined }, max: number): Promise<Buffer | 'too_large'> {
  const own = req.fd === undefined || req.fd < 0;
  const fd = own ? await openP(req.path, 'r') : (req.fd as number);
  try {
    const st = await fstatP(fd);
    if (st.size > max) return 'too_large';
    const buf = Buffer.allocUnsafe(st.size);
    let off = 0;
    while (off < st.size) {
      const { bytesRead } = await readP(fd, buf, off, st.size - off, off);
      if (bytesRead === 0) break;
      off += bytesRead;
    }
    return buf.subarray(0, off);
  } finally {
    if (own) await closeP(fd);
  }
}

/** EngineFindings from YARA matches: the rule, its pack, tags and each matched string with its offset. */
export function yaraFindings(matches: readonly YaraMatch[], packName: (namespace: string) => string): EngineFinding[] {
  const out = matches.map((m): EngineFinding => {
    const pack = packName(m.namespace);
    const v = m.meta['verdict'] ?? m.meta['yamori_verdict'];
    const verdict = v === 'suspicious' ? 'suspicious' : 'malicious';
    const s = m.meta['score'];
    const reasons = [
      `YARA rule ${m.rule} (pack "${pack}"${m.tags.length ? `; tags: ${m.tags.join(', ')}` : ''}) matched ${m.strings.length} string${m.strings.length === 1 ? '' : 's'}`,
      ...m.strings.slice(0, 32).map((x) => `${x.identifier} at offset ${x.offset} (${x.length} bytes): "${x.dataText}"`),
    ];
    return {
      verdict,
      module: 'malware',
      ruleId: `yara:${pack}:${m.rule}`,
      ruleName: `YARA ${m.rule}`,
      ruleset: `yara:${pack}`,
      ...(typeof s === 'number' && s >= 0 && s <= 100 ? { score: s } : {}),
      reasons,
    };
  });
  // Malicious first: the decision takes the first finding of a kind.
  return out.sort((a, b) => (a.verdict === b.verdict ? 0 : a.verdict === 'malicious' ? -1 : 1));
}

function filesOf(bundle: Bundle): YaraRuleFile[] {
  return bundle.packs.flatMap((p) => p.files.map((f) => ({ name: `${p.name}/${f.name}`, source: f.source, namespace: p.id })));
}

export function createYaraRules(deps: YaraRulesDeps): YaraRules {
  const log: Log = deps.log ?? (() => undefined);
  const random = deps.random ?? Math.random;
  const maxScanBytes = deps.maxScanBytes ?? YARA_EXEC_DEFAULTS.maxScanBytes;
  const scanTimeoutMs = deps.scanTimeoutMs ?? YARA_EXEC_DEFAULTS.scanTimeoutMs;
  const memoMax = deps.memo ?? YARA_EXEC_DEFAULTS.memo;
  const path = join(deps.stateDir, STATE_FILE);
  const avail = yaraAvailability();
  let ctx: ModuleContext | undefined;

  // In force.
  let ruleset: YaraRuleset | null = null;
  let good: Bundle | null = null;
  let generation = 0;
  let packNames = new Map<string, string>();
  // Sync state.
  let fetched: string | null = null;
  let wanted: string | null = null;
  let problem: string | null = avail.ok ? null : `libyara unavailable: ${avail.reason}`;
  let running: Promise<void> | null = null;
  let attempt = 0;
  let retryTimer: NodeJS.Timeout | undefined;
  let stopped = false;
  const memo = new Map<string, EngineFinding[]>();

  const budget = (): number =>
    deps.budgetMs?.() ?? (ctx ? Math.max(10, Math.floor(ctx.policy().exec.decisionTimeoutMs * 0.8)) : YARA_EXEC_DEFAULTS.budgetMs);

  function install(bundle: Bundle, rs: YaraRuleset | null, persist: boolean): void {
    ruleset = rs;
    good = bundle;
    packNames = new Map(bundle.packs.map((p) => [p.id, p.name]));
    generation++;
    memo.clear();
    if (persist) writeFileAtomic(path, JSON.stringify(bundle));
    log('info', 'YARA rules in force', { revision: bundle.revision, packs: bundle.packs.length, rules: rs?.ruleCount ?? 0 });
    deps.onRulesChanged?.();
  }

  /** Compile a fetched bundle; broken packs fall back to their last good version or are left out. */
  async function accept(bundle: Bundle): Promise<void> {
    const r = await compileYaraRules(filesOf(bundle), { mode: 'skip-broken' });
    if (r.errors.length === 0) {
      install(bundle, r.ruleset, true);
      problem = null;
      return;
    }
    const badIds = new Set(bundle.packs.filter((p) => p.files.some((f) => r.rejected.includes(`${p.name}/${f.name}`))).map((p) => p.id));
    const kept = bundle.packs.flatMap((p) => {
      if (!badIds.has(p.id)) return [p];
      const old = good?.packs.find((g) => g.id === p.id);
      return old ? [old] : [];
    });
    const merged: Bundle = { revision: bundle.revision, packs: kept };
    const again = merged.packs.length ? await compileYaraRules(filesOf(merged), { mode: 'strict' }) : null;
    const names = bundle.packs.filter((p) => badIds.has(p.id)).map((p) => `"${p.name}" v${p.version}`);
    problem = `YARA pack${names.length === 1 ? '' : 's'} ${names.join(', ')} did not compile here (kept the last good version where there was one): ${r.errors
      .slice(0, 3)
      .map(formatYaraDiagnostic)
      .join('; ')}`.slice(0, 1024);
    log('error', problem);
    if (again === null || (again.errors.length === 0 && again.ruleset)) install(merged, again?.ruleset ?? null, true);
    // else: even the fallback failed; the set in force stays as it is.
  }

  async function syncOnce(): Promise<void> {
    const target = wanted;
    const bundle = parseWith(YaraRuleBundle, await deps.client.yaraRules(), 'YARA rule bundle');
    await accept(bundle);
    fetched = bundle.revision;
    // A newer revision offered while we fetched is fetched next; otherwise what we got is what we hold.
    if (wanted === target) wanted = fetched;
  }

  function sync(): Promise<void> {
    if (!avail.ok || stopped) return Promise.resolve();
    if (running) return running;
    clearTimeout(retryTimer);
    running = (async () => {
      try {
        await syncOnce();
        attempt = 0;
      } catch (err) {
        attempt++;
        const wait = backoffMs(attempt, random(), 2000, 300_000);
        problem = `cannot fetch YARA rules: ${(err as Error).message}`.slice(0, 1024);
        log(attempt <= 3 ? 'warn' : 'error', problem, { attempt, retryInMs: wait });
        retryTimer = setTimeout(() => void sync(), wait).unref();
      } finally {
        running = null;
      }
      if (wanted !== null && wanted !== fetched && attempt === 0) await sync();
    })();
    return running;
  }

  async function load(): Promise<void> {
    if (!avail.ok) return;
    let saved: Bundle;
    try {
      const raw = readJsonIfExists(path);
      if (raw === undefined) return;
      saved = parseWith(YaraRuleBundle, raw, 'saved YARA rules');
    } catch (err) {
      problem = `cannot read the saved YARA rules ${path}: ${(err as Error).message}`.slice(0, 1024);
      log('warn', problem);
      return;
    }
    const r = saved.packs.length ? await compileYaraRules(filesOf(saved), { mode: 'skip-broken' }) : null;
    if (r && r.errors.length) {
      problem = `saved YARA rules partly failed to compile: ${r.errors.slice(0, 3).map(formatYaraDiagnostic).join('; ')}`.slice(0, 1024);
      log('warn', problem);
    }
    install(saved, r?.ruleset ?? null, false);
    fetched = saved.revision;
  }

  const engine: ExecEngine = async (req) => {
    const rs = ruleset;
    if (!rs) return [];
    const key = `${generation}\0${req.sha256}`;
    const known = memo.get(key);
    if (known) return known;
    // the same content being scanned already (a file prepared when written, run at once): share it
    const job = scanning.get(key) ?? startScan(rs, key, req);
    // the read is awaited before the budget starts, as for a scan of one's own: the caller's fd is
    // never closed under it
    if ((await job.read) === 'too_large') return [];
    // The exec is decided without YARA past the budget; the scan still lands in the memo for next time.
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), budget());
    });
    try {
      const r = await Promise.race([job.scan, late]);
      if (r !== 'late') return r;
      log('warn', 'YARA scan outlasted the exec budget: decided without it', { path: req.path });
      return [];
    } finally {
      clearTimeout(timer);
    }
  };
  const scanning = new Map<string, { read: Promise<Buffer | 'too_large'>; scan: Promise<EngineFinding[]> }>();
  const startScan = (rs: NonNullable<typeof ruleset>, key: string, req: Parameters<ExecEngine>[0]) => {
    const names = packNames;
    const gen = generation;
    const read = readBounded(req, maxScanBytes);
    const scan = read
      .then(async (data) => {
        if (data === 'too_large') return [];
        const res = await rs.scan(data, { maxBytes: maxScanBytes, timeoutMs: scanTimeoutMs });
        if (!res.ok) {
          log('warn', 'YARA scan failed', { path: req.path, code: res.error.code, error: res.error.message });
          return [];
        }
        const out = yaraFindings(res.matches, (ns) => names.get(ns) ?? ns);
        if (gen === generation) {
          if (memo.size >= memoMax) memo.delete(memo.keys().next().value as string);
          memo.set(key, out);
        }
        return out;
      })
      .finally(() => scanning.delete(key));
    scan.catch(() => undefined); // a failed read is reported through `read`
    const job = { read, scan };
    scanning.set(key, job);
    return job;
  };

  return {
    name: 'yara',
    available: avail.ok,
    revision: () => wanted ?? fetched,
    offer(revision) {
      if (!avail.ok) return;
      // Always what the server named last, so the next check-in does not come back at once
      // (while a fetch is retried, or after the server went back to the revision held).
      wanted = revision;
      if (revision !== fetched) void sync();
    },
    sync,
    load,
    engine,
    ruleset: () => ruleset,
    packName: (ns) => packNames.get(ns) ?? ns,
    async start(c) {
      ctx = c;
      stopped = false;
      await load();
    },
    async stop() {
      stopped = true;
      clearTimeout(retryTimer);
      await running?.catch(() => undefined);
    },
    state(): SensorState {
      if (!avail.ok) return { name: 'yara', state: 'off', reason: (problem ?? 'libyara unavailable').slice(0, 1024) };
      const what = `${ruleset?.ruleCount ?? 0} rules in ${good?.packs.length ?? 0} packs (revision ${fetched ?? 'none yet'})`;
      return problem ? { name: 'yara', state: 'degraded', reason: `${what}; ${problem}`.slice(0, 1024) } : { name: 'yara', state: 'active', reason: what };
    },
    status: () => ({ revision: fetched, packs: good?.packs.length ?? 0, rules: ruleset?.ruleCount ?? 0, problem }),
  };
}
