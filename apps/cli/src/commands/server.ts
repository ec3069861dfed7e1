import { loadConfig, startServer, type RunningServer } from '@yamori/server';
import { parse, usageError } from '../args.ts';

export const SERVER_OPTIONS = {
  data: { type: 'string' },
  database: { type: 'string' },
  host: { type: 'string' },
  port: { type: 'string' },
  'public-url': { type: 'string' },
  'cert-name': { type: 'string', multiple: true },
  'insecure-http': { type: 'boolean' },
  'log-level': { type: 'string' },
  'intel-url': { type: 'string' },
  'intel-key': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const HELP = `usage: yamori server --database URL [--port 8443] [--host 127.0.0.1] [--data DIR]
                     [--public-url URL] [--cert-name NAME]… [--insecure-http] [--log-level info]
                     [--intel-url URL --intel-key KEY]

One stateless management server instance. Run several against one PostgreSQL behind a load
balancer; give them the same --data directory contents (tls/) so agents see one CA.`;

export async function serverCommand(args: string[]): Promise<number> {
  const p = parse(args, SERVER_OPTIONS);
  if (!p.ok) return usageError(`${p.error}\n\n${HELP}`);
  if (p.values.help) {
    console.log(HELP);
    return 0;
  }
  const server = await startServer(
    loadConfig(
      {
        dataDir: p.values.data,
        databaseUrl: p.values.database,
        host: p.values.host,
        port: p.values.port,
        publicUrl: p.values['public-url'],
        certNames: p.values['cert-name'],
        insecureHttp: p.values['insecure-http'],
        logLevel: p.values['log-level'],
        intelUrl: p.values['intel-url'],
        intelKey: p.values['intel-key'],
      },
      process.env,
    ),
  );
  announce(server);
  await untilSignal(() => server.close());
  return 0;
}

export function announce(server: RunningServer): void {
  console.log(`Yamori management server: ${server.url}`);
  if (server.caSha256) console.log(`CA fingerprint (sha256): ${server.caSha256}`);
  if (server.firstRun) {
    console.log('');
    console.log(`First start: created tenant "Default" and its owner account.`);
    console.log(`  e-mail:   ${server.firstRun.email}`);
    console.log(`  password: ${server.firstRun.password}   (shown once: change it after logging in)`);
  }
}

/** Runs `close` on SIGINT/SIGTERM, then resolves. */
export function untilSignal(close: () => Promise<void>): Promise<void> {
  return new Promise((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      void close().finally(resolve);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
