import type { ExportRow } from './export-row.ts';

/**
 * Suricata rules for what Suricata matches cleanly: IPs/CIDRs (ip rules, both directions), domains
 * (dns.query and tls.sni, the domain and its subdomains via dotprefix), URLs (http.host +
 * http.uri), file hashes through a `filesha256` list file (`/export/sha256`, saved as
 * yamori-sha256.list next to the rules). sids are stable per value. Pure.
 */
export const SHA256_LIST_FILE = 'yamori-sha256.list';
const SID_BASE = 3_100_000_000;

function sidFor(key: string, used: Set<number>): number {
  // FNV-1a over the key, into a 100M range; collisions step to the next free sid.
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  let sid = SID_BASE + (h % 100_000_000);
  while (used.has(sid)) sid++;
  used.add(sid);
  return sid;
}

/** Content strings: `"`, `;`, `\`, `|` and control bytes go in |hex| form. */
export function suricataContent(s: string): string {
  let out = '';
  for (const ch of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(ch);
    if (ch < 0x20 || ch > 0x7e || c === '"' || c === ';' || c === '\\' || c === '|') out += `|${ch.toString(16).padStart(2, '0').toUpperCase()}|`;
    else out += c;
  }
  return out;
}

const msgSafe = (s: string) => s.replace(/[";\\|]/g, '_').slice(0, 200);

export function renderSuricata(rows: readonly ExportRow[], now: number): string {
  const used = new Set<number>();
  const lines: string[] = [`# Yamori intel rules, ${rows.length} indicators, ${new Date(now).toISOString()}`];
  let hashes = 0;
  for (const r of rows) {
    const meta = `metadata:yamori_verdict ${r.verdict}, yamori_confidence ${r.confidence}; classtype:trojan-activity`;
    const msg = (what: string) => `msg:"YAMORI ${r.verdict} ${what} ${msgSafe(r.value)}"`;
    const sid = (suffix: string) => `sid:${sidFor(`${r.type}:${r.value}:${suffix}`, used)}; rev:1;`;
    switch (r.type) {
      case 'ip':
      case 'cidr':
        lines.push(`alert ip any any -> ${r.value} any (${msg('traffic to')}; ${meta}; ${sid('dst')})`);
        lines.push(`alert ip ${r.value} any -> any any (${msg('traffic from')}; ${meta}; ${sid('src')})`);
        break;
      case 'domain': {
        const c = suricataContent(`.${r.value}`);
        lines.push(`alert dns any any -> any any (${msg('DNS query for')}; dns.query; dotprefix; content:"${c}"; nocase; endswith; ${meta}; ${sid('dns')})`);
        lines.push(`alert tls any any -> any any (${msg('TLS SNI')}; tls.sni; dotprefix; content:"${c}"; nocase; endswith; ${meta}; ${sid('sni')})`);
        break;
      }
      case 'url': {
        let u: URL;
        try {
          u = new URL(r.value);
        } catch {
          break;
        }
        if (u.protocol !== 'http:') break; // https URLs are encrypted: the domain/IP rules cover them
        const path = `${u.pathname}${u.search}`;
        const host = u.hostname.replace(/^\[|\]$/g, '');
        lines.push(
          `alert http any any -> any any (${msg('URL')}; http.host; content:"${suricataContent(host)}"; bsize:${Buffer.byteLength(host)}; http.uri; content:"${suricataContent(path)}"; startswith; ${meta}; ${sid('url')})`,
        );
        break;
      }
      case 'sha256':
        hashes++;
        break;
    }
  }
  if (hashes > 0) {
    for (const proto of ['http', 'smtp', 'smb', 'ftp-data', 'nfs']) {
      lines.push(
        `alert ${proto} any any -> any any (msg:"YAMORI known-bad file transferred over ${proto}"; filesha256:${SHA256_LIST_FILE}; classtype:trojan-activity; sid:${sidFor(`filesha256:${proto}`, used)}; rev:1;)`,
      );
    }
  }
  return lines.join('\n') + '\n';
}
