import type { Database } from '@yamori/db';
import type { IntelDb } from './db/schema.ts';
import { CHANGES_TOPIC } from './feeds/import-service.ts';
import { dueForExpiry, loadTrust, lockChangeFeed, recompute } from './indicators/indicator-repository.ts';
import { expireSamples } from './samples/sample-repository.ts';

/**
 * Periodic upkeep: indicators whose verdict lapsed are recomputed (and announced on the change
 * feed), samples past retention are deleted. Safe to run on every instance at once.
 */
export async function expireIndicators(database: Database<IntelDb>, now: number, batch = 2000): Promise<number> {
  const keys = await dueForExpiry(database.db, now, batch);
  if (keys.length === 0) return 0;
  const r = await database.db.transaction().execute(async (trx) => {
    await lockChangeFeed(trx);
    return recompute(trx, keys, await loadTrust(trx), now);
  });
  if (r.changed > 0) await database.notifier.publish(CHANGES_TOPIC, String(r.lastSeq));
  return keys.length;
}

export async function runMaintenance(database: Database<IntelDb>, now: number): Promise<{ expired: number; samples: number; blobs: number }> {
  const expired = await expireIndicators(database, now);
  const s = await expireSamples(database.db, now);
  return { expired, ...s };
}
