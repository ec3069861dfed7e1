import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestDatabase, TEST_DIALECTS } from '@yamori/db';
import { openIntelDatabase } from '../db/open.ts';
import type { Observation } from '../feeds/prepare-import.ts';
import { expireIndicators } from '../maintenance.ts';
import {
  addRelations,
  applyObservations,
  changesSince,
  ensureSource,
  getRelated,
  loadTrust,
  lockChangeFeed,
  seedIndicators,
} from './indicator-repository.ts';
import { lookup } from './lookup.ts';

const T0 = 1_767_000_000_000;
const obs = (type: Observation['type'], value: string, verdict: Observation['verdict'], confidence: number, expiresAt: number | null = null): Observation => ({
  type,
  value,
  verdict,
  confidence,
  tlp: 'green',
  firstSeen: T0,
  lastSeen: T0,
  expiresAt,
});

for (const kind of TEST_DIALECTS) {
  test(`${kind}: sources combine by trust, changes are appended only when the verdict moves, lookups match CIDRs and parents`, async () => {
    const tdb = await createTestDatabase(kind);
    const database = await openIntelDatabase(tdb.url);
    const { db } = database;
    try {
      const apply = (source: string, list: Observation[], now = T0) =>
        db.transaction().execute(async (trx) => {
          await lockChangeFeed(trx);
          await ensureSource(trx, source, now);
          return applyObservations(trx, source, list, await loadTrust(trx), now);
        });
      const h = 'ab'.repeat(32);
      const r1 = await apply('feed-a', [obs('sha256', h, 'malicious', 80), obs('cidr', '198.51.99.0/24', 'malicious', 90), obs('domain', 'evil.example', 'suspicious', 60)]);
      assert.equal(r1.changed, 3);
      // Same again: nothing moves, nothing appended.
      assert.equal((await apply('feed-a', [obs('sha256', h, 'malicious', 80)])).changed, 0);
      // The sandbox (trust 1) says benign with more weight: the verdict flips.
      await db.updateTable('sources').set({ trust: 0.3 }).where('name', '=', 'feed-a').execute();
      const r3 = await apply('sandbox', [obs('sha256', h, 'benign', 60)]);
      assert.equal(r3.changed, 1);
      const changes = await changesSince(db, 0, 100);
      assert.deepEqual(
        changes.map((c) => `${c.seq} ${c.type} ${c.verdict} ${c.source}`),
        [`1 sha256 malicious feed-a`, `2 cidr malicious feed-a`, `3 domain suspicious feed-a`, `4 sha256 benign sandbox`].map((s, i) =>
          s.replace(/^\d+/, String(changes[0]!.seq + i)),
        ),
      );
      const res = await lookup(
        db,
        {
          items: [
            { type: 'sha256', value: h.toUpperCase() },
            { type: 'ip', value: '198.51.99.200' },
            { type: 'ip', value: '198.51.98.1' },
            { type: 'domain', value: 'www.EVIL.example' },
            { type: 'url', value: 'https://a.evil.example/x' },
            { type: 'ip', value: 'garbage' },
          ],
        },
        T0,
      );
      assert.deepEqual(
        res.results.map((r) => `${r.verdict}/${r.source}`),
        ['benign/sandbox', 'malicious/feed-a', 'unknown/', 'suspicious/feed-a', 'suspicious/feed-a', 'unknown/invalid'],
      );
      await addRelations(db, [[{ type: 'sha256', value: h }, { type: 'domain', value: 'evil.example' }]], T0);
      assert.deepEqual(await getRelated(db, 'domain', 'evil.example'), [{ type: 'sha256', value: h }]);
    } finally {
      await database.close();
      await tdb.drop();
    }
  });

  test(`${kind}: expiry lapses a verdict and announces it; the bulk seed path inserts new values only`, async () => {
    const tdb = await createTestDatabase(kind);
    const database = await openIntelDatabase(tdb.url);
    const { db } = database;
    try {
      await db.transaction().execute(async (trx) => {
        await ensureSource(trx, 'feed-b', T0);
        await applyObservations(trx, 'feed-b', [obs('domain', 'short.example', 'malicious', 90, T0 + 1000)], await loadTrust(trx), T0);
      });
      const before = (await lookup(db, { items: [{ type: 'domain', value: 'short.example' }] }, T0)).results[0]!;
      assert.equal(before.verdict, 'malicious');
      const woke = new Promise<string>((resolve) => database.notifier.subscribe((topic) => resolve(topic)));
      assert.equal(await expireIndicators(database, T0 + 1000), 1);
      assert.equal(await woke, 'intel:changes');
      const last = (await changesSince(db, 0, 10)).at(-1)!;
      assert.deepEqual({ v: last.verdict, value: last.value }, { v: 'unknown', value: 'short.example' });
      assert.equal(await expireIndicators(database, T0 + 2000), 0);

      const seed = Array.from({ length: 1500 }, (_, i) => obs('sha256', i.toString(16).padStart(64, '0'), 'malicious', 100));
      const n = await db.transaction().execute((trx) => seedIndicators(trx, 'bulk', seed, 0.5, T0));
      assert.equal(n, 1500);
      assert.equal(await db.transaction().execute((trx) => seedIndicators(trx, 'bulk', seed.slice(0, 10), 0.5, T0)), 0);
      const hit = (await lookup(db, { items: [{ type: 'sha256', value: '0'.repeat(61) + '5db' }] }, T0)).results[0]!;
      assert.deepEqual({ v: hit.verdict, c: hit.confidence }, { v: 'malicious', c: 50 });
    } finally {
      await database.close();
      await tdb.drop();
    }
  });
}
