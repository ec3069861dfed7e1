import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import { newId } from '@yamori/db';
import type { YaraPack, YaraPackSummary, YaraRuleBundle, YaraRuleSource } from '@yamori/protocol';
import type { DB } from '../../db-types.ts';
import { iso } from '../../lib/time.ts';

type Row = DB['yara_packs'];

const summaryColumns = [
  'id',
  'tenant_id',
  'name',
  'description',
  'enabled',
  'version',
  'rule_count',
  'size_bytes',
  'created_by',
  'created_at',
  'updated_by',
  'updated_at',
] as const;

function toSummary(r: Omit<Row, 'files'>, fileNames: string[]): YaraPackSummary {
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    enabled: r.enabled === 1,
    version: r.version,
    ruleCount: r.rule_count,
    fileNames,
    sizeBytes: r.size_bytes,
    createdBy: r.created_by,
    createdAt: iso(r.created_at),
    updatedBy: r.updated_by,
    updatedAt: iso(r.updated_at),
  };
}

function toPack(r: Row): YaraPack {
  const files = JSON.parse(r.files) as YaraRuleSource[];
  return { ...toSummary(r, files.map((f) => f.name)), files };
}

/** The agents' revision: a digest of the enabled packs' ids and versions (order-independent). */
export function yaraRevisionOf(packs: ReadonlyArray<{ id: string; version: number }>): string {
  const lines = packs.map((p) => `${p.id}:${p.version}\n`).sort();
  return createHash('sha256').update(lines.join('')).digest('hex').slice(0, 32);
}

export interface NewYaraPack {
  name: string;
  description: string;
  enabled: boolean;
  files: YaraRuleSource[];
  ruleCount: number;
}

export const sizeOf = (files: readonly YaraRuleSource[]) => files.reduce((n, f) => n + Buffer.byteLength(f.source), 0);

/** Tenant YARA rule packs; bound to one tenant like every repository in tenant-scope.ts. */
export function yaraPackRepository(db: Kysely<DB>, tenantId: string) {
  const packs = () => db.selectFrom('yara_packs').where('tenant_id', '=', tenantId);
  return {
    async list(): Promise<YaraPackSummary[]> {
      const rows = await packs().select(summaryColumns).select('files').orderBy('name').execute();
      // File names come from the JSON; sources are not sent with the list.
      return rows.map((r) => toSummary(r, (JSON.parse(r.files) as YaraRuleSource[]).map((f) => f.name)));
    },
    async get(id: string): Promise<YaraPack | undefined> {
      const r = await packs().selectAll().where('id', '=', id).executeTakeFirst();
      return r && toPack(r);
    },
    async nameTaken(name: string, exceptId?: string): Promise<boolean> {
      let q = packs().select('id').where('name', '=', name);
      if (exceptId) q = q.where('id', '<>', exceptId);
      return !!(await q.executeTakeFirst());
    },
    async insert(p: NewYaraPack, by: string, now: number): Promise<string> {
      const id = newId(now);
      await db
        .insertInto('yara_packs')
        .values({
          id,
          tenant_id: tenantId,
          name: p.name,
          description: p.description,
          enabled: p.enabled ? 1 : 0,
          version: 1,
          rule_count: p.ruleCount,
          size_bytes: sizeOf(p.files),
          files: JSON.stringify(p.files),
          created_by: by,
          created_at: now,
          updated_by: by,
          updated_at: now,
        })
        .execute();
      return id;
    },
    /** Applies the changes and bumps the version (so agents holding the pack fetch it again). */
    async update(
      id: string,
      change: { name?: string; description?: string; enabled?: boolean; files?: YaraRuleSource[]; ruleCount?: number },
      by: string,
      now: number,
    ): Promise<boolean> {
      const r = await db
        .updateTable('yara_packs')
        .set((eb) => ({
          ...(change.name !== undefined ? { name: change.name } : {}),
          ...(change.description !== undefined ? { description: change.description } : {}),
          ...(change.enabled !== undefined ? { enabled: change.enabled ? 1 : 0 } : {}),
          ...(change.files !== undefined ? { files: JSON.stringify(change.files), size_bytes: sizeOf(change.files) } : {}),
          ...(change.ruleCount !== undefined ? { rule_count: change.ruleCount } : {}),
          version: eb('version', '+', 1),
          updated_by: by,
          updated_at: now,
        }))
        .where('tenant_id', '=', tenantId)
        .where('id', '=', id)
        .executeTakeFirst();
      return Number(r.numUpdatedRows) > 0;
    },
    async delete(id: string): Promise<boolean> {
      const r = await db.deleteFrom('yara_packs').where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    },
    /** The tenant's current revision (cheap: ids and versions only). */
    async revision(): Promise<string> {
      return yaraRevisionOf(await packs().select(['id', 'version']).where('enabled', '=', 1).execute());
    },
    /** Every enabled pack with its sources, for the agents. */
    async bundle(): Promise<YaraRuleBundle> {
      const rows = await packs().select(['id', 'name', 'version', 'files']).where('enabled', '=', 1).orderBy('id').execute();
      return {
        revision: yaraRevisionOf(rows),
        packs: rows.map((r) => ({ id: r.id, name: r.name, version: r.version, files: JSON.parse(r.files) as YaraRuleSource[] })),
      };
    },
  };
}
