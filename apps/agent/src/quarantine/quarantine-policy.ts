import type { Policy, Verdict } from '@yamori/protocol';

/**
 * Whether a file with this verdict is quarantined automatically: only malicious files, only
 * when the malware module is in block mode (monitor mode stops nothing) and the policy asks.
 */
export function shouldQuarantine(policy: Pick<Policy, 'modules'>, verdict: Verdict): boolean {
  const m = policy.modules.malware;
  return verdict === 'malicious' && m.mode === 'block' && m.quarantineOnMalicious;
}
