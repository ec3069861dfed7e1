import type { IndicatorType, Tlp, Verdict } from '@yamori/protocol';

/**
 * What a feed parser hands on: raw values with where they came from (`ref`), before
 * normalisation and warninglisting. Items sharing a `group` (one STIX indicator, one MISP object)
 * are related to each other; `relations` link groups (STIX relationships). Pure data.
 */
export interface FeedItem {
  ref: string;
  /** Undefined: detect from the value. */
  type: IndicatorType | undefined;
  value: string;
  verdict?: Verdict;
  confidence?: number;
  tlp?: Tlp;
  firstSeen?: number;
  lastSeen?: number;
  expiresAt?: number | null;
  group?: string;
}

export type ProblemKind = 'rejected' | 'unsupported' | 'skipped';

export interface FeedProblem {
  ref: string;
  kind: ProblemKind;
  reason: string;
  value?: string;
}

export interface ParsedFeed {
  items: FeedItem[];
  problems: FeedProblem[];
  relations: [string, string][];
}

/** A whole file that is not in the announced format: nothing is imported. */
export class FeedFormatError extends Error {}

export function parseTime(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v > 1e11 ? v : v * 1000;
  if (typeof v !== 'string' || v.trim() === '') return undefined;
  const s = v.trim();
  if (/^[0-9]{9,10}$/.test(s)) return Number(s) * 1000;
  // "2024-05-01 12:00:00" (abuse.ch) is UTC.
  const iso = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}(:\d{2})?$/.test(s) ? `${s.replace(' ', 'T')}Z` : s;
  const t = Date.parse(iso);
  return Number.isFinite(t) ? t : undefined;
}
