import type { AgentHealth, HealthEvent, SensorState } from '@yamori/protocol';
import type { ResourceSample } from './watchdog.ts';

/**
 * The agent's own health: CPU % and RSS of this process, queue depth, dropped events, sensor
 * states, what the watchdog sheds, and problems worth an operator's attention. The sampler is a
 * thin shell over process.cpuUsage/memoryUsage; `buildHealth` is pure.
 */
export interface ResourceSamplerDeps {
  cpuUsage?: () => NodeJS.CpuUsage;
  rss?: () => number;
  now: () => number;
}

export interface ResourceSampler {
  /** CPU % (of one core) since the previous sample, and current RSS in MB. */
  sample(): ResourceSample;
}

export function createResourceSampler(deps: ResourceSamplerDeps): ResourceSampler {
  const cpu = deps.cpuUsage ?? (() => process.cpuUsage());
  const rss = deps.rss ?? (() => process.memoryUsage.rss());
  let prevCpu = cpu();
  let prevAt = deps.now();
  return {
    sample() {
      const c = cpu();
      const at = deps.now();
      const usedUs = c.user - prevCpu.user + (c.system - prevCpu.system);
      const elapsedUs = Math.max(1, (at - prevAt) * 1000);
      prevCpu = c;
      prevAt = at;
      return { cpuPct: Math.max(0, (usedUs / elapsedUs) * 100), rssMb: rss() / (1024 * 1024) };
    },
  };
}

export interface HealthInputs {
  sample: ResourceSample;
  queueDepth: number;
  droppedEvents: number;
  failOpenDecisions: number;
  sensors: readonly SensorState[];
  shedding: readonly string[];
  problems: readonly (string | undefined)[];
}

const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

export function buildHealth(i: HealthInputs): AgentHealth {
  const problems = i.problems.filter((p): p is string => typeof p === 'string' && p.length > 0).slice(0, 32).map((p) => clip(p, 1024));
  return {
    cpu_pct: Math.round(Math.max(0, i.sample.cpuPct) * 10) / 10,
    rss_mb: Math.round(Math.max(0, i.sample.rssMb) * 10) / 10,
    queue_depth: Math.max(0, Math.trunc(i.queueDepth)),
    dropped_events: Math.max(0, Math.trunc(i.droppedEvents)),
    fail_open_decisions: Math.max(0, Math.trunc(i.failOpenDecisions)),
    sensors: i.sensors.slice(0, 32).map((s) => ({
      name: clip(s.name, 64),
      state: s.state,
      ...(s.reason !== undefined ? { reason: clip(s.reason, 1024) } : {}),
    })),
    ...(i.shedding.length > 0 ? { shedding: i.shedding.slice(0, 16).map((s) => clip(s, 64)) } : {}),
    ...(problems.length > 0 ? { problems } : {}),
  };
}

export function healthEvent(health: AgentHealth, ctx: { id: string; now: number }): HealthEvent {
  return {
    '@timestamp': new Date(ctx.now).toISOString(),
    event: { id: ctx.id, dataset: 'yamori.health', kind: 'metric', category: ['host'], type: ['info'], action: 'agent_health' },
    yamori: { health },
  };
}
