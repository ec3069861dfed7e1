// Combines what is known about a file into one verdict with a 0–100 score and the reasons.
//
// Order of precedence (first that applies decides):
//   1. blocklisted hash                      → malicious, 100
//   2. allowlisted hash                      → benign, 0
//   3. package-owned and digest matches      → benign, 0 (findings are kept as reasons, unweighted)
//   4. otherwise the score: sum of finding weights (+ a modified-package penalty) + the anomaly
//      contribution, capped at 100:
//        ≥ MALICIOUS_SCORE with ≥ MALICIOUS_MIN_STRONG high/critical findings → malicious
//        ≥ SUSPICIOUS_SCORE                                                   → suspicious
//        else                                                                 → unknown
// Static analysis alone never makes a file `benign`: absence of findings is not evidence of
// goodness. `Verdict` is the protocol's ('benign' is what the brief calls "clean").
import type { Verdict } from '@yamori/protocol';
import type { Finding } from './finding.ts';

export const SUSPICIOUS_SCORE = 40;
export const MALICIOUS_SCORE = 90;
/** High/critical findings needed, besides the score, for static analysis to say malicious. */
export const MALICIOUS_MIN_STRONG = 2;
/** Points of a package-owned file whose digest differs from the package's: a modified system binary. */
export const PACKAGE_MODIFIED_WEIGHT = 35;
/** Anomaly scores at or below this add nothing; 1.0 adds ANOMALY_MAX_WEIGHT (linear in between). */
export const ANOMALY_FLOOR = 0.5;
/** Most points the anomaly model can add: on its own it cannot make a file suspicious. */
export const ANOMALY_MAX_WEIGHT = 25;

export interface FileTrust {
  /** The hash is on a blocklist (intel, tenant list). */
  blocklist?: { source: string };
  /** The hash is on an allowlist (tenant exclusion, known-good set). */
  allowlist?: { source: string };
  /** The path belongs to an installed package; digestMatches: the package database's digest equals the file's. */
  package?: { name: string; digestMatches: boolean };
}

export interface AnomalyResult {
  /** 0 = typical of benign files, 1 = far from everything the model saw. */
  score: number;
  model: string;
}

export interface VerdictInput {
  trust?: FileTrust;
  findings: readonly Finding[];
  anomaly?: AnomalyResult;
}

export interface Reason {
  id: string;
  weight: number;
  message: string;
  evidence?: string;
}

export interface FileVerdict {
  verdict: Verdict;
  score: number;
  /** Highest weight first; what the console shows under the verdict. */
  reasons: Reason[];
}

const toReason = (f: Finding): Reason => {
  const r: Reason = { id: f.id, weight: f.weight, message: f.message };
  if (f.evidence !== undefined) r.evidence = f.evidence;
  return r;
};

export function decideVerdict(input: VerdictInput): FileVerdict {
  const { trust = {}, findings, anomaly } = input;
  const reasons = [...findings].sort((a, b) => b.weight - a.weight).map(toReason);
  if (trust.blocklist) {
    const r: Reason[] = [{ id: 'trust.blocklist', weight: 100, message: `The file's hash is on a blocklist (${trust.blocklist.source}).` }];
    if (trust.allowlist) r.push({ id: 'trust.allowlist.ignored', weight: 0, message: `Also allowlisted (${trust.allowlist.source}); the blocklist wins.` });
    return { verdict: 'malicious', score: 100, reasons: [...r, ...reasons] };
  }
  if (trust.allowlist) {
    return { verdict: 'benign', score: 0, reasons: [{ id: 'trust.allowlist', weight: 0, message: `The file's hash is allowlisted (${trust.allowlist.source}).` }, ...reasons.map((r) => ({ ...r, weight: 0 }))] };
  }
  if (trust.package?.digestMatches) {
    return { verdict: 'benign', score: 0, reasons: [{ id: 'trust.package', weight: 0, message: `Installed by package ${trust.package.name} and unmodified.` }, ...reasons.map((r) => ({ ...r, weight: 0 }))] };
  }
  const extra: Reason[] = [];
  if (trust.package && !trust.package.digestMatches) {
    extra.push({ id: 'trust.package.modified', weight: PACKAGE_MODIFIED_WEIGHT, message: `Belongs to package ${trust.package.name} but differs from the packaged file: a replaced or patched system binary.` });
  }
  if (anomaly) {
    const w = Math.round(Math.max(0, Math.min(1, (anomaly.score - ANOMALY_FLOOR) / (1 - ANOMALY_FLOOR))) * ANOMALY_MAX_WEIGHT);
    if (w > 0) extra.push({ id: 'anomaly', weight: w, message: `Unlike the benign programs the model (${anomaly.model}) was trained on.`, evidence: `anomaly score ${anomaly.score.toFixed(2)}` });
  }
  const all = [...extra, ...reasons].sort((a, b) => b.weight - a.weight);
  const score = Math.min(100, Math.round(all.reduce((s, r) => s + Math.max(0, r.weight), 0)));
  const strong = findings.filter((f) => f.severity === 'high' || f.severity === 'critical').length;
  const verdict: Verdict = score >= MALICIOUS_SCORE && strong >= MALICIOUS_MIN_STRONG ? 'malicious' : score >= SUSPICIOUS_SCORE ? 'suspicious' : 'unknown';
  return { verdict, score, reasons: all };
}
