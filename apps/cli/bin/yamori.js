#!/usr/bin/env node
// The `yamori` command. Node 24 runs the TypeScript sources directly (type stripping);
// `yamori agent run` runs the agent bundle instead when one was built (agent-bundle.js).
const args = process.argv.slice(2);
const bundle = args[0] === 'agent' && args[1] === 'run' ? (await import('./agent-bundle.js')).agentBundleFor(args) : undefined;
if (bundle) {
  process.argv.splice(2, 1); // the bundle is `yamori agent`: it reads `run --state DIR`
  await import(bundle);
} else {
  await import('../src/main.ts');
}
