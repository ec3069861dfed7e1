import type { AnyEvent } from '@yamori/protocol';
import type { SigmaMatch } from '@yamori/detection';
import type { NewAlert } from '../alerts/alert-repository.ts';

/** The alerts' module name for server rules, so the queue can be filtered by it. */
export const SERVER_RULE_MODULE = 'server-rule';

/** Events a server rule looks at: telemetry, not the agents' own detections or health metrics. */
export function evaluable(e: AnyEvent): boolean {
  return e.event.kind === 'event';
}

/**
 * Maps a server-side Sigma match on one ingested event to an alert. Nothing was stopped (the server
 * only sees the event afterwards), so the mode is monitor and the outcome "detected". The dedup key
 * is "same server rule, same host, same program": repeats within the tenant's window add to one
 * alert's count. The stored event is the matched event with the rule and the source beside it.
 */
export function alertFromRuleMatch(m: SigmaMatch, e: AnyEvent, agent: { agentId: string; hostname: string }, at: number): NewAlert {
  const process = 'process' in e ? e.process : undefined;
  const file = 'file' in e ? e.file : undefined;
  // The program that acted, with its own hash; the file when no program is known.
  const exe = process?.executable ?? file?.path ?? null;
  const sha256 = (process?.executable ? process.hash?.sha256 : file?.hash?.sha256) ?? null;
  const seen = Date.parse(e['@timestamp']);
  return {
    agentId: agent.agentId,
    hostname: agent.hostname,
    dedupKey: [SERVER_RULE_MODULE, m.id, agent.agentId, exe ?? '', sha256 ?? ''].join('|'),
    ruleId: m.id,
    ruleName: m.title,
    module: SERVER_RULE_MODULE,
    mode: 'monitor',
    action: 'detected',
    severity: m.level,
    processExecutable: exe,
    sha256,
    at: Number.isFinite(seen) ? seen : at,
    event: {
      ...e,
      event: { ...e.event, kind: 'alert' },
      rule: { id: m.id, name: m.title, level: m.level, tags: m.tags, ruleset: 'server' },
      ...(m.techniques.length ? { threat: { technique: m.techniques.map((id) => ({ id })) } } : {}),
      yamori: { source: 'server_rule', module: SERVER_RULE_MODULE, mode: 'monitor', action: 'none', outcome: 'detected', observed_dataset: e.event.dataset },
    },
  };
}
