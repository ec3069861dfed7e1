import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

/** Tenant YARA rule packs (sources as a JSON array of {name, source}; booleans as 0/1). Frozen. */
export const yaraPacks: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('yara_packs')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('description', 'text', (c) => c.notNull())
      .addColumn('enabled', 'integer', (c) => c.notNull())
      .addColumn('version', 'integer', (c) => c.notNull())
      .addColumn('rule_count', 'integer', (c) => c.notNull())
      .addColumn('size_bytes', 'bigint', (c) => c.notNull())
      .addColumn('files', 'text', (c) => c.notNull())
      .addColumn('created_by', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_by', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addUniqueConstraint('yara_packs_tenant_name', ['tenant_id', 'name'])
      .execute();
  },
};
