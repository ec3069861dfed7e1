import type { Generated } from 'kysely';

/** Row shapes as stored. Timestamps are epoch milliseconds; JSON is stored as text; booleans as 0/1. */
export interface DB {
  tenants: { id: string; name: string; stale_after_days: number; alert_dedup_minutes: number; created_at: number };
  users: { id: string; email: string; name: string; password_hash: string; disabled: number; created_at: number };
  memberships: { user_id: string; tenant_id: string; role: string };
  sessions: { id_hash: string; user_id: string; csrf: string; created_at: number; expires_at: number };
  api_tokens: {
    id: string;
    tenant_id: string;
    name: string;
    secret_hash: string;
    role: string;
    scope: string;
    created_by: string;
    expires_at: number | null;
    revoked_at: number | null;
    created_at: number;
  };
  policies: {
    id: string;
    tenant_id: string;
    name: string;
    description: string;
    deployed_revision: number | null;
    latest_revision: number;
    created_at: number;
  };
  policy_revisions: {
    id: Generated<number>;
    policy_id: string;
    tenant_id: string;
    revision: number;
    state: string;
    document: string;
    comment: string;
    created_by: string;
    created_at: number;
    approved_by: string | null;
    approved_at: number | null;
    deployed_by: string | null;
    deployed_at: number | null;
  };
  agent_groups: { id: string; tenant_id: string; name: string; policy_id: string | null; created_at: number };
  enrollment_tokens: {
    id: string;
    tenant_id: string;
    group_id: string;
    name: string;
    secret_hash: string;
    expires_at: number;
    max_uses: number | null;
    uses: number;
    revoked_at: number | null;
    created_by: string;
    created_at: number;
  };
  agents: {
    id: string;
    tenant_id: string;
    group_id: string;
    machine_id: string;
    hostname: string;
    facts: string;
    secret_hash: string;
    status: string;
    enrolled_at: number;
    last_seen: number | null;
    applied_revision: number | null;
    modes: string;
    health: string | null;
  };
  commands: {
    seq: Generated<number>;
    id: string;
    tenant_id: string;
    agent_id: string;
    type: string;
    params: string;
    status: string;
    output: string | null;
    created_by: string;
    created_at: number;
    completed_at: number | null;
  };
  verdicts: { seq: Generated<number>; tenant_id: string | null; sha256: string; verdict: string; source: string; created_at: number };
  event_batches: { agent_id: string; batch_id: string; tenant_id: string; count: number; received_at: number };
  events: { id: Generated<number>; tenant_id: string; agent_id: string; ts: number; dataset: string; data: string };
  alerts: {
    id: string;
    tenant_id: string;
    agent_id: string;
    hostname: string;
    dedup_key: string;
    rule_id: string;
    rule_name: string;
    module: string;
    mode: string;
    action: string;
    severity: string;
    process_executable: string | null;
    sha256: string | null;
    count: number;
    first_seen: number;
    last_seen: number;
    status: string;
    resolution: string | null;
    assignee: string | null;
    notes: string;
    event: string;
  };
  audit_log: {
    id: Generated<number>;
    tenant_id: string | null;
    actor: string;
    action: string;
    target: string;
    before: string | null;
    after: string | null;
    at: number;
  };
  exec_ledger: { tenant_id: string; agent_id: string; sha256: string; path: string; first_seen: number; last_seen: number; count: number };
  server_state: { key: string; value: string };
  yara_packs: {
    id: string;
    tenant_id: string;
    name: string;
    description: string;
    enabled: number;
    version: number;
    rule_count: number;
    size_bytes: number;
    /** JSON: Array<{ name, source }>. */
    files: string;
    created_by: string;
    created_at: number;
    updated_by: string;
    updated_at: number;
  };
  server_rules: {
    id: string;
    tenant_id: string;
    /** The Sigma rule's own `id:` (unique per tenant). */
    sigma_id: string;
    title: string;
    level: string;
    /** The rule's YAML, as uploaded. */
    source: string;
    enabled: number;
    version: number;
    created_by: string;
    created_at: number;
    updated_by: string;
    updated_at: number;
  };
}
