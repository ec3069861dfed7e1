import type { ExportRow } from './export-row.ts';

/**
 * Plain one-per-line lists as firewall "external threat feed" features read them (FortiGate
 * external connectors, Palo Alto EDL, OPNsense/pfSense aliases): IPs and CIDRs; domains; URLs
 * (without scheme by default, as EDL and FortiGate URL lists expect); sha256 (Suricata's
 * `filesha256` list file). A `#` header line says what and when. Pure.
 */
export function renderList(kind: 'ip' | 'domain' | 'url' | 'sha256', rows: readonly ExportRow[], now: number, stripScheme = true): string {
  const want = kind === 'ip' ? ['ip', 'cidr'] : [kind];
  const values = new Set<string>();
  for (const r of rows) {
    if (!want.includes(r.type)) continue;
    values.add(kind === 'url' && stripScheme ? r.value.replace(/^[a-z]+:\/\//, '') : r.value);
  }
  const head = kind === 'sha256' ? '' : `# Yamori ${kind} blocklist, ${values.size} entries, ${new Date(now).toISOString()}\n`;
  return head + [...values].sort().join('\n') + (values.size ? '\n' : '');
}
