import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { DialectKind } from './database.ts';

/**
 * The dialects every repository test runs on. PostgreSQL comes from YAMORI_TEST_PG (set by
 * `npm test`, which starts a Debian PostgreSQL when missing); each call makes a fresh database.
 */
export interface TestDatabase {
  kind: DialectKind;
  url: string;
  drop(): Promise<void>;
}

export const TEST_DIALECTS: readonly DialectKind[] = ['sqlite', 'postgres'];

export async function createTestDatabase(kind: DialectKind): Promise<TestDatabase> {
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'yamori-test-'));
    return { kind, url: `sqlite:${join(dir, 'test.db')}`, drop: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const admin = process.env['YAMORI_TEST_PG'];
  if (!admin) throw new Error('YAMORI_TEST_PG is not set: run the tests with `npm test`, which starts PostgreSQL');
  const name = `yamori_t_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  await client.query(`CREATE DATABASE ${name}`);
  await client.end();
  const url = admin.replace(/\/[^/]*$/, `/${name}`);
  return {
    kind,
    url,
    drop: async () => {
      const c = new pg.Client({ connectionString: admin });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}
