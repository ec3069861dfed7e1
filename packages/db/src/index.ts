export { openDatabase, redact, sql, type Database, type DialectKind, type OpenOptions } from './database.ts';
export { migrateToLatest } from './migrate.ts';
export { createLocalNotifier, type Notifier } from './notifier.ts';
export { createTestDatabase, TEST_DIALECTS, type TestDatabase } from './testing.ts';
export { newId } from './ids.ts';
export type { Migration } from 'kysely/migration';
export type { Kysely, Transaction, Selectable, Insertable, Updateable } from 'kysely';
