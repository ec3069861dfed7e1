import { createHash } from 'node:crypto';
import type { Tlp } from '@yamori/protocol';
import type { ExportRow } from './export-row.ts';

/** STIX 2.1 bundle of indicators with patterns, confidence, validity and TLP 2.0 markings. Pure. */
const TLP2: Record<Tlp, string> = {
  clear: 'marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487',
  green: 'marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb',
  amber: 'marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421',
  'amber+strict': 'marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003',
  red: 'marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1',
};
// UUIDv5 namespace for Yamori indicators (random, fixed): same value → same STIX id in every export.
const NAMESPACE = Buffer.from('5f0c7a2e9b1d4e6f8a3c2b1d0e9f8a7b', 'hex');
const IDENTITY = `identity--${uuid5('yamori-intel')}`;

export function uuid5(name: string): string {
  const h = createHash('sha1').update(NAMESPACE).update(name).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

const quote = (v: string) => `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

export function stixPattern(r: ExportRow): string {
  switch (r.type) {
    case 'sha256':
      return `[file:hashes.'SHA-256' = ${quote(r.value)}]`;
    case 'ip':
      return `[${r.value.includes(':') ? 'ipv6-addr' : 'ipv4-addr'}:value = ${quote(r.value)}]`;
    case 'cidr':
      return `[${r.value.includes(':') ? 'ipv6-addr' : 'ipv4-addr'}:value ISSUBSET ${quote(r.value)}]`;
    case 'domain':
      return `[domain-name:value = ${quote(r.value)}]`;
    case 'url':
      return `[url:value = ${quote(r.value)}]`;
  }
}

export function renderStix(rows: readonly ExportRow[], now: number): string {
  const ts = new Date(now).toISOString();
  const objects: object[] = [
    { type: 'identity', spec_version: '2.1', id: IDENTITY, created: '2026-01-01T00:00:00.000Z', modified: '2026-01-01T00:00:00.000Z', name: 'Yamori threat intelligence', identity_class: 'system' },
  ];
  for (const r of rows) {
    const first = new Date(r.firstSeen).toISOString();
    objects.push({
      type: 'indicator',
      spec_version: '2.1',
      id: `indicator--${uuid5(`${r.type}:${r.value}`)}`,
      created_by_ref: IDENTITY,
      created: first,
      modified: new Date(Math.max(r.lastSeen, r.firstSeen)).toISOString(),
      name: `${r.type} ${r.value}`.slice(0, 250),
      indicator_types: [r.verdict === 'malicious' ? 'malicious-activity' : r.verdict === 'suspicious' ? 'anomalous-activity' : 'benign'],
      pattern: stixPattern(r),
      pattern_type: 'stix',
      pattern_version: '2.1',
      valid_from: first,
      ...(r.expiresAt !== null && r.expiresAt > r.firstSeen ? { valid_until: new Date(r.expiresAt).toISOString() } : {}),
      confidence: r.confidence,
      labels: [`source:${r.source}`],
      object_marking_refs: [TLP2[r.tlp]],
    });
  }
  return JSON.stringify({ type: 'bundle', id: `bundle--${uuid5(`bundle:${ts}:${rows.length}`)}`, objects }, null, 1);
}
