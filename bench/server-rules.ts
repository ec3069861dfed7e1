// `npm run bench -- server-rules [--batches 40] [--batch 1000] [--only sqlite|postgres]`
//
// What server-side Sigma evaluation adds to event ingest, in one server process: two tenants, one
// with no server rules and one with every server rule Yamori's pack and the SigmaHQ Linux corpus
// give (about 160), take the same gzip batches of realistic process events through the agent API in
// alternation (so machine noise hits both alike). For each: the time to the ack, and the time until
// the batch's server-rule evaluation is done too. Prints µs/event, the added cost and the ratio.
// Last line: one JSON object.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import { enrollAgent, startHarness } from '../apps/server/src/test-support.ts';
import { sampleEvent, sigmaRuleFiles } from './sample-events.ts';

const { values: args } = parseArgs({
  options: {
    batches: { type: 'string', default: '40' },
    batch: { type: 'string', default: '1000' },
    only: { type: 'string' },
  },
});
const BATCHES = Number(args.batches);
const BATCH = Number(args.batch);

const post = (app: FastifyInstance, auth: string, body: Buffer) =>
  app.inject({ method: 'POST', url: '/api/agent/v1/events', headers: { authorization: auth, 'content-type': 'application/json', 'content-encoding': 'gzip' }, payload: body });

const result: Record<string, number | null> = { server_rules: null, events: BATCHES * BATCH };
for (const kind of ['sqlite', 'postgres'] as const) {
  if (args.only && args.only !== kind) continue;
  const h = await startHarness(kind);
  try {
    const plain = { tenantId: h.tenantId, agent: await enrollAgent(h, h.owner, h.tenantId) };
    const B = ((await h.owner.request('POST', '/api/v1/tenants', { name: 'With server rules' })).json() as { id: string }).id;
    let rules = 0;
    for (const f of sigmaRuleFiles()) if ((await h.owner.request('POST', `/api/v1/tenants/${B}/server-rules`, { source: readFileSync(f, 'utf8') })).statusCode === 201) rules++;
    const ruled = { tenantId: B, agent: await enrollAgent(h, h.owner, B) };
    result['server_rules'] = rules;
    const bodies = Array.from({ length: BATCHES + 2 }, (_, b) => Array.from({ length: BATCH }, (_, i) => sampleEvent(b * BATCH + i)));
    const gz = (events: unknown[]) => gzipSync(JSON.stringify({ batchId: randomUUID(), events }));
    const time = { plain: { ack: 0, done: 0 }, ruled: { ack: 0, done: 0 } };
    for (const [b, events] of bodies.entries()) {
      for (const [name, t] of [['plain', plain], ['ruled', ruled]] as const) {
        const body = gz(events);
        const t0 = performance.now();
        const res = await post(h.app, t.agent.auth, body);
        const t1 = performance.now();
        await h.serverRules.idle();
        const t2 = performance.now();
        if (res.statusCode !== 200) throw new Error(`events: ${res.statusCode} ${res.body}`);
        // The first two rounds warm up (JIT, the engine compiled once for the tenant).
        if (b >= 2) {
          time[name].ack += t1 - t0;
          time[name].done += t2 - t0;
        }
      }
    }
    const perEvent = (ms: number) => (ms * 1000) / (BATCHES * BATCH);
    const p = { ack: perEvent(time.plain.ack), done: perEvent(time.plain.done) };
    const r = { ack: perEvent(time.ruled.ack), done: perEvent(time.ruled.done) };
    const alerts = ((await h.owner.request('GET', `/api/v1/tenants/${B}/alerts?module=server-rule&limit=200`)).json() as { items: Array<{ count: number }> }).items;
    console.log(`${kind}: ${BATCHES} batches of ${BATCH} process events per tenant; ${rules} server rules in one tenant, none in the other`);
    console.log(`${kind}: no rules: ${p.ack.toFixed(1)} µs/event to the ack, ${p.done.toFixed(1)} µs/event all done`);
    console.log(`${kind}: ${rules} rules: ${r.ack.toFixed(1)} µs/event to the ack, ${r.done.toFixed(1)} µs/event with evaluation (${alerts.length} alerts, ${alerts.reduce((n, a) => n + a.count, 0)} matches)`);
    console.log(`${kind}: server rules add ${(r.done - p.done).toFixed(1)} µs/event; ingest cost ratio ${(r.done / p.done).toFixed(2)}; ack ratio ${(r.ack / p.ack).toFixed(2)}`);
    result[`${kind}_us_per_event_no_rules`] = Number(p.done.toFixed(2));
    result[`${kind}_us_per_event_rules`] = Number(r.done.toFixed(2));
    result[`${kind}_added_us_per_event`] = Number((r.done - p.done).toFixed(2));
    result[`${kind}_ratio`] = Number((r.done / p.done).toFixed(3));
    result[`${kind}_ack_ratio`] = Number((r.ack / p.ack).toFixed(3));
  } finally {
    await h.close();
  }
}
console.log(JSON.stringify(result));
