import { loadConfig, startServer } from '@yamori/server';
import { parse, usageError } from '../args.ts';
import { announce, untilSignal } from './server.ts';
import { startLocalIntel } from './up-intel.ts';
import { startLocalSandbox } from './up-sandbox.ts';

const HELP = `usage: yamori up [--data DIR] [--port 8443] [--host 127.0.0.1] [--database URL] [--insecure-http]

Everything on one machine, on embedded SQLite databases in DIR (default /var/lib/yamori-server):
the management server, the threat-intelligence service (loopback only) and, as root, a sandbox
worker that detonates unknown files. On first start it creates the first tenant and prints the
owner's one-time password and the CA fingerprint agents pin.`;

export async function upCommand(args: string[]): Promise<number> {
  const p = parse(args, {
    data: { type: 'string' },
    database: { type: 'string' },
    host: { type: 'string' },
    port: { type: 'string' },
    'public-url': { type: 'string' },
    'insecure-http': { type: 'boolean' },
    'log-level': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (!p.ok) return usageError(`${p.error}\n\n${HELP}`);
  if (p.values.help) {
    console.log(HELP);
    return 0;
  }
  const dataDir = p.values.data ?? '/var/lib/yamori-server';
  const logLevel = p.values['log-level'] ?? 'warn';
  const intel = await startLocalIntel(dataDir, logLevel);
  const config = loadConfig(
    {
      dataDir,
      intelUrl: intel.url,
      intelKey: intel.orgKey,
      databaseUrl: p.values.database,
      host: p.values.host,
      port: p.values.port,
      publicUrl: p.values['public-url'],
      insecureHttp: p.values['insecure-http'],
      logLevel,
    },
    process.env,
  );
  const server = await startServer(config);
  const sandbox = await startLocalSandbox(intel.url, intel.workerKey);
  announce(server);
  console.log(`Threat intelligence: ${intel.url} (loopback only; admin key in ${dataDir}/intel/local-keys.json)`);
  console.log('off' in sandbox ? `Sandbox: off (${sandbox.off})` : 'Sandbox: detonating unknown files from intelligence');
  console.log(`\nOpenAPI: ${server.url}/api/docs   Health: ${server.url}/readyz`);
  console.log('Enroll an agent: yamori admin enroll-token add --tenant Default, then on the endpoint: yamori agent enroll --token …');
  await untilSignal(async () => {
    if (!('off' in sandbox)) await sandbox.stop();
    await server.close();
    await intel.stop();
  });
  return 0;
}
