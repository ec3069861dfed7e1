import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely';
import type { Migration } from 'kysely/migration';
import pg from 'pg';
import { nodeSqliteDatabase } from './sqlite-node.ts';
import { createLocalNotifier, createPgNotifier, type Notifier } from './notifier.ts';
import { migrateToLatest } from './migrate.ts';

export type DialectKind = 'sqlite' | 'postgres';

export interface Database<DB> {
  readonly kind: DialectKind;
  readonly db: Kysely<DB>;
  readonly notifier: Notifier;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** `postgres://…` or `sqlite:/path/to/file.db` (or a bare path). */
  url: string;
  /** Migrations to run, or a function of the dialect for DDL that differs (identity columns). */
  migrations?: Record<string, Migration> | ((kind: DialectKind) => Record<string, Migration>);
  poolSize?: number;
}

/** Opens the database named by `url`, runs the given migrations and returns a ready handle. */
export async function openDatabase<DB>(options: OpenOptions): Promise<Database<DB>> {
  const { url } = options;
  let handle: Database<DB>;
  if (/^postgres(ql)?:\/\//.test(url)) {
    const types = {
      getTypeParser: (oid: number, format?: 'text' | 'binary') =>
        // int8 (counts, ms timestamps) as numbers: all our int8 values are below 2^53.
        oid === 20 ? (v: string) => Number(v) : (pg.types.getTypeParser(oid, format) as (v: string) => unknown),
    };
    const pool = new pg.Pool({ connectionString: url, max: options.poolSize ?? 10, types: types });
    pool.on('error', () => undefined);
    await pool.query('SELECT 1').catch((e: unknown) => {
      throw new Error(`cannot connect to PostgreSQL at ${redact(url)}: ${(e as Error).message}`);
    });
    const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
    const notifier = await createPgNotifier(url, pool);
    handle = {
      kind: 'postgres',
      db,
      notifier,
      close: async () => {
        await notifier.close();
        await db.destroy();
      },
    };
  } else {
    const path = url.startsWith('sqlite:') ? url.slice('sqlite:'.length) : url;
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    const { database, raw } = nodeSqliteDatabase(path);
    raw.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;');
    const db = new Kysely<DB>({ dialect: new SqliteDialect({ database }) });
    const notifier = createLocalNotifier();
    handle = {
      kind: 'sqlite',
      db,
      notifier,
      close: async () => {
        await notifier.close();
        await db.destroy();
      },
    };
  }
  if (options.migrations) {
    try {
      const list = typeof options.migrations === 'function' ? options.migrations(handle.kind) : options.migrations;
      await migrateToLatest(handle.db as Kysely<unknown>, list);
    } catch (e) {
      await handle.close();
      throw e;
    }
  }
  return handle;
}

export function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}

/** A value for "now" in SQL-side defaults is never used: time is always passed in from the app. */
export { sql };
