import type { Kysely } from 'kysely';
import type { CheckinRequest, CheckinResponse } from '@yamori/protocol';
import type { DB } from '../../db-types.ts';
import type { AgentContext } from '../../lib/request-context.ts';
import { iso, type Clock } from '../../lib/time.ts';
import { topics, type WakeupHub } from '../../lib/wakeups.ts';
import { scopedRepos } from '../../tenant-scope.ts';
import { deployedPolicyForGroup } from '../policies/policy-repository.ts';
import type { VerdictUpdate } from '@yamori/protocol';

export interface CheckinDeps {
  db: Kysely<DB>;
  wakeups: WakeupHub;
  now: Clock;
  maxWaitS: number;
}

/**
 * The check-in long-poll: answers at once when the agent's policy revision differs from the
 * deployed one, when commands are pending or verdicts changed; otherwise waits for a wake-up
 * (in-process with SQLite, LISTEN/NOTIFY across instances with PostgreSQL) or the timeout.
 */
export function createCheckinService({ db, wakeups, now, maxWaitS }: CheckinDeps) {
  // A verdict wakes every waiting agent at once: identical reads (same group's policy, same
  // verdict cursor) share one query instead of one per agent.
  const shared = singleFlight();
  async function collect(agent: AgentContext, req: CheckinRequest, opts: { commands: boolean } = { commands: true }): Promise<CheckinResponse | null> {
    const r = scopedRepos(db, agent.tenantId);
    const [deployed, commands, verdicts, yaraRevision] = await Promise.all([
      shared(`policy:${agent.tenantId}:${agent.groupId}`, () => deployedPolicyForGroup(db, agent.tenantId, agent.groupId)),
      opts.commands ? r.commands.pendingAfter(agent.agentId, req.commandCursor) : [],
      shared(`verdicts:${agent.tenantId}:${req.verdictCursor}`, () => r.verdicts.after(req.verdictCursor)),
      // Only agents that track YARA content send their revision (undefined: an older agent).
      req.yaraRevision === undefined ? undefined : shared(`yara:${agent.tenantId}`, () => r.yaraPacks.revision()),
    ]);
    const policy = deployed && deployed.revisionId !== req.policyRevision ? { revision: deployed.revisionId, document: deployed.document } : null;
    const yaraNews = yaraRevision !== undefined && yaraRevision !== req.yaraRevision;
    if (!policy && commands.length === 0 && verdicts.length === 0 && !yaraNews) return null;
    return {
      ...(yaraRevision !== undefined ? { yaraRevision } : {}),
      policy,
      commands: commands.map(({ id, type, params, createdAt }) => ({ id, type, params, createdAt })),
      commandCursor: commands.at(-1)?.seq ?? req.commandCursor,
      verdicts: verdicts.map((v): VerdictUpdate => ({ sha256: v.sha256, verdict: v.verdict as VerdictUpdate['verdict'], source: v.source, seq: v.seq })),
      verdictCursor: verdicts.at(-1)?.seq ?? req.verdictCursor,
      serverTime: iso(now()),
    };
  }

  const empty = (req: CheckinRequest): CheckinResponse => ({
    // Nothing changed: the agent's YARA revision is still the tenant's.
    ...(req.yaraRevision ? { yaraRevision: req.yaraRevision } : {}),
    policy: null,
    commands: [],
    commandCursor: req.commandCursor,
    verdicts: [],
    verdictCursor: req.verdictCursor,
    serverTime: iso(now()),
  });

  return {
    async checkin(agent: AgentContext, req: CheckinRequest, signal?: AbortSignal): Promise<CheckinResponse> {
      await scopedRepos(db, agent.tenantId).agents.recordCheckin(agent.agentId, {
        now: now(),
        facts: req.facts,
        health: req.health,
        appliedRevision: req.applied?.policyRevision,
        modes: req.applied?.modes,
      });
      const waiter = wakeups.listen([topics.policy(agent.tenantId), topics.agent(agent.agentId), topics.verdicts(agent.tenantId), topics.sharedVerdicts, topics.yara(agent.tenantId)]);
      try {
        const first = await collect(agent, req);
        if (first || req.waitS === 0) return first ?? empty(req);
        await waiter.wait(Math.min(req.waitS, maxWaitS) * 1000, signal);
        if (signal?.aborted) return empty(req);
        const onlyVerdicts = waiter.firedTopics.size > 0 && [...waiter.firedTopics].every((t) => t.startsWith('verdicts:'));
        return (await collect(agent, req, { commands: !onlyVerdicts })) ?? empty(req);
      } finally {
        waiter.dispose();
      }
    },
  };
}

/** Concurrent calls with the same key share one in-flight promise; nothing is kept afterwards. */
function singleFlight() {
  const inflight = new Map<string, Promise<unknown>>();
  return <T>(key: string, fn: () => Promise<T>): Promise<T> => {
    const cur = inflight.get(key) as Promise<T> | undefined;
    if (cur) return cur;
    const p = fn().finally(() => inflight.delete(key));
    inflight.set(key, p);
    return p;
  };
}
