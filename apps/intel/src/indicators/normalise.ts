import { domainToASCII } from 'node:url';
import type { IndicatorType } from '@yamori/protocol';

/**
 * Canonical forms, so one indicator has one spelling whatever the feed wrote: lower-case hashes
 * and domains (IDN as punycode), RFC 5952 IPv6, IPv4-mapped IPv6 as IPv4, CIDRs with host bits
 * cleared (a /32 or /128 is an ip), URLs parsed by WHATWG rules without fragment. Pure.
 */
export type Normalised = { ok: true; type: IndicatorType; value: string } | { ok: false; reason: string };

const HEX64 = /^[0-9a-f]{64}$/;
const HASH_LENGTHS: Record<number, string> = { 32: 'md5', 40: 'sha1', 128: 'sha512' };

/** Undo the usual defanging in reports (`evil[.]com`, `hxxp://`, `1.2.3[.]4`). */
export function refang(raw: string): string {
  return raw
    .trim()
    .replace(/\[\.\]|\(\.\)|\{\.\}|\[dot\]|\(dot\)/gi, '.')
    .replace(/\[:\]/g, ':')
    .replace(/^hxxp(s?):/i, 'http$1:')
    .replace(/^fxp:/i, 'ftp:');
}

export function normalise(type: IndicatorType, raw: string): Normalised {
  // Fast path for the hot case: an already canonical hash.
  if (type === 'sha256' && HEX64.test(raw)) return { ok: true, type, value: raw };
  const value = refang(raw);
  if (value === '') return { ok: false, reason: 'empty value' };
  switch (type) {
    case 'sha256':
      return normaliseSha256(value);
    case 'ip':
    case 'cidr':
      return normaliseIpOrCidr(value);
    case 'domain':
      return normaliseDomain(value);
    case 'url':
      return normaliseUrl(value);
  }
}

/** Guess the type of a bare value from a list (hash, IP, CIDR, URL, else domain). */
export function detectType(raw: string): IndicatorType | undefined {
  const v = refang(raw);
  if (/^[0-9a-fA-F]+$/.test(v) && (v.length === 64 || HASH_LENGTHS[v.length])) return 'sha256';
  if (v.includes('/') && parseCidr(v)) return 'cidr';
  if (parseIp(v)) return 'ip';
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(v) || v.includes('/')) return 'url';
  if (/^[^\s/]+\.[^\s/]+$/.test(v)) return 'domain';
  return undefined;
}

function normaliseSha256(v: string): Normalised {
  const h = v.toLowerCase();
  if (HEX64.test(h)) return { ok: true, type: 'sha256', value: h };
  if (/^[0-9a-f]+$/.test(h) && HASH_LENGTHS[h.length]) {
    return { ok: false, reason: `${HASH_LENGTHS[h.length]} hash where sha256 was expected` };
  }
  return { ok: false, reason: 'invalid sha256: expected 64 hex digits' };
}

function normaliseIpOrCidr(v: string): Normalised {
  if (v.includes('/')) {
    const c = parseCidr(v);
    if (!c) return { ok: false, reason: `invalid CIDR "${v}"` };
    const full = c.family === 4 ? 32 : 128;
    if (c.prefix === full) return { ok: true, type: 'ip', value: formatIp(c.bytes) };
    return { ok: true, type: 'cidr', value: `${formatIp(c.bytes)}/${c.prefix}` };
  }
  const b = parseIp(v);
  if (!b) return { ok: false, reason: `invalid IP address "${v}"` };
  return { ok: true, type: 'ip', value: formatIp(b) };
}

const LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/;

function normaliseDomain(v: string): Normalised {
  let d = v.toLowerCase().replace(/\.$/, '');
  if (d.startsWith('*.')) d = d.slice(2);
  if (parseIp(d)) return { ok: false, reason: 'an IP address where a domain was expected' };
  const ascii = /^[\x21-\x7e]*$/.test(d) ? d : domainToASCII(d);
  if (!ascii) return { ok: false, reason: `invalid domain "${v}"` };
  if (ascii.length > 253) return { ok: false, reason: 'domain longer than 253 characters' };
  const labels = ascii.split('.');
  if (labels.length < 2) return { ok: false, reason: `"${v}" is not a fully qualified domain` };
  if (!labels.every((l) => LABEL.test(l))) return { ok: false, reason: `invalid domain "${v}"` };
  if (/^[0-9]+$/.test(labels[labels.length - 1] ?? '')) return { ok: false, reason: `invalid domain "${v}"` };
  return { ok: true, type: 'domain', value: ascii };
}

function normaliseUrl(v: string): Normalised {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(v) ? v : `http://${v}`;
  let u: URL;
  try {
    u = new URL(withScheme);
  } catch {
    return { ok: false, reason: `invalid URL "${v}"` };
  }
  if (!['http:', 'https:', 'ftp:'].includes(u.protocol)) return { ok: false, reason: `unsupported URL scheme ${u.protocol}` };
  if (!u.hostname) return { ok: false, reason: `URL without host "${v}"` };
  u.hash = '';
  u.username = '';
  u.password = '';
  const host = u.hostname.startsWith('[') ? u.hostname : u.hostname.replace(/\.$/, '');
  const ip = parseIp(host.replace(/^\[|\]$/g, ''));
  if (!ip && !normaliseDomain(host).ok) return { ok: false, reason: `invalid host in URL "${v}"` };
  u.hostname = ip ? (ip.length === 4 ? formatIp(ip) : `[${formatIp(ip)}]`) : host;
  const s = u.toString();
  return s.length > 2048 ? { ok: false, reason: 'URL longer than 2048 characters' } : { ok: true, type: 'url', value: s };
}

/** The host of a normalised URL: a domain or an IP indicator, for lookups that fall back to the host. */
export function urlHost(url: string): { type: IndicatorType; value: string } | undefined {
  try {
    const h = new URL(url).hostname.replace(/^\[|\]$/g, '');
    const ip = parseIp(h);
    if (ip) return { type: 'ip', value: formatIp(ip) };
    return { type: 'domain', value: h };
  } catch {
    return undefined;
  }
}

/** Parent domains of a domain, nearest first, down to two labels (`a.b.evil.com` → `b.evil.com`, `evil.com`). */
export function parentDomains(domain: string): string[] {
  const labels = domain.split('.');
  const out: string[] = [];
  for (let i = 1; i <= labels.length - 2; i++) out.push(labels.slice(i).join('.'));
  return out;
}

// ---- IP addresses as bytes (4 or 16) ----

export function parseIp(s: string): Uint8Array | undefined {
  if (s.includes(':')) return parseIpv6(s);
  return parseIpv4(s);
}

function parseIpv4(s: string): Uint8Array | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  const b = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i] ?? '';
    // Leading zeros are ambiguous (octal in some parsers): refuse rather than guess.
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    b[i] = n;
  }
  return b;
}

function parseIpv6(input: string): Uint8Array | undefined {
  let s = input.toLowerCase();
  const zone = s.indexOf('%');
  if (zone >= 0) return undefined;
  let tail: Uint8Array | undefined;
  const lastColon = s.lastIndexOf(':');
  if (s.slice(lastColon + 1).includes('.')) {
    tail = parseIpv4(s.slice(lastColon + 1));
    if (!tail) return undefined;
    s = s.slice(0, lastColon + 1) + '0:0';
  }
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const parseGroups = (h: string): number[] | undefined => {
    if (h === '') return [];
    const gs = h.split(':');
    const out: number[] = [];
    for (const g of gs) {
      if (!/^[0-9a-f]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = parseGroups(halves[0] ?? '');
  const rest = halves.length === 2 ? parseGroups(halves[1] ?? '') : [];
  if (!head || !rest) return undefined;
  let groups: number[];
  if (halves.length === 2) {
    const missing = 8 - head.length - rest.length;
    if (missing < 1) return undefined;
    groups = [...head, ...new Array<number>(missing).fill(0), ...rest];
  } else {
    groups = head;
  }
  if (groups.length !== 8) return undefined;
  const b = new Uint8Array(16);
  groups.forEach((g, i) => {
    b[i * 2] = g >> 8;
    b[i * 2 + 1] = g & 0xff;
  });
  if (tail) b.set(tail, 12);
  // IPv4-mapped (::ffff:a.b.c.d) is the IPv4 address.
  if (b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) return b.slice(12);
  return b;
}

/** RFC 5952 text: dotted IPv4; IPv6 lower-case with the longest run of zero groups (≥2) as `::`. */
export function formatIp(b: Uint8Array): string {
  if (b.length === 4) return Array.from(b).join('.');
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(((b[i * 2] ?? 0) << 8) | (b[i * 2 + 1] ?? 0));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestLen < 2) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

export interface Cidr {
  family: 4 | 6;
  /** Network address (host bits cleared). */
  bytes: Uint8Array;
  prefix: number;
}

export function parseCidr(s: string): Cidr | undefined {
  const slash = s.indexOf('/');
  if (slash < 0) return undefined;
  const addr = parseIp(s.slice(0, slash));
  const p = s.slice(slash + 1);
  if (!addr || !/^[0-9]{1,3}$/.test(p)) return undefined;
  let prefix = Number(p);
  // `::ffff:1.2.3.0/120` names an IPv4 network.
  if (addr.length === 4 && s.slice(0, slash).includes(':')) prefix -= 96;
  const bits = addr.length * 8;
  if (prefix < 0 || prefix > bits) return undefined;
  return { family: addr.length === 4 ? 4 : 6, bytes: maskBytes(addr, prefix), prefix };
}

export function maskBytes(addr: Uint8Array, prefix: number): Uint8Array {
  const out = new Uint8Array(addr.length);
  for (let i = 0; i < addr.length; i++) {
    const keep = Math.max(0, Math.min(8, prefix - i * 8));
    out[i] = (addr[i] ?? 0) & ((0xff << (8 - keep)) & 0xff);
  }
  return out;
}

/** The CIDR strings that could contain `ip`, one per given prefix length (shorter than the address). */
export function containingCidrs(ip: string, prefixes: readonly number[]): string[] {
  const b = parseIp(ip);
  if (!b) return [];
  const bits = b.length * 8;
  return prefixes.filter((p) => p < bits && p >= 0).map((p) => `${formatIp(maskBytes(b, p))}/${p}`);
}

/** Is `inner` (an IP or CIDR) inside `outer` (a CIDR)? Different families never are. */
export function cidrContains(outer: Cidr, inner: Cidr): boolean {
  if (outer.family !== inner.family || inner.prefix < outer.prefix) return false;
  const masked = maskBytes(inner.bytes, outer.prefix);
  return masked.every((x, i) => x === outer.bytes[i]);
}

export function asCidr(ipOrCidr: string): Cidr | undefined {
  if (ipOrCidr.includes('/')) return parseCidr(ipOrCidr);
  const b = parseIp(ipOrCidr);
  return b ? { family: b.length === 4 ? 4 : 6, bytes: b, prefix: b.length * 8 } : undefined;
}
