import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { AuditEntry } from '@yamori/protocol';
import { tenantOf } from '../../lib/request-context.ts';

/** `/api/v1/tenants/:tenantId/audit`: read-only; the log is append-only. */
export const auditRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['audit'],
        querystring: Type.Object(
          { cursor: Type.Optional(Type.Integer({ minimum: 1 })), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })), action: Type.Optional(Type.String({ maxLength: 128 })) },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ items: Type.Array(AuditEntry), nextCursor: Type.Union([Type.Integer(), Type.Null()]) }) },
      },
    },
    async (req) => {
      const limit = req.query.limit ?? 100;
      const items = await tenantOf(req).repos.audit.list({ cursor: req.query.cursor, limit, action: req.query.action });
      return { items, nextCursor: items.length === limit ? (items.at(-1)?.id ?? null) : null };
    },
  );
};
