import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AgentHealth, HealthEvent, parseWith } from '@yamori/protocol';
import { buildHealth, createResourceSampler, healthEvent } from './health.ts';

void test('sampler: CPU % from cpuUsage deltas over elapsed time', () => {
  let t = 0;
  let used = 0;
  const s = createResourceSampler({ now: () => t, cpuUsage: () => ({ user: used, system: 0 }), rss: () => 50 * 1024 * 1024 });
  t = 1000;
  used = 250_000; // 0.25 s CPU in 1 s
  assert.deepEqual(s.sample(), { cpuPct: 25, rssMb: 50 });
});

void test('buildHealth: schema-valid, clipped, empty problems and shedding left out', () => {
  const h = buildHealth({
    sample: { cpuPct: 3.14159, rssMb: 80.04 },
    queueDepth: 12,
    droppedEvents: 3,
    failOpenDecisions: 1,
    sensors: [{ name: 'fanotify', state: 'active' }],
    shedding: [],
    problems: [undefined, '', 'x'.repeat(3000)],
  });
  parseWith(AgentHealth, h);
  assert.equal(h.cpu_pct, 3.1);
  assert.equal(h.shedding, undefined);
  assert.equal(h.problems?.[0]?.length, 1024);
  parseWith(HealthEvent, healthEvent(h, { id: '0123456789', now: 0 }));
});
