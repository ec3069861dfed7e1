import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sql, type Kysely } from 'kysely';
import { openDatabase } from './database.ts';
import { createTestDatabase, TEST_DIALECTS } from './testing.ts';

interface T {
  thing: { id: string; n: number; flag: number; at: number };
}
const migrations = {
  '0001_thing': {
    up: async (db: Kysely<unknown>) => {
      await db.schema
        .createTable('thing')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('n', 'integer', (c) => c.notNull())
        .addColumn('flag', 'integer', (c) => c.notNull())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .execute();
    },
  },
};

for (const kind of TEST_DIALECTS) {
  test(`${kind}: migrations run once, rows round-trip with numbers intact, transactions roll back`, async () => {
    const tdb = await createTestDatabase(kind);
    try {
      const a = await openDatabase<T>({ url: tdb.url, migrations });
      const at = 1_700_000_000_123;
      await a.db.insertInto('thing').values({ id: 'a', n: 1, flag: 1, at }).execute();
      await assert.rejects(
        a.db.transaction().execute(async (trx) => {
          await trx.insertInto('thing').values({ id: 'b', n: 2, flag: 0, at }).execute();
          throw new Error('boom');
        }),
        /boom/,
      );
      const rows = await a.db.selectFrom('thing').selectAll().execute();
      assert.deepEqual(rows, [{ id: 'a', n: 1, flag: 1, at }]);
      await a.close();
      // A second open re-runs nothing and sees the data.
      const b = await openDatabase<T>({ url: tdb.url, migrations });
      const { rows: count } = await sql<{ c: number }>`select count(*) as c from thing`.execute(b.db);
      assert.equal(Number(count[0]?.c), 1);
      await b.close();
    } finally {
      await tdb.drop();
    }
  });

  test(`${kind}: a wake-up published on one handle reaches subscribers`, async () => {
    const tdb = await createTestDatabase(kind);
    const a = await openDatabase<T>({ url: tdb.url });
    // With PostgreSQL, a second handle stands for a second server instance.
    const b = kind === 'postgres' ? await openDatabase<T>({ url: tdb.url }) : a;
    try {
      const got = new Promise<[string, string]>((resolve) => {
        b.notifier.subscribe((topic, payload) => resolve([topic, payload]));
      });
      await a.notifier.publish('agent:42', 'policy');
      assert.deepEqual(await got, ['agent:42', 'policy']);
    } finally {
      if (b !== a) await b.close();
      await a.close();
      await tdb.drop();
    }
  });
}
