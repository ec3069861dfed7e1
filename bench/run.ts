// `npm run bench -- NAME [args…]` runs bench/NAME.ts. Each benchmark prints its figures, a ratio
// against a baseline or a peer tool measured in the same run, and ends with one line of JSON.
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
process.argv = [process.argv[0] ?? 'node', join(dir, `${name}.ts`), ...rest];
await import(join(dir, `${name}.ts`));
