import { openDatabase, type Database } from '@yamori/db';
import { INTEL_MIGRATIONS } from './migrations.ts';
import type { IntelDb } from './schema.ts';

/** Opens (and migrates) the intel database named by `url`. */
export function openIntelDatabase(url: string): Promise<Database<IntelDb>> {
  return openDatabase<IntelDb>({ url, migrations: INTEL_MIGRATIONS });
}
