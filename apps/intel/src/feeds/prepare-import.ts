import type { IndicatorType, Tlp, Verdict } from '@yamori/protocol';
import { normalise } from '../indicators/normalise.ts';
import type { FeedProblem, ParsedFeed } from './feed-item.ts';
import type { Warninglist } from './warninglist.ts';

/**
 * Parsed feed → what to store: values normalised, invalid and warninglisted ones rejected with
 * their reason, duplicates within the file merged, related pairs resolved. Pure.
 */
export interface Observation {
  type: IndicatorType;
  value: string;
  verdict: Verdict;
  confidence: number;
  tlp: Tlp;
  firstSeen: number;
  lastSeen: number;
  expiresAt: number | null;
}

export interface IndicatorKey {
  type: IndicatorType;
  value: string;
}

export interface PreparedImport {
  observations: Observation[];
  relations: [IndicatorKey, IndicatorKey][];
  problems: FeedProblem[];
  total: number;
}

export interface ImportDefaults {
  verdict: Verdict;
  confidence: number;
  tlp: Tlp;
  /** Default lifetime of an indicator without its own expiry (ms), or null for none. */
  ttlMs: number | null;
}

const MAX_GROUP = 50;

export function prepareImport(parsed: ParsedFeed, defaults: ImportDefaults, warninglist: Warninglist, now: number): PreparedImport {
  const problems: FeedProblem[] = [...parsed.problems];
  const byKey = new Map<string, Observation>();
  const groups = new Map<string, IndicatorKey[]>();
  for (const item of parsed.items) {
    const n = normalise(item.type ?? 'domain', item.value);
    if (!n.ok) {
      const unsupported = /hash where sha256 was expected|unsupported URL scheme/.test(n.reason);
      problems.push({ ref: item.ref, kind: unsupported ? 'unsupported' : 'rejected', reason: n.reason, value: item.value.slice(0, 2048) });
      continue;
    }
    const verdict = item.verdict ?? defaults.verdict;
    if (verdict === 'malicious' || verdict === 'suspicious') {
      const why = warninglist.match(n.type, n.value);
      if (why) {
        problems.push({ ref: item.ref, kind: 'rejected', reason: why, value: n.value });
        continue;
      }
    }
    const key = `${n.type}\u0000${n.value}`;
    const firstSeen = Math.min(item.firstSeen ?? now, now);
    const lastSeen = Math.min(Math.max(item.lastSeen ?? now, firstSeen), now);
    const expiresAt = item.expiresAt !== undefined ? item.expiresAt : defaults.ttlMs === null ? null : now + defaults.ttlMs;
    const obs: Observation = {
      type: n.type,
      value: n.value,
      verdict,
      confidence: item.confidence ?? defaults.confidence,
      tlp: item.tlp ?? defaults.tlp,
      firstSeen,
      lastSeen,
      expiresAt,
    };
    const prev = byKey.get(key);
    if (!prev || obs.confidence >= prev.confidence) {
      if (prev) obs.firstSeen = Math.min(prev.firstSeen, obs.firstSeen);
      byKey.set(key, obs);
    }
    if (item.group !== undefined) {
      const g = groups.get(item.group) ?? [];
      if (g.length < MAX_GROUP && !g.some((k) => k.type === n.type && k.value === n.value)) g.push({ type: n.type, value: n.value });
      groups.set(item.group, g);
    }
  }
  const pairs = new Map<string, [IndicatorKey, IndicatorKey]>();
  const addPair = (a: IndicatorKey, b: IndicatorKey) => {
    if (a.type === b.type && a.value === b.value) return;
    const [x, y] = `${a.type}:${a.value}` < `${b.type}:${b.value}` ? [a, b] : [b, a];
    pairs.set(`${x.type}:${x.value}\u0000${y.type}:${y.value}`, [x, y]);
  };
  for (const g of groups.values()) {
    for (let i = 0; i < g.length; i++) for (let j = i + 1; j < g.length; j++) addPair(g[i]!, g[j]!);
  }
  for (const [ga, gb] of parsed.relations) {
    const a = groups.get(ga) ?? [];
    const b = groups.get(gb) ?? [];
    for (const x of a) for (const y of b) addPair(x, y);
  }
  return {
    observations: [...byKey.values()],
    relations: [...pairs.values()],
    problems,
    total: parsed.items.length + parsed.problems.length,
  };
}
