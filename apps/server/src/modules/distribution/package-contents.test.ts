import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolutionCandidates, runtimeDependencies, shipsDependencyFile, shipsWorkspaceFile } from './package-contents.ts';

test('a workspace ships its manifest, sources, data and built addons; not tests, C sources or bundles', () => {
  for (const f of ['package.json', 'src/index.ts', 'bin/yamori.js', 'rules/yamori/cryptominer.yml', 'models/elf-benign.json', 'build/Release/yamori_sensor.node']) {
    assert.ok(shipsWorkspaceFile(f), f);
  }
  for (const f of [
    'src/agent.test.ts',
    'src/test-support.ts',
    'src/e2e-agent.test.ts',
    'src/e2e-install.ts',
    'src/testing/fake.ts',
    'src/test-support/fixtures.ts',
    'rules/yamori/tests/x.tp.jsonl',
    'src/exploit/README.md',
    'native/addon.c',
    'binding.gyp',
    'build/Release/obj.target/yamori_sensor.node',
    'build/Makefile',
    'dist/agent.mjs',
    'tsconfig.json',
  ]) {
    assert.ok(!shipsWorkspaceFile(f), f);
  }
});

test('a dependency ships its code and licence; not declarations, maps, docs or tests', () => {
  for (const f of ['package.json', 'build/index.mjs', 'dist/test-events.js', 'LICENSE', 'license', 'LICENSE.md', 'NOTICE.txt']) assert.ok(shipsDependencyFile(f), f);
  for (const f of ['build/index.d.mts', 'lib/index.d.ts', 'dist/index.js.map', 'README.md', 'CHANGELOG.md', 'test/a.js', '.github/workflows/ci.yml', 'node_modules/x/index.js']) {
    assert.ok(!shipsDependencyFile(f), f);
  }
});

test('dependencies at run time: required and optional, never dev or peer', () => {
  assert.deepEqual(
    runtimeDependencies({ dependencies: { a: '1', b: '1' }, optionalDependencies: { b: '1', c: '1' }, devDependencies: { d: '1' }, peerDependencies: { e: '1' } } as never),
    { required: ['a'], optional: ['b', 'c'] },
  );
});

test('packages resolve from the nearest node_modules outwards, as Node looks for them', () => {
  assert.deepEqual(resolutionCandidates('apps/agent', 'typebox'), ['apps/agent/node_modules/typebox', 'apps/node_modules/typebox', 'node_modules/typebox']);
  assert.deepEqual(resolutionCandidates('node_modules/@scope/p', 'x'), ['node_modules/@scope/p/node_modules/x', 'node_modules/@scope/node_modules/x', 'node_modules/x']);
  assert.deepEqual(resolutionCandidates('', 'x'), ['node_modules/x']);
});
