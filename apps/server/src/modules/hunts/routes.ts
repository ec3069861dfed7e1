import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { tenantOf } from '../../lib/request-context.ts';
import type { Clock } from '../../lib/time.ts';
import { compileOneSigmaRuleOrThrow } from '../server-rules/rule-compile.ts';

const MAX_SCANNED = 200_000;
const PAGE = 2000;

/**
 * `/api/v1/tenants/:tenantId/hunts`: runs one Sigma rule, compiled by the same engine the agents
 * use, over this tenant's stored telemetry, newest first. For threat hunting and for checking a
 * rule against real history before it goes into a policy.
 */
export const huntRoutes: FastifyPluginAsyncTypebox<{ now: Clock }> = async (app, { now }) => {
  app.post(
    '/',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['hunts'],
        body: Type.Object(
          {
            rule: Type.String({ minLength: 1, maxLength: 200_000, description: 'one Sigma rule (YAML)' }),
            since: Type.Optional(Type.String({ format: 'date-time' })),
            agentId: Type.Optional(Type.String({ maxLength: 64 })),
            maxEvents: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_SCANNED })),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            rule: Type.Object({ id: Type.String(), title: Type.String() }),
            scanned: Type.Integer(),
            matches: Type.Array(Type.Object({ id: Type.Integer(), agentId: Type.String(), event: Type.Unknown() })),
          }),
        },
      },
    },
    async (req) => {
      const { rule, engine } = compileOneSigmaRuleOrThrow(req.body.rule, 'hunt.yml');
      const r = tenantOf(req).repos;
      const max = req.body.maxEvents ?? 50_000;
      const limit = req.body.limit ?? 100;
      const since = req.body.since ? Date.parse(req.body.since) : now() - 30 * 86400_000;
      const matches: Array<{ id: number; agentId: string; event: unknown }> = [];
      let scanned = 0;
      let cursor: number | undefined;
      while (scanned < max && matches.length < limit) {
        const rows = await r.events.list({ agentId: req.body.agentId, since, cursor, limit: Math.min(PAGE, max - scanned) });
        if (rows.length === 0) break;
        for (const row of rows) {
          const event = JSON.parse(row.data) as unknown;
          if (engine.match(event).length && matches.length < limit) matches.push({ id: row.id, agentId: row.agent_id, event });
        }
        scanned += rows.length;
        cursor = rows.at(-1)?.id;
      }
      return { rule: { id: rule.id, title: rule.title }, scanned, matches };
    },
  );
};
