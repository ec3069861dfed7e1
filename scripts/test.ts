// The one test command (`npm test`): PostgreSQL up, type check, lint, then every *.test.ts under
// packages/ and apps/ with Node's test runner. Fails when it finds no tests, so a wrong glob
// cannot pass silently. `npm test -- FILTER` runs only test files whose path contains FILTER.
import { execFileSync, spawnSync } from 'node:child_process';
import { globSync } from 'node:fs';

const filter = process.argv[2];
const run = (cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): number =>
  spawnSync(cmd, args, { stdio: 'inherit', env }).status ?? 1;

const env = { ...process.env };
if (!env['YAMORI_TEST_PG']) {
  env['YAMORI_TEST_PG'] = execFileSync('bash', ['scripts/ensure-postgres.sh'], { encoding: 'utf8' }).trim();
}

if (!filter) {
  console.log('== typecheck');
  if (run('npx', ['tsc', '-p', 'tsconfig.json', '--noEmit']) !== 0) process.exit(1);
  console.log('== lint');
  if (run('npx', ['eslint', '--max-warnings=0', '.']) !== 0) process.exit(1);
}

const files = globSync(['packages/*/src/**/*.test.ts', 'apps/*/src/**/*.test.ts', 'bench/**/*.test.ts'], {
  exclude: (p) => p.includes('node_modules'),
})
  .filter((f) => !f.startsWith('apps/console/'))
  .filter((f) => !filter || f.includes(filter))
  .sort();
if (files.length === 0) {
  console.error(`no test files found${filter ? ` matching "${filter}"` : ''}: refusing to pass`);
  process.exit(1);
}
console.log(`== ${files.length} test files`);
const status = run(
  process.execPath,
  // --test-force-exit: a test file whose assertion failed before it released a native handle (a
  // sensor thread, a socket) still ends, so one failure cannot hang the whole run.
  // --no-maglev --no-concurrent-sparkplug (passed on to every test file's process): Node 24 can
  // deadlock at exit when a background compile job waits for a garbage collection the exiting
  // main thread never runs (nodejs/node#64274, #54918); a CI run here hung on it after its tests
  // had passed.
  ['--no-maglev', '--no-concurrent-sparkplug', '--test', '--test-force-exit', '--test-concurrency=3', '--test-timeout=300000', '--test-reporter=spec', ...files],
  env,
);
process.exit(status);
