import type { Kysely } from 'kysely';
import type { Verdict } from '@yamori/protocol';
import type { DB } from '../../db-types.ts';
import { topics, type WakeupHub } from '../../lib/wakeups.ts';
import { scopedRepos, type Repos } from '../../tenant-scope.ts';
import { appendSharedVerdict } from '../agents/agent-repository.ts';
import { tenantsThatRan } from '../ledger/ledger-repository.ts';
import { deployedPolicyForGroup } from '../policies/policy-repository.ts';
import { retroHuntForHost, type LedgerRow } from './retro-hunt.ts';

export interface VerdictChange {
  sha256: string;
  verdict: Verdict;
  source: string;
  /** null: shared intelligence (every tenant); otherwise that tenant's own verdict. */
  tenantId: string | null;
  actor: string;
  at: number;
}

/**
 * Records a verdict, pushes it to agents (their check-ins wake), and when it is malicious runs the
 * retro-hunt over the execution ledger: every host that ever ran the file gets an alert, and a
 * quarantine order where its policy says so. Returns how many hosts were alerted.
 */
export async function applyVerdict(db: Kysely<DB>, wakeups: WakeupHub, v: VerdictChange): Promise<{ hostsAlerted: number }> {
  const tenants = v.tenantId ? [v.tenantId] : await tenantsThatRan(db, v.sha256);
  const touched: string[] = [];
  const hostsAlerted = await db.transaction().execute(async (trx) => {
    if (v.tenantId) await scopedRepos(trx, v.tenantId).verdicts.append(v, v.at);
    else await appendSharedVerdict(trx, v, v.at);
    if (v.verdict !== 'malicious') return 0;
    let n = 0;
    for (const tenantId of tenants) {
      const r = scopedRepos(trx, tenantId);
      n += await huntTenant(trx, r, v, touched);
    }
    return n;
  });
  await wakeups.publish(v.tenantId ? topics.verdicts(v.tenantId) : topics.sharedVerdicts);
  for (const agentId of touched) await wakeups.publish(topics.agent(agentId));
  return { hostsAlerted };
}

async function huntTenant(trx: Kysely<DB>, r: Repos, v: VerdictChange, touched: string[]): Promise<number> {
  const rows = await r.ledger.bySha256(v.sha256);
  const byAgent = new Map<string, LedgerRow[]>();
  for (const row of rows) byAgent.set(row.agent_id, [...(byAgent.get(row.agent_id) ?? []), row]);
  const windowMs = (await r.settings.get()).alertDedupWindowMinutes * 60_000;
  let n = 0;
  for (const [agentId, agentRows] of byAgent) {
    const agent = await r.agents.get(agentId);
    if (!agent || agent.status !== 'active') continue;
    const policy = (await deployedPolicyForGroup(trx, r.tenantId, agent.group_id))?.document;
    const action = retroHuntForHost(agentRows, { agentId, hostname: agent.hostname, policy }, v);
    await r.alerts.record(action.alert, windowMs);
    if (action.quarantine) {
      await r.commands.insert({ agentId, type: 'quarantine', params: { ...action.quarantine, reason: `malicious per ${v.source}` }, createdBy: v.actor }, v.at);
      touched.push(agentId);
    }
    await r.audit.append({ actor: v.actor, action: 'retro_hunt.alerted', target: `agent:${agentId}`, after: { sha256: v.sha256, quarantine: !!action.quarantine }, at: v.at });
    n++;
  }
  return n;
}
