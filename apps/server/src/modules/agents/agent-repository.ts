import type { Kysely, Selectable } from 'kysely';
import { newId } from '@yamori/db';
import type { Agent, AgentHealth, CommandStatus, CommandType, HostFacts, Mode } from '@yamori/protocol';
import type { DB } from '../../db-types.ts';
import { iso, isoOrNull } from '../../lib/time.ts';

type AgentRow = DB['agents'];

export function toAgent(r: AgentRow, staleAfterDays: number, now: number): Agent {
  return {
    id: r.id,
    groupId: r.group_id,
    hostname: r.hostname,
    machineId: r.machine_id,
    facts: JSON.parse(r.facts) as HostFacts,
    status: r.status as Agent['status'],
    enrolledAt: iso(r.enrolled_at),
    lastSeen: isoOrNull(r.last_seen),
    stale: (r.last_seen ?? r.enrolled_at) < now - staleAfterDays * 86400_000,
    appliedPolicyRevision: r.applied_revision,
    modes: JSON.parse(r.modes) as Record<string, Mode>,
    health: r.health ? (JSON.parse(r.health) as AgentHealth) : null,
  };
}

export interface AgentQuery {
  groupId?: string | undefined;
  status?: 'active' | 'archived' | undefined;
  staleBefore?: number | undefined;
  cursor?: string | undefined;
  limit: number;
}

export function agentRepository(db: Kysely<DB>, tenantId: string) {
  const agents = () => db.selectFrom('agents').selectAll().where('tenant_id', '=', tenantId);
  return {
    async list(q: AgentQuery): Promise<AgentRow[]> {
      let s = agents();
      if (q.groupId) s = s.where('group_id', '=', q.groupId);
      if (q.status) s = s.where('status', '=', q.status);
      if (q.staleBefore !== undefined) s = s.where((e) => e.fn.coalesce('last_seen', 'enrolled_at'), '<', q.staleBefore);
      if (q.cursor) s = s.where('id', '>', q.cursor);
      return s.orderBy('id').limit(q.limit).execute();
    },
    async get(id: string): Promise<AgentRow | undefined> {
      return agents().where('id', '=', id).executeTakeFirst();
    },
    async byMachine(machineId: string): Promise<AgentRow | undefined> {
      return agents().where('machine_id', '=', machineId).executeTakeFirst();
    },
    async insert(a: { groupId: string; facts: HostFacts; secretHash: string }, now: number): Promise<string> {
      const id = newId(now);
      await db
        .insertInto('agents')
        .values({
          id,
          tenant_id: tenantId,
          group_id: a.groupId,
          machine_id: a.facts.machineId,
          hostname: a.facts.hostname,
          facts: JSON.stringify(a.facts),
          secret_hash: a.secretHash,
          status: 'active',
          enrolled_at: now,
          last_seen: now,
          applied_revision: null,
          modes: '{}',
          health: null,
        })
        .execute();
      return id;
    },
    /** Re-enrollment of a known machine: same id, new secret, active again. */
    async reactivate(id: string, a: { groupId: string; facts: HostFacts; secretHash: string }, now: number): Promise<void> {
      await db
        .updateTable('agents')
        .set({ group_id: a.groupId, facts: JSON.stringify(a.facts), hostname: a.facts.hostname, secret_hash: a.secretHash, status: 'active', last_seen: now })
        .where('tenant_id', '=', tenantId)
        .where('id', '=', id)
        .execute();
    },
    async update(id: string, set: { groupId?: string | undefined; status?: 'active' | 'archived' | undefined }): Promise<void> {
      const s: Partial<AgentRow> = {};
      if (set.groupId) s.group_id = set.groupId;
      if (set.status) s.status = set.status;
      if (Object.keys(s).length) await db.updateTable('agents').set(s).where('tenant_id', '=', tenantId).where('id', '=', id).execute();
    },
    async recordCheckin(
      id: string,
      c: { now: number; facts?: HostFacts | undefined; health?: AgentHealth | undefined; appliedRevision?: number | null | undefined; modes?: Record<string, Mode> | undefined },
    ): Promise<void> {
      const s: Partial<AgentRow> = { last_seen: c.now };
      if (c.facts) {
        s.facts = JSON.stringify(c.facts);
        s.hostname = c.facts.hostname;
      }
      if (c.health) s.health = JSON.stringify(c.health);
      if (c.appliedRevision !== undefined) s.applied_revision = c.appliedRevision;
      if (c.modes) s.modes = JSON.stringify(c.modes);
      await db.updateTable('agents').set(s).where('tenant_id', '=', tenantId).where('id', '=', id).execute();
    },
  };
}

function toCommand(r: Selectable<DB['commands']>): CommandStatus {
  return {
    id: r.id,
    agentId: r.agent_id,
    type: r.type as CommandType,
    params: JSON.parse(r.params) as Record<string, unknown>,
    status: r.status as CommandStatus['status'],
    output: r.output,
    createdBy: r.created_by,
    createdAt: iso(r.created_at),
    completedAt: isoOrNull(r.completed_at),
  };
}

export function commandRepository(db: Kysely<DB>, tenantId: string) {
  const commands = () => db.selectFrom('commands').selectAll().where('tenant_id', '=', tenantId);
  return {
    async insert(c: { agentId: string; type: CommandType; params: Record<string, unknown>; createdBy: string }, now: number): Promise<CommandStatus> {
      const id = newId(now);
      await db
        .insertInto('commands')
        .values({
          id,
          tenant_id: tenantId,
          agent_id: c.agentId,
          type: c.type,
          params: JSON.stringify(c.params),
          status: 'pending',
          output: null,
          created_by: c.createdBy,
          created_at: now,
          completed_at: null,
        })
        .execute();
      return toCommand(await commands().where('id', '=', id).executeTakeFirstOrThrow());
    },
    async forAgent(agentId: string, limit = 100): Promise<CommandStatus[]> {
      const rows = await commands().where('agent_id', '=', agentId).orderBy('seq', 'desc').limit(limit).execute();
      return rows.map(toCommand);
    },
    async get(id: string): Promise<CommandStatus | undefined> {
      const r = await commands().where('id', '=', id).executeTakeFirst();
      return r && toCommand(r);
    },
    /** Pending commands after `cursor` for the agent, oldest first, with their sequence numbers. */
    async pendingAfter(agentId: string, cursor: number): Promise<Array<CommandStatus & { seq: number }>> {
      const rows = await commands()
        .where('agent_id', '=', agentId)
        .where('seq', '>', cursor)
        .where('status', '=', 'pending')
        .orderBy('seq')
        .limit(100)
        .execute();
      return rows.map((r) => ({ ...toCommand(r), seq: r.seq }));
    },
    async complete(agentId: string, id: string, status: 'done' | 'failed', output: string | null, now: number): Promise<boolean> {
      const r = await db
        .updateTable('commands')
        .set({ status, output, completed_at: now })
        .where('tenant_id', '=', tenantId)
        .where('agent_id', '=', agentId)
        .where('id', '=', id)
        .where('status', '=', 'pending')
        .executeTakeFirst();
      return Number(r.numUpdatedRows) > 0;
    },
  };
}

/** A verdict from shared intelligence: every tenant's agents receive it. */
export async function appendSharedVerdict(db: Kysely<DB>, v: { sha256: string; verdict: string; source: string }, now: number): Promise<void> {
  await db.insertInto('verdicts').values({ tenant_id: null, sha256: v.sha256, verdict: v.verdict, source: v.source, created_at: now }).execute();
}

/** Verdict updates visible to a tenant's agents: its own lists plus shared intelligence. */
export function verdictRepository(db: Kysely<DB>, tenantId: string) {
  return {
    async append(v: { sha256: string; verdict: string; source: string }, now: number): Promise<void> {
      await db.insertInto('verdicts').values({ tenant_id: tenantId, sha256: v.sha256, verdict: v.verdict, source: v.source, created_at: now }).execute();
    },
    async after(cursor: number, limit = 1000) {
      return db
        .selectFrom('verdicts')
        .select(['seq', 'sha256', 'verdict', 'source'])
        .where('seq', '>', cursor)
        .where((e) => e.or([e('tenant_id', 'is', null), e('tenant_id', '=', tenantId)]))
        .orderBy('seq')
        .limit(limit)
        .execute();
    },
    async latest(sha256s: readonly string[]) {
      if (sha256s.length === 0) return [];
      return db
        .selectFrom('verdicts')
        .select(['seq', 'sha256', 'verdict', 'source'])
        .where('sha256', 'in', sha256s)
        .where((e) => e.or([e('tenant_id', 'is', null), e('tenant_id', '=', tenantId)]))
        .orderBy('seq')
        .execute();
    },
    async maxSeq(): Promise<number> {
      const r = await db.selectFrom('verdicts').select((e) => e.fn.max('seq').as('m')).executeTakeFirst();
      return Number(r?.m ?? 0);
    },
  };
}
