import type { Kysely } from 'kysely';
import { newId } from '@yamori/db';
import type { EnrollmentToken } from '@yamori/protocol';
import type { DB } from '../../db-types.ts';
import { iso, isoOrNull } from '../../lib/time.ts';

export function toEnrollmentToken(r: DB['enrollment_tokens']): EnrollmentToken {
  return {
    id: r.id,
    groupId: r.group_id,
    name: r.name,
    expiresAt: iso(r.expires_at),
    maxUses: r.max_uses,
    uses: r.uses,
    revokedAt: isoOrNull(r.revoked_at),
    createdAt: iso(r.created_at),
  };
}

export function enrollmentTokenRepository(db: Kysely<DB>, tenantId: string) {
  const tokens = () => db.selectFrom('enrollment_tokens').selectAll().where('tenant_id', '=', tenantId);
  return {
    async insert(t: { groupId: string; name: string; secretHash: string; expiresAt: number; maxUses: number | null; createdBy: string }, now: number) {
      const row: DB['enrollment_tokens'] = {
        id: newId(now),
        tenant_id: tenantId,
        group_id: t.groupId,
        name: t.name,
        secret_hash: t.secretHash,
        expires_at: t.expiresAt,
        max_uses: t.maxUses,
        uses: 0,
        revoked_at: null,
        created_by: t.createdBy,
        created_at: now,
      };
      await db.insertInto('enrollment_tokens').values(row).execute();
      return toEnrollmentToken(row);
    },
    async list(): Promise<EnrollmentToken[]> {
      return (await tokens().orderBy('created_at', 'desc').execute()).map(toEnrollmentToken);
    },
    async get(id: string): Promise<EnrollmentToken | undefined> {
      const r = await tokens().where('id', '=', id).executeTakeFirst();
      return r && toEnrollmentToken(r);
    },
    async revoke(id: string, now: number): Promise<void> {
      await db
        .updateTable('enrollment_tokens')
        .set({ revoked_at: now })
        .where('tenant_id', '=', tenantId)
        .where('id', '=', id)
        .where('revoked_at', 'is', null)
        .execute();
    },
    /** Counts a use only while the token is still usable: concurrent enrollments cannot overshoot max_uses. */
    async consume(id: string, now: number): Promise<boolean> {
      const r = await db
        .updateTable('enrollment_tokens')
        .set((e) => ({ uses: e('uses', '+', 1) }))
        .where('tenant_id', '=', tenantId)
        .where('id', '=', id)
        .where('revoked_at', 'is', null)
        .where('expires_at', '>', now)
        .where((e) => e.or([e('max_uses', 'is', null), e('uses', '<', e.ref('max_uses'))]))
        .executeTakeFirst();
      return Number(r.numUpdatedRows) === 1;
    },
  };
}

/** Before enrollment the tenant is unknown: the token's secret hash finds it. */
export async function findEnrollmentTokenBySecret(db: Kysely<DB>, secretHash: string) {
  return db.selectFrom('enrollment_tokens').selectAll().where('secret_hash', '=', secretHash).executeTakeFirst();
}

/** Agent authentication: the agent id in the bearer token finds the row whose secret hash is compared. */
export async function findAgentForAuth(db: Kysely<DB>, agentId: string) {
  return db
    .selectFrom('agents')
    .select(['id', 'tenant_id', 'group_id', 'secret_hash', 'status', 'hostname'])
    .where('id', '=', agentId)
    .executeTakeFirst();
}
