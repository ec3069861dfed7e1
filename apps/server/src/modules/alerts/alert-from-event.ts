import type { DetectionEvent } from '@yamori/protocol';
import type { NewAlert } from './alert-repository.ts';

const LEVEL_BY_ACTION: Record<string, string> = { deny_exec: 'high', kill_process: 'high', kill_tree: 'high', isolate_host: 'critical' };

/**
 * Maps an agent's detection to an alert. The dedup key is "same rule, same host, same program, same
 * outcome": repeats within the tenant's window add to one alert's count instead of flooding the
 * queue, while a change of outcome (monitor's "would have killed" after block mode's kill, or the
 * reverse) opens its own alert.
 */
export function alertFromDetection(e: DetectionEvent, agent: { agentId: string; hostname: string }): NewAlert {
  const exe = e.process?.executable ?? e.file?.path ?? null;
  const sha256 = e.process?.hash?.sha256 ?? e.file?.hash?.sha256 ?? null;
  const action = e.yamori.mode === 'monitor' ? `would_${e.yamori.would_have ?? 'alert'}` : e.yamori.action;
  return {
    agentId: agent.agentId,
    hostname: agent.hostname,
    dedupKey: [e.rule.id, agent.agentId, exe ?? '', sha256 ?? '', action].join('|'),
    ruleId: e.rule.id,
    ruleName: e.rule.name,
    module: e.yamori.module,
    mode: e.yamori.mode,
    action,
    severity: e.rule.level ?? LEVEL_BY_ACTION[e.yamori.action] ?? 'medium',
    processExecutable: exe,
    sha256,
    at: Date.parse(e['@timestamp']),
    event: e,
  };
}
