import type { IndicatorType } from '@yamori/protocol';
import { detectType } from '../indicators/normalise.ts';
import { parseTime, type FeedItem, type FeedProblem, type ParsedFeed } from './feed-item.ts';

/**
 * Plain lists and CSVs in the common public formats. Lists: one value per line, `#`/`;`/`//`
 * comments, trailing comments after the value, hosts-file lines (`0.0.0.0 evil.example`),
 * Spamhaus DROP (`1.2.3.0/24 ; SBL123`). CSV: abuse.ch style with the header in a comment line
 * (`# "first_seen_utc","sha256_hash",…`) or a plain header row; the value column is found by
 * name. A broken line is rejected with its line number; the rest is imported. Pure.
 */

export function parseList(text: string, type: IndicatorType | undefined): ParsedFeed {
  const items: FeedItem[] = [];
  const problems: FeedProblem[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const ref = `line ${i + 1}`;
    const line = raw.replace(/\s(#|;|\/\/).*$/, '').trim();
    if (line === '' || /^(#|;|\/\/)/.test(line)) return;
    let tokens = line.split(/[\s,]+/).filter(Boolean);
    // hosts-file format
    if (tokens.length === 2 && ['0.0.0.0', '127.0.0.1', '::', '::1'].includes(tokens[0]!)) tokens = [tokens[1]!];
    if (tokens.length !== 1) {
      problems.push({ ref, kind: 'rejected', reason: `expected one value per line, got ${tokens.length}`, value: line.slice(0, 2048) });
      return;
    }
    const value = tokens[0]!;
    const t = type ?? detectType(value);
    if (!t) {
      problems.push({ ref, kind: 'rejected', reason: 'cannot tell what kind of indicator this is', value: value.slice(0, 2048) });
      return;
    }
    items.push({ ref, type: t === 'cidr' ? 'ip' : t, value });
  });
  return { items, problems, relations: [] };
}

const VALUE_COLUMNS = ['ioc_value', 'ioc', 'indicator', 'value', 'sha256_hash', 'sha256', 'url', 'dst_ip', 'ip_address', 'ip', 'domain', 'hostname', 'host'];
const COLUMN_TYPES: Record<string, IndicatorType> = {
  sha256_hash: 'sha256',
  sha256: 'sha256',
  url: 'url',
  dst_ip: 'ip',
  ip_address: 'ip',
  ip: 'ip',
  domain: 'domain',
  hostname: 'domain',
  host: 'domain',
};
const TYPE_VALUES: Record<string, IndicatorType | null> = {
  sha256_hash: 'sha256',
  sha256: 'sha256',
  'ip:port': 'ip',
  ip: 'ip',
  'ip-dst': 'ip',
  ipv4: 'ip',
  ipv6: 'ip',
  cidr: 'ip',
  domain: 'domain',
  hostname: 'domain',
  url: 'url',
  md5_hash: null,
  sha1_hash: null,
  md5: null,
  sha1: null,
};
const FIRST_SEEN = ['first_seen_utc', 'first_seen', 'firstseen', 'dateadded', 'date_added'];
const LAST_SEEN = ['last_seen_utc', 'last_seen', 'last_online', 'lastseen'];
const CONFIDENCE = ['confidence_level', 'confidence'];

export function parseCsv(text: string, type: IndicatorType | undefined): ParsedFeed {
  const items: FeedItem[] = [];
  const problems: FeedProblem[] = [];
  const lines = text.split(/\r?\n/);
  let header: string[] | undefined;
  let lastCommentFields: string[] | undefined;
  const col = (names: readonly string[]) => (header ? header.findIndex((h) => names.includes(h)) : -1);
  let valueCol = -1;
  let typeCol = -1;
  let firstCol = -1;
  let lastCol = -1;
  let confCol = -1;
  let colType: IndicatorType | undefined;
  const useHeader = (h: string[]) => {
    header = h.map((x) => x.trim().toLowerCase().replace(/\s+/g, '_'));
    valueCol = col(VALUE_COLUMNS);
    typeCol = col(['ioc_type', 'type', 'indicator_type']);
    firstCol = col(FIRST_SEEN);
    lastCol = col(LAST_SEEN);
    confCol = col(CONFIDENCE);
    colType = valueCol >= 0 ? COLUMN_TYPES[header[valueCol]!] : undefined;
  };
  const looksLikeHeader = (fields: string[]) =>
    fields.some((f) => VALUE_COLUMNS.includes(f.trim().toLowerCase().replace(/\s+/g, '_')));

  lines.forEach((raw, i) => {
    const ref = `line ${i + 1}`;
    const line = raw.trim();
    if (line === '') return;
    if (line.startsWith('#')) {
      const fields = splitCsv(line.replace(/^#+\s*/, ''));
      if (fields && fields.length >= 2 && looksLikeHeader(fields)) lastCommentFields = fields;
      return;
    }
    const fields = splitCsv(line);
    if (!fields) {
      problems.push({ ref, kind: 'rejected', reason: 'unterminated quote', value: line.slice(0, 2048) });
      return;
    }
    if (!header) {
      if (looksLikeHeader(fields)) {
        useHeader(fields);
        return;
      }
      if (lastCommentFields) useHeader(lastCommentFields);
    }
    if (header && fields.length !== header.length) {
      problems.push({ ref, kind: 'rejected', reason: `expected ${header.length} fields, got ${fields.length}`, value: line.slice(0, 2048) });
      return;
    }
    const value = (valueCol >= 0 ? fields[valueCol] : fields[0])?.trim() ?? '';
    if (value === '') {
      problems.push({ ref, kind: 'rejected', reason: 'empty value' });
      return;
    }
    let t: IndicatorType | undefined = type ?? colType;
    let v = value;
    if (typeCol >= 0) {
      const declared = (fields[typeCol] ?? '').trim().toLowerCase();
      const mapped = TYPE_VALUES[declared];
      if (mapped === null) {
        problems.push({ ref, kind: 'unsupported', reason: `unsupported indicator type ${declared}`, value });
        return;
      }
      if (mapped) t = mapped;
      if (declared === 'ip:port') v = v.replace(/:(\d{1,5})$/, '');
    }
    t ??= detectType(v);
    if (!t) {
      problems.push({ ref, kind: 'rejected', reason: 'cannot tell what kind of indicator this is', value: v.slice(0, 2048) });
      return;
    }
    const first = firstCol >= 0 ? parseTime(fields[firstCol]) : undefined;
    const last = lastCol >= 0 ? parseTime(fields[lastCol]) : undefined;
    const conf = confCol >= 0 ? Number(fields[confCol]) : NaN;
    items.push({
      ref,
      type: t === 'cidr' ? 'ip' : t,
      value: v,
      ...(first !== undefined ? { firstSeen: first } : {}),
      ...(last !== undefined ? { lastSeen: last } : {}),
      ...(Number.isFinite(conf) ? { confidence: Math.max(0, Math.min(100, Math.round(conf))) } : {}),
    });
  });
  return { items, problems, relations: [] };
}

/** One CSV line (RFC 4180 quoting, also `;` or tab when there is no comma); undefined on a broken quote. */
export function splitCsv(line: string): string[] | undefined {
  const sep = line.includes(',') ? ',' : line.includes('\t') ? '\t' : line.includes(';') ? ';' : ',';
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  let i = 0;
  let fieldStart = true;
  while (i < line.length) {
    const c = line[i]!;
    if (quoted) {
      if (c === '"') {
        if (line[i + 1] === '"') {
          cur += '"';
          i += 2;
          continue;
        }
        quoted = false;
        i++;
        continue;
      }
      cur += c;
      i++;
      continue;
    }
    if (c === '"' && fieldStart) {
      quoted = true;
      fieldStart = false;
      i++;
      continue;
    }
    if (c === sep) {
      out.push(cur);
      cur = '';
      fieldStart = true;
      i++;
      continue;
    }
    // abuse.ch writes `"a", "b"`: a space before the opening quote still starts a quoted field
    if (c === ' ' && fieldStart) {
      i++;
      continue;
    }
    cur += c;
    fieldStart = false;
    i++;
  }
  if (quoted) return undefined;
  out.push(cur);
  return out;
}
