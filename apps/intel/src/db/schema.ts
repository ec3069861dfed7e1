import type { Generated } from 'kysely';

/** Row shapes of the intel database (times are epoch milliseconds). */
export interface IntelDb {
  orgs: { id: string; name: string; created_at: number };
  api_keys: {
    id: string;
    org_id: string | null;
    scope: string;
    name: string;
    key_hash: string;
    created_at: number;
    revoked_at: number | null;
  };
  sources: {
    name: string;
    trust: number;
    url: string | null;
    format: string | null;
    default_type: string | null;
    interval_s: number | null;
    enabled: number;
    next_fetch_at: number | null;
    last_fetch_at: number | null;
    last_status: string | null;
    etag: string | null;
    created_at: number;
  };
  /** One source's assertion about one value. */
  observations: {
    type: string;
    value: string;
    source: string;
    verdict: string;
    confidence: number;
    tlp: string;
    first_seen: number;
    last_seen: number;
    expires_at: number | null;
  };
  /** The combined verdict per value: what lookups read. */
  indicators: {
    type: string;
    value: string;
    verdict: string;
    confidence: number;
    source: string;
    tlp: string;
    first_seen: number;
    last_seen: number;
    expires_at: number | null;
    updated_at: number;
  };
  relations: { a_type: string; a_value: string; b_type: string; b_value: string; created_at: number };
  /** Prefix lengths present among CIDR indicators, so an IP lookup asks only for those networks. */
  cidr_prefixes: { family: number; prefix: number };
  changes: {
    seq: Generated<number>;
    type: string;
    value: string;
    verdict: string;
    confidence: number;
    source: string;
    at: number;
  };
  samples: {
    org_id: string;
    sha256: string;
    file_name: string | null;
    kind: string;
    size: number;
    created_at: number;
    expires_at: number;
  };
  /** Sample contents, AES-256-GCM encrypted, one per sha256 (shared storage for all instances). */
  sample_blobs: { sha256: string; data: Uint8Array; size: number; created_at: number };
  sandbox_jobs: {
    id: string;
    sha256: string;
    kind: string;
    file_name: string | null;
    status: string;
    attempts: number;
    worker_id: string | null;
    lease_expires_at: number | null;
    created_at: number;
    updated_at: number;
  };
  sandbox_reports: {
    job_id: string;
    sha256: string;
    status: string;
    verdict: string;
    score: number;
    report: string;
    received_at: number;
  };
}
