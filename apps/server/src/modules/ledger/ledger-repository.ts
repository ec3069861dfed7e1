import { sql, type Kysely } from 'kysely';
import type { DB } from '../../db-types.ts';

export interface LedgerEntry {
  sha256: string;
  path: string;
  first: number;
  last: number;
  count: number;
}

/** Folds one batch's executions into (file, path) → first/last/count, so each pair is written once. */
export function ledgerEntries(execs: ReadonlyArray<{ sha256: string; path: string; at: number }>): LedgerEntry[] {
  const m = new Map<string, LedgerEntry>();
  for (const e of execs) {
    const k = `${e.sha256}\0${e.path}`;
    const cur = m.get(k);
    if (cur) {
      cur.first = Math.min(cur.first, e.at);
      cur.last = Math.max(cur.last, e.at);
      cur.count++;
    } else m.set(k, { sha256: e.sha256, path: e.path, first: e.at, last: e.at, count: 1 });
  }
  return [...m.values()];
}

export function ledgerRepository(db: Kysely<DB>, tenantId: string) {
  return {
    async record(agentId: string, entries: readonly LedgerEntry[]): Promise<void> {
      for (const e of entries) {
        await db
          .insertInto('exec_ledger')
          .values({ tenant_id: tenantId, agent_id: agentId, sha256: e.sha256, path: e.path, first_seen: e.first, last_seen: e.last, count: e.count })
          .onConflict((oc) =>
            oc.columns(['tenant_id', 'agent_id', 'sha256', 'path']).doUpdateSet((u) => ({
              count: u('exec_ledger.count', '+', u.ref('excluded.count')),
              // CASE rather than max()/greatest(): the same SQL on SQLite and PostgreSQL.
              last_seen: sql<number>`CASE WHEN excluded.last_seen > exec_ledger.last_seen THEN excluded.last_seen ELSE exec_ledger.last_seen END`,
              first_seen: sql<number>`CASE WHEN excluded.first_seen < exec_ledger.first_seen THEN excluded.first_seen ELSE exec_ledger.first_seen END`,
            })),
          )
          .execute();
      }
    },
    async bySha256(sha256: string) {
      return db.selectFrom('exec_ledger').selectAll().where('tenant_id', '=', tenantId).where('sha256', '=', sha256).orderBy('agent_id').execute();
    },
    async list(q: { sha256?: string | undefined; agentId?: string | undefined; limit: number }) {
      let s = db.selectFrom('exec_ledger').selectAll().where('tenant_id', '=', tenantId);
      if (q.sha256) s = s.where('sha256', '=', q.sha256);
      if (q.agentId) s = s.where('agent_id', '=', q.agentId);
      return s.orderBy('last_seen', 'desc').limit(q.limit).execute();
    },
  };
}

/** Tenants whose hosts ran `sha256` (for shared verdicts, which concern every tenant). */
export async function tenantsThatRan(db: Kysely<DB>, sha256: string): Promise<string[]> {
  const rows = await db.selectFrom('exec_ledger').select('tenant_id').distinct().where('sha256', '=', sha256).execute();
  return rows.map((r) => r.tenant_id);
}
