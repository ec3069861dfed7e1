import { openDatabase, sql, type Database } from '@yamori/db';
import { INTEL_MIGRATIONS } from './migrations.ts';
import type { IntelDb } from './schema.ts';

/** Opens (and migrates) the intel database named by `url`. */
export async function openIntelDatabase(url: string): Promise<Database<IntelDb>> {
  const database = await openDatabase<IntelDb>({ url, migrations: INTEL_MIGRATIONS });
  // Indicator keys are random (hashes): a 64 MB page cache instead of SQLite's 2 MB keeps the
  // index pages of a million-row store in memory for lookups and bulk loads.
  if (database.kind === 'sqlite') await sql`PRAGMA cache_size = -65536`.execute(database.db);
  return database;
}
