import '@fastify/cookie';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import type { Role } from '@yamori/protocol';
import type { DB } from '../../db-types.ts';
import { ForbiddenError, NotFoundError, UnauthorizedError } from '../../lib/errors.ts';
import { allowedByScope, can } from '../../lib/permissions.ts';
import { actorOf, type Principal } from '../../lib/request-context.ts';
import { safeEqualHex, sha256Hex } from '../../lib/secrets.ts';
import type { Clock } from '../../lib/time.ts';
import { identityRepository } from '../users/user-repository.ts';
import { findAgentForAuth } from '../enrollment/enrollment-repository.ts';
import { inTenantTransaction, scopedRepos } from '../../tenant-scope.ts';

export const SESSION_COOKIE = 'yamori_session';
export const API_TOKEN_PREFIX = 'ymt_';
const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Resolves the console principal from an API token (`Authorization: Bearer ymt_…`) or the session cookie. */
export async function resolvePrincipal(db: Kysely<DB>, req: FastifyRequest, now: number): Promise<Principal | null> {
  const auth = req.headers.authorization;
  if (auth?.startsWith('Bearer ')) {
    const secret = auth.slice(7).trim();
    if (!secret.startsWith(API_TOKEN_PREFIX)) throw new UnauthorizedError('unknown token format: API tokens start with ymt_');
    const t = await identityRepository(db).findApiToken(sha256Hex(secret));
    if (!t) throw new UnauthorizedError('unknown API token');
    if (t.revoked_at !== null) throw new UnauthorizedError('this API token was revoked');
    if (t.expires_at !== null && t.expires_at <= now) throw new UnauthorizedError('this API token has expired');
    return { kind: 'token', tokenId: t.id, name: t.name, tenantId: t.tenant_id, role: t.role as Role, scope: t.scope as 'read' | 'write' };
  }
  const cookie = req.cookies[SESSION_COOKIE];
  if (!cookie) return null;
  const ids = identityRepository(db);
  const sessionHash = sha256Hex(cookie);
  const s = await ids.findSession(sessionHash, now);
  if (!s) return null;
  const u = await ids.findById(s.user_id);
  if (!u || u.disabled) return null;
  if (UNSAFE.has(req.method)) {
    const sent = req.headers['x-csrf-token'];
    if (typeof sent !== 'string' || !safeEqualHex(sha256Hex(sent), sha256Hex(s.csrf)))
      throw new ForbiddenError('missing or wrong x-csrf-token header: send the csrfToken returned at login');
  }
  return { kind: 'user', userId: u.id, email: u.email, memberships: u.memberships, sessionHash, csrf: s.csrf };
}

/** Console API: every request gets `principal`; routes under /tenants/:tenantId also get `tenant`. */
export function installConsoleAuth(app: FastifyInstance, db: Kysely<DB>, now: Clock): void {
  app.decorateRequest('principal', null);
  app.decorateRequest('tenant', null);
  app.addHook('onRequest', async (req) => {
    req.principal = await resolvePrincipal(db, req, now());
  });
}

/** The tenant guard: membership (or the token's tenant) and the route's permission, checked in one place. */
export function installTenantGuard(app: FastifyInstance, db: Kysely<DB>): void {
  app.addHook('preHandler', async (req) => {
    const p = req.principal;
    if (!p) throw new UnauthorizedError();
    const tenantId = (req.params as { tenantId?: string }).tenantId ?? '';
    const role = p.kind === 'token' ? (p.tenantId === tenantId ? p.role : undefined) : p.memberships.find((m) => m.tenantId === tenantId)?.role;
    // Another tenant's id looks exactly like one that does not exist.
    if (!role) throw new NotFoundError('tenant');
    const permission = req.routeOptions.config.permission;
    if (!permission) throw new Error(`route ${req.routeOptions.url ?? ''} declares no permission`);
    if (!can(role, permission)) throw new ForbiddenError(`your role "${role}" does not allow ${permission}`);
    if (p.kind === 'token' && !allowedByScope(p.scope, permission)) throw new ForbiddenError('this API token is read-only');
    req.tenant = {
      tenantId,
      role,
      actor: actorOf(p),
      repos: scopedRepos(db, tenantId),
      tx: (fn) => inTenantTransaction(db, tenantId, fn),
    };
  });
}

/** Agent API: `Authorization: Bearer <agentId>.<secret>`; unknown, archived or wrong → 401. */
export function installAgentAuth(app: FastifyInstance, db: Kysely<DB>): void {
  app.decorateRequest('agent', null);
  app.addHook('preHandler', async (req) => {
    const auth = req.headers.authorization;
    const m = auth ? /^Bearer ([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/.exec(auth) : null;
    if (!m) throw new UnauthorizedError('agent credentials missing: send Authorization: Bearer <agentId>.<secret>');
    const row = await findAgentForAuth(db, m[1] ?? '');
    if (!row || !safeEqualHex(row.secret_hash, sha256Hex(m[2] ?? '')))
      throw new UnauthorizedError('unknown agent or wrong secret: re-enroll the agent with a new enrollment token');
    if (row.status !== 'active') throw new UnauthorizedError('this agent was archived: re-enroll it to activate it again');
    req.agent = { agentId: row.id, tenantId: row.tenant_id, groupId: row.group_id, hostname: row.hostname };
  });
}
