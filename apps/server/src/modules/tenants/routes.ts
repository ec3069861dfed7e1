import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Kysely } from 'kysely';
import { Type } from 'typebox';
import { CreateTenant, ErrorBody, Settings, Tenant } from '@yamori/protocol';
import type { DB } from '../../db-types.ts';
import { ForbiddenError } from '../../lib/errors.ts';
import { principalOf, tenantOf } from '../../lib/request-context.ts';
import type { Clock } from '../../lib/time.ts';
import { tenantsByIds } from './tenant-repository.ts';
import { createTenant } from './service.ts';

export interface TenantRoutesOptions {
  db: Kysely<DB>;
  now: Clock;
}

/** `/api/v1/tenants`: the tenants the caller can see; MSS operators (owners) create customer tenants. */
export const tenantRoutes: FastifyPluginAsyncTypebox<TenantRoutesOptions> = async (app, { db, now }) => {
  app.get('/', { schema: { tags: ['tenants'], response: { 200: Type.Array(Tenant) } } }, async (req) => {
    const p = principalOf(req);
    return tenantsByIds(db, p.kind === 'token' ? [p.tenantId] : p.memberships.map((m) => m.tenantId));
  });
  app.post('/', { schema: { tags: ['tenants'], body: CreateTenant, response: { 201: Tenant, 403: ErrorBody } } }, async (req, reply) => {
    const p = principalOf(req);
    if (p.kind !== 'user' || !p.memberships.some((m) => m.role === 'owner'))
      throw new ForbiddenError('only a user who owns a tenant can create tenants');
    const { tenant } = await createTenant(db, { name: req.body.name, ownerUserId: p.userId, actor: p.email, now: now() });
    return reply.status(201).send(tenant);
  });
};

/** `/api/v1/tenants/:tenantId/settings` */
export const settingsRoutes: FastifyPluginAsyncTypebox<{ now: Clock }> = async (app, { now }) => {
  app.get('/', { config: { permission: 'read' }, schema: { tags: ['settings'], response: { 200: Settings } } }, async (req) =>
    tenantOf(req).repos.settings.get(),
  );
  app.put('/', { config: { permission: 'settings:write' }, schema: { tags: ['settings'], body: Settings, response: { 200: Settings } } }, async (req) => {
    const t = tenantOf(req);
    return t.tx(async (r) => {
      const before = await r.settings.get();
      await r.settings.put(req.body);
      await r.audit.append({ actor: t.actor, action: 'settings.updated', target: 'settings', before, after: req.body, at: now() });
      return req.body;
    });
  });
};
