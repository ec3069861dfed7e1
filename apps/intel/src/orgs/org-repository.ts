import { createHash, randomBytes } from 'node:crypto';
import { newId } from '@yamori/db';
import type { IntelKeyScope } from '@yamori/protocol';
import type { IntelKysely } from '../indicators/indicator-repository.ts';

/** Organizations and API keys. Keys are random, shown once, stored as sha256. */
export interface OrgRow {
  id: string;
  name: string;
  created_at: number;
}

export interface KeyRecord {
  id: string;
  scope: IntelKeyScope;
  orgId: string | null;
}

export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export function generateKey(scope: IntelKeyScope): string {
  return `yik_${scope}_${randomBytes(24).toString('base64url')}`;
}

export async function createOrg(db: IntelKysely, name: string, now: number): Promise<OrgRow | undefined> {
  const row = { id: newId(now), name, created_at: now };
  const r = await db
    .insertInto('orgs')
    .values(row)
    .onConflict((oc) => oc.column('name').doNothing())
    .executeTakeFirst();
  return Number(r.numInsertedOrUpdatedRows ?? 0) === 1 ? row : undefined;
}

export async function listOrgs(db: IntelKysely): Promise<OrgRow[]> {
  return db.selectFrom('orgs').selectAll().orderBy('name').execute();
}

export async function getOrg(db: IntelKysely, id: string): Promise<OrgRow | undefined> {
  return db.selectFrom('orgs').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function createKey(
  db: IntelKysely,
  input: { scope: IntelKeyScope; orgId: string | null; name: string },
  now: number,
): Promise<{ id: string; key: string }> {
  const key = generateKey(input.scope);
  const id = newId(now);
  await db
    .insertInto('api_keys')
    .values({ id, org_id: input.orgId, scope: input.scope, name: input.name, key_hash: hashKey(key), created_at: now, revoked_at: null })
    .execute();
  return { id, key };
}

export async function revokeKey(db: IntelKysely, id: string, now: number): Promise<boolean> {
  const r = await db.updateTable('api_keys').set({ revoked_at: now }).where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

export async function findKey(db: IntelKysely, key: string): Promise<KeyRecord | undefined> {
  const r = await db
    .selectFrom('api_keys')
    .select(['id', 'scope', 'org_id'])
    .where('key_hash', '=', hashKey(key))
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return r ? { id: r.id, scope: r.scope as IntelKeyScope, orgId: r.org_id } : undefined;
}
