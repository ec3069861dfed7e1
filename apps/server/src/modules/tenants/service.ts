import type { Kysely } from 'kysely';
import { defaultPolicy, type Tenant } from '@yamori/protocol';
import type { DB } from '../../db-types.ts';
import { scopedRepos } from '../../tenant-scope.ts';
import { appendAudit } from '../audit/audit-repository.ts';
import { identityRepository } from '../users/user-repository.ts';
import { insertTenant } from './tenant-repository.ts';

export const DEFAULT_GROUP = 'Default';
export const DEFAULT_POLICY = 'Default';

/**
 * A new tenant comes ready to enroll agents: a "Default" policy (everything in monitor mode,
 * deployed) and a "Default" group that uses it. The creator, if a user, becomes its owner.
 */
export async function createTenant(
  db: Kysely<DB>,
  input: { name: string; ownerUserId?: string | undefined; actor: string; now: number },
): Promise<{ tenant: Tenant; groupId: string; policyId: string }> {
  return db.transaction().execute(async (trx) => {
    const tenant = await insertTenant(trx, input.name, input.now);
    const r = scopedRepos(trx, tenant.id);
    const policyId = await r.policies.insert({ name: DEFAULT_POLICY, description: 'Created with the tenant: every module in monitor mode.' }, input.now);
    const rev = await r.policies.addRevision(policyId, defaultPolicy(), 'initial policy', input.actor, input.now);
    await r.policies.approve(rev.id, input.actor, input.now);
    await r.policies.deploy(policyId, rev.id, input.actor, input.now);
    const group = await r.groups.insert({ name: DEFAULT_GROUP, policyId }, input.now);
    if (input.ownerUserId) await identityRepository(trx).addMembership(input.ownerUserId, tenant.id, 'owner');
    await appendAudit(trx, { tenantId: tenant.id, actor: input.actor, action: 'tenant.created', target: `tenant:${tenant.id}`, after: tenant, at: input.now });
    return { tenant, groupId: group.id, policyId };
  });
}
