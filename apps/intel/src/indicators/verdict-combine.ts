import type { Tlp, Verdict } from '@yamori/protocol';

/**
 * One verdict from many sources. Each source asserts a verdict with a confidence; the source's
 * trust weight (0…1) scales it. Per verdict class the weighted support is summed; the class with
 * the most support wins (ties go to the more severe verdict: a security product errs toward
 * blocking). The combined confidence is the noisy-OR of the winners' weighted confidences,
 * discounted by the share of support that disagreed. `unknown` assertions and expired ones carry
 * no weight. Pure: time comes in as `now`.
 */
export interface Assertion {
  source: string;
  verdict: Verdict;
  confidence: number;
  tlp: Tlp;
  expiresAt: number | null;
}

export interface Combined {
  verdict: Verdict;
  confidence: number;
  source: string;
  tlp: Tlp;
  /** When the combined verdict lapses (the latest expiry among the winning assertions; null = never). */
  expiresAt: number | null;
}

const SEVERITY: Record<Verdict, number> = { malicious: 3, suspicious: 2, benign: 1, unknown: 0 };
const TLP_ORDER: readonly Tlp[] = ['clear', 'green', 'amber', 'amber+strict', 'red'];

export const UNKNOWN: Combined = { verdict: 'unknown', confidence: 0, source: '', tlp: 'clear', expiresAt: null };

export function combineVerdicts(
  assertions: readonly Assertion[],
  trustOf: (source: string) => number,
  now: number,
): Combined {
  const support = new Map<Verdict, { sum: number; miss: number; best: number; source: string; expires: number | null; tlp: Tlp }>();
  let total = 0;
  for (const a of assertions) {
    if (a.verdict === 'unknown') continue;
    if (a.expiresAt !== null && a.expiresAt <= now) continue;
    const w = clamp01(trustOf(a.source)) * (clamp(a.confidence, 0, 100) / 100);
    if (w <= 0) continue;
    total += w;
    let s = support.get(a.verdict);
    if (!s) {
      s = { sum: 0, miss: 1, best: -1, source: a.source, expires: a.expiresAt, tlp: a.tlp };
      support.set(a.verdict, s);
    } else {
      s.expires = s.expires === null || a.expiresAt === null ? null : Math.max(s.expires, a.expiresAt);
      // The strictest marking among the supporting sources governs the combined indicator.
      if (TLP_ORDER.indexOf(a.tlp) > TLP_ORDER.indexOf(s.tlp)) s.tlp = a.tlp;
    }
    s.sum += w;
    s.miss *= 1 - w;
    if (w > s.best || (w === s.best && a.source < s.source)) {
      s.best = w;
      s.source = a.source;
    }
  }
  let winner: Verdict | undefined;
  for (const [v, s] of support) {
    const cur = winner ? support.get(winner) : undefined;
    if (!cur || s.sum > cur.sum + 1e-9 || (Math.abs(s.sum - cur.sum) <= 1e-9 && SEVERITY[v] > SEVERITY[winner!])) winner = v;
  }
  if (!winner) return UNKNOWN;
  const s = support.get(winner)!;
  const confidence = Math.round(100 * (1 - s.miss) * (s.sum / total));
  return { verdict: winner, confidence: clamp(confidence, 1, 100), source: s.source, tlp: s.tlp, expiresAt: s.expires };
}

export function tlpAllows(tlp: Tlp, max: Tlp): boolean {
  return TLP_ORDER.indexOf(tlp) <= TLP_ORDER.indexOf(max);
}

export function tlpAtOrBelow(max: Tlp): Tlp[] {
  return TLP_ORDER.slice(0, TLP_ORDER.indexOf(max) + 1);
}

function clamp(n: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, n));
}
function clamp01(n: number): number {
  return Number.isFinite(n) ? clamp(n, 0, 1) : 0;
}
