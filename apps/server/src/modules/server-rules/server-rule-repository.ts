import type { Kysely } from 'kysely';
import { newId } from '@yamori/db';
import type { ServerRule, ServerRuleSummary } from '@yamori/protocol';
import type { DB } from '../../db-types.ts';
import { iso } from '../../lib/time.ts';

type Row = DB['server_rules'];

const summaryColumns = ['id', 'sigma_id', 'title', 'level', 'enabled', 'version', 'created_by', 'created_at', 'updated_by', 'updated_at'] as const;

function toSummary(r: Pick<Row, (typeof summaryColumns)[number]>): ServerRuleSummary {
  return {
    id: r.id,
    sigmaId: r.sigma_id,
    title: r.title,
    level: r.level as ServerRuleSummary['level'],
    enabled: r.enabled === 1,
    version: r.version,
    createdBy: r.created_by,
    createdAt: iso(r.created_at),
    updatedBy: r.updated_by,
    updatedAt: iso(r.updated_at),
  };
}

export interface NewServerRule {
  sigmaId: string;
  title: string;
  level: string;
  source: string;
  enabled: boolean;
}

/** Tenant server rules (Sigma); bound to one tenant like every repository in tenant-scope.ts. */
export function serverRuleRepository(db: Kysely<DB>, tenantId: string) {
  const rules = () => db.selectFrom('server_rules').where('tenant_id', '=', tenantId);
  return {
    async list(): Promise<ServerRuleSummary[]> {
      return (await rules().select(summaryColumns).orderBy('title').orderBy('id').execute()).map(toSummary);
    },
    async get(id: string): Promise<ServerRule | undefined> {
      const r = await rules().selectAll().where('id', '=', id).executeTakeFirst();
      return r && { ...toSummary(r), source: r.source };
    },
    async sigmaIdTaken(sigmaId: string): Promise<boolean> {
      return !!(await rules().select('id').where('sigma_id', '=', sigmaId).executeTakeFirst());
    },
    async insert(r: NewServerRule, by: string, now: number): Promise<string> {
      const id = newId(now);
      await db
        .insertInto('server_rules')
        .values({
          id,
          tenant_id: tenantId,
          sigma_id: r.sigmaId,
          title: r.title,
          level: r.level,
          source: r.source,
          enabled: r.enabled ? 1 : 0,
          version: 1,
          created_by: by,
          created_at: now,
          updated_by: by,
          updated_at: now,
        })
        .execute();
      return id;
    },
    /** Sets enabled and bumps the version (so every instance's engine cache sees the change). */
    async setEnabled(id: string, enabled: boolean, by: string, now: number): Promise<boolean> {
      const r = await db
        .updateTable('server_rules')
        .set((eb) => ({ enabled: enabled ? 1 : 0, version: eb('version', '+', 1), updated_by: by, updated_at: now }))
        .where('tenant_id', '=', tenantId)
        .where('id', '=', id)
        .executeTakeFirst();
      return Number(r.numUpdatedRows) > 0;
    },
    async delete(id: string): Promise<boolean> {
      const r = await db.deleteFrom('server_rules').where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    },
    /**
     * The tenant's rule revision in one cheap aggregate: every change bumps a version or the row
     * count, and a new row has the largest id and updated_at. Empty string when there are no rules.
     */
    async revision(): Promise<string> {
      const r = await rules()
        .select((eb) => [
          eb.fn.countAll<number | string>().as('n'),
          eb.fn.sum<number | string | null>('version').as('versions'),
          eb.fn.max('updated_at').as('updated'),
          eb.fn.max('id').as('last'),
        ])
        .executeTakeFirstOrThrow();
      return Number(r.n) === 0 ? '' : `${Number(r.n)}:${Number(r.versions)}:${Number(r.updated)}:${r.last ?? ''}`;
    },
    /** The enabled rules' sources, for the evaluator's engine. */
    async enabledSources(): Promise<Array<{ id: string; source: string }>> {
      return rules().select(['id', 'source']).where('enabled', '=', 1).orderBy('id').execute();
    },
  };
}
