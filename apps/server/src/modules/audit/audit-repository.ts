import type { Kysely } from 'kysely';
import type { AuditEntry } from '@yamori/protocol';
import type { DB } from '../../db-types.ts';
import { iso } from '../../lib/time.ts';

export interface AuditRecord {
  tenantId: string | null;
  actor: string;
  action: string;
  target: string;
  before?: unknown;
  after?: unknown;
  at: number;
}

/** Append-only: there is no update or delete here, by design. */
export async function appendAudit(db: Kysely<DB>, r: AuditRecord): Promise<void> {
  await db
    .insertInto('audit_log')
    .values({
      tenant_id: r.tenantId,
      actor: r.actor,
      action: r.action,
      target: r.target,
      before: r.before === undefined ? null : JSON.stringify(r.before),
      after: r.after === undefined ? null : JSON.stringify(r.after),
      at: r.at,
    })
    .execute();
}

export function auditRepository(db: Kysely<DB>, tenantId: string) {
  return {
    async list(opts: { cursor?: number | undefined; limit: number; action?: string | undefined }): Promise<AuditEntry[]> {
      let q = db.selectFrom('audit_log').selectAll().where('tenant_id', '=', tenantId);
      if (opts.cursor !== undefined) q = q.where('id', '<', opts.cursor);
      if (opts.action) q = q.where('action', '=', opts.action);
      const rows = await q.orderBy('id', 'desc').limit(opts.limit).execute();
      return rows.map((r) => ({
        id: r.id,
        tenantId: r.tenant_id,
        actor: r.actor,
        action: r.action,
        target: r.target,
        before: r.before === null ? null : (JSON.parse(r.before) as unknown),
        after: r.after === null ? null : (JSON.parse(r.after) as unknown),
        at: iso(r.at),
      }));
    },
  };
}
