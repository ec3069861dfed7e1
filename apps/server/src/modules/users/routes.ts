import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Kysely } from 'kysely';
import { Type } from 'typebox';
import type { DB } from '../../db-types.ts';
import { identityRepository } from './user-repository.ts';
import { ApiToken, CreateApiToken, CreatedApiToken, CreateUser, Id, UpdateUser, User } from '@yamori/protocol';
import { ConflictError, ForbiddenError, NotFoundError } from '../../lib/errors.ts';
import { canGrant } from '../../lib/permissions.ts';
import { tenantOf } from '../../lib/request-context.ts';
import { hashPassword, randomSecret, sha256Hex } from '../../lib/secrets.ts';
import type { Clock } from '../../lib/time.ts';
import { API_TOKEN_PREFIX } from '../auth/authenticate.ts';

const UserParams = Type.Object({ tenantId: Id, userId: Id });
const TokenParams = Type.Object({ tenantId: Id, tokenId: Id });

/** `/api/v1/tenants/:tenantId/users`: the people with a role in this tenant. */
export const userRoutes: FastifyPluginAsyncTypebox<{ db: Kysely<DB>; now: Clock }> = async (app, { db, now }) => {
  app.get('/', { config: { permission: 'read' }, schema: { tags: ['users'], response: { 200: Type.Array(User) } } }, async (req) =>
    tenantOf(req).repos.users.list(),
  );

  app.post('/', { config: { permission: 'users:write' }, schema: { tags: ['users'], body: CreateUser, response: { 201: User } } }, async (req, reply) => {
    const t = tenantOf(req);
    if (!canGrant(t.role, req.body.role)) throw new ForbiddenError(`a ${t.role} cannot grant the role ${req.body.role}`);
    const passwordHash = await hashPassword(req.body.password);
    const user = await t.tx(async (r) => {
      const res = await r.users.attach({ ...req.body, passwordHash }, now());
      if (res === 'already_member') throw new ConflictError(`${req.body.email} already has a role in this tenant`);
      const u = await r.users.get(res.userId);
      if (!u) throw new NotFoundError('user');
      await r.audit.append({ actor: t.actor, action: res.created ? 'user.created' : 'user.added', target: `user:${res.userId}`, after: { email: req.body.email, role: req.body.role }, at: now() });
      return u;
    });
    return reply.status(201).send(user);
  });

  app.patch(
    '/:userId',
    { config: { permission: 'users:write' }, schema: { tags: ['users'], params: UserParams, body: UpdateUser, response: { 200: User } } },
    async (req) => {
      const t = tenantOf(req);
      return t.tx(async (r) => {
        const before = await r.users.get(req.params.userId);
        if (!before) throw new NotFoundError('user');
        const currentRole = before.memberships.find((m) => m.tenantId === t.tenantId)?.role;
        if (currentRole && !canGrant(t.role, currentRole)) throw new ForbiddenError(`a ${t.role} cannot change a ${currentRole}`);
        if (req.body.role) {
          if (!canGrant(t.role, req.body.role)) throw new ForbiddenError(`a ${t.role} cannot grant the role ${req.body.role}`);
          await r.users.setRole(before.id, req.body.role);
        }
        if (req.body.disabled !== undefined) {
          // Disabling locks the person out everywhere: only for accounts that work in this tenant alone.
          const everywhere = (await identityRepository(db).findById(before.id))?.memberships ?? [];
          if (everywhere.some((m) => m.tenantId !== t.tenantId))
            throw new ForbiddenError('this account also works in other tenants: remove it from this tenant instead of disabling it');
          await r.users.setDisabled(before.id, req.body.disabled);
        }
        const after = await r.users.get(before.id);
        if (!after) throw new NotFoundError('user');
        await r.audit.append({ actor: t.actor, action: 'user.updated', target: `user:${before.id}`, before, after, at: now() });
        return after;
      });
    },
  );

  app.delete(
    '/:userId',
    { config: { permission: 'users:write' }, schema: { tags: ['users'], params: UserParams, response: { 204: Type.Null() } } },
    async (req, reply) => {
      const t = tenantOf(req);
      await t.tx(async (r) => {
        const before = await r.users.get(req.params.userId);
        if (!before) throw new NotFoundError('user');
        const role = before.memberships.find((m) => m.tenantId === t.tenantId)?.role;
        if (role && !canGrant(t.role, role)) throw new ForbiddenError(`a ${t.role} cannot remove a ${role}`);
        await r.users.removeMembership(before.id);
        await r.audit.append({ actor: t.actor, action: 'user.removed', target: `user:${before.id}`, before, at: now() });
      });
      return reply.status(204).send(null);
    },
  );
};

/** `/api/v1/tenants/:tenantId/tokens`: scoped, revocable API tokens for automation. */
export const apiTokenRoutes: FastifyPluginAsyncTypebox<{ now: Clock }> = async (app, { now }) => {
  app.get('/', { config: { permission: 'read' }, schema: { tags: ['tokens'], response: { 200: Type.Array(ApiToken) } } }, async (req) =>
    tenantOf(req).repos.apiTokens.list(),
  );
  app.post(
    '/',
    { config: { permission: 'tokens:write' }, schema: { tags: ['tokens'], body: CreateApiToken, response: { 201: CreatedApiToken } } },
    async (req, reply) => {
      const t = tenantOf(req);
      if (!canGrant(t.role, req.body.role)) throw new ForbiddenError(`a ${t.role} cannot create a token with the role ${req.body.role}`);
      const secret = API_TOKEN_PREFIX + randomSecret();
      const at = now();
      const token = await t.tx(async (r) => {
        const tok = await r.apiTokens.insert(
          {
            name: req.body.name,
            role: req.body.role,
            scope: req.body.scope,
            secretHash: sha256Hex(secret),
            createdBy: t.actor,
            expiresAt: req.body.expiresInDays ? at + req.body.expiresInDays * 86400_000 : null,
          },
          at,
        );
        await r.audit.append({ actor: t.actor, action: 'token.created', target: `token:${tok.id}`, after: tok, at });
        return tok;
      });
      return reply.status(201).send({ token, secret });
    },
  );
  app.delete(
    '/:tokenId',
    { config: { permission: 'tokens:write' }, schema: { tags: ['tokens'], params: TokenParams, response: { 200: ApiToken } } },
    async (req) => {
      const t = tenantOf(req);
      return t.tx(async (r) => {
        const tok = await r.apiTokens.revoke(req.params.tokenId, now());
        if (!tok) throw new NotFoundError('API token');
        await r.audit.append({ actor: t.actor, action: 'token.revoked', target: `token:${tok.id}`, after: tok, at: now() });
        return tok;
      });
    },
  );
};
