import type { Database } from '@yamori/db';
import type { FeedFormat, FeedImportReport, IndicatorType, Tlp, Verdict } from '@yamori/protocol';
import type { IntelDb } from '../db/schema.ts';
import { InvalidInputError } from '../errors.ts';
import { addRelations, applyObservations, ensureSource, loadTrust, lockChangeFeed } from '../indicators/indicator-repository.ts';
import { FeedFormatError, type ParsedFeed } from './feed-item.ts';
import { parseCsv, parseList } from './list-parse.ts';
import { parseMisp } from './misp-parse.ts';
import { prepareImport } from './prepare-import.ts';
import { parseStixBundle } from './stix-parse.ts';
import type { Warninglist } from './warninglist.ts';

/** Imports one feed file: parse, normalise, warninglist, then one transaction, then one wake-up. */
export interface ImportDeps {
  database: Database<IntelDb>;
  warninglist: Warninglist;
  now: () => number;
  /** Lifetime of feed indicators without their own expiry; null keeps them until withdrawn. */
  defaultTtlMs: number | null;
}

export interface ImportRequest {
  text: string;
  format: FeedFormat;
  source: string;
  type?: IndicatorType | undefined;
  verdict?: Verdict | undefined;
  confidence?: number | undefined;
  tlp?: Tlp | undefined;
}

export const CHANGES_TOPIC = 'intel:changes';
const MAX_PROBLEMS = 1000;

export function parseFeed(format: FeedFormat, text: string, type: IndicatorType | undefined): ParsedFeed {
  try {
    switch (format) {
      case 'stix':
        return parseStixBundle(text);
      case 'misp':
        return parseMisp(text);
      case 'csv':
        return parseCsv(text, type);
      case 'list':
        return parseList(text, type);
    }
  } catch (e) {
    if (e instanceof FeedFormatError) throw new InvalidInputError(`${format} feed: ${e.message}`);
    throw e;
  }
}

export async function importFeed(deps: ImportDeps, req: ImportRequest): Promise<FeedImportReport> {
  const now = deps.now();
  const parsed = parseFeed(req.format, req.text, req.type);
  const prepared = prepareImport(
    parsed,
    { verdict: req.verdict ?? 'malicious', confidence: req.confidence ?? 75, tlp: req.tlp ?? 'green', ttlMs: deps.defaultTtlMs },
    deps.warninglist,
    now,
  );
  const { db } = deps.database;
  const result = await db.transaction().execute(async (trx) => {
    await lockChangeFeed(trx);
    await ensureSource(trx, req.source, now);
    const trustOf = await loadTrust(trx);
    const applied = await applyObservations(trx, req.source, prepared.observations, trustOf, now);
    const related = await addRelations(trx, prepared.relations, now);
    return { ...applied, related };
  });
  if (result.changed > 0) await deps.database.notifier.publish(CHANGES_TOPIC, String(result.lastSeq));
  const count = (k: string) => prepared.problems.filter((p) => p.kind === k).length;
  const reasons: Record<string, number> = {};
  for (const p of prepared.problems) {
    // group by reason without the value so the summary stays short
    const r = p.reason.replace(/"[^"]*"/g, '"…"').replace(/: \S+$/, '');
    reasons[r] = (reasons[r] ?? 0) + 1;
  }
  return {
    source: req.source,
    format: req.format,
    total: prepared.total,
    imported: prepared.observations.length,
    changed: result.changed,
    related: result.related,
    rejected: count('rejected'),
    unsupported: count('unsupported'),
    skipped: count('skipped'),
    reasons,
    problems: prepared.problems.slice(0, MAX_PROBLEMS).map((p) => ({
      ref: p.ref.slice(0, 256),
      kind: p.kind,
      reason: p.reason.slice(0, 1024),
      ...(p.value !== undefined ? { value: p.value.slice(0, 2048) } : {}),
    })),
  };
}
