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
  YaraRuleBundle,
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
import type { IntelClient } from '../intel/intel-client.ts';
import type { ServerRuleEvaluator } from '../server-rules/service.ts';
import { uploadDecision } from '@yamori/detection';
import { deployedPolicyForGroup } from '../policies/policy-repository.ts';
import { applyVerdict } from '../verdicts/service.ts';
import { identifyFileType } from '@yamori/detection';
import { createHash } from 'node:crypto';
import { defaultPolicy } from '@yamori/protocol';

export interface AgentApiOptions {
  db: Kysely<DB>;
  /** The threat-intelligence service, when one is configured. */
  intel: IntelClient | null;
  now: Clock;
  wakeups: WakeupHub;
  metrics: Metrics;
  /** The tenants' server rules, run over every committed batch after its ack. */
  serverRules: ServerRuleEvaluator;
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
      // Server rules see the batch only once it is stored, and never hold up or fail the ack.
      if (!result.duplicate) await opts.serverRules.submit(agent, events);
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

  // The tenant's enabled YARA packs with their sources; the agent compiles them itself.
  app.get('/yara-rules', { schema: { tags: ['agent'], response: { 200: YaraRuleBundle } } }, async (req) =>
    scopedRepos(db, agentOf(req).tenantId).yaraPacks.bundle(),
  );

  app.post('/lookup', { schema: { tags: ['agent'], body: LookupRequest, response: { 200: LookupResponse } } }, async (req) => {
    const agent = agentOf(req);
    const known = await scopedRepos(db, agent.tenantId).verdicts.latest(req.body.sha256);
    const latest = new Map<string, { verdict: string; source: string }>(known.map((v) => [v.sha256, v]));
    const unknown = req.body.sha256.filter((h) => !latest.has(h));
    if (unknown.length && opts.intel) {
      try {
        // What intelligence knows becomes a shared verdict: every tenant's agents learn it at once.
        for (const r of await opts.intel.lookup(unknown, 2000)) {
          if (r.verdict === 'unknown') continue;
          latest.set(r.value, { verdict: r.verdict, source: `intel:${r.source}` });
          await applyVerdict(db, opts.wakeups, { sha256: r.value, verdict: r.verdict, source: `intel:${r.source}`, tenantId: null, actor: 'intel', at: now() });
        }
      } catch (e) {
        req.log.warn({ err: e }, 'intelligence lookup failed; answering from local verdicts only');
      }
    }
    return {
      results: req.body.sha256.map((sha256) => {
        const v = latest.get(sha256);
        return { sha256, verdict: (v?.verdict ?? 'unknown') as Verdict, source: v?.source ?? 'none' };
      }),
    };
  });

  // Samples are raw bytes; the metadata travels in headers.
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: 512 * 1024 * 1024 }, (_req, body, done) => done(null, body));

  app.post(
    '/samples',
    {
      bodyLimit: 512 * 1024 * 1024,
      schema: {
        tags: ['agent'],
        headers: Type.Object({ 'x-yamori-sha256': Type.String({ pattern: '^[a-f0-9]{64}$' }), 'x-yamori-path': Type.String({ minLength: 1, maxLength: 4096 }) }),
        response: { 202: Type.Object({ status: Type.String() }), 403: ErrorBody, 503: ErrorBody },
      },
    },
    async (req, reply) => {
      const agent = agentOf(req);
      const bytes = req.body as Buffer;
      if (!Buffer.isBuffer(bytes)) throw new AppError('invalid_input', 'send the sample as application/octet-stream');
      const sha256 = req.headers['x-yamori-sha256'];
      const path = decodeURIComponent(req.headers['x-yamori-path']);
      if (createHash('sha256').update(bytes).digest('hex') !== sha256) throw new AppError('invalid_input', 'x-yamori-sha256 does not match the body');
      const kind = identifyFileType(bytes.subarray(0, 64 * 1024)).kind;
      const policy = (await deployedPolicyForGroup(db, agent.tenantId, agent.groupId))?.document ?? defaultPolicy();
      const decision = uploadDecision(policy.upload, { kind, sizeBytes: bytes.length, path });
      const audit = (action: string, after: unknown) =>
        scopedRepos(db, agent.tenantId).audit.append({ actor: `agent:${agent.agentId}`, action, target: `sha256:${sha256}`, after, at: now() });
      if (!decision.allowed) {
        await audit('sample.upload_refused', { path, kind, size: bytes.length, reason: decision.reason });
        throw new AppError('forbidden', `upload refused: ${decision.reason}`);
      }
      if (!opts.intel || (kind !== 'elf' && kind !== 'script')) {
        const reason = opts.intel ? `the sandbox detonates ELF binaries and scripts only, not ${kind}` : 'no threat-intelligence service is configured on this server';
        await audit('sample.upload_refused', { path, kind, size: bytes.length, reason });
        throw new AppError('unavailable', reason);
      }
      const res = await opts.intel.uploadSample(bytes, { sha256, fileName: path.split('/').pop(), kind });
      if (res.status >= 300) throw new AppError('unavailable', `intelligence refused the sample: HTTP ${res.status} ${res.body.slice(0, 200)}`);
      await audit('sample.uploaded', { path, kind, size: bytes.length });
      return reply.status(202).send({ status: 'queued' });
    },
  );
};
