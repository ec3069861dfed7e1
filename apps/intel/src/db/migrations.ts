import { PostgresAdapter, sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

/** Frozen in time: never edit a released migration; add a numbered one. */
const initial: Migration = {
  async up(db: Kysely<unknown>) {
    const pg = db.getExecutor().adapter instanceof PostgresAdapter;
    const s = db.schema;
    // SQLite: tables keyed by (type, value) live in their primary-key B-tree (one seek per lookup, not two).
    const clustered = pg ? sql`` : sql`without rowid`;
    await s
      .createTable('orgs')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull().unique())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await s
      .createTable('api_keys')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('org_id', 'text', (c) => c.references('orgs.id').onDelete('cascade'))
      .addColumn('scope', 'text', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('key_hash', 'text', (c) => c.notNull().unique())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('revoked_at', 'bigint')
      .execute();
    await s
      .createTable('sources')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('trust', 'double precision', (c) => c.notNull())
      .addColumn('url', 'text')
      .addColumn('format', 'text')
      .addColumn('default_type', 'text')
      .addColumn('interval_s', 'integer')
      .addColumn('enabled', 'integer', (c) => c.notNull())
      .addColumn('next_fetch_at', 'bigint')
      .addColumn('last_fetch_at', 'bigint')
      .addColumn('last_status', 'text')
      .addColumn('etag', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await s
      .createTable('observations')
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('value', 'text', (c) => c.notNull())
      .addColumn('source', 'text', (c) => c.notNull())
      .addColumn('verdict', 'text', (c) => c.notNull())
      .addColumn('confidence', 'integer', (c) => c.notNull())
      .addColumn('tlp', 'text', (c) => c.notNull())
      .addColumn('first_seen', 'bigint', (c) => c.notNull())
      .addColumn('last_seen', 'bigint', (c) => c.notNull())
      .addColumn('expires_at', 'bigint')
      .addPrimaryKeyConstraint('observations_pk', ['type', 'value', 'source'])
      .modifyEnd(clustered)
      .execute();
    await s
      .createTable('indicators')
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('value', 'text', (c) => c.notNull())
      .addColumn('verdict', 'text', (c) => c.notNull())
      .addColumn('confidence', 'integer', (c) => c.notNull())
      .addColumn('source', 'text', (c) => c.notNull())
      .addColumn('tlp', 'text', (c) => c.notNull())
      .addColumn('first_seen', 'bigint', (c) => c.notNull())
      .addColumn('last_seen', 'bigint', (c) => c.notNull())
      .addColumn('expires_at', 'bigint')
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('indicators_pk', ['type', 'value'])
      .modifyEnd(clustered)
      .execute();
    await s.createIndex('indicators_verdict').on('indicators').columns(['verdict', 'type']).execute();
    await s.createIndex('indicators_expiry').on('indicators').columns(['expires_at']).execute();
    await s
      .createTable('relations')
      .addColumn('a_type', 'text', (c) => c.notNull())
      .addColumn('a_value', 'text', (c) => c.notNull())
      .addColumn('b_type', 'text', (c) => c.notNull())
      .addColumn('b_value', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('relations_pk', ['a_type', 'a_value', 'b_type', 'b_value'])
      .modifyEnd(clustered)
      .execute();
    await s
      .createTable('cidr_prefixes')
      .addColumn('family', 'integer', (c) => c.notNull())
      .addColumn('prefix', 'integer', (c) => c.notNull())
      .addPrimaryKeyConstraint('cidr_prefixes_pk', ['family', 'prefix'])
      .execute();
    await s
      .createTable('changes')
      .addColumn('seq', pg ? 'bigserial' : 'integer', (c) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()))
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('value', 'text', (c) => c.notNull())
      .addColumn('verdict', 'text', (c) => c.notNull())
      .addColumn('confidence', 'integer', (c) => c.notNull())
      .addColumn('source', 'text', (c) => c.notNull())
      .addColumn('at', 'bigint', (c) => c.notNull())
      .execute();
    await s
      .createTable('samples')
      .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id').onDelete('cascade'))
      .addColumn('sha256', 'text', (c) => c.notNull())
      .addColumn('file_name', 'text')
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('size', 'bigint', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('samples_pk', ['org_id', 'sha256'])
      .execute();
    await s
      .createTable('sample_blobs')
      .addColumn('sha256', 'text', (c) => c.primaryKey())
      .addColumn('data', pg ? 'bytea' : 'blob', (c) => c.notNull())
      .addColumn('size', 'bigint', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await s.createIndex('samples_sha256').on('samples').columns(['sha256']).execute();
    await s.createIndex('samples_expiry').on('samples').columns(['expires_at']).execute();
    await s
      .createTable('sandbox_jobs')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('sha256', 'text', (c) => c.notNull().unique())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('file_name', 'text')
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('attempts', 'integer', (c) => c.notNull())
      .addColumn('worker_id', 'text')
      .addColumn('lease_expires_at', 'bigint')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    await s.createIndex('sandbox_jobs_status').on('sandbox_jobs').columns(['status', 'created_at']).execute();
    await s
      .createTable('sandbox_reports')
      .addColumn('job_id', 'text', (c) => c.primaryKey())
      .addColumn('sha256', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('verdict', 'text', (c) => c.notNull())
      .addColumn('score', 'double precision', (c) => c.notNull())
      .addColumn('report', 'text', (c) => c.notNull())
      .addColumn('received_at', 'bigint', (c) => c.notNull())
      .execute();
    await s.createIndex('sandbox_reports_sha256').on('sandbox_reports').columns(['sha256']).execute();
  },
};

export const INTEL_MIGRATIONS: Record<string, Migration> = { '0001_initial': initial };
