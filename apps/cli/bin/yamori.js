#!/usr/bin/env node
// The `yamori` command. Node 24 runs the TypeScript sources directly (type stripping);
// `yamori agent run` runs the agent bundle instead when one was built (agent-bundle.js).
import { setFlagsFromString } from 'node:v8';

// Node 24 can deadlock in its exit when a background Maglev or Sparkplug compile job waits for a
// garbage collection the exiting main thread never runs (nodejs/node#64274): a server or agent
// would hang instead of stopping. V8 reads these flags when it dispatches a compile job, so they
// apply from here on (checked with --trace-opt); the agent's unit also passes them on the command line.
setFlagsFromString('--no-maglev');
setFlagsFromString('--no-concurrent-sparkplug');

const args = process.argv.slice(2);
const bundle = args[0] === 'agent' && args[1] === 'run' ? (await import('./agent-bundle.js')).agentBundleFor(args) : undefined;
if (bundle) {
  process.argv.splice(2, 1); // the bundle is `yamori agent`: it reads `run --state DIR`
  await import(bundle);
} else {
  await import('../src/main.ts');
}
