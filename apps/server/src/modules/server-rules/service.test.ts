import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyBaseLogger } from 'fastify';
import type { Kysely } from 'kysely';
import type { AnyEvent } from '@yamori/protocol';
import type { DB } from '../../db-types.ts';
import { createMetrics } from '../../lib/metrics.ts';
import { processEvent } from '../../test-support.ts';
import { createServerRuleEvaluator } from './service.ts';

void test('a failing evaluation is logged and counted, never thrown to the caller that acknowledges the batch', async () => {
  const broken = new Proxy({}, { get: () => () => { throw new Error('database gone'); } }) as unknown as Kysely<DB>;
  const logged: unknown[] = [];
  const log = { error: (o: unknown) => logged.push(o), warn: () => undefined } as unknown as FastifyBaseLogger;
  const metrics = createMetrics();
  const ev = createServerRuleEvaluator({ db: broken, now: () => 0, log, metrics, maxPendingEvents: 1 });
  const agent = { tenantId: 't', agentId: 'a', hostname: 'h' };
  const events = [processEvent(1)] as unknown as AnyEvent[];
  // Within the backlog bound: evaluated after the caller's answer.
  await ev.submit(agent, events);
  assert.equal(logged.length, 0, 'not evaluated before the caller answers');
  await ev.idle();
  assert.equal(logged.length, 1);
  // Over the bound: evaluated before the caller answers, and still does not throw.
  await ev.submit(agent, [...events, ...events]);
  assert.equal(logged.length, 2);
  assert.match(JSON.stringify(logged[0]), /"tenantId":"t".*"agentId":"a"/);
  const m = await metrics.registry.getSingleMetricAsString('yamori_server_rule_batch_seconds');
  assert.match(m, /yamori_server_rule_batch_seconds_count\{result="error"\} 2/);
});
