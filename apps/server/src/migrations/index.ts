import type { Migration } from 'kysely/migration';
import type { DialectKind } from '@yamori/db';
import { initial } from './0001-initial.ts';
import { executionLedger } from './0002-execution-ledger.ts';
import { yaraPacks } from './0003-yara-packs.ts';
import { serverRules } from './0004-server-rules.ts';

/** Every migration, in order. Listed explicitly: no directory scanning. */
export function serverMigrations(kind: DialectKind): Record<string, Migration> {
  return {
    '0001_initial': initial(kind),
    '0002_execution_ledger': executionLedger,
    '0003_yara_packs': yaraPacks,
    '0004_server_rules': serverRules,
  };
}
