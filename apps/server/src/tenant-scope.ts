import type { Kysely } from 'kysely';
import type { DB } from './db-types.ts';
import { appendAudit, auditRepository, type AuditRecord } from './modules/audit/audit-repository.ts';
import { agentRepository, commandRepository, verdictRepository } from './modules/agents/agent-repository.ts';
import { alertRepository } from './modules/alerts/alert-repository.ts';
import { enrollmentTokenRepository } from './modules/enrollment/enrollment-repository.ts';
import { eventRepository } from './modules/events/event-repository.ts';
import { ledgerRepository } from './modules/ledger/ledger-repository.ts';
import { groupRepository, policyRepository } from './modules/policies/policy-repository.ts';
import { serverRuleRepository } from './modules/server-rules/server-rule-repository.ts';
import { settingsRepository } from './modules/tenants/tenant-repository.ts';
import { apiTokenRepository, userRepository } from './modules/users/user-repository.ts';
import { yaraPackRepository } from './modules/yara/yara-pack-repository.ts';

/**
 * The one place tenant isolation is enforced: every repository here is bound to `tenantId` and
 * adds it to every query it runs. Routes and services only reach tenant data through this.
 */
export function scopedRepos(db: Kysely<DB>, tenantId: string) {
  return {
    tenantId,
    agents: agentRepository(db, tenantId),
    commands: commandRepository(db, tenantId),
    verdicts: verdictRepository(db, tenantId),
    policies: policyRepository(db, tenantId),
    groups: groupRepository(db, tenantId),
    alerts: alertRepository(db, tenantId),
    events: eventRepository(db, tenantId),
    ledger: ledgerRepository(db, tenantId),
    users: userRepository(db, tenantId),
    apiTokens: apiTokenRepository(db, tenantId),
    enrollmentTokens: enrollmentTokenRepository(db, tenantId),
    settings: settingsRepository(db, tenantId),
    yaraPacks: yaraPackRepository(db, tenantId),
    serverRules: serverRuleRepository(db, tenantId),
    audit: {
      ...auditRepository(db, tenantId),
      append: (r: Omit<AuditRecord, 'tenantId'>) => appendAudit(db, { ...r, tenantId }),
    },
  };
}
export type Repos = ReturnType<typeof scopedRepos>;

/** Runs `fn` in one transaction with tenant-bound repositories: all of it commits, or none. */
export function inTenantTransaction<T>(db: Kysely<DB>, tenantId: string, fn: (repos: Repos) => Promise<T>): Promise<T> {
  return db.transaction().execute((trx) => fn(scopedRepos(trx, tenantId)));
}
