import { mkdirSync } from 'node:fs';
import { pino } from 'pino';
import { buildIntelApp } from './app.ts';
import { loadIntelConfig, type IntelConfig } from './config.ts';
import { openIntelDatabase } from './db/open.ts';
import { runDueFeeds } from './feeds/feed-fetch.ts';
import { loadWarninglist } from './feeds/warninglist-files.ts';
import { runMaintenance } from './maintenance.ts';
import { loadOrCreateSampleKey } from './samples/sample-crypto.ts';

/** Starts the intel service: database, HTTP listener, feed scheduler, upkeep. Returns a stop function. */
export async function startIntelService(config: IntelConfig): Promise<{ url: string; stop(): Promise<void> }> {
  const logger = pino({ level: config.logLevel });
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const warninglist = loadWarninglist(config.warninglistFiles);
  const sampleKey = loadOrCreateSampleKey(config.sampleKeyFile);
  const database = await openIntelDatabase(config.databaseUrl);
  const app = await buildIntelApp({ database, config, sampleKey, warninglist, logger });
  const url = await app.listen({ host: config.host, port: config.port });
  logger.info({ url, database: database.kind, warninglistEntries: warninglist.size }, 'intel service listening');

  const feedDeps = {
    database,
    warninglist,
    now: Date.now,
    defaultTtlMs: config.feedTtlDays === null ? null : config.feedTtlDays * 86_400_000,
    maxBytes: config.maxImportBytes,
  };
  let busy = false;
  const tick = async () => {
    if (busy) return;
    busy = true;
    try {
      const fetched = await runDueFeeds(feedDeps);
      if (Object.keys(fetched).length > 0) logger.info({ feeds: fetched }, 'feeds fetched');
      const upkeep = await runMaintenance(database, Date.now());
      if (upkeep.expired + upkeep.samples + upkeep.blobs > 0) logger.info(upkeep, 'upkeep');
    } catch (e) {
      logger.error({ err: e }, 'scheduler tick failed');
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void tick(), 30_000);
  void tick();
  return {
    url,
    async stop() {
      clearInterval(timer);
      await app.close();
      await database.close();
    },
  };
}

if (import.meta.main) {
  const config = loadIntelConfig({}, process.env);
  const svc = await startIntelService(config);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => void svc.stop().then(() => process.exit(0)));
  }
}
