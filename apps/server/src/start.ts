import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { openDatabase, redact, type Database } from '@yamori/db';
import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.ts';
import { bootstrapFirstRun, type FirstRun } from './bootstrap.ts';
import type { ServerConfig } from './config.ts';
import type { DB } from './db-types.ts';
import { ensureTls } from './lib/tls.ts';
import { serverMigrations } from './migrations/index.ts';
import { createIntelClient } from './modules/intel/intel-client.ts';
import { startIntelFollower } from './modules/intel/intel-follower.ts';

export interface RunningServer {
  url: string;
  port: number;
  caSha256: string | null;
  caPem: string | null;
  firstRun: FirstRun | undefined;
  app: FastifyInstance;
  database: Database<DB>;
  close(): Promise<void>;
}

/**
 * Opens the database (migrating it), makes or loads the TLS material, creates the first tenant
 * on an empty database, and listens. Used by `yamori up`, `yamori server` and the tests.
 */
export async function startServer(config: ServerConfig, opts: { log?: boolean } = {}): Promise<RunningServer> {
  // The database, keys and certificates live here: for the server's account only.
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  chmodSync(config.dataDir, 0o700);
  const database = await openDatabase<DB>({ url: config.databaseUrl, migrations: serverMigrations });
  try {
    const tls = config.tls ? await ensureTls(join(config.dataDir, 'tls'), [...config.certNames, new URL(config.publicUrl).hostname]) : null;
    const firstRun = await bootstrapFirstRun(database.db, Date.now());
    const intel = config.intelUrl && config.intelKey ? createIntelClient({ url: config.intelUrl, key: config.intelKey }) : null;
    const { app, wakeups } = await buildApp({
      intel,
      database,
      config,
      ca: tls ? { pem: tls.caPem, sha256: tls.caSha256 } : null,
      https: tls ? { key: tls.keyPem, cert: tls.certPem } : null,
      logger: opts.log === false ? false : { level: config.logLevel },
    });
    const follower = intel ? startIntelFollower({ db: database.db, wakeups, client: intel, now: Date.now, log: app.log }) : null;
    await app.listen({ host: config.host, port: config.port });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    app.log.info({ database: redact(config.databaseUrl), tls: !!tls }, 'yamori server listening');
    return {
      url: `${tls ? 'https' : 'http'}://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`,
      port,
      caSha256: tls?.caSha256 ?? null,
      caPem: tls?.caPem ?? null,
      firstRun,
      app,
      database,
      close: async () => {
        await follower?.stop();
        await app.close();
        await database.close();
      },
    };
  } catch (e) {
    await database.close();
    throw e;
  }
}
