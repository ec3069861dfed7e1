import type { IndicatorType, IntelLookupRequest, IntelLookupResponse, Verdict } from '@yamori/protocol';
import type { IndicatorKey } from '../feeds/prepare-import.ts';
import { cidrPrefixes, findIndicators, type IntelKysely, type LookupRow } from './indicator-repository.ts';
import type { KnownFilter } from './known-filter.ts';
import { containingCidrs, normalise, parentDomains, urlHost } from './normalise.ts';

/**
 * Batched lookups. Each value is normalised, then matched most specific first: the value itself;
 * for an IP, every stored CIDR that contains it (longest prefix first); for a domain, its parent
 * domains; for a URL, its host (as domain or IP) the same way. The first live verdict wins.
 */
export function candidatesFor(type: IndicatorType, value: string, prefixes: { v4: number[]; v6: number[] }): IndicatorKey[] {
  const out: IndicatorKey[] = [{ type, value }];
  const ipCandidates = (ip: string) => {
    const list = ip.includes(':') ? prefixes.v6 : prefixes.v4;
    const sorted = [...list].sort((a, b) => b - a);
    return containingCidrs(ip, sorted).map((v) => ({ type: 'cidr' as const, value: v }));
  };
  if (type === 'ip') out.push(...ipCandidates(value));
  if (type === 'domain') out.push(...parentDomains(value).map((v) => ({ type: 'domain' as const, value: v })));
  if (type === 'url') {
    const host = urlHost(value);
    if (host) {
      out.push(host);
      if (host.type === 'ip') out.push(...ipCandidates(host.value));
      else out.push(...parentDomains(host.value).map((v) => ({ type: 'domain' as const, value: v })));
    }
  }
  return out;
}

export function isLive(row: LookupRow, now: number): boolean {
  return row.verdict !== 'unknown' && (row.expires_at === null || row.expires_at > now);
}

/** `known`, when given, skips the database for values that certainly have no verdict. */
export async function lookup(db: IntelKysely, req: IntelLookupRequest, now: number, known?: KnownFilter): Promise<IntelLookupResponse> {
  const needsPrefixes = req.items.some((i) => i.type === 'ip' || i.type === 'url');
  const prefixes = needsPrefixes ? await cidrPrefixes(db) : { v4: [], v6: [] };
  const perItem: (IndicatorKey[] | undefined)[] = req.items.map((i) => {
    const n = normalise(i.type, i.value);
    return n.ok ? candidatesFor(n.type, n.value, prefixes) : undefined;
  });
  const wanted = perItem.flatMap((c) => c ?? []);
  const rows = await findIndicators(db, known ? wanted.filter((k) => known.mightContain(k.type, k.value)) : wanted);
  return {
    results: req.items.map((item, idx) => {
      const cands = perItem[idx];
      if (!cands) return { type: item.type, value: item.value, verdict: 'unknown' as Verdict, confidence: 0, source: 'invalid' };
      for (const c of cands) {
        const row = rows.get(`${c.type}\u0000${c.value}`);
        if (row && isLive(row, now)) {
          return { type: item.type, value: item.value, verdict: row.verdict as Verdict, confidence: row.confidence, source: row.source };
        }
      }
      return { type: item.type, value: item.value, verdict: 'unknown' as Verdict, confidence: 0, source: '' };
    }),
  };
}
