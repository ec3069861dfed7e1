import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { createTestDatabase, type Database, type DialectKind, type TestDatabase } from '@yamori/db';
import { buildIntelApp } from './app.ts';
import { loadIntelConfig } from './config.ts';
import { openIntelDatabase } from './db/open.ts';
import type { IntelDb } from './db/schema.ts';
import { BUILTIN_WARNINGLISTS, createWarninglist } from './feeds/warninglist.ts';
import { createOrg } from './orgs/org-repository.ts';
import { addKey } from './orgs/routes.ts';

/** A test intel service on a fresh database: admin, two organizations' keys and a worker key, a settable clock. */
export interface TestIntel {
  app: FastifyInstance;
  database: Database<IntelDb>;
  clock: { now: number };
  keys: { admin: string; orgA: string; orgB: string; worker: string };
  orgs: { a: string; b: string };
  auth(key: string): { authorization: string };
  close(): Promise<void>;
}

export const ADMIN_KEY = 'test-admin-key-0123456789abcdef';

export async function startTestIntel(kind: DialectKind, opts: { tdb?: TestDatabase; fetch?: typeof fetch } = {}): Promise<TestIntel & { tdb: TestDatabase }> {
  const tdb = opts.tdb ?? (await createTestDatabase(kind));
  const database = await openIntelDatabase(tdb.url);
  const clock = { now: Date.parse('2026-01-10T12:00:00Z') };
  const now = () => clock.now;
  const config = loadIntelConfig({ dataDir: '/tmp/yamori-intel-test-unused', databaseUrl: tdb.url, adminKey: ADMIN_KEY, sandboxLeaseS: 60 });
  const app = await buildIntelApp({
    database,
    config,
    sampleKey: randomBytes(32),
    warninglist: createWarninglist(BUILTIN_WARNINGLISTS),
    now,
    claimPollMs: 200,
    ...(opts.fetch ? { fetch: opts.fetch } : {}),
  });
  const a = (await createOrg(database.db, `org-a-${randomBytes(3).toString('hex')}`, clock.now))!;
  const b = (await createOrg(database.db, `org-b-${randomBytes(3).toString('hex')}`, clock.now))!;
  const keys = {
    admin: ADMIN_KEY,
    orgA: (await addKey(database.db, { scope: 'org', orgId: a.id }, clock.now)).key,
    orgB: (await addKey(database.db, { scope: 'org', orgId: b.id }, clock.now)).key,
    worker: (await addKey(database.db, { scope: 'worker' }, clock.now)).key,
  };
  return {
    app,
    database,
    clock,
    keys,
    orgs: { a: a.id, b: b.id },
    tdb,
    auth: (key) => ({ authorization: `Bearer ${key}` }),
    close: async () => {
      await app.close();
      await database.close();
      if (!opts.tdb) await tdb.drop();
    },
  };
}
