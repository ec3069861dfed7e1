import type { Kysely } from 'kysely';
import type { DB } from '../../db-types.ts';

export interface StoredEvent {
  ts: number;
  dataset: string;
  data: string;
}

/** Rows per INSERT: well under both dialects' bind-parameter limits (5 columns each). */
const CHUNK = 1000;

export function eventRepository(db: Kysely<DB>, tenantId: string) {
  return {
    /** Claims a batch id for the agent; false when it was already committed (a resend). */
    async claimBatch(agentId: string, batchId: string, count: number, now: number): Promise<boolean> {
      const r = await db
        .insertInto('event_batches')
        .values({ agent_id: agentId, batch_id: batchId, tenant_id: tenantId, count, received_at: now })
        .onConflict((oc) => oc.columns(['agent_id', 'batch_id']).doNothing())
        .executeTakeFirst();
      return Number(r.numInsertedOrUpdatedRows ?? 0) === 1;
    },
    async batchCount(agentId: string, batchId: string): Promise<number> {
      const r = await db
        .selectFrom('event_batches')
        .select('count')
        .where('tenant_id', '=', tenantId)
        .where('agent_id', '=', agentId)
        .where('batch_id', '=', batchId)
        .executeTakeFirst();
      return r?.count ?? 0;
    },
    async insertMany(agentId: string, events: readonly StoredEvent[]): Promise<void> {
      for (let i = 0; i < events.length; i += CHUNK) {
        const rows = events.slice(i, i + CHUNK).map((e) => ({ tenant_id: tenantId, agent_id: agentId, ts: e.ts, dataset: e.dataset, data: e.data }));
        await db.insertInto('events').values(rows).execute();
      }
    },
    async list(q: { agentId?: string | undefined; dataset?: string | undefined; since?: number | undefined; cursor?: number | undefined; limit: number }) {
      let s = db.selectFrom('events').select(['id', 'agent_id', 'ts', 'dataset', 'data']).where('tenant_id', '=', tenantId);
      if (q.agentId) s = s.where('agent_id', '=', q.agentId);
      if (q.dataset) s = s.where('dataset', '=', q.dataset);
      if (q.since !== undefined) s = s.where('ts', '>=', q.since);
      if (q.cursor !== undefined) s = s.where('id', '<', q.cursor);
      return s.orderBy('id', 'desc').limit(q.limit).execute();
    },
    async count(q: { agentId?: string | undefined; dataset?: string | undefined }): Promise<number> {
      let s = db.selectFrom('events').select((e) => e.fn.countAll<number>().as('n')).where('tenant_id', '=', tenantId);
      if (q.agentId) s = s.where('agent_id', '=', q.agentId);
      if (q.dataset) s = s.where('dataset', '=', q.dataset);
      return Number((await s.executeTakeFirstOrThrow()).n);
    },
  };
}
