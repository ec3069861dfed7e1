import type { ExportFormat, ExportQuery, IndicatorType, Tlp, Verdict } from '@yamori/protocol';
import { listForExport, type IntelKysely } from '../indicators/indicator-repository.ts';
import { tlpAtOrBelow } from '../indicators/verdict-combine.ts';
import type { ExportRow } from './export-row.ts';
import { renderList } from './list-export.ts';
import { renderNft } from './nft-export.ts';
import { renderStix } from './stix-export.ts';
import { renderSuricata } from './suricata-export.ts';

/** One export: select by verdict/confidence/TLP, render in the asked format. Shared by the route and the CLI. */
const TYPES: Record<ExportFormat, IndicatorType[]> = {
  stix: ['sha256', 'ip', 'cidr', 'domain', 'url'],
  suricata: ['sha256', 'ip', 'cidr', 'domain', 'url'],
  ip: ['ip', 'cidr'],
  nft: ['ip', 'cidr'],
  domain: ['domain'],
  url: ['url'],
  sha256: ['sha256'],
};

export const CONTENT_TYPES: Record<ExportFormat, string> = {
  stix: 'application/stix+json;version=2.1',
  suricata: 'text/plain; charset=utf-8',
  ip: 'text/plain; charset=utf-8',
  nft: 'text/plain; charset=utf-8',
  domain: 'text/plain; charset=utf-8',
  url: 'text/plain; charset=utf-8',
  sha256: 'text/plain; charset=utf-8',
};

export async function exportIndicators(db: IntelKysely, format: ExportFormat, q: ExportQuery, now: number): Promise<string> {
  const rows = await listForExport(db, {
    types: TYPES[format],
    verdicts: (q.verdict ?? 'malicious').split(',') as Verdict[],
    minConfidence: q.minConfidence ?? 0,
    tlps: tlpAtOrBelow(q.maxTlp ?? 'amber'),
    now,
  });
  const list: ExportRow[] = rows.map((r) => ({
    type: r.type as IndicatorType,
    value: r.value,
    verdict: r.verdict as Verdict,
    confidence: r.confidence,
    source: r.source,
    tlp: r.tlp as Tlp,
    firstSeen: r.first_seen,
    lastSeen: r.last_seen,
    expiresAt: r.expires_at,
  }));
  switch (format) {
    case 'stix':
      return renderStix(list, now);
    case 'suricata':
      return renderSuricata(list, now);
    case 'nft':
      return renderNft(list, now, q.chains ?? false);
    default:
      return renderList(format, list, now, q.stripScheme ?? true);
  }
}
