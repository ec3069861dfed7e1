import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import {
  AnyEvent,
  defaultPolicy,
  MODULE_KEYS,
  parseWith,
  type AgentHealth,
  type CheckinRequest,
  type CommandType,
  type DetectionEvent,
  type HostFacts,
  type Mode,
  type Policy,
  type SensorState,
} from '@yamori/protocol';
import { AgentApiError, type AgentClient } from './agent-client.ts';
import { backoffMs, takeToken, type TokenBucket } from './backoff.ts';
import {
  createCommandRunner,
  createIsolation,
  createNftRunner,
  createProcessKiller,
  resolveServerPeers,
  type CommandHandler,
  type CommandRunner,
  type Isolation,
  type KillFn,
} from './commands.ts';
import { decideExec, toDetectionEvent, type DetectionFields, type EngineFinding, type LookupState } from './decision.ts';
import { matchParentChild, needsEveryExec, PARENT_DEPTH } from './behavior/parent-child.ts';
import { createEventQueue, type EventQueue } from './event-queue.ts';
import { buildHealth, createResourceSampler, healthEvent, type ResourceSampler } from './health.ts';
import { createLookupBatcher } from './lookup-batcher.ts';
import { createSampleUploader } from './sample-uploader.ts';
import { createPolicyStore, type AppliedPolicy, type PolicyStore } from './policy-store.ts';
import { createProcReader, createUserNames, type ProcReader } from './proc-reader.ts';
import { createProcessTree, type ProcConnectorEvent, type ProcessTree } from './process-tree.ts';
import type { AgentModule, ModuleContext } from './modules.ts';
import { createResponder } from './response.ts';
import { shouldQuarantine } from './quarantine/quarantine-policy.ts';
import type { ExclusionIndex } from '@yamori/detection';
import type { LinuxSensors } from '@yamori/sensor-linux';
import type { ExecAnswer, ExecRequest, Sensors } from './sensors.ts';
import { FILES, loadCursors, saveCursors, saveStatus, type Cursors } from './state.ts';
import { createVerdictCache, type VerdictCache } from './verdict-cache.ts';
import { DEFAULT_LIMITS, evaluateWatchdog, initialWatchdogState, type WatchdogLimits } from './watchdog.ts';

/**
 * The agent's composition root: check-in loop (policy, verdicts, commands), uploader loop
 * (durable queue → server), exec decisions for the exec gate, process tree from the proc
 * connector, health + watchdog. Every collaborator can be injected; defaults are built from the
 * state directory.
 */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type Log = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void;

/** A local engine consulted on each exec (static analysis, YARA …), owned by another module. */
export type ExecEngine = (req: { path: string; sha256: string; pid: number; fd?: number | undefined }) => Promise<EngineFinding[]>;

export interface AgentDeps {
  stateDir: string;
  client: AgentClient;
  agentId: string;
  facts: () => HostFacts;
  sensors?: Sensors;
  /** The native sensor addon (pidfd kills; modules that need their own fanotify group). */
  native?: LinuxSensors | undefined;
  engines?: ExecEngine[];
  /**
   * The package that installed this file, when it is that package's unmodified file (dpkg); asked
   * only while the policy has package exclusions.
   */
  packageOf?: (path: string, fd?: number) => Promise<string | undefined>;
  /** Protection modules that act after a program started (behaviour, exploit, ransomware …). */
  modules?: AgentModule[];
  /**
   * Quarantine a file (a module's quarantine_file response, or a malicious file denied at exec
   * when the policy says quarantineOnMalicious); refuses when the content is no longer
   * `expectedSha256`. Returns a detail line.
   */
  quarantine?: (path: string, reason: string, expectedSha256?: string) => Promise<string>;
  queue?: EventQueue;
  policyStore?: PolicyStore;
  verdictCache?: VerdictCache;
  commands?: CommandRunner;
  /** Handlers owned by other modules (scan, quarantine …) for the default command runner. */
  commandHandlers?: Partial<Record<CommandType, CommandHandler>>;
  /** pidfd-based kill from the sensor package; default: signals with a start-time re-check. */
  kill?: KillFn;
  isolation?: Isolation;
  procReader?: ProcReader;
  hashFile?: (path: string) => Promise<string>;
  now?: () => number;
  random?: () => number;
  newId?: () => string;
  log?: Log;
  /** Long-poll wait per check-in (s). */
  checkinWaitS?: number;
  healthIntervalMs?: number;
  /** How often the resource watchdog samples CPU/RSS (ms). */
  watchdogIntervalMs?: number;
  /** Resend facts at least this often (ms). */
  factsIntervalMs?: number;
  watchdogLimits?: WatchdogLimits;
  sampler?: ResourceSampler;
  /** Called on each health tick (e.g. systemd WATCHDOG=1). */
  onTick?: () => void;
  /** The watchdog asks for a restart (memory far over budget). Default: log only. */
  onRestartRequested?: (reason: string) => void;
  /** Popup language. */
  language?: 'en' | 'ja';
  /**
   * How long a server answer of "unknown" stands without asking again (ms, default 60 s). Changes
   * still arrive at once through the check-in's verdict stream; this only spares a lookup per exec.
   */
  unknownTtlMs?: number;
  /** Tenant YARA rules (yara-rules.ts): the revision held goes with each check-in; the server's answer may start a fetch. */
  yara?: { revision(): string | null; offer(revision: string): void };
}

export interface AgentCounters {
  execDecisions: number;
  failOpen: number;
  denied: number;
  invalidEvents: number;
  rateLimited: number;
  poisonBatches: number;
}

export interface Agent {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The exec gate's callback (exposed for tests and for adapters). */
  decide(req: ExecRequest): Promise<ExecAnswer>;
  /**
   * Warm the decision of a file written and not yet run (ADR 0011): the engines (their memos keep
   * the findings) and, in the background, the server lookup (the verdict cache keeps the answer).
   * Decides nothing and records nothing; skipped while the agent sheds deep scans.
   */
  prepare(file: { path: string; sha256: string; fd?: number | undefined }): Promise<void>;
  /** Queue events (validated first; invalid ones are counted and dropped, never sent). */
  record(events: readonly AnyEvent[]): void;
  checkinOnce(waitS?: number): Promise<void>;
  uploadOnce(): Promise<'sent' | 'empty' | { retryMs: number }>;
  health(): AgentHealth;
  policy(): Policy;
  counters(): Readonly<AgentCounters>;
  readonly queue: EventQueue;
  readonly tree: ProcessTree;
  readonly verdicts: VerdictCache;
}

const MiB = 1024 * 1024;
/** Uploads wait this long for more events after a small batch (alerts included: the same queue). */
const UPLOAD_LINGER_MS = 250;
const LINGER_BELOW_EVENTS = 500;

export function defaultLog(level: LogLevel, msg: string, fields?: Record<string, unknown>): void {
  process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields })}\n`);
}

export function hashFileSha256(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (c) => h.update(c))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

export function createAgent(deps: AgentDeps): Agent {
  const now = deps.now ?? Date.now;
  const random = deps.random ?? Math.random;
  const newId = deps.newId ?? randomUUID;
  const log = deps.log ?? defaultLog;
  const sensors = deps.sensors ?? {};
  const stateDir = deps.stateDir;

  const policyStore = deps.policyStore ?? createPolicyStore({ stateDir, now, log: (m) => log('warn', m) });
  const fallbackPolicy = defaultPolicy();
  const policyNow = (): Policy => policyStore.current()?.document ?? fallbackPolicy;
  const queue =
    deps.queue ?? createEventQueue({ path: join(stateDir, FILES.queue), maxBytes: policyNow().telemetry.queueMaxMb * MiB });
  const verdicts = deps.verdictCache ?? createVerdictCache({ onInvalidate: (h) => sensors.execGate?.flush(h) });
  const reader = deps.procReader ?? createProcReader();
  const tree = createProcessTree({ reader, userName: createUserNames(), now, newId });
  const isolation =
    deps.isolation ??
    createIsolation({ runNft: createNftRunner(), serverPeers: () => resolveServerPeers(deps.client.url), stateDir });
  const native = deps.native;
  const kill =
    deps.kill ??
    createProcessKiller({ reader, ...(native ? { pidfds: { open: (pid) => native.pidfdOpen(pid), send: (fd, sig) => native.killPidfd(fd, sig) } } : {}) });
  const commands =
    deps.commands ?? createCommandRunner({ kill, isolation, ...(deps.commandHandlers ? { extra: deps.commandHandlers } : {}) });
  const modules = deps.modules ?? [];
  let moduleErrors = 0;
  const toModules = (fn: (m: AgentModule) => void) => {
    for (const m of modules) {
      try {
        fn(m);
      } catch (err) {
        if (moduleErrors++ % 1000 === 0) log('error', `module ${m.name} failed on an event`, { error: (err as Error).message, count: moduleErrors });
      }
    }
  };
  const hashFile = deps.hashFile ?? hashFileSha256;
  const sampler = deps.sampler ?? createResourceSampler({ now });
  const unknownTtlMs = deps.unknownTtlMs ?? 60_000;
  const answeredAt = new Map<string, number>();
  // Where each file waiting for a lookup ran from: an unknown answer sends it to the sandbox.
  const lookupPaths = new Map<string, string>();
  const uploader = createSampleUploader({ client: deps.client, policy: () => policyStore.current()?.document ?? fallbackPolicy, log });
  const batcher = createLookupBatcher({
    lookup: (h) => deps.client.lookup(h),
    onAnswer: (sha, v) => {
      const path = lookupPaths.get(sha);
      lookupPaths.delete(sha);
      if (v.verdict === 'unknown' && path) uploader.offer(sha, path);
      verdicts.set(sha, { ...v, seq: 0 });
      if (answeredAt.size >= 100_000) answeredAt.clear();
      answeredAt.set(sha, now());
    },
  });

  let cursors: Cursors = loadCursors(stateDir);
  const counters: AgentCounters = { execDecisions: 0, failOpen: 0, denied: 0, invalidEvents: 0, rateLimited: 0, poisonBatches: 0 };
  const problems = new Map<string, string>();
  let watchdog = initialWatchdogState();
  let lastSample = { cpuPct: 0, rssMb: 0 };
  let lastCheckinAt: string | null = null;
  let lastFactsAt = -Infinity;
  let bucket: TokenBucket = { tokens: policyNow().telemetry.maxEventsPerSecond, at: now() };
  let stopping: AbortController | undefined;
  let loops: Promise<void>[] = [];
  let wakeUploader: (() => void) | undefined;
  /** Ends the uploader's backoff after a network failure (a check-in just reached the server). */
  let cutUploadBackoff: (() => void) | undefined;

  const shedding = (f: string) => watchdog.shedding.includes(f);
  const setProblem = (key: string, msg: string | undefined) => (msg === undefined ? problems.delete(key) : problems.set(key, msg));

  // ---------- events ----------

  const telemetryKind = (ev: AnyEvent): string | undefined => {
    switch (ev.event.dataset) {
      case 'yamori.process':
        return 'process';
      case 'yamori.file':
        return 'file';
      case 'yamori.network':
        return 'network';
      case 'yamori.dns':
        return 'dns';
      default:
        return undefined;
    }
  };
  const lowValue = (ev: AnyEvent) => ev.event.dataset === 'yamori.dns' || (ev.event.dataset === 'yamori.process' && ev.event.type.includes('end'));

  function record(events: readonly AnyEvent[]): void {
    const p = policyNow();
    const keep: AnyEvent[] = [];
    const t = now();
    for (const ev of events) {
      const kind = telemetryKind(ev);
      if (kind !== undefined) {
        if (modules.length > 0) toModules((m) => m.onEvent?.(ev));
        if (!p.telemetry.kinds.includes(kind as Policy['telemetry']['kinds'][number])) continue;
        if (shedding('low_value_telemetry') && lowValue(ev)) continue;
        const r = takeToken(bucket, t, p.telemetry.maxEventsPerSecond);
        bucket = r.bucket;
        if (!r.ok) {
          counters.rateLimited++;
          continue;
        }
      }
      try {
        keep.push(parseWith(AnyEvent, ev, `${ev.event.dataset} event`));
      } catch (err) {
        counters.invalidEvents++;
        setProblem('invalid_event', `dropped an invalid event (${counters.invalidEvents} so far): ${(err as Error).message.slice(0, 600)}`);
      }
    }
    if (keep.length === 0) return;
    queue.enqueue(keep);
    wakeUploader?.();
  }

  // ---------- exec decisions ----------

  // Package owners by content and path (a digest check reads the whole file), only while a policy has package exclusions.
  const packageOwners = new Map<string, string | null>();
  async function packageOf(req: ExecRequest, sha256: string | undefined): Promise<string | undefined> {
    if (!deps.packageOf || !sha256) return undefined;
    const key = `${sha256}\0${req.path}`;
    let owner = packageOwners.get(key);
    if (owner === undefined) {
      owner = (await deps.packageOf(req.path, req.fd).catch(() => undefined)) ?? null;
      if (packageOwners.size >= 4096) packageOwners.delete(packageOwners.keys().next().value as string);
      packageOwners.set(key, owner);
    }
    return owner ?? undefined;
  }

  async function decide(req: ExecRequest): Promise<ExecAnswer> {
    const started = now();
    counters.execDecisions++;
    const applied = policyStore.current();
    const policy = applied?.document ?? fallbackPolicy;
    let sha256 = req.sha256;
    if (!sha256) {
      try {
        sha256 = await (req.hash ? req.hash() : hashFile(req.path));
      } catch (err) {
        log('warn', 'cannot hash executable', { path: req.path, error: (err as Error).message });
      }
    }
    sha256 = sha256?.toLowerCase();
    const parent = tree.get(req.pid);
    const subject = {
      path: req.path,
      sha256,
      parentPath: parent?.exe,
      package: applied?.exclusions.kinds.has('package') ? await packageOf(req, sha256) : undefined,
    };
    let engines: EngineFinding[] = [];
    if (sha256 && deps.engines?.length && !shedding('deep_scan')) {
      const results = await Promise.allSettled(deps.engines.map((e) => e({ path: req.path, sha256: sha256, pid: req.pid, fd: req.fd })));
      engines = results.flatMap((r) => (r.status === 'fulfilled' ? r.value : []));
    }
    const base = {
      subject,
      policy,
      exclusions: applied?.exclusions ?? emptyIndex,
      blocklist: applied?.blocklist ?? emptySet,
      cached: sha256 ? verdicts.get(sha256) : undefined,
      engines,
      now: now(),
    };
    const recentUnknown =
      sha256 !== undefined && base.cached?.verdict === 'unknown' && now() - (answeredAt.get(sha256) ?? -Infinity) < unknownTtlMs;
    let d = decideExec({ ...base, lookup: recentUnknown ? base.cached : sha256 ? 'pending' : 'unavailable' });
    // an unknown answer fetched before the file ran (prepare) still sends it to the sandbox (once per hash)
    if (recentUnknown && sha256) uploader.offer(sha256, req.path);
    if (!d.final && sha256) {
      // Answer before the sensor's fail rule does (it carries the same policy timeout, from the kernel event).
      const deadline = Math.min(started + policy.exec.decisionTimeoutMs, (req.deadline ?? Infinity) - 5);
      const budget = Math.max(0, deadline - now());
      if (lookupPaths.size >= 10_000) lookupPaths.clear();
      lookupPaths.set(sha256, req.path);
      const lookup: LookupState = await Promise.race([
        batcher.lookup(sha256).then(
          (v): LookupState => v,
          (): LookupState => 'unavailable',
        ),
        delay(budget, 'timeout' as const, { ref: false }),
      ]);
      d = decideExec({ ...base, lookup, now: now() });
    }
    const pc = d.allow ? parentChildDecision(req, parent?.exe, sha256, policy, applied) : undefined;
    if (pc) d = { ...d, allow: d.allow && !pc.deny, cache: false, popup: d.popup || pc.deny };
    if (d.reason === 'fail_open') counters.failOpen++;
    if (!d.allow) counters.denied++;
    for (const detection of [d.detection, pc?.detection]) {
      if (!detection) continue;
      const proc = tree.toEcs(req.pid);
      const event = toDetectionEvent(detection, {
        id: newId(),
        now: now(),
        process: proc ? { ...proc, executable: req.path, ...(sha256 ? { hash: { sha256 } } : {}) } : { entity_id: '', pid: req.pid, executable: req.path },
        file: { path: req.path, name: req.path.slice(req.path.lastIndexOf('/') + 1), ...(sha256 ? { hash: { sha256 } } : {}) },
      });
      if (detection === d.detection && !d.allow && sha256 && d.verdict && deps.quarantine && shouldQuarantine(policy, d.verdict)) {
        quarantineDenied(event, req.path, sha256, deps.quarantine);
      } else record([event]);
    }
    if (d.popup) sensors.notifier?.popup(policy.popup[deps.language ?? 'en'], { pid: req.pid, path: req.path });
    if (d.allow) {
      const c = req.capture;
      if (c) tree.noteExec(req.pid, { path: req.path, sha256, ppid: c.ppid, uid: c.uid, gid: c.gid, argv: c.argv, cwd: c.cwd, env: c.env });
      else if (sha256) tree.noteExecHash(req.pid, req.path, sha256);
    }
    return { allow: d.allow, cache: d.cache };
  }

  async function prepare(file: { path: string; sha256: string; fd?: number | undefined }): Promise<void> {
    if (shedding('deep_scan')) return;
    const sha256 = file.sha256.toLowerCase();
    const cached = verdicts.get(sha256);
    const fresh = cached !== undefined && (cached.verdict !== 'unknown' || now() - (answeredAt.get(sha256) ?? -Infinity) < unknownTtlMs);
    // no lookupPaths entry: a file is offered to the sandbox when it runs (decide), not when written
    if (!fresh) batcher.lookup(sha256).catch(() => undefined);
    if (deps.engines?.length) await Promise.allSettled(deps.engines.map((e) => e({ path: file.path, sha256, pid: 0, fd: file.fd })));
  }
  const preparer = { wanted: () => !shedding('deep_scan'), prepare };

  /**
   * A malicious file denied at exec is moved into quarantine once the gate has its answer (the
   * exec is never held for it), so it cannot be run, copied or picked up again; the alert says
   * whether that worked.
   */
  function quarantineDenied(event: DetectionEvent, path: string, sha256: string, quarantine: NonNullable<AgentDeps['quarantine']>): void {
    setImmediate(() => {
      quarantine(path, `${event.rule.id}: ${event.rule.name} (denied at exec)`, sha256).then(
        (detail) => {
          event.yamori.action = 'quarantine_file';
          event.yamori.reasons = [...(event.yamori.reasons ?? []), `exec denied; ${detail}`].slice(0, 64);
        },
        (err: unknown) => {
          event.yamori.reasons = [...(event.yamori.reasons ?? []), `quarantine failed: ${(err as Error).message}`.slice(0, 1024)].slice(0, 64);
          log('warn', 'cannot quarantine a file denied at exec', { path, error: (err as Error).message });
        },
      ).finally(() => record([event]));
    });
  }

  // ---------- modules ----------

  const respond = createResponder({
    applied: () => policyStore.current(),
    fallback: fallbackPolicy,
    tree,
    kill,
    isolation,
    quarantine: deps.quarantine,
    notifier: sensors.notifier,
    record: (alerts) => record(alerts),
    log,
    now,
    newId,
    language: deps.language ?? 'en',
  });
  const moduleContext: ModuleContext = {
    policy: policyNow,
    applied: () => policyStore.current(),
    record,
    respond,
    tree,
    log,
    now,
    newId,
    stateDir,
    native,
  };

  /**
   * Parent→child rules while the exec is held: `deny` in block mode refuses it; every file a deny
   * rule names is left uncached (its verdict depends on who starts it).
   */
  function parentChildDecision(
    req: ExecRequest,
    parentImage: string | undefined,
    sha256: string | undefined,
    policy: Policy,
    applied: AppliedPolicy | undefined,
  ): { deny: boolean; detection?: DetectionFields } | undefined {
    const behavior = policy.modules.behavior;
    if (behavior.mode === 'off' || !behavior.parentChild?.length || !needsEveryExec(behavior.parentChild, req.path)) return undefined;
    const lineage = [parentImage, ...tree.ancestors(req.pid, PARENT_DEPTH).map((n) => n.exe)];
    const hit = matchParentChild(behavior.parentChild, req.path, lineage);
    if (hit?.rule.action !== 'deny') return { deny: false };
    const ruleId = `yamori.parent_child.${hit.rule.id}`;
    const excluded = applied?.exclusions.find({ module: 'behavior', ruleId, path: req.path, parentPath: hit.parent, sha256 }, now());
    if (excluded) return { deny: false };
    const block = behavior.mode === 'block';
    return {
      deny: block,
      detection: {
        rule: { id: ruleId, name: `Parent-child rule ${hit.rule.id}: ${hit.rule.comment ?? `${hit.rule.parent} may not start ${hit.rule.child}`}`.slice(0, 256), ruleset: 'policy' },
        severity: 70,
        level: 'high',
        yamori: {
          module: 'behavior',
          mode: behavior.mode,
          action: block ? 'deny_exec' : 'none',
          ...(block ? {} : { would_have: 'deny_exec' as const }),
          reasons: [`${hit.parent} started ${req.path}; the policy's parent-child rule ${hit.rule.id} denies ${hit.rule.parent} → ${hit.rule.child}`],
        },
      },
    };
  }

  // ---------- policy ----------

  const onPolicy = (p: AppliedPolicy) => {
    queue.setMaxBytes(p.document.telemetry.queueMaxMb * MiB);
    sensors.execGate?.setFallback?.(p.document.exec.decisionTimeoutMs, p.document.exec.onTimeout);
    sensors.execGate?.applyPolicy?.(p.document);
    sensors.execGate?.flush();
    sensors.fileEvents?.applyPolicy?.(p.document);
    sensors.netEvents?.applyPolicy?.(p.document);
    sensors.procEvents?.applyPolicy?.(p.document);
    toModules((m) => m.applyPolicy?.(p));
    log('info', 'policy applied', { revision: p.revision });
  };
  policyStore.onChange(onPolicy);

  const modes = (): Record<string, Mode> => Object.fromEntries(MODULE_KEYS.map((k) => [k, policyNow().modules[k].mode]));

  // ---------- health ----------

  const sensorStates = (): SensorState[] => {
    const list: SensorState[] = [];
    for (const s of [sensors.execGate, sensors.procEvents, sensors.fileEvents, sensors.netEvents, ...modules]) if (s) list.push(s.state());
    if (sensors.notifier?.state) list.push(sensors.notifier.state());
    return list;
  };

  function health(): AgentHealth {
    return buildHealth({
      sample: lastSample,
      queueDepth: queue.depth(),
      droppedEvents: queue.droppedTotal() + counters.invalidEvents + counters.rateLimited,
      failOpenDecisions: counters.failOpen,
      sensors: sensorStates(),
      shedding: watchdog.shedding,
      problems: [policyStore.problem(), ...problems.values()],
    });
  }

  /** Every few seconds: resource sample → watchdog (so "over budget for 12 s" can be seen). */
  function watchdogTick(): void {
    lastSample = sampler.sample();
    const r = evaluateWatchdog(watchdog, lastSample, now(), deps.watchdogLimits ?? DEFAULT_LIMITS);
    watchdog = r.state;
    if (r.action === 'shed' || r.action === 'restore') log('warn', `watchdog: ${r.action} ${r.feature ?? ''}`, { reason: r.reason });
    if (r.action === 'restart') {
      log('error', `watchdog: restart requested: ${r.reason ?? ''}`);
      deps.onRestartRequested?.(r.reason ?? 'over budget');
    }
    deps.onTick?.();
  }

  /** Every health interval: a HealthEvent into the queue and the status file for `yamori agent status`. */
  function healthTick(): void {
    if (queue.bytes() > policyNow().telemetry.queueMaxMb * MiB) {
      setProblem('queue_over', `event queue holds ${(queue.bytes() / MiB).toFixed(1)} MB of alerts, over the ${policyNow().telemetry.queueMaxMb} MB bound (alerts are never dropped)`);
    } else setProblem('queue_over', undefined);
    record([healthEvent(health(), { id: newId(), now: now() })]);
    writeStatus();
  }

  function writeStatus(): void {
    try {
      saveStatus(stateDir, {
        agentId: deps.agentId,
        url: deps.client.url,
        lastCheckinAt,
        lastError: problems.get('checkin') ?? null,
        policyRevision: policyStore.current()?.revision ?? null,
        queueDepth: queue.depth(),
        droppedEvents: queue.droppedTotal(),
        droppedByKind: queue.dropped(),
        isolated: isolation.isolated(),
        shedding: watchdog.shedding,
        updatedAt: new Date(now()).toISOString(),
        pid: process.pid,
        sensors: sensorStates(),
      });
    } catch (err) {
      log('warn', 'cannot write status file', { error: (err as Error).message });
    }
  }

  // ---------- check-in ----------

  let policyRejectedRevision: number | undefined;

  async function checkinOnce(waitS = 0): Promise<void> {
    const current = policyStore.current();
    const t = now();
    const sendFacts = t - lastFactsAt >= (deps.factsIntervalMs ?? 6 * 3600_000);
    const req: CheckinRequest = {
      policyRevision: current?.revision ?? null,
      commandCursor: cursors.commandCursor,
      verdictCursor: cursors.verdictCursor,
      waitS: Math.max(0, Math.min(60, Math.trunc(waitS))),
      applied: { policyRevision: current?.revision ?? null, modes: modes() },
      health: health(),
      ...(deps.yara ? { yaraRevision: deps.yara.revision() } : {}),
    };
    if (sendFacts) {
      try {
        req.facts = deps.facts();
      } catch (err) {
        setProblem('facts', (err as Error).message);
      }
    }
    const res = await deps.client.checkin(req, stopping ? { signal: stopping.signal } : {});
    if (sendFacts) lastFactsAt = t;
    lastCheckinAt = new Date(now()).toISOString();
    setProblem('checkin', undefined);
    policyRejectedRevision = undefined;
    if (res.policy && !policyStore.apply(res.policy.revision, res.policy.document)) policyRejectedRevision = res.policy.revision;
    if (res.verdicts.length > 0) verdicts.applyUpdates(res.verdicts);
    if (res.yaraRevision !== undefined) deps.yara?.offer(res.yaraRevision);
    if (res.verdictCursor !== cursors.verdictCursor) {
      cursors = { ...cursors, verdictCursor: res.verdictCursor };
      saveCursors(stateDir, cursors);
    }
    for (const cmd of res.commands) {
      log('info', 'running command', { id: cmd.id, type: cmd.type });
      const result = await commands.run(cmd);
      await deps.client.commandResult(cmd.id, result);
    }
    if (res.commandCursor !== cursors.commandCursor) {
      // Advanced only after every result was delivered: a crash re-runs the commands (handlers are idempotent).
      cursors = { ...cursors, commandCursor: res.commandCursor };
      saveCursors(stateDir, cursors);
    }
    writeStatus();
  }

  async function checkinLoop(signal: AbortSignal): Promise<void> {
    let attempt = 0;
    let first = true;
    while (!signal.aborted) {
      let waitMs = 0;
      try {
        await checkinOnce(first ? 0 : (deps.checkinWaitS ?? 30));
        first = false;
        cutUploadBackoff?.(); // the server is reachable: queued events go now, not after the backoff
        // The server re-sends a policy we refused at once: back off (capped at a minute, so
        // commands and verdicts still flow) instead of spinning.
        if (policyRejectedRevision !== undefined) waitMs = backoffMs(++attempt, random(), 1000, 60_000);
        else attempt = 0;
      } catch (err) {
        if (signal.aborted) break;
        attempt++;
        const e = err as Error;
        const msg = e instanceof AgentApiError && e.kind === 'unauthorized' ? e.message : `check-in failed: ${e.message}`;
        setProblem('checkin', msg);
        waitMs = e instanceof AgentApiError && e.retryAfterS !== undefined ? e.retryAfterS * 1000 : backoffMs(attempt, random());
        log(attempt <= 3 ? 'warn' : 'error', msg, { attempt, retryInMs: waitMs });
        writeStatus();
      }
      if (waitMs > 0) await delay(waitMs, undefined, { signal }).catch(() => undefined);
    }
  }

  // ---------- upload ----------

  let lastSentEvents = 0;
  async function uploadOnce(): Promise<'sent' | 'empty' | { retryMs: number }> {
    const batch = queue.nextBatch();
    if (!batch) return 'empty';
    const res = await deps.client.sendEvents({ batchId: batch.batchId, events: batch.events });
    switch (res.kind) {
      case 'ok':
        queue.ack(batch.batchId);
        setProblem('upload', undefined);
        lastSentEvents = batch.events.length;
        return 'sent';
      case 'retry_after':
        return { retryMs: (res.retryAfterS ?? 30) * 1000 };
      case 'too_large':
        if (queue.shrink(batch.batchId) === 'dropped') log('error', 'dropped one event the server finds too large', { batchId: batch.batchId });
        return 'sent';
      case 'rejected': {
        const n = queue.reject(batch.batchId);
        counters.poisonBatches++;
        setProblem('upload', `server refused event batch ${batch.batchId} (${n} events dropped): ${res.message ?? ''}`.slice(0, 1024));
        log('error', 'server refused an event batch; dropped it', { batchId: batch.batchId, events: n, message: res.message });
        return 'sent';
      }
    }
  }

  async function uploadLoop(signal: AbortSignal): Promise<void> {
    let attempt = 0;
    while (!signal.aborted) {
      let waitMs = 0;
      let cuttable = false;
      try {
        const r = await uploadOnce();
        if (r === 'sent') {
          attempt = 0;
          // a small batch drained the queue: under a steady stream, what arrives meanwhile goes out
          // as one batch, not one request per handful of events
          if (lastSentEvents < LINGER_BELOW_EVENTS) await delay(UPLOAD_LINGER_MS, undefined, { signal }).catch(() => undefined);
        } else if (r === 'empty') {
          attempt = 0;
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, 5000);
            wakeUploader = () => {
              clearTimeout(timer);
              wakeUploader = undefined;
              // linger a little so bursts go out as one batch
              setTimeout(resolve, UPLOAD_LINGER_MS);
            };
            signal.addEventListener('abort', () => {
              clearTimeout(timer);
              resolve();
            }, { once: true });
          });
        } else waitMs = r.retryMs;
      } catch (err) {
        if (signal.aborted) break;
        attempt++;
        waitMs = backoffMs(attempt, random());
        cuttable = true;
        setProblem('upload', `event upload failed: ${(err as Error).message}`.slice(0, 1024));
        log(attempt <= 3 ? 'warn' : 'error', `event upload failed: ${(err as Error).message}`, { attempt, retryInMs: waitMs });
      }
      if (waitMs > 0 && cuttable) {
        const cut = new AbortController();
        cutUploadBackoff = () => cut.abort();
        await delay(waitMs, undefined, { signal: AbortSignal.any([signal, cut.signal]) }).catch(() => undefined);
        cutUploadBackoff = undefined;
      } else if (waitMs > 0) await delay(waitMs, undefined, { signal }).catch(() => undefined);
    }
  }

  async function healthLoop(signal: AbortSignal): Promise<void> {
    const every = deps.healthIntervalMs ?? 60_000;
    const sampleEvery = Math.min(every, deps.watchdogIntervalMs ?? 4_000);
    let lastHealth = -Infinity;
    while (!signal.aborted) {
      try {
        watchdogTick();
        if (now() - lastHealth >= every) {
          lastHealth = now();
          healthTick();
        }
      } catch (err) {
        log('error', 'health tick failed', { error: (err as Error).message });
      }
      await delay(sampleEvery, undefined, { signal }).catch(() => undefined);
    }
  }

  // ---------- lifecycle ----------

  async function start(): Promise<void> {
    if (stopping) return;
    stopping = new AbortController();
    const signal = stopping.signal;
    const current = policyStore.current();
    if (current) onPolicy(current);
    else log('warn', 'no policy yet: enforcing the default policy (monitor mode) until the server sends one');
    try {
      if (await isolation.reapply()) log('warn', 'host isolation re-applied after restart');
    } catch (err) {
      setProblem('isolation', `cannot re-apply host isolation: ${(err as Error).message}`);
    }
    tree.seed();
    const startSensor = async (name: string, fn: () => Promise<void>) => {
      try {
        await fn();
      } catch (err) {
        setProblem(`sensor_${name}`, `sensor ${name} failed to start: ${(err as Error).message}`);
        log('error', `sensor ${name} failed to start`, { error: (err as Error).message });
      }
    };
    const { procEvents, fileEvents, netEvents, execGate } = sensors;
    if (procEvents) {
      await startSensor(procEvents.name, () =>
        procEvents.start((ev: ProcConnectorEvent) => {
          const out = tree.handle(ev);
          if (modules.length > 0) toModules((m) => m.onProcEvent?.(ev));
          if (out) record([out]);
        }),
      );
    }
    // the stored policy (watched paths …) applies from the start, not only from the next change
    fileEvents?.applyPolicy?.(policyNow());
    netEvents?.applyPolicy?.(policyNow());
    if (fileEvents) await startSensor(fileEvents.name, () => fileEvents.start((ev) => record([ev])));
    if (netEvents) await startSensor(netEvents.name, () => netEvents.start((ev) => record([ev])));
    if (execGate) {
      const p = policyNow();
      execGate.setFallback?.(p.exec.decisionTimeoutMs, p.exec.onTimeout);
      execGate.applyPolicy?.(p);
      await startSensor(execGate.name, () => execGate.start(decide, preparer));
    }
    for (const m of modules) await startSensor(m.name, () => m.start(moduleContext));
    loops = [checkinLoop(signal), uploadLoop(signal), healthLoop(signal)];
    log('info', 'agent started', { agentId: deps.agentId, server: deps.client.url });
  }

  async function stop(): Promise<void> {
    if (!stopping) return;
    stopping.abort();
    wakeUploader?.();
    for (const s of [...modules, sensors.execGate, sensors.procEvents, sensors.fileEvents, sensors.netEvents]) {
      try {
        await s?.stop();
      } catch (err) {
        log('warn', 'sensor stop failed', { error: (err as Error).message });
      }
    }
    deps.client.close(); // aborts in-flight requests so the loops end now
    await Promise.allSettled(loops);
    writeStatus();
    queue.close();
  }

  return {
    start,
    stop,
    decide,
    prepare,
    record,
    checkinOnce,
    uploadOnce,
    health,
    policy: policyNow,
    counters: () => counters,
    queue,
    tree,
    verdicts,
  };
}

const emptySet: ReadonlySet<string> = new Set();
const emptyIndex: ExclusionIndex = { size: 0, kinds: new Set(), find: () => undefined };
