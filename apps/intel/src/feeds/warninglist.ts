import type { IndicatorType } from '@yamori/protocol';
import { asCidr, cidrContains, normalise, parentDomains, urlHost, type Cidr } from '../indicators/normalise.ts';

/**
 * Known-benign values a feed must never blocklist: private/loopback/link-local/multicast ranges,
 * public resolvers, the big vendor/CDN/cloud domains, the empty file. Protection is by value class
 * (we do not ship hashes of system binaries). MISP warninglist JSON files add to it. Pure.
 */
export interface Warninglist {
  /** The reason a value is warninglisted, or undefined. `value` must be normalised. */
  match(type: IndicatorType, value: string): string | undefined;
  readonly size: number;
}

interface Entry {
  list: string;
}

export interface WarninglistSpec {
  name: string;
  /** IPs and CIDRs. */
  cidrs?: readonly string[];
  /** Domains matched exactly. */
  domains?: readonly string[];
  /** Domains matched with every subdomain. */
  domainsWithSubdomains?: readonly string[];
  sha256?: readonly string[];
  urls?: readonly string[];
}

export const BUILTIN_WARNINGLISTS: readonly WarninglistSpec[] = [
  {
    name: 'special-purpose IP ranges (RFC 1918, loopback, link-local, CGNAT, multicast, reserved)',
    cidrs: [
      '0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '127.0.0.0/8', '169.254.0.0/16', '172.16.0.0/12',
      '192.0.0.0/24', '192.0.2.0/24', '192.168.0.0/16', '198.18.0.0/15', '198.51.100.0/24', '203.0.113.0/24',
      '224.0.0.0/4', '240.0.0.0/4', '::/128', '::1/128', 'fe80::/10', 'fc00::/7', 'ff00::/8', '2001:db8::/32',
    ],
  },
  {
    name: 'public DNS resolvers',
    cidrs: [
      '8.8.8.8', '8.8.4.4', '1.1.1.1', '1.0.0.1', '9.9.9.9', '149.112.112.112', '208.67.222.222', '208.67.220.220',
      '4.2.2.1', '4.2.2.2', '2001:4860:4860::8888', '2001:4860:4860::8844', '2606:4700:4700::1111',
      '2606:4700:4700::1001', '2620:fe::fe', '2620:fe::9',
    ],
  },
  {
    name: 'major vendor, cloud and CDN domains',
    domainsWithSubdomains: [
      'google.com', 'gstatic.com', 'googleapis.com', 'gvt1.com', 'youtube.com', 'microsoft.com', 'windows.com',
      'windowsupdate.com', 'office.com', 'office365.com', 'live.com', 'bing.com', 'apple.com', 'icloud.com',
      'mozilla.org', 'mozilla.net', 'debian.org', 'ubuntu.com', 'canonical.com', 'fedoraproject.org', 'redhat.com',
      'kernel.org', 'python.org', 'npmjs.org', 'npmjs.com', 'letsencrypt.org', 'digicert.com', 'wikipedia.org',
    ],
    // Platforms where subdomains are customers' content: only the apex itself is protected.
    domains: [
      'amazonaws.com', 's3.amazonaws.com', 'cloudfront.net', 'cloudflare.com', 'cloudflare.net', 'akamai.net',
      'akamaiedge.net', 'akamaihd.net', 'edgekey.net', 'fastly.net', 'azureedge.net', 'azure.com',
      'azurewebsites.net', 'blob.core.windows.net', 'github.com', 'githubusercontent.com', 'gitlab.com',
      'amazon.com', 'facebook.com', 'fbcdn.net', 'twitter.com', 'x.com', 'linkedin.com', 'dropbox.com',
    ],
  },
  {
    name: 'well-known file hashes',
    sha256: ['e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
  },
];

export function createWarninglist(specs: readonly WarninglistSpec[]): Warninglist {
  const exact = new Map<string, Entry>();
  const suffix = new Map<string, Entry>();
  const ranges: { cidr: Cidr; e: Entry }[] = [];
  for (const spec of specs) {
    const e = { list: spec.name };
    for (const c of spec.cidrs ?? []) {
      const parsed = asCidr(c);
      if (parsed) ranges.push({ cidr: parsed, e });
    }
    for (const d of spec.domains ?? []) {
      const n = normalise('domain', d);
      if (n.ok) exact.set(`domain:${n.value}`, e);
    }
    for (const d of spec.domainsWithSubdomains ?? []) {
      const n = normalise('domain', d);
      if (n.ok) suffix.set(n.value, e);
    }
    for (const h of spec.sha256 ?? []) exact.set(`sha256:${h.toLowerCase()}`, e);
    for (const u of spec.urls ?? []) {
      const n = normalise('url', u);
      if (n.ok) exact.set(`url:${n.value}`, e);
    }
  }
  const domainMatch = (d: string): Entry | undefined => {
    const hit = exact.get(`domain:${d}`) ?? suffix.get(d);
    if (hit) return hit;
    for (const p of parentDomains(d)) {
      const s = suffix.get(p);
      if (s) return s;
    }
    return undefined;
  };
  const ipMatch = (v: string): Entry | undefined => {
    const c = asCidr(v);
    if (!c) return undefined;
    // An IP inside a protected range, or a CIDR that overlaps one (either contains the other).
    return ranges.find((r) => cidrContains(r.cidr, c) || cidrContains(c, r.cidr))?.e;
  };
  const why = (e: Entry | undefined, what: string): string | undefined => (e ? `warninglisted (${e.list}): ${what}` : undefined);
  return {
    size: exact.size + suffix.size + ranges.length,
    match(type, value) {
      switch (type) {
        case 'sha256':
          return why(exact.get(`sha256:${value}`), value);
        case 'ip':
        case 'cidr': {
          const c = asCidr(value);
          if (type === 'cidr' && c && c.prefix < (c.family === 4 ? 8 : 16)) return `CIDR ${value} is too broad to blocklist`;
          return why(ipMatch(value), value);
        }
        case 'domain':
          return why(domainMatch(value), value);
        case 'url': {
          const hit = exact.get(`url:${value}`);
          if (hit) return why(hit, value);
          // A whole site (no path) on a protected host would blocklist the host; a path on it is fine.
          const u = new URL(value);
          if ((u.pathname === '/' || u.pathname === '') && u.search === '') {
            const host = urlHost(value);
            if (host) return why(host.type === 'ip' ? ipMatch(host.value) : domainMatch(host.value), value);
          }
          return undefined;
        }
      }
    },
  };
}

/**
 * A MISP warninglist file (`{name, type, list}`; types cidr, hostname, string). Types we cannot
 * apply by value class (substring, regex) are refused with a message rather than silently ignored.
 */
export function parseMispWarninglist(json: unknown): WarninglistSpec {
  if (!json || typeof json !== 'object') throw new Error('not a MISP warninglist: expected a JSON object');
  const o = json as { name?: unknown; type?: unknown; list?: unknown };
  if (typeof o.name !== 'string' || !Array.isArray(o.list)) throw new Error('not a MISP warninglist: needs "name" and "list"');
  const list = o.list.filter((x): x is string => typeof x === 'string');
  const type = typeof o.type === 'string' ? o.type : 'string';
  const spec: { name: string; cidrs: string[]; domains: string[]; domainsWithSubdomains: string[]; sha256: string[]; urls: string[] } = {
    name: o.name,
    cidrs: [],
    domains: [],
    domainsWithSubdomains: [],
    sha256: [],
    urls: [],
  };
  if (type === 'cidr') spec.cidrs.push(...list);
  else if (type === 'hostname') spec.domainsWithSubdomains.push(...list);
  else if (type === 'string') {
    for (const v of list) {
      if (asCidr(v)) spec.cidrs.push(v);
      else if (/^[0-9a-fA-F]{64}$/.test(v)) spec.sha256.push(v);
      else if (/^[a-z]+:\/\//i.test(v)) spec.urls.push(v);
      else spec.domains.push(v);
    }
  } else throw new Error(`MISP warninglist "${o.name}": type "${type}" is not supported (use cidr, hostname or string)`);
  return spec;
}
