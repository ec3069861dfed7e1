// `yamori`: one command for every part (server, agent, intel, sandbox, scans, administration).
import { run } from './cli.ts';

process.exitCode = await run(process.argv.slice(2));
