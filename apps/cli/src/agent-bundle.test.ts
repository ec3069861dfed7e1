import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AGENT_BUNDLE, buildAgentBundle, type AgentBundleManifest } from './agent-bundle.ts';
import { YAMORI } from './test-support.ts';

// Lists, at exit, every module file the process loaded (to tell the bundle from the sources).
const LOADED = `data:text/javascript,import { registerHooks } from 'node:module';
const seen = [];
registerHooks({ load(url, ctx, next) { if (url.startsWith('file:')) seen.push(url); return next(url, ctx); } });
process.on('exit', () => process.stderr.write('LOADED ' + JSON.stringify(seen) + '\\n'));`;

/** `yamori agent run --state DIR` (DIR is not enrolled, so it stops at once): which code ran, what it said. */
function agentRun(stateDir: string) {
  const r = spawnSync(process.execPath, ['--import', LOADED, YAMORI, 'agent', 'run', '--state', stateDir], { encoding: 'utf8', timeout: 120_000 });
  const loaded = JSON.parse(/LOADED (\[.*\])/.exec(r.stderr)?.[1] ?? '[]') as string[];
  return {
    status: r.status,
    stderr: r.stderr.replace(/LOADED .*\n/, ''),
    bundle: loaded.some((u) => u.endsWith(`/${AGENT_BUNDLE.dir}/${AGENT_BUNDLE.code}`)),
    sources: loaded.some((u) => u.includes('/apps/agent/src/')),
  };
}
const readManifest = (state: string) => JSON.parse(readFileSync(join(state, AGENT_BUNDLE.dir, AGENT_BUNDLE.manifest), 'utf8')) as AgentBundleManifest;

void test('the agent bundle: built into the state directory (root-only), run by `yamori agent run` instead of the sources, rebuilt when a source changed, and the sources run without it', async (t) => {
  const state = mkdtempSync(join(tmpdir(), 'ymr-bundle-'));
  t.after(() => rmSync(state, { recursive: true, force: true }));

  // no bundle: the sources, silently
  const plain = agentRun(state);
  assert.deepEqual([plain.bundle, plain.sources], [false, true]);
  assert.match(plain.stderr, /not enrolled/);
  assert.doesNotMatch(plain.stderr, /running the agent's sources/);

  const built = await buildAgentBundle(state);
  const dir = join(state, AGENT_BUNDLE.dir);
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  assert.equal(statSync(built.path).mode & 0o777, 0o600);
  const manifest = readManifest(state);
  assert.equal(manifest.node, process.version);
  assert.ok(manifest.entry.endsWith('/apps/cli/src/agent-main.ts'));
  const inputs = manifest.inputs.map(([p]) => p);
  assert.ok(inputs.some((p) => p.endsWith('/apps/agent/src/agent.ts')) && inputs.some((p) => p.includes('/node_modules/typebox/')), 'the agent and its dependencies are in it');
  assert.equal(built.inputs, inputs.length);

  // the bundle by itself is `yamori agent`, and paths beside its sources resolve as from the sources
  const help = spawnSync(process.execPath, [built.path, 'help'], { encoding: 'utf8' });
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stderr, /yamori agent run/);
  const code = readFileSync(built.path, 'utf8');
  assert.ok(code.includes(JSON.stringify(new URL('../../../packages/detection/src/file/anomaly.ts', import.meta.url).href)), "a module's import.meta.url is its source file's");

  const run = agentRun(state);
  assert.deepEqual([run.bundle, run.sources], [true, false], run.stderr);
  assert.match(run.stderr, /not enrolled/);

  // a source changed since the build (here: the manifest says so): rebuilt first, then run
  const [first] = manifest.inputs;
  assert.ok(first);
  writeFileSync(join(dir, AGENT_BUNDLE.manifest), JSON.stringify({ ...manifest, inputs: [[first[0], first[1], first[2] - 1000], ...manifest.inputs.slice(1)] }));
  const rebuilt = agentRun(state);
  assert.deepEqual([rebuilt.bundle, rebuilt.sources], [true, false], rebuilt.stderr);
  assert.deepEqual(readManifest(state).inputs[0], first, 'the manifest is the new build’s');

  // stale and cannot be rebuilt (a folder where the code goes): the sources, with a warning
  writeFileSync(join(dir, AGENT_BUNDLE.manifest), JSON.stringify({ ...manifest, node: 'v0.0.0' }));
  rmSync(built.path);
  mkdirSync(join(built.path, 'in-the-way'), { recursive: true });
  const fallback = agentRun(state);
  assert.deepEqual([fallback.bundle, fallback.sources], [false, true]);
  assert.match(fallback.stderr, /running the agent's sources: its bundle is stale \(built for node v0\.0\.0, this is v[\d.]+\) and rebuilding it failed/);
  assert.match(fallback.stderr, /not enrolled/);
});
