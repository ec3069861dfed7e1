import type { Kysely } from 'kysely';
import type { DB } from './db-types.ts';
import { ConflictError } from './lib/errors.ts';
import { hashPassword, randomSecret } from './lib/secrets.ts';
import { countTenants } from './modules/tenants/tenant-repository.ts';
import { createTenant } from './modules/tenants/service.ts';
import { identityRepository } from './modules/users/user-repository.ts';

export const FIRST_OWNER_EMAIL = 'admin@yamori.local';

export interface FirstRun {
  tenantId: string;
  email: string;
  /** Shown once on the console at first start; only its hash is stored. */
  password: string;
}

/** On an empty database: the first tenant and its owner account. Returns undefined when already set up. */
export async function bootstrapFirstRun(db: Kysely<DB>, now: number): Promise<FirstRun | undefined> {
  if ((await countTenants(db)) > 0) return undefined;
  const password = randomSecret(15);
  try {
    const ids = identityRepository(db);
    const userId = (await ids.findByEmail(FIRST_OWNER_EMAIL))?.id ?? (await ids.insertUser({ email: FIRST_OWNER_EMAIL, name: 'Administrator', passwordHash: await hashPassword(password) }, now));
    const { tenant } = await createTenant(db, { name: 'Default', ownerUserId: userId, actor: 'system', now });
    return { tenantId: tenant.id, email: FIRST_OWNER_EMAIL, password };
  } catch (e) {
    // Another instance started at the same moment and did it first.
    if (e instanceof ConflictError) return undefined;
    throw e;
  }
}
