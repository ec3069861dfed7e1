import type { Database } from '@yamori/db';
import type { IntelDb } from './db/schema.ts';
import { CHANGES_TOPIC } from './feeds/import-service.ts';
import type { IndicatorKey } from './feeds/prepare-import.ts';
import { dueForExpiry, loadTrust, lockChangeFeed, recompute, sourceKeys } from './indicators/indicator-repository.ts';
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

/**
 * After a source's trust weight changed: recompute every value it asserts, page by page (each
 * page its own transaction, so a big feed does not hold one long lock). Returns verdicts changed.
 */
export async function recomputeSource(database: Database<IntelDb>, source: string, now: number, page = 2000): Promise<number> {
  let after: IndicatorKey | undefined;
  let changed = 0;
  for (;;) {
    const keys = await sourceKeys(database.db, source, after, page);
    if (keys.length === 0) break;
    const r = await database.db.transaction().execute(async (trx) => {
      await lockChangeFeed(trx);
      return recompute(trx, keys, await loadTrust(trx), now);
    });
    changed += r.changed;
    if (r.changed > 0) await database.notifier.publish(CHANGES_TOPIC, String(r.lastSeq));
    if (keys.length < page) break;
    after = keys[keys.length - 1];
  }
  return changed;
}
