import type { Kysely } from 'kysely';
import { newId } from '@yamori/db';
import type { Alert, AlertResolution, AlertStatus, Mode } from '@yamori/protocol';
import type { DB } from '../../db-types.ts';
import { iso } from '../../lib/time.ts';

function toAlert(r: DB['alerts']): Alert {
  return {
    id: r.id,
    agentId: r.agent_id,
    hostname: r.hostname,
    ruleId: r.rule_id,
    ruleName: r.rule_name,
    module: r.module,
    mode: r.mode as Mode,
    action: r.action,
    severity: r.severity,
    processExecutable: r.process_executable,
    sha256: r.sha256,
    count: r.count,
    firstSeen: iso(r.first_seen),
    lastSeen: iso(r.last_seen),
    status: r.status as AlertStatus,
    resolution: r.resolution as AlertResolution | null,
    assignee: r.assignee,
    notes: r.notes,
    event: JSON.parse(r.event) as unknown,
  };
}

export interface NewAlert {
  agentId: string;
  hostname: string;
  dedupKey: string;
  ruleId: string;
  ruleName: string;
  module: string;
  mode: string;
  action: string;
  severity: string;
  processExecutable: string | null;
  sha256: string | null;
  at: number;
  event: unknown;
  /** Several sightings at once (a batch's matches of one key): how many, and the last one's time. */
  repeats?: { count: number; lastAt: number };
}

export interface AlertFilter {
  status?: AlertStatus | undefined;
  agentId?: string | undefined;
  ruleId?: string | undefined;
  module?: string | undefined;
  cursor?: string | undefined;
  limit: number;
}

export function alertRepository(db: Kysely<DB>, tenantId: string) {
  const alerts = () => db.selectFrom('alerts').selectAll().where('tenant_id', '=', tenantId);
  return {
    /**
     * Stores a detection, or adds it to an open alert with the same key seen within the window.
     * Returns whether a new alert was created.
     */
    async record(a: NewAlert, windowMs: number): Promise<{ id: string; created: boolean }> {
      const times = a.repeats?.count ?? 1;
      const lastAt = Math.max(a.at, a.repeats?.lastAt ?? a.at);
      const open = await db
        .selectFrom('alerts')
        .select(['id', 'last_seen'])
        .where('tenant_id', '=', tenantId)
        .where('dedup_key', '=', a.dedupKey)
        .where('last_seen', '>=', a.at - windowMs)
        .where('status', '!=', 'resolved')
        .orderBy('last_seen', 'desc')
        .executeTakeFirst();
      if (open) {
        await db
          .updateTable('alerts')
          .set((e) => ({ count: e('count', '+', times), last_seen: Math.max(open.last_seen, lastAt) }))
          .where('id', '=', open.id)
          .execute();
        return { id: open.id, created: false };
      }
      const id = newId(a.at);
      await db
        .insertInto('alerts')
        .values({
          id,
          tenant_id: tenantId,
          agent_id: a.agentId,
          hostname: a.hostname,
          dedup_key: a.dedupKey,
          rule_id: a.ruleId,
          rule_name: a.ruleName,
          module: a.module,
          mode: a.mode,
          action: a.action,
          severity: a.severity,
          process_executable: a.processExecutable,
          sha256: a.sha256,
          count: times,
          first_seen: a.at,
          last_seen: lastAt,
          status: 'new',
          resolution: null,
          assignee: null,
          notes: '',
          event: JSON.stringify(a.event),
        })
        .execute();
      return { id, created: true };
    },
    async list(f: AlertFilter): Promise<Alert[]> {
      let q = alerts();
      if (f.status) q = q.where('status', '=', f.status);
      if (f.agentId) q = q.where('agent_id', '=', f.agentId);
      if (f.ruleId) q = q.where('rule_id', '=', f.ruleId);
      if (f.module) q = q.where('module', '=', f.module);
      if (f.cursor) q = q.where('id', '<', f.cursor);
      return (await q.orderBy('id', 'desc').limit(f.limit).execute()).map(toAlert);
    },
    async get(id: string): Promise<Alert | undefined> {
      const r = await alerts().where('id', '=', id).executeTakeFirst();
      return r && toAlert(r);
    },
    async update(id: string, set: { status?: AlertStatus; resolution?: AlertResolution | null; assignee?: string | null; notes?: string }): Promise<void> {
      const s: Partial<DB['alerts']> = {};
      if (set.status !== undefined) s.status = set.status;
      if (set.resolution !== undefined) s.resolution = set.resolution;
      if (set.assignee !== undefined) s.assignee = set.assignee;
      if (set.notes !== undefined) s.notes = set.notes;
      await db.updateTable('alerts').set(s).where('tenant_id', '=', tenantId).where('id', '=', id).execute();
    },
  };
}
