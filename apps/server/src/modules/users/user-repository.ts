import type { Kysely } from 'kysely';
import { newId } from '@yamori/db';
import type { ApiToken, Membership, Role, User } from '@yamori/protocol';
import type { DB } from '../../db-types.ts';
import { iso, isoOrNull } from '../../lib/time.ts';

type UserRow = DB['users'];

async function withMemberships(db: Kysely<DB>, rows: UserRow[], onlyTenant?: string): Promise<User[]> {
  if (rows.length === 0) return [];
  const ms = await db
    .selectFrom('memberships')
    .selectAll()
    .where(
      'user_id',
      'in',
      rows.map((r) => r.id),
    )
    .execute();
  return rows.map((r) => ({
    id: r.id,
    email: r.email,
    name: r.name,
    disabled: r.disabled === 1,
    createdAt: iso(r.created_at),
    memberships: ms
      // Seen from a tenant, a user's roles elsewhere are not that tenant's business.
      .filter((m) => m.user_id === r.id && (onlyTenant === undefined || m.tenant_id === onlyTenant))
      .map((m): Membership => ({ tenantId: m.tenant_id, role: m.role as Role })),
  }));
}

/** Lookups that precede tenant resolution (login, sessions): keyed by secrets, not by tenant. */
export const identityRepository = (db: Kysely<DB>) => ({
  async findByEmail(email: string): Promise<(User & { passwordHash: string }) | undefined> {
    const row = await db.selectFrom('users').selectAll().where('email', '=', email.toLowerCase()).executeTakeFirst();
    if (!row) return undefined;
    const [u] = await withMemberships(db, [row]);
    return u && { ...u, passwordHash: row.password_hash };
  },
  async findById(id: string): Promise<(User & { passwordHash: string }) | undefined> {
    const row = await db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) return undefined;
    const [u] = await withMemberships(db, [row]);
    return u && { ...u, passwordHash: row.password_hash };
  },
  async insertUser(u: { email: string; name: string; passwordHash: string }, now: number): Promise<string> {
    const id = newId(now);
    await db
      .insertInto('users')
      .values({ id, email: u.email.toLowerCase(), name: u.name, password_hash: u.passwordHash, disabled: 0, created_at: now })
      .execute();
    return id;
  },
  async setPassword(userId: string, passwordHash: string): Promise<void> {
    await db.updateTable('users').set({ password_hash: passwordHash }).where('id', '=', userId).execute();
    await db.deleteFrom('sessions').where('user_id', '=', userId).execute();
  },
  async addMembership(userId: string, tenantId: string, role: Role): Promise<void> {
    await db.insertInto('memberships').values({ user_id: userId, tenant_id: tenantId, role }).execute();
  },
  async createSession(s: { idHash: string; userId: string; csrf: string; now: number; ttlMs: number }): Promise<void> {
    await db
      .insertInto('sessions')
      .values({ id_hash: s.idHash, user_id: s.userId, csrf: s.csrf, created_at: s.now, expires_at: s.now + s.ttlMs })
      .execute();
  },
  async findSession(idHash: string, now: number) {
    return db
      .selectFrom('sessions')
      .selectAll()
      .where('id_hash', '=', idHash)
      .where('expires_at', '>', now)
      .executeTakeFirst();
  },
  async deleteSession(idHash: string): Promise<void> {
    await db.deleteFrom('sessions').where('id_hash', '=', idHash).execute();
  },
  async findApiToken(secretHash: string) {
    return db.selectFrom('api_tokens').selectAll().where('secret_hash', '=', secretHash).executeTakeFirst();
  },
});

export function userRepository(db: Kysely<DB>, tenantId: string) {
  return {
    async list(): Promise<User[]> {
      const rows = await db
        .selectFrom('users')
        .innerJoin('memberships', 'memberships.user_id', 'users.id')
        .selectAll('users')
        .where('memberships.tenant_id', '=', tenantId)
        .orderBy('users.email')
        .execute();
      return withMemberships(db, rows, tenantId);
    },
    async get(userId: string): Promise<User | undefined> {
      const row = await db
        .selectFrom('users')
        .innerJoin('memberships', 'memberships.user_id', 'users.id')
        .selectAll('users')
        .where('memberships.tenant_id', '=', tenantId)
        .where('users.id', '=', userId)
        .executeTakeFirst();
      return row ? (await withMemberships(db, [row], tenantId))[0] : undefined;
    },
    /**
     * Gives `email` a role in this tenant: a new account, or an existing one (an MSS operator
     * working for several tenants keeps its password). Returns whether the account is new.
     */
    async attach(u: { email: string; name: string; passwordHash: string; role: Role }, now: number): Promise<{ userId: string; created: boolean } | 'already_member'> {
      const ids = identityRepository(db);
      const existing = await ids.findByEmail(u.email);
      if (existing?.memberships.some((m) => m.tenantId === tenantId)) return 'already_member';
      const userId = existing?.id ?? (await ids.insertUser(u, now));
      await ids.addMembership(userId, tenantId, u.role);
      return { userId, created: !existing };
    },
    async roleOf(userId: string): Promise<Role | undefined> {
      const m = await db
        .selectFrom('memberships')
        .select('role')
        .where('tenant_id', '=', tenantId)
        .where('user_id', '=', userId)
        .executeTakeFirst();
      return m?.role as Role | undefined;
    },
    async setRole(userId: string, role: Role): Promise<void> {
      await db.updateTable('memberships').set({ role }).where('tenant_id', '=', tenantId).where('user_id', '=', userId).execute();
    },
    async removeMembership(userId: string): Promise<void> {
      await db.deleteFrom('memberships').where('tenant_id', '=', tenantId).where('user_id', '=', userId).execute();
    },
    /** Disabling is global (the person leaves), but only reachable for users of this tenant. */
    async setDisabled(userId: string, disabled: boolean): Promise<void> {
      await db.updateTable('users').set({ disabled: disabled ? 1 : 0 }).where('id', '=', userId).execute();
      if (disabled) await db.deleteFrom('sessions').where('user_id', '=', userId).execute();
    },
  };
}

export function apiTokenRepository(db: Kysely<DB>, tenantId: string) {
  const toApi = (r: DB['api_tokens']): ApiToken => ({
    id: r.id,
    name: r.name,
    role: r.role as Role,
    scope: r.scope as ApiToken['scope'],
    expiresAt: isoOrNull(r.expires_at),
    revokedAt: isoOrNull(r.revoked_at),
    createdAt: iso(r.created_at),
  });
  return {
    async insert(t: { name: string; role: Role; scope: string; secretHash: string; createdBy: string; expiresAt: number | null }, now: number) {
      const id = newId(now);
      const row: DB['api_tokens'] = {
        id,
        tenant_id: tenantId,
        name: t.name,
        secret_hash: t.secretHash,
        role: t.role,
        scope: t.scope,
        created_by: t.createdBy,
        expires_at: t.expiresAt,
        revoked_at: null,
        created_at: now,
      };
      await db.insertInto('api_tokens').values(row).execute();
      return toApi(row);
    },
    async list(): Promise<ApiToken[]> {
      const rows = await db.selectFrom('api_tokens').selectAll().where('tenant_id', '=', tenantId).orderBy('created_at', 'desc').execute();
      return rows.map(toApi);
    },
    async revoke(id: string, now: number): Promise<ApiToken | undefined> {
      await db
        .updateTable('api_tokens')
        .set({ revoked_at: now })
        .where('tenant_id', '=', tenantId)
        .where('id', '=', id)
        .where('revoked_at', 'is', null)
        .execute();
      const r = await db.selectFrom('api_tokens').selectAll().where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst();
      return r && toApi(r);
    },
  };
}
