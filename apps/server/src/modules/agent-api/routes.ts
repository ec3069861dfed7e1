import { createGunzip } from 'node:zlib';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Kysely } from 'kysely';
import { Type } from 'typebox';
import {
  CheckinRequest,
  CheckinResponse,
  CommandResult,
  ErrorBody,
  EventBatch,
  EventBatchResponse,
  Id,
  LookupRequest,
  LookupResponse,
  isDetectionEvent,
  isProcessEvent,
  type Verdict,
} from '@yamori/protocol';
import type { DB } from '../../db-types.ts';
import { AppError, NotFoundError, PayloadTooLargeError, RateLimitedError } from '../../lib/errors.ts';
import { agentOf } from '../../lib/request-context.ts';
import type { Clock } from '../../lib/time.ts';
import { createLimiter } from '../../lib/token-bucket.ts';
import type { WakeupHub } from '../../lib/wakeups.ts';
import { inTenantTransaction, scopedRepos } from '../../tenant-scope.ts';
import { alertFromDetection } from '../alerts/alert-from-event.ts';
import { ledgerEntries } from '../ledger/ledger-repository.ts';
import { installAgentAuth } from '../auth/authenticate.ts';
import { createCheckinService } from './checkin-service.ts';
import type { Metrics } from '../../lib/metrics.ts';

export interface AgentApiOptions {
  db: Kysely<DB>;
  now: Clock;
  wakeups: WakeupHub;
  metrics: Metrics;
  maxLongPollS: number;
  maxBodyBytes: number;
  maxInflatedBytes: number;
  agentEventsPerSecond: number;
  agentEventsBurst: number;
}

/** `/api/agent/v1` (authenticated part): check-in long-poll, event ingest, command results, lookups. */
export const agentApiRoutes: FastifyPluginAsyncTypebox<AgentApiOptions> = async (app, opts) => {
  const { db, now, metrics } = opts;
  installAgentAuth(app, db);
  const limiter = createLimiter(opts.agentEventsPerSecond, opts.agentEventsBurst);
  const checkins = createCheckinService({ db, wakeups: opts.wakeups, now, maxWaitS: opts.maxLongPollS });

  // Agents send gzip bodies. The compressed size is capped here and the inflated size by bodyLimit,
  // so a small "zip bomb" cannot make the server inflate without end.
  app.addHook('preParsing', async (req, _reply, payload) => {
    const enc = req.headers['content-encoding'];
    if (!enc || enc === 'identity') return payload;
    if (enc !== 'gzip') throw new AppError('invalid_input', `unsupported content-encoding "${enc}": send gzip or none`);
    const gunzip = createGunzip();
    let encoded = 0;
    payload.on('data', (chunk: Buffer) => {
      encoded += chunk.length;
      (gunzip as unknown as { receivedEncodedLength: number }).receivedEncodedLength = encoded;
      if (encoded > opts.maxBodyBytes) gunzip.destroy(new PayloadTooLargeError(`compressed body over ${opts.maxBodyBytes} bytes: send smaller batches`));
    });
    payload.on('error', (e) => gunzip.destroy(e));
    payload.pipe(gunzip);
    return gunzip;
  });

  app.post(
    '/checkin',
    { schema: { tags: ['agent'], body: CheckinRequest, response: { 200: CheckinResponse, 401: ErrorBody } } },
    async (req, reply) => {
      const abort = new AbortController();
      reply.raw.once('close', () => abort.abort());
      metrics.longPolls.inc();
      try {
        return await checkins.checkin(agentOf(req), req.body, abort.signal);
      } finally {
        metrics.longPolls.dec();
      }
    },
  );

  app.post(
    '/events',
    {
      bodyLimit: opts.maxInflatedBytes,
      schema: { tags: ['agent'], body: EventBatch, response: { 200: EventBatchResponse, 400: ErrorBody, 413: ErrorBody, 429: ErrorBody } },
    },
    async (req) => {
      const agent = agentOf(req);
      const { batchId, events } = req.body;
      const at = now();
      const rl = limiter(agent.agentId, events.length, at);
      if (!rl.ok) {
        metrics.batches.inc({ result: 'rate_limited' });
        throw new RateLimitedError(rl.retryAfterS);
      }
      const detections = events.filter(isDetectionEvent);
      const rows = events.map((e) => ({ ts: Date.parse(e['@timestamp']) || at, dataset: e.event.dataset, data: JSON.stringify(e) }));
      const result = await inTenantTransaction(db, agent.tenantId, async (r) => {
        if (!(await r.events.claimBatch(agent.agentId, batchId, events.length, at))) {
          return { batchId, accepted: await r.events.batchCount(agent.agentId, batchId), duplicate: true, alertsCreated: 0 };
        }
        await r.events.insertMany(agent.agentId, rows);
        // Every program that ran, for retro-hunts when a verdict changes later.
        const execs = events.filter(isProcessEvent).flatMap((e) =>
          e.event.type.includes('start') && e.process.hash?.sha256 && e.process.executable
            ? [{ sha256: e.process.hash.sha256, path: e.process.executable, at: Date.parse(e['@timestamp']) || at }]
            : [],
        );
        if (execs.length) await r.ledger.record(agent.agentId, ledgerEntries(execs));
        let alertsCreated = 0;
        if (detections.length) {
          const windowMs = (await r.settings.get()).alertDedupWindowMinutes * 60_000;
          for (const d of detections) if ((await r.alerts.record(alertFromDetection(d, agent), windowMs)).created) alertsCreated++;
        }
        return { batchId, accepted: events.length, duplicate: false, alertsCreated };
      });
      // Acknowledged only now, after the commit: the agent may drop the batch from its queue.
      metrics.batches.inc({ result: result.duplicate ? 'duplicate' : 'accepted' });
      if (!result.duplicate) metrics.events.inc(result.accepted);
      metrics.alertsCreated.inc(result.alertsCreated);
      return { batchId: result.batchId, accepted: result.accepted, duplicate: result.duplicate };
    },
  );

  app.post(
    '/commands/:commandId/result',
    { schema: { tags: ['agent'], params: Type.Object({ commandId: Id }), body: CommandResult, response: { 204: Type.Null() } } },
    async (req, reply) => {
      const agent = agentOf(req);
      await inTenantTransaction(db, agent.tenantId, async (r) => {
        if (!(await r.commands.complete(agent.agentId, req.params.commandId, req.body.status, req.body.output ?? null, now())))
          throw new NotFoundError('pending command with this id for this agent');
        await r.audit.append({ actor: `agent:${agent.agentId}`, action: `command.${req.body.status}`, target: `command:${req.params.commandId}`, at: now() });
      });
      return reply.status(204).send(null);
    },
  );

  app.post('/lookup', { schema: { tags: ['agent'], body: LookupRequest, response: { 200: LookupResponse } } }, async (req) => {
    const agent = agentOf(req);
    const known = await scopedRepos(db, agent.tenantId).verdicts.latest(req.body.sha256);
    const latest = new Map(known.map((v) => [v.sha256, v]));
    return {
      results: req.body.sha256.map((sha256) => {
        const v = latest.get(sha256);
        return { sha256, verdict: (v?.verdict ?? 'unknown') as Verdict, source: v?.source ?? 'none' };
      }),
    };
  });
};
