import { DatabaseSync, type SQLInputValue } from 'node:sqlite';
import type { SqliteDatabase, SqliteStatement } from 'kysely';

/**
 * Kysely's SqliteDialect over Node's built-in `node:sqlite` (no native build step; see
 * docs/adr/0002-sqlite-driver.md). Booleans become 0/1 because node:sqlite binds no booleans.
 */
export function nodeSqliteDatabase(path: string): { database: SqliteDatabase; raw: DatabaseSync } {
  const raw = new DatabaseSync(path);
  const bind = (params: ReadonlyArray<unknown>): SQLInputValue[] =>
    params.map((p) => (typeof p === 'boolean' ? (p ? 1 : 0) : p === undefined ? null : (p as SQLInputValue)));
  const database: SqliteDatabase = {
    close: () => raw.close(),
    prepare(sql: string): SqliteStatement {
      const stmt = raw.prepare(sql);
      return {
        reader: stmt.columns().length > 0,
        // node:sqlite returns null-prototype rows; plain objects behave like every other driver.
        all: (params) => stmt.all(...bind(params)).map((r) => ({ ...r })),
        run: (params) => stmt.run(...bind(params)),
        iterate: (params) => stmt.iterate(...bind(params)),
      };
    },
  };
  return { database, raw };
}
