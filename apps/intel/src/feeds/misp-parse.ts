import type { IndicatorType, Tlp, Verdict } from '@yamori/protocol';
import { FeedFormatError, parseTime, type FeedItem, type ParsedFeed } from './feed-item.ts';
import { tlpFromName } from './stix-parse.ts';

/**
 * MISP events → feed items: an event export (`{"Event": …}`, also the per-event files of a MISP
 * feed), a REST search result (`{"response": [{"Event": …}]}`) or an array of those. Attributes of
 * the event and of its objects; attributes of one object are related to each other; TLP from the
 * attribute's or else the event's tags; `to_ids: false` and deleted attributes are skipped. Pure.
 */

const TYPE_MAP: Record<string, IndicatorType | 'ip-port' | 'filename-sha256' | 'domain-ip'> = {
  sha256: 'sha256',
  'ip-dst': 'ip',
  'ip-src': 'ip',
  'ip-dst|port': 'ip-port',
  'ip-src|port': 'ip-port',
  domain: 'domain',
  hostname: 'domain',
  url: 'url',
  uri: 'url',
  'filename|sha256': 'filename-sha256',
  'domain|ip': 'domain-ip',
};

interface MispAttribute {
  type?: unknown;
  value?: unknown;
  to_ids?: unknown;
  uuid?: unknown;
  id?: unknown;
  deleted?: unknown;
  Tag?: unknown;
  first_seen?: unknown;
  last_seen?: unknown;
  timestamp?: unknown;
}
interface MispEvent {
  uuid?: unknown;
  info?: unknown;
  threat_level_id?: unknown;
  date?: unknown;
  Tag?: unknown;
  Attribute?: unknown;
  Object?: unknown;
}

export function parseMisp(text: string): ParsedFeed {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new FeedFormatError(`not JSON: ${(e as Error).message}`);
  }
  const events = collectEvents(json);
  if (events.length === 0) throw new FeedFormatError('not a MISP event: expected {"Event": {...}} or {"response": [{"Event": ...}]}');
  const out: ParsedFeed = { items: [], problems: [], relations: [] };
  events.forEach((ev, i) => parseEvent(ev, typeof ev.uuid === 'string' ? ev.uuid : `Event[${i}]`, out));
  return out;
}

function collectEvents(json: unknown): MispEvent[] {
  const list = Array.isArray(json) ? json : (json as { response?: unknown })?.response;
  if (Array.isArray(list)) {
    return list.flatMap((x: unknown) => collectEvents(x));
  }
  const ev = (json as { Event?: unknown } | null)?.Event;
  return ev && typeof ev === 'object' ? [ev as MispEvent] : [];
}

function tagsTlp(tags: unknown): Tlp | undefined {
  if (!Array.isArray(tags)) return undefined;
  for (const t of tags as { name?: unknown }[]) {
    if (typeof t?.name === 'string' && /^tlp:/i.test(t.name)) {
      const tlp = tlpFromName(t.name);
      if (tlp) return tlp;
    }
  }
  return undefined;
}

function parseEvent(ev: MispEvent, evRef: string, out: ParsedFeed): void {
  const eventTlp = tagsTlp(ev.Tag);
  const level = Number(ev.threat_level_id ?? 4);
  const verdict: Verdict = level === 3 ? 'suspicious' : 'malicious';
  const confidence = level === 1 ? 90 : level === 2 ? 75 : 50;
  const eventDate = parseTime(ev.date);
  const attrs = Array.isArray(ev.Attribute) ? (ev.Attribute as MispAttribute[]) : [];
  attrs.forEach((a, i) => attribute(a, `${evRef}/Attribute[${i}]`, undefined));
  const objects = Array.isArray(ev.Object) ? (ev.Object as { uuid?: unknown; Attribute?: unknown }[]) : [];
  objects.forEach((o, oi) => {
    const group = `${evRef}/Object[${typeof o?.uuid === 'string' ? o.uuid : oi}]`;
    const list = Array.isArray(o?.Attribute) ? (o.Attribute as MispAttribute[]) : [];
    list.forEach((a, i) => attribute(a, `${group}/Attribute[${i}]`, group));
  });

  function attribute(a: MispAttribute, fallbackRef: string, group: string | undefined): void {
    const ref = typeof a?.uuid === 'string' ? `attribute ${a.uuid}` : fallbackRef;
    if (!a || typeof a !== 'object' || typeof a.type !== 'string' || typeof a.value !== 'string') {
      out.problems.push({ ref, kind: 'rejected', reason: 'attribute without type and value' });
      return;
    }
    const value = a.value;
    if (a.deleted === true || a.deleted === '1') {
      out.problems.push({ ref, kind: 'skipped', reason: 'deleted attribute', value });
      return;
    }
    const mapped = TYPE_MAP[a.type];
    if (!mapped) {
      out.problems.push({ ref, kind: 'unsupported', reason: `unsupported attribute type ${a.type}`, value: value.slice(0, 2048) });
      return;
    }
    if (!(a.to_ids === true || a.to_ids === '1' || a.to_ids === 1)) {
      out.problems.push({ ref, kind: 'skipped', reason: 'to_ids is false', value });
      return;
    }
    const tlp = tagsTlp(a.Tag) ?? eventTlp;
    const firstSeen = parseTime(a.first_seen) ?? eventDate;
    const lastSeen = parseTime(a.last_seen) ?? parseTime(a.timestamp);
    // Attributes with two values (domain|ip) relate to each other: give them a group of their own.
    const pairGroup = group ?? (mapped === 'domain-ip' ? ref : undefined);
    const push = (type: IndicatorType | undefined, v: string) =>
      out.items.push({
        ref,
        type,
        value: v,
        verdict,
        confidence,
        ...(tlp ? { tlp } : {}),
        ...(firstSeen !== undefined ? { firstSeen } : {}),
        ...(lastSeen !== undefined ? { lastSeen } : {}),
        ...(pairGroup ? { group: pairGroup } : {}),
      } satisfies FeedItem);
    const bar = value.lastIndexOf('|');
    switch (mapped) {
      case 'ip-port':
        if (bar < 0) out.problems.push({ ref, kind: 'rejected', reason: `${a.type} value without "|port"`, value });
        else push('ip', value.slice(0, bar));
        return;
      case 'filename-sha256':
        push('sha256', bar < 0 ? value : value.slice(bar + 1));
        return;
      case 'domain-ip':
        if (bar < 0) {
          out.problems.push({ ref, kind: 'rejected', reason: 'domain|ip value without "|"', value });
          return;
        }
        push('domain', value.slice(0, bar));
        push('ip', value.slice(bar + 1));
        return;
      case 'ip':
        push('ip', value);
        return;
      default:
        push(mapped, value);
    }
  }
}

