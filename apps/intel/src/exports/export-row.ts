import type { IndicatorType, Tlp, Verdict } from '@yamori/protocol';

/** What every export renderer reads (one combined indicator). */
export interface ExportRow {
  type: IndicatorType;
  value: string;
  verdict: Verdict;
  confidence: number;
  source: string;
  tlp: Tlp;
  firstSeen: number;
  lastSeen: number;
  expiresAt: number | null;
}
