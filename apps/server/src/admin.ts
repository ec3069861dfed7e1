// Operations for `yamori admin …`: the same use cases as the API, against the database directly,
// for scripts and for the first steps before any API token exists. The actor in the audit log is "cli".
import type { Kysely } from 'kysely';
import { encodeEnrollmentToken, type ApiToken, type EnrollmentToken, type Role, type Tenant, type User } from '@yamori/protocol';
import type { DB } from './db-types.ts';
import { ConflictError, NotFoundError } from './lib/errors.ts';
import { hashPassword, randomSecret, sha256Hex } from './lib/secrets.ts';
import { inTenantTransaction, scopedRepos } from './tenant-scope.ts';
import { API_TOKEN_PREFIX } from './modules/auth/authenticate.ts';
import { createTenant as createTenantWithDefaults } from './modules/tenants/service.ts';
import { installCommand } from './modules/enrollment/enrollment-token.ts';

const ACTOR = 'cli';

export async function listTenants(db: Kysely<DB>): Promise<Tenant[]> {
  const rows = await db.selectFrom('tenants').selectAll().orderBy('name').execute();
  return rows.map((r) => ({ id: r.id, name: r.name, createdAt: new Date(r.created_at).toISOString() }));
}

export async function createTenant(db: Kysely<DB>, name: string): Promise<Tenant> {
  return (await createTenantWithDefaults(db, { name, actor: ACTOR, now: Date.now() })).tenant;
}

/** Accepts a tenant id or name. */
export async function resolveTenant(db: Kysely<DB>, idOrName: string): Promise<Tenant> {
  const t = (await listTenants(db)).find((x) => x.id === idOrName || x.name === idOrName);
  if (!t) throw new NotFoundError(`tenant "${idOrName}"`);
  return t;
}

export async function createUser(
  db: Kysely<DB>,
  tenantId: string,
  u: { email: string; name: string; role: Role; password?: string | undefined },
): Promise<{ user: User; password: string | undefined }> {
  const password = u.password ?? randomSecret(15);
  const passwordHash = await hashPassword(password);
  return inTenantTransaction(db, tenantId, async (r) => {
    const res = await r.users.attach({ email: u.email, name: u.name, role: u.role, passwordHash }, Date.now());
    if (res === 'already_member') throw new ConflictError(`${u.email} already has a role in this tenant`);
    const user = await r.users.get(res.userId);
    if (!user) throw new NotFoundError('user');
    await r.audit.append({ actor: ACTOR, action: res.created ? 'user.created' : 'user.added', target: `user:${user.id}`, after: { email: u.email, role: u.role }, at: Date.now() });
    return { user, password: res.created ? password : undefined };
  });
}

export async function listUsers(db: Kysely<DB>, tenantId: string): Promise<User[]> {
  return scopedRepos(db, tenantId).users.list();
}

export async function createApiToken(
  db: Kysely<DB>,
  tenantId: string,
  t: { name: string; role: Role; scope: 'read' | 'write'; expiresInDays?: number | undefined },
): Promise<{ token: ApiToken; secret: string }> {
  const secret = API_TOKEN_PREFIX + randomSecret();
  const now = Date.now();
  const token = await inTenantTransaction(db, tenantId, async (r) => {
    const tok = await r.apiTokens.insert(
      { ...t, secretHash: sha256Hex(secret), createdBy: ACTOR, expiresAt: t.expiresInDays ? now + t.expiresInDays * 86400_000 : null },
      now,
    );
    await r.audit.append({ actor: ACTOR, action: 'token.created', target: `token:${tok.id}`, after: tok, at: now });
    return tok;
  });
  return { token, secret };
}

export async function createEnrollmentToken(
  db: Kysely<DB>,
  tenantId: string,
  e: { group?: string | undefined; name: string; expiresInHours: number; maxUses?: number | undefined; publicUrl: string; caSha256: string | null },
): Promise<{ enrollmentToken: EnrollmentToken; token: string; installCommand: string }> {
  const secret = randomSecret();
  const now = Date.now();
  const enrollmentToken = await inTenantTransaction(db, tenantId, async (r) => {
    const groups = await r.groups.list();
    const group = groups.find((g) => g.id === e.group || g.name === (e.group ?? 'Default'));
    if (!group) throw new NotFoundError(`agent group "${e.group ?? 'Default'}"`);
    const tok = await r.enrollmentTokens.insert(
      { groupId: group.id, name: e.name, secretHash: sha256Hex(secret), expiresAt: now + e.expiresInHours * 3600_000, maxUses: e.maxUses ?? null, createdBy: ACTOR },
      now,
    );
    await r.audit.append({ actor: ACTOR, action: 'enrollment_token.created', target: `enrollment_token:${tok.id}`, after: tok, at: now });
    return tok;
  });
  const token = encodeEnrollmentToken({ v: 1, url: e.publicUrl, caSha256: e.caSha256, secret });
  return { enrollmentToken, token, installCommand: installCommand(token) };
}
