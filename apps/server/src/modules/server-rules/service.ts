import type { FastifyBaseLogger } from 'fastify';
import type { Kysely } from 'kysely';
import { compileSigmaRules, parseSigmaRule, type SigmaEngine, type SigmaRule } from '@yamori/detection';
import type { AnyEvent } from '@yamori/protocol';
import type { DB } from '../../db-types.ts';
import type { Metrics } from '../../lib/metrics.ts';
import type { Clock } from '../../lib/time.ts';
import { inTenantTransaction, scopedRepos } from '../../tenant-scope.ts';
import type { NewAlert } from '../alerts/alert-repository.ts';
import { alertFromRuleMatch, evaluable } from './rule-match-alert.ts';

export interface ServerRuleEvaluatorDeps {
  db: Kysely<DB>;
  now: Clock;
  log: FastifyBaseLogger;
  metrics: Metrics;
  /**
   * Events waiting for evaluation above which ingest evaluates before it answers instead of
   * after: the backlog stays bounded and slows the agents down (they keep their queue) rather than
   * dropping detections.
   */
  maxPendingEvents?: number;
  /** Tenants whose compiled engines stay cached (least recently used go first). */
  maxCachedTenants?: number;
}

export interface ServerRuleEvaluator {
  /**
   * Evaluates a committed batch after the ack. Never rejects: a failure is logged and counted
   * (the events are stored whatever happens here). Resolves at once unless the backlog is full.
   */
  submit(agent: { tenantId: string; agentId: string; hostname: string }, events: readonly AnyEvent[]): Promise<void>;
  /** Evaluates a batch now; the number of new alerts. */
  evaluate(agent: { tenantId: string; agentId: string; hostname: string }, events: readonly AnyEvent[]): Promise<number>;
  /** Resolves when every submitted batch is done (shutdown, tests). */
  idle(): Promise<void>;
}

interface Compiled {
  revision: string;
  engine: SigmaEngine | null;
}

/**
 * Live server-side detection: each tenant's enabled server rules, compiled once into the agents'
 * Sigma engine and cached per tenant. Every batch reads the tenant's rule revision (one aggregate
 * query), so a change made through any instance is in force for the next batch everywhere.
 */
export function createServerRuleEvaluator(deps: ServerRuleEvaluatorDeps): ServerRuleEvaluator {
  const { db, now, log, metrics } = deps;
  const maxPending = deps.maxPendingEvents ?? 20_000;
  const maxCached = deps.maxCachedTenants ?? 1000;
  const cache = new Map<string, Compiled>();
  const compiling = new Map<string, Promise<Compiled>>();
  const inflight = new Set<Promise<void>>();
  let pendingEvents = 0;

  async function compile(tenantId: string, revision: string): Promise<Compiled> {
    const rows = await scopedRepos(db, tenantId).serverRules.enabledSources();
    const parsed: SigmaRule[] = [];
    for (const row of rows) {
      // Every stored rule compiled on upload; one that no longer does (a newer engine) is left out, loudly.
      const p = parseSigmaRule(row.source, `server-rule:${row.id}`);
      if (p.ok) parsed.push(p.rule);
      else log.warn({ tenantId, rule: row.id, reason: p.error.reason }, 'server rule no longer parses; left out');
    }
    const { engine, compiled, errors } = compileSigmaRules(parsed);
    for (const e of errors) log.warn({ tenantId, rule: e.file, reason: e.reason }, 'server rule no longer compiles; left out');
    return { revision, engine: compiled.length ? engine : null };
  }

  async function engineFor(tenantId: string): Promise<SigmaEngine | null> {
    const revision = await scopedRepos(db, tenantId).serverRules.revision();
    if (revision === '') {
      cache.delete(tenantId);
      return null;
    }
    const hit = cache.get(tenantId);
    // Map order is the LRU order: a hit moves to the end, the first entry is the one to evict.
    if (hit) cache.delete(tenantId);
    if (hit?.revision === revision) {
      cache.set(tenantId, hit);
      return hit.engine;
    }
    const key = `${tenantId}\n${revision}`;
    let job = compiling.get(key);
    if (!job) {
      job = compile(tenantId, revision).finally(() => compiling.delete(key));
      compiling.set(key, job);
    }
    const fresh = await job;
    cache.delete(tenantId);
    cache.set(tenantId, fresh);
    if (cache.size > maxCached) cache.delete(cache.keys().next().value as string);
    return fresh.engine;
  }

  const evaluate: ServerRuleEvaluator['evaluate'] = async (agent, events) => {
    const candidates = events.filter(evaluable);
    if (candidates.length === 0) return 0;
    const engine = await engineFor(agent.tenantId);
    if (!engine) return 0;
    const at = now();
    // One alert write per dedup key and batch: a noisy rule matching hundreds of events of a
    // batch costs one write, not hundreds.
    const byKey = new Map<string, NewAlert>();
    for (const e of candidates) {
      for (const m of engine.match(e)) {
        const a = alertFromRuleMatch(m, e, agent, at);
        const seen = byKey.get(a.dedupKey);
        if (!seen) byKey.set(a.dedupKey, a);
        else seen.repeats = { count: (seen.repeats?.count ?? 1) + 1, lastAt: Math.max(seen.repeats?.lastAt ?? seen.at, a.at) };
      }
    }
    if (byKey.size === 0) return 0;
    return inTenantTransaction(db, agent.tenantId, async (r) => {
      const windowMs = (await r.settings.get()).alertDedupWindowMinutes * 60_000;
      let created = 0;
      for (const a of byKey.values()) if ((await r.alerts.record(a, windowMs)).created) created++;
      return created;
    });
  };

  async function run(agent: Parameters<ServerRuleEvaluator['evaluate']>[0], events: readonly AnyEvent[]): Promise<void> {
    const stop = metrics.serverRuleBatches.startTimer();
    try {
      metrics.alertsCreated.inc(await evaluate(agent, events));
      stop({ result: 'ok' });
    } catch (err) {
      stop({ result: 'error' });
      log.error({ err, tenantId: agent.tenantId, agentId: agent.agentId, events: events.length }, 'server rules: evaluating a committed batch failed; its events are stored, alerts from server rules are missing for it');
    } finally {
      pendingEvents -= events.length;
    }
  }

  return {
    evaluate,
    async submit(agent, events) {
      pendingEvents += events.length;
      if (pendingEvents > maxPending) return run(agent, events);
      // After the ack: setImmediate runs once the response has been written.
      const p = new Promise<void>((resolve) => setImmediate(resolve)).then(() => run(agent, events));
      inflight.add(p);
      void p.finally(() => inflight.delete(p));
    },
    async idle() {
      while (inflight.size) await Promise.all(inflight);
    },
  };
}
