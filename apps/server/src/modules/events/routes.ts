import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { Id } from '@yamori/protocol';
import { tenantOf } from '../../lib/request-context.ts';

/** `/api/v1/tenants/:tenantId/events`: raw telemetry, newest first (hunting, the process timeline). */
export const eventRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['events'],
        querystring: Type.Object(
          {
            agentId: Type.Optional(Id),
            dataset: Type.Optional(Type.String({ maxLength: 64 })),
            since: Type.Optional(Type.String({ format: 'date-time' })),
            cursor: Type.Optional(Type.Integer({ minimum: 1 })),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            items: Type.Array(Type.Object({ id: Type.Integer(), agentId: Type.String(), event: Type.Unknown() })),
            nextCursor: Type.Union([Type.Integer(), Type.Null()]),
          }),
        },
      },
    },
    async (req) => {
      const limit = req.query.limit ?? 100;
      const rows = await tenantOf(req).repos.events.list({
        agentId: req.query.agentId,
        dataset: req.query.dataset,
        since: req.query.since ? Date.parse(req.query.since) : undefined,
        cursor: req.query.cursor,
        limit,
      });
      return {
        items: rows.map((r) => ({ id: r.id, agentId: r.agent_id, event: JSON.parse(r.data) as unknown })),
        nextCursor: rows.length === limit ? (rows.at(-1)?.id ?? null) : null,
      };
    },
  );
};
