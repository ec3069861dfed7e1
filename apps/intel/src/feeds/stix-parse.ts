import type { Tlp, Verdict } from '@yamori/protocol';
import { FeedFormatError, parseTime, type FeedItem, type FeedProblem, type ParsedFeed } from './feed-item.ts';
import { parseStixPattern } from './stix-pattern.ts';

/**
 * STIX 2.1 bundle → feed items. Indicators with `pattern_type: stix` give values; `relationship`
 * objects (indicator→indicator, or several indicators → the same malware) give related links; TLP
 * comes from the standard marking definitions. Other STIX types are counted as unsupported;
 * types STIX does not define are rejected with their id. Pure.
 */

/** TLP 1.0 and TLP 2.0 marking-definition ids as published by OASIS. */
export const TLP_MARKINGS: Record<string, Tlp> = {
  'marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9': 'clear',
  'marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da': 'green',
  'marking-definition--f88d31f6-486f-44da-b317-01333bde0b82': 'amber',
  'marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed': 'red',
  'marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487': 'clear',
  'marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb': 'green',
  'marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421': 'amber',
  'marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003': 'amber+strict',
  'marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1': 'red',
};

const STIX_TYPES = new Set([
  'attack-pattern', 'campaign', 'course-of-action', 'grouping', 'identity', 'incident', 'indicator', 'infrastructure',
  'intrusion-set', 'location', 'malware', 'malware-analysis', 'note', 'observed-data', 'opinion', 'report',
  'threat-actor', 'tool', 'vulnerability', 'relationship', 'sighting', 'marking-definition', 'language-content',
  'extension-definition', 'artifact', 'autonomous-system', 'directory', 'domain-name', 'email-addr', 'email-message',
  'file', 'ipv4-addr', 'ipv6-addr', 'mac-addr', 'mutex', 'network-traffic', 'process', 'software', 'url',
  'user-account', 'windows-registry-key', 'x509-certificate',
]);

interface StixObject {
  type?: unknown;
  id?: unknown;
  [k: string]: unknown;
}

export function parseStixBundle(text: string): ParsedFeed {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new FeedFormatError(`not JSON: ${(e as Error).message}`);
  }
  const objects: unknown = Array.isArray(json) ? json : (json as { objects?: unknown } | null)?.objects;
  if (!Array.isArray(objects) || (!Array.isArray(json) && (json as { type?: unknown }).type !== 'bundle')) {
    throw new FeedFormatError('not a STIX 2.1 bundle: expected {"type": "bundle", "objects": [...]}');
  }
  const items: FeedItem[] = [];
  const problems: FeedProblem[] = [];
  const relations: [string, string][] = [];
  // Marking definitions defined in the bundle itself (TLP by name).
  const markings = new Map<string, Tlp>(Object.entries(TLP_MARKINGS));
  for (const o of objects as StixObject[]) {
    if (o?.type === 'marking-definition' && typeof o.id === 'string') {
      const name = typeof o['name'] === 'string' ? o['name'] : (o['definition'] as { tlp?: unknown } | undefined)?.tlp;
      const tlp = tlpFromName(typeof name === 'string' ? name : '');
      if (tlp) markings.set(o.id, tlp);
    }
  }
  const byMalware = new Map<string, string[]>();
  const indicatorIds = new Set<string>();
  objects.forEach((raw: unknown, index) => {
    const o = raw as StixObject;
    const ref = typeof o?.id === 'string' ? o.id : `objects[${index}]`;
    if (!o || typeof o !== 'object' || typeof o.type !== 'string' || typeof o.id !== 'string') {
      problems.push({ ref, kind: 'rejected', reason: 'STIX object without "type" and "id"' });
      return;
    }
    if (o.type === 'indicator') {
      indicatorIds.add(o.id);
      indicatorItems(o, ref, markings, items, problems);
    } else if (o.type === 'relationship') {
      const src = o['source_ref'];
      const dst = o['target_ref'];
      if (typeof src !== 'string' || typeof dst !== 'string') {
        problems.push({ ref, kind: 'rejected', reason: 'relationship without source_ref/target_ref' });
        return;
      }
      if (src.startsWith('indicator--') && dst.startsWith('indicator--')) relations.push([src, dst]);
      else if (src.startsWith('indicator--') && (dst.startsWith('malware--') || dst.startsWith('tool--') || dst.startsWith('infrastructure--'))) {
        const list = byMalware.get(dst) ?? [];
        list.push(src);
        byMalware.set(dst, list);
      }
    } else if (o.type === 'malware' || o.type === 'marking-definition' || o.type === 'identity') {
      // context for the indicators: used through relationships and markings, not stored as values
    } else if (STIX_TYPES.has(o.type)) {
      problems.push({ ref, kind: 'unsupported', reason: `STIX ${o.type} objects are not imported` });
    } else {
      problems.push({ ref, kind: 'rejected', reason: `unknown STIX object type "${o.type}"` });
    }
  });
  // Indicators of the same malware are related to each other (star around the first one past 50).
  for (const ids of byMalware.values()) {
    const present = ids.filter((id) => indicatorIds.has(id));
    for (let i = 0; i < present.length; i++) {
      for (let j = i + 1; j < present.length && (i === 0 || j < 50); j++) relations.push([present[i]!, present[j]!]);
    }
  }
  return { items, problems, relations };
}

function indicatorItems(o: StixObject, ref: string, markings: Map<string, Tlp>, items: FeedItem[], problems: FeedProblem[]): void {
  const patternType = o['pattern_type'] ?? 'stix';
  if (patternType !== 'stix') {
    problems.push({ ref, kind: 'unsupported', reason: `pattern_type ${typeof patternType === 'string' ? patternType : JSON.stringify(patternType)} is not supported (stix only)` });
    return;
  }
  const pattern = o['pattern'];
  if (typeof pattern !== 'string') {
    problems.push({ ref, kind: 'rejected', reason: 'indicator without pattern' });
    return;
  }
  const parsed = parseStixPattern(pattern);
  if ('error' in parsed) {
    problems.push({ ref, kind: 'rejected', reason: `pattern: ${parsed.error}`, value: pattern.slice(0, 2048) });
    return;
  }
  const verdict: Verdict = o['revoked'] === true ? 'unknown' : verdictOf(o['indicator_types']);
  const confidence = typeof o['confidence'] === 'number' ? Math.max(0, Math.min(100, Math.round(o['confidence']))) : undefined;
  const validFrom = parseTime(o['valid_from']);
  const validUntil = parseTime(o['valid_until']);
  const modified = parseTime(o['modified']);
  const refs = Array.isArray(o['object_marking_refs']) ? (o['object_marking_refs'] as unknown[]) : [];
  const tlp = refs.map((r) => (typeof r === 'string' ? markings.get(r) : undefined)).find((t) => t !== undefined);
  for (const t of parsed.terms) {
    if (!t.ok) {
      problems.push({ ref, kind: t.unsupported ? 'unsupported' : 'rejected', reason: t.reason, ...(t.value ? { value: t.value } : {}) });
      continue;
    }
    items.push({
      ref,
      type: t.type,
      value: t.value,
      verdict,
      ...(confidence !== undefined ? { confidence } : {}),
      ...(tlp ? { tlp } : {}),
      ...(validFrom !== undefined ? { firstSeen: validFrom } : {}),
      ...(modified !== undefined ? { lastSeen: modified } : {}),
      ...(validUntil !== undefined ? { expiresAt: validUntil } : {}),
      group: ref,
    });
  }
}

function verdictOf(types: unknown): Verdict {
  const list = Array.isArray(types) ? types.filter((t): t is string => typeof t === 'string') : [];
  if (list.includes('benign')) return 'benign';
  if (list.some((t) => t === 'malicious-activity' || t === 'compromised' || t === 'attribution')) return 'malicious';
  if (list.includes('anomalous-activity')) return 'suspicious';
  return 'malicious';
}

export function tlpFromName(name: string): Tlp | undefined {
  const n = name.trim().toLowerCase().replace(/^tlp:/, '').replace(/\s+/g, '');
  if (n === 'white' || n === 'clear') return 'clear';
  if (n === 'green' || n === 'amber' || n === 'red' || n === 'amber+strict') return n;
  return undefined;
}
