import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import { TypeBoxValidatorCompiler, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Database } from '@yamori/db';
import { createAuthenticator } from './auth.ts';
import type { IntelConfig } from './config.ts';
import type { IntelDb } from './db/schema.ts';
import { installErrorHandler } from './errors.ts';
import { exportRoutes } from './exports/routes.ts';
import { feedRoutes } from './feeds/routes.ts';
import type { Warninglist } from './feeds/warninglist.ts';
import { headSeq } from './indicators/indicator-repository.ts';
import { indicatorRoutes } from './indicators/routes.ts';
import { orgRoutes } from './orgs/routes.ts';
import { sampleRoutes } from './samples/routes.ts';
import { sandboxRoutes } from './sandbox/routes.ts';

/** Everything the intel service needs, built by main.ts (or a test) and passed in. */
export interface IntelAppDeps {
  database: Database<IntelDb>;
  config: IntelConfig;
  sampleKey: Buffer;
  warninglist: Warninglist;
  now?: () => number;
  fetch?: typeof fetch;
  /** A pino logger; none: silent. */
  logger?: FastifyBaseLogger;
  /** How often a waiting sandbox claim re-checks for expired leases (ms). */
  claimPollMs?: number;
}

export const API_PREFIX = '/api/intel/v1';

export async function buildIntelApp(deps: IntelAppDeps): Promise<FastifyInstance> {
  const { database, config, warninglist } = deps;
  const now = deps.now ?? Date.now;
  const app = Fastify({ ...(deps.logger ? { loggerInstance: deps.logger } : { logger: false }), bodyLimit: 32 * 1024 * 1024 }).withTypeProvider<TypeBoxTypeProvider>();
  app.setValidatorCompiler(TypeBoxValidatorCompiler);
  installErrorHandler(app);

  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'yamori_intel_' });
  const lookups = new Counter({ name: 'yamori_intel_lookups_total', help: 'Values looked up', registers: [registry] });
  const reports = new Counter({ name: 'yamori_intel_sandbox_reports_total', help: 'Sandbox reports received', registers: [registry] });
  new Gauge({
    name: 'yamori_intel_change_seq',
    help: 'Latest change-feed sequence number',
    registers: [registry],
    async collect() {
      this.set(await headSeq(database.db));
    },
  });

  await app.register(swagger, {
    openapi: { info: { title: 'Yamori threat intelligence API', version: '1' }, components: { securitySchemes: { key: { type: 'http', scheme: 'bearer' } } } },
  });

  const auth = createAuthenticator({ db: database.db, adminKey: config.adminKey, now });
  const importDeps = {
    database,
    warninglist,
    now,
    defaultTtlMs: config.feedTtlDays === null ? null : config.feedTtlDays * 86_400_000,
    maxBytes: config.maxImportBytes,
    ...(deps.fetch ? { fetch: deps.fetch } : {}),
  };

  await app.register(indicatorRoutes, { prefix: API_PREFIX, database, auth, now, maxLongPollS: config.maxLongPollS, lookups });
  await app.register(feedRoutes, { prefix: `${API_PREFIX}/feeds`, auth, ...importDeps });
  await app.register(exportRoutes, { prefix: `${API_PREFIX}/export`, database, auth, now });
  await app.register(sampleRoutes, {
    prefix: `${API_PREFIX}/samples`,
    auth,
    database,
    sampleKey: deps.sampleKey,
    maxSampleBytes: config.maxSampleBytes,
    retentionMs: config.sampleRetentionDays * 86_400_000,
    now,
  });
  await app.register(sandboxRoutes, {
    prefix: `${API_PREFIX}/sandbox`,
    auth,
    database,
    sampleKey: deps.sampleKey,
    warninglist,
    leaseMs: config.sandboxLeaseS * 1000,
    maxAttempts: config.sandboxMaxAttempts,
    jobTimeoutS: config.sandboxJobTimeoutS,
    now,
    reports,
    ...(deps.claimPollMs !== undefined ? { pollMs: deps.claimPollMs } : {}),
  });
  await app.register(orgRoutes, { prefix: API_PREFIX, db: database.db, auth, now });

  app.get('/healthz', async () => ({ ok: true }));
  app.get('/metrics', async (_req, reply) => reply.type(registry.contentType).send(await registry.metrics()));
  app.get(`${API_PREFIX}/openapi.json`, async () => app.swagger());
  await app.ready();
  return app;
}
