import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAgentPackages } from './agent-package.ts';

const APP_ROOT = join(import.meta.dirname, '..', '..', '..', '..', '..');

test('the agent package holds what the agent runs on, runs from where it is unpacked, and is built once per content', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ymr-pkg-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // A stand-in for the Node binary (the real one is 120 MB): it runs this Node.
  const node = join(dir, 'node');
  writeFileSync(node, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} "$@"\n`, { mode: 0o755 });
  const cacheDir = join(dir, 'cache');
  const builds: string[] = [];
  const log = { info: (o: object) => builds.push((o as { fileName: string }).fileName) };
  const pkg = await createAgentPackages({ appRoot: APP_ROOT, nodeBinary: node, cacheDir, log }).current();
  // Another server process on the same data directory reuses the cached package (right away: the
  // key covers the sources' modification times, and a developer may be editing them).
  const again = await createAgentPackages({ appRoot: APP_ROOT, nodeBinary: node, cacheDir, log }).current();
  assert.deepEqual(again, pkg);
  assert.deepEqual(builds, [pkg.fileName]);

  assert.match(pkg.fileName, /^yamori-agent-\d+\.\d+\.\d+-[0-9a-f]{12}-linux-x64\.tar\.gz$/);
  assert.equal(pkg.fileName, `yamori-agent-${pkg.version}-${pkg.platform}.tar.gz`);
  assert.equal(createHash('sha256').update(readFileSync(pkg.path)).digest('hex'), pkg.sha256);
  assert.equal(statSync(pkg.path).size, pkg.size);
  assert.equal(readFileSync(`${pkg.path}.sha256`, 'utf8'), `${pkg.sha256}  ${pkg.fileName}\n`);
  t.diagnostic(`package without the Node binary: ${pkg.size} bytes`);

  const listing = execFileSync('tar', ['-tzf', pkg.path], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }).split('\n');
  for (const f of [
    'yamori-package.json',
    'bin/node',
    'bin/yamori',
    'app/apps/cli/bin/yamori.js',
    'app/apps/cli/src/commands/agent.ts',
    'app/apps/agent/src/index.ts',
    'app/packages/detection/models/elf-benign.json',
    'app/node_modules/@yamori/agent',
    'app/node_modules/typebox/package.json',
    'app/node_modules/yaml/package.json',
  ]) {
    assert.ok(listing.includes(f), `${f} is in the package`);
  }
  for (const bad of [/\.test\.ts$/, /^app\/apps\/server\//, /^app\/apps\/intel\//, /^app\/packages\/db\//, /^app\/node_modules\/(typescript|eslint|fastify|kysely|pg)\//, /\.d\.m?ts$/, /test-support/, /\/native\/.*\.c$/]) {
    assert.deepEqual(listing.filter((f) => bad.test(f)), [], `nothing matching ${String(bad)}`);
  }

  // Unpacked anywhere, its yamori runs on its own Node, with its own modules.
  const unpacked = join(dir, 'unpacked');
  mkdirSync(unpacked);
  execFileSync('tar', ['-xzf', pkg.path, '-C', unpacked]);
  const help = spawnSync(join(unpacked, 'bin/yamori'), ['agent', 'help'], { encoding: 'utf8' });
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stderr, /yamori agent enroll/);
  const manifest = JSON.parse(readFileSync(join(unpacked, 'yamori-package.json'), 'utf8')) as { version: string; platform: string };
  assert.deepEqual([manifest.version, manifest.platform], [pkg.version, pkg.platform]);

  // A changed input makes a new version; the old one is removed from the cache.
  writeFileSync(node, `#!/bin/sh\n# changed\nexec ${JSON.stringify(process.execPath)} "$@"\n`, { mode: 0o755 });
  const next = await createAgentPackages({ appRoot: APP_ROOT, nodeBinary: node, cacheDir, log }).current();
  assert.notEqual(next.version, pkg.version);
  assert.deepEqual(readdirSync(cacheDir).sort(), [next.fileName, `${next.fileName}.sha256`]);
});
