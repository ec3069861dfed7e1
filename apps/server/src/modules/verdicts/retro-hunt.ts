import type { Policy } from '@yamori/protocol';
import type { NewAlert } from '../alerts/alert-repository.ts';

export interface LedgerRow {
  agent_id: string;
  sha256: string;
  path: string;
  first_seen: number;
  last_seen: number;
  count: number;
}

export interface RetroHuntAction {
  alert: NewAlert;
  /** A quarantine order for the host, when its policy blocks malware and quarantines malicious files. */
  quarantine: { sha256: string; paths: string[] } | null;
}

/**
 * What a file turning malicious means for one host that ran it: one alert saying when and how
 * often it ran, and, where the host's policy says so, an order to quarantine every copy it ran.
 */
export function retroHuntForHost(
  rows: readonly LedgerRow[],
  host: { agentId: string; hostname: string; policy: Policy | undefined },
  verdict: { sha256: string; source: string; at: number },
): RetroHuntAction {
  const first = Math.min(...rows.map((r) => r.first_seen));
  const last = Math.max(...rows.map((r) => r.last_seen));
  const runs = rows.reduce((n, r) => n + r.count, 0);
  const paths = [...new Set(rows.map((r) => r.path))].sort();
  const malware = host.policy?.modules.malware;
  const mode = malware?.mode === 'block' ? 'block' : 'monitor';
  const quarantine = mode === 'block' && malware?.quarantineOnMalicious ? { sha256: verdict.sha256, paths } : null;
  const message = `ran ${runs} time(s) between ${new Date(first).toISOString()} and ${new Date(last).toISOString()} as ${paths.join(', ')}; now malicious per ${verdict.source}`;
  const event = {
    '@timestamp': new Date(verdict.at).toISOString(),
    event: { dataset: 'yamori.alert', kind: 'alert', category: ['malware'], type: ['info'], action: 'retro_hunt' },
    rule: { id: 'yamori.retrohunt.malicious', name: 'Previously executed file is now known malicious', level: 'high', description: message },
    yamori: { module: 'malware', mode, action: quarantine ? 'quarantine_file' : 'alert', reasons: [message] },
    file: { path: paths[0] ?? '', hash: { sha256: verdict.sha256 } },
  };
  return {
    alert: {
      agentId: host.agentId,
      hostname: host.hostname,
      dedupKey: `retrohunt|${host.agentId}|${verdict.sha256}`,
      ruleId: 'yamori.retrohunt.malicious',
      ruleName: 'Previously executed file is now known malicious',
      module: 'malware',
      mode,
      action: quarantine ? 'quarantine_file' : 'alert',
      severity: 'high',
      processExecutable: paths[0] ?? null,
      sha256: verdict.sha256,
      at: verdict.at,
      event,
    },
    quarantine,
  };
}
