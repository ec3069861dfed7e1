// `npm run bench -- NAME [args…]` runs bench/NAME.ts. Each benchmark prints its figures, a ratio
// against a baseline or a peer tool measured in the same run, and ends with one line of JSON.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const [name, ...rest] = process.argv.slice(2);
const dir = import.meta.dirname;
const available = readdirSync(dir)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.endsWith('.test.ts'))
  .map((f) => f.slice(0, -3));
if (!name || !existsSync(join(dir, `${name}.ts`))) {
  console.error(`usage: npm run bench -- NAME\navailable: ${available.join(', ')}`);
  process.exit(2);
}
// Benchmarks that compare with PostgreSQL get the same Debian server the tests use.
if (!process.env['YAMORI_TEST_PG']) {
  process.env['YAMORI_TEST_PG'] = execFileSync('bash', [join(dir, '..', 'scripts', 'ensure-postgres.sh')], { encoding: 'utf8' }).trim();
}
process.argv = [process.argv[0] ?? 'node', join(dir, `${name}.ts`), ...rest];
await import(join(dir, `${name}.ts`));
