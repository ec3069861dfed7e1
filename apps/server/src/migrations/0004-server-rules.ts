import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

/**
 * Tenant Sigma rules the server evaluates over ingested events (one YAML rule per row; booleans as
 * 0/1). `version` is bumped by every change so the per-tenant engine cache can tell it is stale.
 * Frozen.
 */
export const serverRules: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('server_rules')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
      .addColumn('sigma_id', 'text', (c) => c.notNull())
      .addColumn('title', 'text', (c) => c.notNull())
      .addColumn('level', 'text', (c) => c.notNull())
      .addColumn('source', 'text', (c) => c.notNull())
      .addColumn('enabled', 'integer', (c) => c.notNull())
      .addColumn('version', 'integer', (c) => c.notNull())
      .addColumn('created_by', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_by', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addUniqueConstraint('server_rules_tenant_sigma_id', ['tenant_id', 'sigma_id'])
      .execute();
  },
};
