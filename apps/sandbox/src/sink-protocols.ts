/**
 * Pure wire-format helpers for the in-namespace sinks: a fake DNS server that answers every A
 * query with a sink address, a TLS sink that reads the SNI from the ClientHello, an HTTP sink
 * that reads the request head. No sockets here.
 */

export interface DnsQuery {
  id: number;
  name: string;
  qtype: number;
  /** Byte offset of the end of the question section (the answer is appended after it). */
  questionEnd: number;
}

export const DNS_A = 1;
export const DNS_AAAA = 28;

/** Parses the first question of a DNS query; null for anything malformed. */
export function parseDnsQuery(msg: Uint8Array): DnsQuery | null {
  const b = Buffer.from(msg.buffer, msg.byteOffset, msg.byteLength);
  if (b.length < 12) return null;
  const flags = b.readUInt16BE(2);
  if (flags & 0x8000) return null; // a response, not a query
  if (b.readUInt16BE(4) < 1) return null;
  const labels: string[] = [];
  let off = 12;
  for (;;) {
    const len = b[off];
    if (len === undefined || len > 63) return null;
    off++;
    if (len === 0) break;
    if (off + len > b.length) return null;
    labels.push(b.subarray(off, off + len).toString('latin1'));
    off += len;
    if (off > 12 + 255) return null;
  }
  if (off + 4 > b.length) return null;
  const qtype = b.readUInt16BE(off);
  return { id: b.readUInt16BE(0), name: labels.join('.').toLowerCase(), qtype, questionEnd: off + 4 };
}

/**
 * Builds the answer: an A record with `ipv4` for A queries, an empty NOERROR answer for
 * everything else (so resolvers fall back to the A record).
 */
export function buildDnsAnswer(query: Uint8Array, q: DnsQuery, ipv4: string | null): Buffer {
  const question = Buffer.from(query.buffer, query.byteOffset, q.questionEnd);
  const head = Buffer.from(question.subarray(0, 12));
  const rd = head.readUInt16BE(2) & 0x0100;
  head.writeUInt16BE(0x8000 | 0x0400 | rd | 0x0080, 2); // QR, AA, RD copied, RA; rcode 0
  head.writeUInt16BE(1, 4);
  const answer = q.qtype === DNS_A && ipv4 !== null;
  head.writeUInt16BE(answer ? 1 : 0, 6);
  head.writeUInt16BE(0, 8);
  head.writeUInt16BE(0, 10);
  const parts = [head, question.subarray(12)];
  if (answer) {
    const rr = Buffer.alloc(16);
    rr.writeUInt16BE(0xc00c, 0); // pointer to the question name
    rr.writeUInt16BE(DNS_A, 2);
    rr.writeUInt16BE(1, 4); // IN
    rr.writeUInt32BE(60, 6); // TTL
    rr.writeUInt16BE(4, 10);
    ipv4.split('.').forEach((o, i) => rr.writeUInt8(Number(o) & 0xff, 12 + i));
    parts.push(rr);
  }
  return Buffer.concat(parts);
}

/** Builds a query (used by tests and by nothing else). */
export function buildDnsQuery(id: number, name: string, qtype: number): Buffer {
  const labels = name.split('.').filter((l) => l !== '');
  const parts: Buffer[] = [Buffer.from([id >> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0])];
  for (const l of labels) parts.push(Buffer.from([l.length]), Buffer.from(l, 'latin1'));
  parts.push(Buffer.from([0, qtype >> 8, qtype & 0xff, 0, 1]));
  return Buffer.concat(parts);
}

/** Hands out one sink address per name from 198.18.0.0/15 (RFC 2544, never routed), so a later connect names its domain. */
export function createAddressBook(): {
  addressFor(name: string): string;
  nameFor(ip: string): string | null;
} {
  const byName = new Map<string, string>();
  const byIp = new Map<string, string>();
  return {
    addressFor(name) {
      const known = byName.get(name);
      if (known) return known;
      const n = byName.size + 1;
      const ip = `198.18.${(n >> 8) & 0xff}.${n & 0xff}`;
      byName.set(name, ip);
      byIp.set(ip, name);
      return ip;
    },
    nameFor: (ip) => byIp.get(ip) ?? null,
  };
}

export function isSinkAddress(ip: string): boolean {
  return /^198\.1[89]\./.test(ip);
}

/**
 * Extracts the server name from a TLS ClientHello record; `undefined` while more bytes are
 * needed, null when the data is not a ClientHello or carries no SNI.
 */
export function parseTlsSni(data: Uint8Array): string | null | undefined {
  const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (b.length < 5) return undefined;
  if (b[0] !== 0x16 || b[1] !== 0x03) return null;
  const recLen = b.readUInt16BE(3);
  if (b.length < 5 + recLen) return undefined;
  const r = b.subarray(5, 5 + recLen);
  if (r[0] !== 0x01) return null; // not a ClientHello
  let off = 4 + 2 + 32; // handshake header, version, random
  const need = (n: number): boolean => off + n <= r.length;
  if (!need(1)) return null;
  off += 1 + (r[off] ?? 0); // session id
  if (!need(2)) return null;
  off += 2 + r.readUInt16BE(off); // cipher suites
  if (!need(1)) return null;
  off += 1 + (r[off] ?? 0); // compression methods
  if (!need(2)) return null;
  const extEnd = off + 2 + r.readUInt16BE(off);
  off += 2;
  while (off + 4 <= extEnd && off + 4 <= r.length) {
    const type = r.readUInt16BE(off);
    const len = r.readUInt16BE(off + 2);
    off += 4;
    if (type === 0 && off + 5 <= r.length) {
      // server_name list: u16 list length, u8 type (0 = host_name), u16 name length, name
      const nameLen = r.readUInt16BE(off + 3);
      if (r[off + 2] !== 0 || off + 5 + nameLen > r.length) return null;
      return r
        .subarray(off + 5, off + 5 + nameLen)
        .toString('latin1')
        .toLowerCase();
    }
    off += len;
  }
  return null;
}

export interface HttpHead {
  method: string;
  target: string;
  host: string | null;
  userAgent: string | null;
}

/** Parses an HTTP/1.x request head; `undefined` while the head is incomplete, null when not HTTP. */
export function parseHttpHead(data: Uint8Array): HttpHead | null | undefined {
  const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('latin1');
  const first = /^([A-Z]{3,10}) (\S{1,2048}) HTTP\/1\.[01]\r?\n/.exec(text);
  if (!first) return text.length < 16 && /^[A-Z]*$/.test(text) ? undefined : null;
  const end = text.search(/\r?\n\r?\n/);
  if (end < 0) return text.length > 16384 ? null : undefined;
  const header = (name: string): string | null => {
    const m = new RegExp(`^${name}:[ \\t]*(.*?)\\s*$`, 'im').exec(text.slice(0, end));
    return m?.[1] ?? null;
  };
  return {
    method: first[1] ?? '',
    target: first[2] ?? '',
    host: header('host'),
    userAgent: header('user-agent'),
  };
}

/** The URL an HTTP request asked for: absolute targets as they are, else `http://host/target`. */
export function httpUrl(head: HttpHead, fallbackHost: string, scheme = 'http'): string {
  if (/^[a-z]+:\/\//i.test(head.target)) return head.target;
  return `${scheme}://${head.host ?? fallbackHost}${head.target.startsWith('/') ? '' : '/'}${head.target}`;
}
