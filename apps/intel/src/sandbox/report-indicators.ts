import type { IndicatorType, SandboxReport } from '@yamori/protocol';
import type { IndicatorKey, Observation } from '../feeds/prepare-import.ts';
import type { Warninglist } from '../feeds/warninglist.ts';
import { normalise } from '../indicators/normalise.ts';

/**
 * What a sandbox report adds to the shared store: the sample's verdict (source `sandbox`) and the
 * values it touched — contacted domains, IPs, URLs, dropped files — linked to the sample. Those
 * are marked suspicious only when the sample itself was judged bad; warninglisted and invalid
 * values are skipped with the reason. Pure.
 */
export interface ReportIndicators {
  observations: Observation[];
  relations: [IndicatorKey, IndicatorKey][];
  skipped: { value: string; reason: string }[];
  added: number;
}

export function sampleConfidence(report: SandboxReport): number {
  const s = Math.round(report.score);
  // A clean run does not prove a file benign (evasion, missing triggers): cap that confidence.
  const c = report.verdict === 'benign' ? Math.min(60, 100 - s) : s;
  return Math.max(10, Math.min(100, c));
}

export function reportIndicators(sha256: string, report: SandboxReport, warninglist: Warninglist, now: number): ReportIndicators {
  const observations: Observation[] = [];
  const skipped: { value: string; reason: string }[] = [];
  const base = { tlp: 'amber' as const, firstSeen: now, lastSeen: now, expiresAt: null };
  if (report.verdict !== 'unknown') {
    observations.push({ type: 'sha256', value: sha256, verdict: report.verdict, confidence: sampleConfidence(report), ...base });
  }
  const raw: { type: IndicatorType; value: string }[] = [...report.indicators];
  for (const n of report.network) {
    if (n.domain) raw.push({ type: 'domain', value: n.domain });
    if (n.ip) raw.push({ type: 'ip', value: n.ip });
    if (n.url) raw.push({ type: 'url', value: n.url });
  }
  for (const f of report.files) if (f.sha256 && f.op !== 'delete') raw.push({ type: 'sha256', value: f.sha256 });

  const bad = report.verdict === 'malicious' || report.verdict === 'suspicious';
  const seen = new Set<string>([`sha256:${sha256}`]);
  const related: IndicatorKey[] = [];
  for (const r of raw) {
    const n = normalise(r.type, r.value);
    if (!n.ok) {
      skipped.push({ value: r.value.slice(0, 2048), reason: n.reason });
      continue;
    }
    const key = `${n.type}:${n.value}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const why = warninglist.match(n.type, n.value);
    if (why) {
      skipped.push({ value: n.value, reason: why });
      continue;
    }
    related.push({ type: n.type, value: n.value });
    if (bad) {
      observations.push({ type: n.type, value: n.value, verdict: 'suspicious', confidence: report.verdict === 'malicious' ? 60 : 30, ...base });
    }
  }
  const me: IndicatorKey = { type: 'sha256', value: sha256 };
  return {
    observations,
    relations: related.map((k) => [me, k]),
    skipped: skipped.slice(0, 1000),
    added: related.length,
  };
}
