import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Kysely } from 'kysely';
import { Type } from 'typebox';
import { ChangePassword, ErrorBody, LoginRequest, LoginResponse, Tenant, User } from '@yamori/protocol';
import type { DB } from '../../db-types.ts';
import { InvalidInputError, UnauthorizedError } from '../../lib/errors.ts';
import { principalOf } from '../../lib/request-context.ts';
import { hashPassword, randomSecret, sha256Hex, verifyPassword } from '../../lib/secrets.ts';
import type { Clock } from '../../lib/time.ts';
import { identityRepository } from '../users/user-repository.ts';
import { tenantsByIds } from '../tenants/tenant-repository.ts';
import { appendAudit } from '../audit/audit-repository.ts';
import { SESSION_COOKIE } from './authenticate.ts';

const SESSION_TTL_MS = 12 * 3600_000;

export interface AuthRoutesOptions {
  db: Kysely<DB>;
  now: Clock;
  secureCookies: boolean;
}

/** Console sessions: login sets an httpOnly cookie and returns the CSRF token the console sends back. */
export const authRoutes: FastifyPluginAsyncTypebox<AuthRoutesOptions> = async (app, { db, now, secureCookies }) => {
  const ids = identityRepository(db);
  // A hash to compare against when the e-mail is unknown, so timing does not reveal which accounts exist.
  const decoy = await hashPassword(randomSecret());

  app.post(
    '/login',
    { schema: { tags: ['auth'], body: LoginRequest, response: { 200: LoginResponse, 401: ErrorBody } } },
    async (req, reply) => {
      const u = await ids.findByEmail(req.body.email);
      const ok = await verifyPassword(req.body.password, u?.passwordHash ?? decoy);
      if (!u || !ok || u.disabled) {
        await appendAudit(db, { tenantId: null, actor: req.body.email.toLowerCase(), action: 'auth.login_failed', target: 'session', at: now() });
        throw new UnauthorizedError('wrong e-mail or password');
      }
      const sessionId = randomSecret();
      const csrf = randomSecret(24);
      await ids.createSession({ idHash: sha256Hex(sessionId), userId: u.id, csrf, now: now(), ttlMs: SESSION_TTL_MS });
      void reply.setCookie(SESSION_COOKIE, sessionId, {
        path: '/',
        httpOnly: true,
        sameSite: 'strict',
        secure: secureCookies,
        maxAge: SESSION_TTL_MS / 1000,
      });
      const { passwordHash: _, ...user } = u;
      return { user, csrfToken: csrf };
    },
  );

  app.post('/logout', { schema: { tags: ['auth'], response: { 204: Type.Null() } } }, async (req, reply) => {
    const p = req.principal;
    if (p?.kind === 'user') await ids.deleteSession(p.sessionHash);
    void reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return reply.status(204).send(null);
  });

  app.get(
    '/me',
    {
      schema: {
        tags: ['auth'],
        response: { 200: Type.Object({ user: Type.Union([User, Type.Null()]), tenants: Type.Array(Tenant), csrfToken: Type.Union([Type.String(), Type.Null()]) }) },
      },
    },
    async (req) => {
      const p = principalOf(req);
      if (p.kind === 'token') return { user: null, tenants: await tenantsByIds(db, [p.tenantId]), csrfToken: null };
      const u = await ids.findById(p.userId);
      if (!u) throw new UnauthorizedError();
      const { passwordHash: _, ...user } = u;
      return { user, tenants: await tenantsByIds(db, u.memberships.map((m) => m.tenantId)), csrfToken: p.csrf };
    },
  );

  app.post('/password', { schema: { tags: ['auth'], body: ChangePassword, response: { 204: Type.Null() } } }, async (req, reply) => {
    const p = principalOf(req);
    if (p.kind !== 'user') throw new InvalidInputError('API tokens have no password');
    const u = await ids.findById(p.userId);
    if (!u || !(await verifyPassword(req.body.currentPassword, u.passwordHash))) throw new UnauthorizedError('current password is wrong');
    await ids.setPassword(u.id, await hashPassword(req.body.newPassword));
    await appendAudit(db, { tenantId: null, actor: u.email, action: 'user.password_changed', target: `user:${u.id}`, at: now() });
    return reply.status(204).send(null);
  });
};
