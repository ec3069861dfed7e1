// The server as a process of its own: `node apps/server/src/main.ts` (the CLI's `yamori server` does the same).
import { loadConfig } from './config.ts';
import { startServer } from './start.ts';

const config = loadConfig({}, process.env);
const server = await startServer(config);
if (server.firstRun) {
  console.log(`First start: tenant "Default" created. Log in as ${server.firstRun.email} with the one-time password: ${server.firstRun.password}`);
}
if (server.caSha256) console.log(`CA fingerprint (sha256): ${server.caSha256}`);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    void server.close().then(() => process.exit(0));
  });
}
