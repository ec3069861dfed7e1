import type { Kysely, Selectable } from 'kysely';
import { newId } from '@yamori/db';
import type { Group, Policy, PolicyRevision, PolicySummary, RevisionState } from '@yamori/protocol';
import type { DB } from '../../db-types.ts';
import { iso, isoOrNull } from '../../lib/time.ts';

type RevRow = Selectable<DB['policy_revisions']>;

export interface StoredRevision extends PolicyRevision {
  /** Global revision id: what agents hold and report. */
  id: number;
}

function toRevision(r: RevRow): StoredRevision {
  return {
    id: r.id,
    policyId: r.policy_id,
    revision: r.revision,
    state: r.state as RevisionState,
    document: JSON.parse(r.document) as Policy,
    comment: r.comment,
    createdBy: r.created_by,
    createdAt: iso(r.created_at),
    approvedBy: r.approved_by,
    approvedAt: isoOrNull(r.approved_at),
    deployedBy: r.deployed_by,
    deployedAt: isoOrNull(r.deployed_at),
  };
}

function toSummary(r: DB['policies'], deployedRevisionNumber: number | null): PolicySummary {
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    deployedRevision: deployedRevisionNumber,
    latestRevision: r.latest_revision,
    createdAt: iso(r.created_at),
  };
}

export function policyRepository(db: Kysely<DB>, tenantId: string) {
  const revisions = () => db.selectFrom('policy_revisions').selectAll().where('tenant_id', '=', tenantId);
  return {
    async list(): Promise<PolicySummary[]> {
      const rows = await db
        .selectFrom('policies')
        .leftJoin('policy_revisions', 'policy_revisions.id', 'policies.deployed_revision')
        .selectAll('policies')
        .select('policy_revisions.revision as deployed_number')
        .where('policies.tenant_id', '=', tenantId)
        .orderBy('policies.name')
        .execute();
      return rows.map((r) => toSummary(r, r.deployed_number ?? null));
    },
    async get(id: string): Promise<PolicySummary | undefined> {
      const r = await db
        .selectFrom('policies')
        .leftJoin('policy_revisions', 'policy_revisions.id', 'policies.deployed_revision')
        .selectAll('policies')
        .select('policy_revisions.revision as deployed_number')
        .where('policies.tenant_id', '=', tenantId)
        .where('policies.id', '=', id)
        .executeTakeFirst();
      return r && toSummary(r, r.deployed_number ?? null);
    },
    async nameTaken(name: string): Promise<boolean> {
      return !!(await db.selectFrom('policies').select('id').where('tenant_id', '=', tenantId).where('name', '=', name).executeTakeFirst());
    },
    async insert(p: { name: string; description: string }, now: number): Promise<string> {
      const id = newId(now);
      await db
        .insertInto('policies')
        .values({ id, tenant_id: tenantId, name: p.name, description: p.description, deployed_revision: null, latest_revision: 0, created_at: now })
        .execute();
      return id;
    },
    async addRevision(policyId: string, doc: Policy, comment: string, by: string, now: number): Promise<StoredRevision> {
      const p = await db
        .selectFrom('policies')
        .select('latest_revision')
        .where('tenant_id', '=', tenantId)
        .where('id', '=', policyId)
        .executeTakeFirstOrThrow();
      const revision = p.latest_revision + 1;
      await db.updateTable('policies').set({ latest_revision: revision }).where('id', '=', policyId).execute();
      await db
        .insertInto('policy_revisions')
        .values({
          policy_id: policyId,
          tenant_id: tenantId,
          revision,
          state: 'draft',
          document: JSON.stringify(doc),
          comment,
          created_by: by,
          created_at: now,
          approved_by: null,
          approved_at: null,
          deployed_by: null,
          deployed_at: null,
        })
        .execute();
      const r = await revisions().where('policy_id', '=', policyId).where('revision', '=', revision).executeTakeFirstOrThrow();
      return toRevision(r);
    },
    async revisions(policyId: string): Promise<StoredRevision[]> {
      const rows = await revisions().where('policy_id', '=', policyId).orderBy('revision', 'desc').execute();
      return rows.map(toRevision);
    },
    async revision(policyId: string, revision: number): Promise<StoredRevision | undefined> {
      const r = await revisions().where('policy_id', '=', policyId).where('revision', '=', revision).executeTakeFirst();
      return r && toRevision(r);
    },
    async revisionById(id: number): Promise<StoredRevision | undefined> {
      const r = await revisions().where('id', '=', id).executeTakeFirst();
      return r && toRevision(r);
    },
    async approve(id: number, by: string, now: number): Promise<void> {
      await db
        .updateTable('policy_revisions')
        .set({ state: 'approved', approved_by: by, approved_at: now })
        .where('tenant_id', '=', tenantId)
        .where('id', '=', id)
        .execute();
    },
    /** Makes `id` the deployed revision of its policy; the one deployed before becomes superseded. */
    async deploy(policyId: string, id: number, by: string, now: number): Promise<void> {
      await db
        .updateTable('policy_revisions')
        .set({ state: 'superseded' })
        .where('tenant_id', '=', tenantId)
        .where('policy_id', '=', policyId)
        .where('state', '=', 'deployed')
        .execute();
      await db
        .updateTable('policy_revisions')
        .set({ state: 'deployed', deployed_by: by, deployed_at: now })
        .where('tenant_id', '=', tenantId)
        .where('id', '=', id)
        .execute();
      await db.updateTable('policies').set({ deployed_revision: id }).where('tenant_id', '=', tenantId).where('id', '=', policyId).execute();
    },
  };
}

export function groupRepository(db: Kysely<DB>, tenantId: string) {
  const toGroup = (r: DB['agent_groups']): Group => ({ id: r.id, name: r.name, policyId: r.policy_id, createdAt: iso(r.created_at) });
  return {
    async list(): Promise<Group[]> {
      const rows = await db.selectFrom('agent_groups').selectAll().where('tenant_id', '=', tenantId).orderBy('name').execute();
      return rows.map(toGroup);
    },
    async get(id: string): Promise<Group | undefined> {
      const r = await db.selectFrom('agent_groups').selectAll().where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst();
      return r && toGroup(r);
    },
    async nameTaken(name: string, exceptId?: string): Promise<boolean> {
      let q = db.selectFrom('agent_groups').select('id').where('tenant_id', '=', tenantId).where('name', '=', name);
      if (exceptId) q = q.where('id', '!=', exceptId);
      return !!(await q.executeTakeFirst());
    },
    async insert(g: { name: string; policyId: string | null }, now: number): Promise<Group> {
      const row = { id: newId(now), tenant_id: tenantId, name: g.name, policy_id: g.policyId, created_at: now };
      await db.insertInto('agent_groups').values(row).execute();
      return toGroup(row);
    },
    async update(id: string, g: { name?: string | undefined; policyId?: string | null | undefined }): Promise<void> {
      const set: Partial<DB['agent_groups']> = {};
      if (g.name !== undefined) set.name = g.name;
      if (g.policyId !== undefined) set.policy_id = g.policyId;
      if (Object.keys(set).length) await db.updateTable('agent_groups').set(set).where('tenant_id', '=', tenantId).where('id', '=', id).execute();
    },
  };
}

/** The deployed policy an agent in `groupId` must run, or undefined if its group has none deployed. */
export async function deployedPolicyForGroup(
  db: Kysely<DB>,
  tenantId: string,
  groupId: string,
): Promise<{ revisionId: number; document: Policy } | undefined> {
  const r = await db
    .selectFrom('agent_groups')
    .innerJoin('policies', 'policies.id', 'agent_groups.policy_id')
    .innerJoin('policy_revisions', 'policy_revisions.id', 'policies.deployed_revision')
    .select(['policy_revisions.id as rid', 'policy_revisions.document as doc'])
    .where('agent_groups.tenant_id', '=', tenantId)
    .where('agent_groups.id', '=', groupId)
    .executeTakeFirst();
  return r && { revisionId: r.rid, document: JSON.parse(r.doc) as Policy };
}
