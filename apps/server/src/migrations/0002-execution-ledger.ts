import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

/** Every (host, file) that ran, for retro-hunts; and small key/value state (feed cursors). Frozen. */
export const executionLedger: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('exec_ledger')
      .addColumn('tenant_id', 'text', (c) => c.notNull())
      .addColumn('agent_id', 'text', (c) => c.notNull())
      .addColumn('sha256', 'text', (c) => c.notNull())
      .addColumn('path', 'text', (c) => c.notNull())
      .addColumn('first_seen', 'bigint', (c) => c.notNull())
      .addColumn('last_seen', 'bigint', (c) => c.notNull())
      .addColumn('count', 'integer', (c) => c.notNull())
      .addPrimaryKeyConstraint('exec_ledger_pk', ['tenant_id', 'agent_id', 'sha256', 'path'])
      .execute();
    await db.schema.createIndex('exec_ledger_sha').on('exec_ledger').columns(['sha256']).execute();
    await db.schema
      .createTable('server_state')
      .addColumn('key', 'text', (c) => c.primaryKey())
      .addColumn('value', 'text', (c) => c.notNull())
      .execute();
  },
};
