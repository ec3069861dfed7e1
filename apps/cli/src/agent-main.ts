// `yamori agent …` by itself: the entry the agent bundle is built from (agent-bundle.ts), run by
// `yamori agent run --state DIR` when DIR has a current bundle (bin/agent-bundle.js). Only the agent's modules load.
import { agentCommand } from './commands/agent.ts';

process.exitCode = await agentCommand(process.argv.slice(2));
