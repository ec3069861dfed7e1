import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { Alert, AlertQuery, Id, UpdateAlert } from '@yamori/protocol';
import { InvalidInputError, NotFoundError } from '../../lib/errors.ts';
import { tenantOf } from '../../lib/request-context.ts';
import { iso, type Clock } from '../../lib/time.ts';
import { nextAlertState } from './alert-workflow.ts';

const AlertParams = Type.Object({ tenantId: Id, alertId: Id });

/** `/api/v1/tenants/:tenantId/alerts`: the queue analysts work: filter, page, acknowledge, resolve. */
export const alertRoutes: FastifyPluginAsyncTypebox<{ now: Clock }> = async (app, { now }) => {
  app.get(
    '/',
    {
      config: { permission: 'read' },
      schema: { tags: ['alerts'], querystring: AlertQuery, response: { 200: Type.Object({ items: Type.Array(Alert), nextCursor: Type.Union([Type.String(), Type.Null()]) }) } },
    },
    async (req) => {
      const limit = req.query.limit ?? 50;
      const items = await tenantOf(req).repos.alerts.list({ ...req.query, limit });
      return { items, nextCursor: items.length === limit ? (items.at(-1)?.id ?? null) : null };
    },
  );

  app.get('/:alertId', { config: { permission: 'read' }, schema: { tags: ['alerts'], params: AlertParams, response: { 200: Alert } } }, async (req) => {
    const a = await tenantOf(req).repos.alerts.get(req.params.alertId);
    if (!a) throw new NotFoundError('alert');
    return a;
  });

  app.patch(
    '/:alertId',
    { config: { permission: 'alerts:write' }, schema: { tags: ['alerts'], params: AlertParams, body: UpdateAlert, response: { 200: Alert } } },
    async (req) => {
      const t = tenantOf(req);
      return t.tx(async (r) => {
        const before = await r.alerts.get(req.params.alertId);
        if (!before) throw new NotFoundError('alert');
        const change = nextAlertState(before, req.body, { actor: t.actor, at: iso(now()) });
        if ('error' in change) throw new InvalidInputError(change.error);
        await r.alerts.update(before.id, change);
        const after = await r.alerts.get(before.id);
        if (!after) throw new NotFoundError('alert');
        await r.audit.append({
          actor: t.actor,
          action: 'alert.updated',
          target: `alert:${before.id}`,
          before: { status: before.status, resolution: before.resolution, assignee: before.assignee },
          after: { status: after.status, resolution: after.resolution, assignee: after.assignee, note: req.body.note },
          at: now(),
        });
        return after;
      });
    },
  );
};
