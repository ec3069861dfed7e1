import type { Kysely } from 'kysely';
import { newId } from '@yamori/db';
import type { Tenant, Settings } from '@yamori/protocol';
import type { DB } from '../../db-types.ts';
import { iso } from '../../lib/time.ts';
import { ConflictError, NotFoundError } from '../../lib/errors.ts';

export const DEFAULT_SETTINGS: Settings = { staleAfterDays: 14, alertDedupWindowMinutes: 60 };

export async function insertTenant(db: Kysely<DB>, name: string, now: number): Promise<Tenant> {
  const exists = await db.selectFrom('tenants').select('id').where('name', '=', name).executeTakeFirst();
  if (exists) throw new ConflictError(`a tenant named "${name}" already exists`);
  const id = newId(now);
  await db
    .insertInto('tenants')
    .values({
      id,
      name,
      stale_after_days: DEFAULT_SETTINGS.staleAfterDays,
      alert_dedup_minutes: DEFAULT_SETTINGS.alertDedupWindowMinutes,
      created_at: now,
    })
    .execute();
  return { id, name, createdAt: iso(now) };
}

export async function countTenants(db: Kysely<DB>): Promise<number> {
  const r = await db.selectFrom('tenants').select((e) => e.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(r.n);
}

export async function tenantsByIds(db: Kysely<DB>, ids: readonly string[]): Promise<Tenant[]> {
  if (ids.length === 0) return [];
  const rows = await db.selectFrom('tenants').selectAll().where('id', 'in', ids).orderBy('name').execute();
  return rows.map((r) => ({ id: r.id, name: r.name, createdAt: iso(r.created_at) }));
}

export function settingsRepository(db: Kysely<DB>, tenantId: string) {
  return {
    async get(): Promise<Settings> {
      const r = await db.selectFrom('tenants').selectAll().where('id', '=', tenantId).executeTakeFirst();
      if (!r) throw new NotFoundError('tenant');
      return { staleAfterDays: r.stale_after_days, alertDedupWindowMinutes: r.alert_dedup_minutes };
    },
    async put(s: Settings): Promise<void> {
      await db
        .updateTable('tenants')
        .set({ stale_after_days: s.staleAfterDays, alert_dedup_minutes: s.alertDedupWindowMinutes })
        .where('id', '=', tenantId)
        .execute();
    },
  };
}
