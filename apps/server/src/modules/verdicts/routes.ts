import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Kysely } from 'kysely';
import { Type } from 'typebox';
import { Id, Sha256, Verdict } from '@yamori/protocol';
import type { DB } from '../../db-types.ts';
import { tenantOf } from '../../lib/request-context.ts';
import { iso, type Clock } from '../../lib/time.ts';
import type { WakeupHub } from '../../lib/wakeups.ts';
import { applyVerdict } from './service.ts';

const LedgerItem = Type.Object({
  agentId: Id,
  sha256: Sha256,
  path: Type.String(),
  firstSeen: Type.String(),
  lastSeen: Type.String(),
  count: Type.Integer(),
});

/**
 * `/api/v1/tenants/:tenantId/verdicts` (an analyst's verdict on a file, for this tenant's agents)
 * and `/ledger` (every program that ran on this tenant's hosts).
 */
export const verdictRoutes: FastifyPluginAsyncTypebox<{ db: Kysely<DB>; now: Clock; wakeups: WakeupHub }> = async (app, { db, now, wakeups }) => {
  app.post(
    '/verdicts',
    {
      config: { permission: 'policies:write' },
      schema: {
        tags: ['verdicts'],
        body: Type.Object({ sha256: Sha256, verdict: Verdict, comment: Type.Optional(Type.String({ maxLength: 2000 })) }, { additionalProperties: false }),
        response: { 200: Type.Object({ hostsAlerted: Type.Integer() }) },
      },
    },
    async (req) => {
      const t = tenantOf(req);
      const at = now();
      const res = await applyVerdict(db, wakeups, { ...req.body, source: `analyst:${t.actor}`, tenantId: t.tenantId, actor: t.actor, at });
      await t.repos.audit.append({ actor: t.actor, action: 'verdict.set', target: `sha256:${req.body.sha256}`, after: req.body, at });
      return res;
    },
  );
  app.get(
    '/ledger',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['verdicts'],
        querystring: Type.Object({ sha256: Type.Optional(Sha256), agentId: Type.Optional(Id), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })) }, { additionalProperties: false }),
        response: { 200: Type.Array(LedgerItem) },
      },
    },
    async (req) => {
      const rows = await tenantOf(req).repos.ledger.list({ ...req.query, limit: req.query.limit ?? 100 });
      return rows.map((r) => ({ agentId: r.agent_id, sha256: r.sha256, path: r.path, firstSeen: iso(r.first_seen), lastSeen: iso(r.last_seen), count: r.count }));
    },
  );
};
