import { join } from 'node:path';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import cookie from '@fastify/cookie';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { TypeBoxValidatorCompiler, registerAjvFormats, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Database } from '@yamori/db';
import { sql } from '@yamori/db';
import type { DB } from './db-types.ts';
import type { ServerConfig } from './config.ts';
import { installErrorHandler } from './lib/errors.ts';
import { createMetrics, type Metrics } from './lib/metrics.ts';
import { systemClock, type Clock } from './lib/time.ts';
import { createWakeupHub, type WakeupHub } from './lib/wakeups.ts';
import { installConsoleAuth, installTenantGuard } from './modules/auth/authenticate.ts';
import { authRoutes } from './modules/auth/routes.ts';
import { tenantRoutes, settingsRoutes } from './modules/tenants/routes.ts';
import { userRoutes, apiTokenRoutes } from './modules/users/routes.ts';
import { enrollmentTokenRoutes, agentEnrollRoutes } from './modules/enrollment/routes.ts';
import { policyRoutes, groupRoutes } from './modules/policies/routes.ts';
import { agentRoutes } from './modules/agents/routes.ts';
import { alertRoutes } from './modules/alerts/routes.ts';
import { auditRoutes } from './modules/audit/routes.ts';
import { eventRoutes } from './modules/events/routes.ts';
import { agentApiRoutes } from './modules/agent-api/routes.ts';
import { verdictRoutes } from './modules/verdicts/routes.ts';
import { huntRoutes } from './modules/hunts/routes.ts';
import { yaraPackRoutes } from './modules/yara/routes.ts';
import { serverRuleRoutes } from './modules/server-rules/routes.ts';
import { createServerRuleEvaluator, type ServerRuleEvaluator } from './modules/server-rules/service.ts';
import type { IntelClient } from './modules/intel/intel-client.ts';
import { createAgentPackages, type AgentPackages } from './modules/distribution/agent-package.ts';
import { distributionRoutes } from './modules/distribution/routes.ts';

export interface AppDeps {
  database: Database<DB>;
  config: ServerConfig;
  /** The CA agents pin; null when running plain HTTP for development. */
  ca: { pem: string; sha256: string } | null;
  now?: Clock;
  logger?: FastifyServerOptions['logger'];
  https?: { key: string; cert: string } | null;
  /** The threat-intelligence service this server asks about unknown files; null when none is configured. */
  intel?: IntelClient | null;
  /** The agent packages `/downloads` serves; default: built from this server's own tree into DATA/agent-packages on first request. */
  agentPackages?: AgentPackages;
}

export interface App {
  app: FastifyInstance;
  /** Every route, as registered (the cross-tenant test walks them all). */
  routes: ReadonlyArray<{ method: string; url: string }>;
  wakeups: WakeupHub;
  metrics: Metrics;
  /** Server-side Sigma evaluation of ingested batches (tests await `idle()`). */
  serverRules: ServerRuleEvaluator;
}

/** Builds the whole server: every domain plugin registered explicitly, so this file shows its shape. */
export async function buildApp(deps: AppDeps): Promise<App> {
  const now = deps.now ?? systemClock;
  const { config } = deps;
  const db = deps.database.db;
  const app = Fastify({
    logger: deps.logger ?? false,
    ...(deps.https ? { https: deps.https } : {}),
    bodyLimit: 1024 * 1024,
    // Long-polls hold requests up to a minute; keep-alive outlives them.
    keepAliveTimeout: (config.maxLongPollS + 15) * 1000,
    requestTimeout: (config.maxLongPollS + 30) * 1000,
    return503OnClosing: true,
  }).withTypeProvider<TypeBoxTypeProvider>();
  // TypeBox validates bodies strictly (no type coercion, unknown fields refused); query strings are converted.
  registerAjvFormats();
  app.setValidatorCompiler(TypeBoxValidatorCompiler);
  const routes: Array<{ method: string; url: string }> = [];
  app.addHook('onRoute', (r) => {
    for (const m of [r.method].flat()) if (m !== 'HEAD') routes.push({ method: m, url: r.url });
  });
  const metrics = createMetrics();
  const wakeups = createWakeupHub(deps.database.notifier);
  app.addHook('onClose', async () => wakeups.close());
  const serverRules = createServerRuleEvaluator({ db, now, log: app.log, metrics });
  // Batches already acknowledged are evaluated before the database goes away.
  app.addHook('onClose', async () => serverRules.idle());
  app.addHook('onResponse', async (req, reply) => {
    metrics.http.observe({ method: req.method, route: req.routeOptions.url ?? 'unknown', status: String(reply.statusCode) }, reply.elapsedTime / 1000);
  });

  installErrorHandler(app);
  await app.register(cookie);
  await app.register(swagger, {
    openapi: {
      info: { title: 'Yamori management server', version: '0.1.0', description: 'Console, automation and agent APIs' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/api/docs' });

  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { hide: true } }, async (_req, reply) => {
    try {
      await sql`select 1`.execute(db);
      return { status: 'ready', database: deps.database.kind };
    } catch (e) {
      return reply.status(503).send({ code: 'unavailable', message: `database unreachable: ${(e as Error).message}` });
    }
  });
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) =>
    reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
  );

  // Agent distribution: the installer and the agent package, unauthenticated (no secrets in either).
  await app.register(distributionRoutes, {
    packages:
      deps.agentPackages ??
      createAgentPackages({ appRoot: join(import.meta.dirname, '..', '..', '..'), nodeBinary: process.execPath, cacheDir: join(config.dataDir, 'agent-packages'), log: app.log }),
  });

  const enrollment = { db, now, publicUrl: config.publicUrl, caSha256: deps.ca?.sha256 ?? null };

  // Agent API: enrollment is open (the token is the credential); the rest needs agent credentials.
  await app.register(
    async (agentApi) => {
      await agentApi.register(agentEnrollRoutes, { ...enrollment, caPem: deps.ca?.pem ?? null });
      await agentApi.register(agentApiRoutes, {
        db,
        intel: deps.intel ?? null,
        now,
        wakeups,
        metrics,
        serverRules,
        maxLongPollS: config.maxLongPollS,
        maxBodyBytes: config.maxBodyBytes,
        maxInflatedBytes: config.maxInflatedBytes,
        agentEventsPerSecond: config.agentEventsPerSecond,
        agentEventsBurst: config.agentEventsBurst,
      });
    },
    { prefix: '/api/agent/v1' },
  );

  // Console and automation API.
  await app.register(
    async (api) => {
      installConsoleAuth(api, db, now);
      await api.register(authRoutes, { prefix: '/auth', db, now, secureCookies: config.tls });
      await api.register(tenantRoutes, { prefix: '/tenants', db, now });
      await api.register(
        async (t) => {
          installTenantGuard(t, db);
          await t.register(settingsRoutes, { prefix: '/settings', now });
          await t.register(userRoutes, { prefix: '/users', db, now });
          await t.register(apiTokenRoutes, { prefix: '/tokens', now });
          await t.register(enrollmentTokenRoutes, { prefix: '/enrollment-tokens', ...enrollment });
          await t.register(groupRoutes, { prefix: '/groups', now, wakeups });
          await t.register(policyRoutes, { prefix: '/policies', now, wakeups });
          await t.register(agentRoutes, { prefix: '/agents', now, wakeups });
          await t.register(alertRoutes, { prefix: '/alerts', now });
          await t.register(eventRoutes, { prefix: '/events' });
          await t.register(auditRoutes, { prefix: '/audit' });
          await t.register(verdictRoutes, { db, now, wakeups });
          await t.register(huntRoutes, { prefix: '/hunts', now });
          await t.register(yaraPackRoutes, { prefix: '/yara-packs', now, wakeups });
          await t.register(serverRuleRoutes, { prefix: '/server-rules', now });
        },
        { prefix: '/tenants/:tenantId' },
      );
    },
    { prefix: '/api/v1' },
  );

  await app.ready();
  return { app, routes, wakeups, metrics, serverRules };
}
