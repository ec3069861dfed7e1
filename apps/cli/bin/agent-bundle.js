// `yamori agent run --state DIR` runs the agent bundle in DIR/agent-bundle (src/agent-bundle.ts,
// ADR 0012) when there is one: one precompiled file instead of ~900 modules. Plain JavaScript, so
// that node runs it without the TypeScript stripper.
// - no bundle there: the sources run (development, tests: nothing was built);
// - a bundle built from other sources (one of its inputs changed, another checkout, another node):
//   it is rebuilt first (`yamori agent bundle`, in a child process), so an upgrade never runs old
//   code; when that fails the sources run, with a warning.
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ENTRY = fileURLToPath(new URL('../src/agent-main.ts', import.meta.url));
const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

/** Why the bundle in `dir` cannot run, or undefined when it can (the manifest as src/agent-bundle.ts writes it). */
export function staleness(dir) {
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    statSync(join(dir, 'agent.mjs'));
  } catch (e) {
    return `no bundle (${e.code ?? e.message})`;
  }
  if (manifest.entry !== ENTRY) return `built from ${manifest.entry}, this is ${ENTRY}`;
  if (manifest.node !== process.version) return `built for node ${manifest.node}, this is ${process.version}`;
  for (const [path, size, mtimeMs] of manifest.inputs) {
    let st;
    try {
      st = statSync(path);
    } catch {
      return `${path} is gone`;
    }
    if (st.size !== size || st.mtimeMs !== mtimeMs) return `${path} changed`;
  }
  return undefined;
}

/** The bundle to import for `yamori agent run ARGS`, or undefined: run the sources. */
export function agentBundleFor(args) {
  const at = args.indexOf('--state');
  const stateDir = at >= 0 ? args[at + 1] : args.find((a) => a.startsWith('--state='))?.slice('--state='.length);
  if (!stateDir) return undefined;
  const dir = join(stateDir, 'agent-bundle');
  let why = staleness(dir);
  if (why?.startsWith('no bundle')) return undefined;
  if (why) {
    const built = spawnSync(process.execPath, [MAIN, 'agent', 'bundle', '--state', stateDir], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 120_000, encoding: 'utf8' });
    const still = staleness(dir);
    if (still) {
      process.stderr.write(`yamori: running the agent's sources: its bundle is stale (${why}) and rebuilding it failed: ${built.stderr?.trim() || built.error?.message || still}\n`);
      return undefined;
    }
  }
  return pathToFileURL(join(dir, 'agent.mjs')).href;
}
