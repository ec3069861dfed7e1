import { PostgresAdapter, sql, type Kysely, type Selectable } from 'kysely';
import type { IndicatorType, Tlp, Verdict } from '@yamori/protocol';
import type { IntelDb } from '../db/schema.ts';
import type { IndicatorKey, Observation } from '../feeds/prepare-import.ts';
import { parseCidr } from './normalise.ts';
import { combineVerdicts, type Assertion } from './verdict-combine.ts';

/** All SQL about indicators, observations, relations and the change feed (SQLite and PostgreSQL). */
/** An observation as stored: one source's word on one value. */
function observationRow(o: Observation, source: string) {
  return {
    type: o.type,
    value: o.value,
    source,
    verdict: o.verdict,
    confidence: o.confidence,
    tlp: o.tlp,
    first_seen: o.firstSeen,
    last_seen: o.lastSeen,
    expires_at: o.expiresAt,
  };
}

export type IntelKysely = Kysely<IntelDb>;
export type IndicatorRow = Selectable<IntelDb['indicators']>;
export type ChangeRow = Selectable<IntelDb['changes']>;

export const DEFAULT_TRUST = 0.5;
export const BUILTIN_TRUST: Record<string, number> = { sandbox: 1, manual: 1 };

const CHUNK = 400;

function chunks<T>(list: readonly T[], size = CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

/**
 * Change-feed order must equal commit order, or a follower could skip a sequence number that
 * commits late. SQLite has one writer anyway; on PostgreSQL every writer of `changes` takes this
 * transaction-scoped lock first.
 */
export async function lockChangeFeed(trx: IntelKysely): Promise<void> {
  if (trx.getExecutor().adapter instanceof PostgresAdapter) await sql`select pg_advisory_xact_lock(7236001)`.execute(trx);
}

export async function loadTrust(db: IntelKysely): Promise<(source: string) => number> {
  const rows = await db.selectFrom('sources').select(['name', 'trust']).execute();
  const map = new Map<string, number>(Object.entries(BUILTIN_TRUST));
  for (const r of rows) map.set(r.name, r.trust);
  return (s) => map.get(s) ?? DEFAULT_TRUST;
}

export async function ensureSource(db: IntelKysely, name: string, now: number): Promise<void> {
  await db
    .insertInto('sources')
    .values({
      name,
      trust: BUILTIN_TRUST[name] ?? DEFAULT_TRUST,
      url: null,
      format: null,
      default_type: null,
      interval_s: null,
      enabled: 1,
      next_fetch_at: null,
      last_fetch_at: null,
      last_status: null,
      etag: null,
      created_at: now,
    })
    .onConflict((oc) => oc.column('name').doNothing())
    .execute();
}

export interface ApplyResult {
  changed: number;
  lastSeq: number;
}

/** Upserts one source's observations and recomputes the combined verdicts they touch. Run in a transaction. */
export async function applyObservations(
  trx: IntelKysely,
  source: string,
  observations: readonly Observation[],
  trustOf: (source: string) => number,
  now: number,
): Promise<ApplyResult> {
  for (const part of chunks(observations)) {
    await trx
      .insertInto('observations')
      .values(
        part.map((o) => observationRow(o, source)),
      )
      .onConflict((oc) =>
        oc.columns(['type', 'value', 'source']).doUpdateSet((eb) => ({
          verdict: eb.ref('excluded.verdict'),
          confidence: eb.ref('excluded.confidence'),
          tlp: eb.ref('excluded.tlp'),
          last_seen: eb.ref('excluded.last_seen'),
          expires_at: eb.ref('excluded.expires_at'),
        })),
      )
      .execute();
  }
  await noteCidrPrefixes(trx, observations);
  return recompute(trx, observations, trustOf, now);
}

async function noteCidrPrefixes(trx: IntelKysely, keys: readonly IndicatorKey[]): Promise<void> {
  const seen = new Map<string, { family: number; prefix: number }>();
  for (const k of keys) {
    if (k.type !== 'cidr') continue;
    const c = parseCidr(k.value);
    if (c) seen.set(`${c.family}/${c.prefix}`, { family: c.family, prefix: c.prefix });
  }
  if (seen.size === 0) return;
  await trx
    .insertInto('cidr_prefixes')
    .values([...seen.values()])
    .onConflict((oc) => oc.columns(['family', 'prefix']).doNothing())
    .execute();
}

function groupByType(keys: readonly IndicatorKey[]): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const k of keys) {
    const list = m.get(k.type) ?? [];
    list.push(k.value);
    m.set(k.type, list);
  }
  for (const [t, vs] of m) m.set(t, [...new Set(vs)]);
  return m;
}

/** Recomputes the combined verdict of `keys` from their observations; appends a change where it moved. */
export async function recompute(
  trx: IntelKysely,
  keys: readonly IndicatorKey[],
  trustOf: (source: string) => number,
  now: number,
): Promise<ApplyResult> {
  let changed = 0;
  let lastSeq = 0;
  for (const [type, values] of groupByType(keys)) {
    for (const part of chunks(values)) {
      const obs = await trx
        .selectFrom('observations')
        .selectAll()
        .where('type', '=', type)
        .where('value', 'in', part)
        .execute();
      const current = await trx
        .selectFrom('indicators')
        .selectAll()
        .where('type', '=', type)
        .where('value', 'in', part)
        .execute();
      const byValue = new Map<string, Selectable<IntelDb['observations']>[]>();
      for (const o of obs) {
        const l = byValue.get(o.value) ?? [];
        l.push(o);
        byValue.set(o.value, l);
      }
      const cur = new Map(current.map((c) => [c.value, c]));
      const upserts: IndicatorRow[] = [];
      const changes: Omit<ChangeRow, 'seq'>[] = [];
      const deletes: string[] = [];
      for (const value of part) {
        const list = byValue.get(value) ?? [];
        const prev = cur.get(value);
        if (list.length === 0) {
          if (prev) deletes.push(value);
          if (prev && prev.verdict !== 'unknown') {
            changes.push({ type, value, verdict: 'unknown', confidence: 0, source: '', at: now });
          }
          continue;
        }
        const c = combineVerdicts(
          list.map((o): Assertion => ({
            source: o.source,
            verdict: o.verdict as Verdict,
            confidence: o.confidence,
            tlp: o.tlp as Tlp,
            expiresAt: o.expires_at,
          })),
          trustOf,
          now,
        );
        const firstSeen = Math.min(...list.map((o) => o.first_seen));
        const lastSeen = Math.max(...list.map((o) => o.last_seen));
        // Compared with what the change feed last said (the stored row), so a lapse is announced too.
        const prevVerdict = prev?.verdict ?? 'unknown';
        const moved = prevVerdict !== c.verdict || (prev?.confidence ?? 0) !== c.confidence || (prev?.source ?? '') !== c.source;
        if (moved && !(prevVerdict === 'unknown' && c.verdict === 'unknown')) {
          changes.push({ type, value, verdict: c.verdict, confidence: c.confidence, source: c.source, at: now });
        }
        upserts.push({
          type,
          value,
          verdict: c.verdict,
          confidence: c.confidence,
          source: c.source,
          tlp: c.tlp,
          first_seen: firstSeen,
          last_seen: lastSeen,
          expires_at: c.expiresAt,
          updated_at: now,
        });
      }
      if (upserts.length > 0) {
        await trx
          .insertInto('indicators')
          .values(upserts)
          .onConflict((oc) =>
            oc.columns(['type', 'value']).doUpdateSet((eb) => ({
              verdict: eb.ref('excluded.verdict'),
              confidence: eb.ref('excluded.confidence'),
              source: eb.ref('excluded.source'),
              tlp: eb.ref('excluded.tlp'),
              first_seen: eb.ref('excluded.first_seen'),
              last_seen: eb.ref('excluded.last_seen'),
              expires_at: eb.ref('excluded.expires_at'),
              updated_at: eb.ref('excluded.updated_at'),
            })),
          )
          .execute();
      }
      if (deletes.length > 0) {
        await trx.deleteFrom('indicators').where('type', '=', type).where('value', 'in', deletes).execute();
      }
      if (changes.length > 0) {
        const seqs = await trx.insertInto('changes').values(changes).returning('seq').execute();
        changed += changes.length;
        lastSeq = Math.max(lastSeq, ...seqs.map((s) => Number(s.seq)));
      }
    }
  }
  return { changed, lastSeq };
}

/** Stores both directions of each pair; returns how many pairs were new. */
export async function addRelations(trx: IntelKysely, pairs: readonly [IndicatorKey, IndicatorKey][], now: number): Promise<number> {
  let added = 0;
  for (const part of chunks(pairs, 200)) {
    const rows = part.flatMap(([a, b]) => [
      { a_type: a.type, a_value: a.value, b_type: b.type, b_value: b.value, created_at: now },
      { a_type: b.type, a_value: b.value, b_type: a.type, b_value: a.value, created_at: now },
    ]);
    const r = await trx
      .insertInto('relations')
      .values(rows)
      .onConflict((oc) => oc.columns(['a_type', 'a_value', 'b_type', 'b_value']).doNothing())
      .executeTakeFirst();
    added += Number(r.numInsertedOrUpdatedRows ?? 0) / 2;
  }
  return Math.round(added);
}

/** Removes one source's assertions about the given values (a feed withdrew them). */
export async function withdrawObservations(trx: IntelKysely, source: string, keys: readonly IndicatorKey[]): Promise<void> {
  for (const [type, values] of groupByType(keys)) {
    for (const part of chunks(values)) {
      await trx.deleteFrom('observations').where('source', '=', source).where('type', '=', type).where('value', 'in', part).execute();
    }
  }
}

/** Combined rows for the given keys, keyed `type\0value`. */
export type LookupRow = Pick<IndicatorRow, 'type' | 'value' | 'verdict' | 'confidence' | 'source' | 'expires_at'>;

export async function findIndicators(db: IntelKysely, keys: readonly IndicatorKey[]): Promise<Map<string, LookupRow>> {
  const out = new Map<string, LookupRow>();
  for (const [type, values] of groupByType(keys)) {
    for (const part of chunks(values, 1000)) {
      const rows = await db
        .selectFrom('indicators')
        .select(['type', 'value', 'verdict', 'confidence', 'source', 'expires_at'])
        .where('type', '=', type)
        .where('value', 'in', part)
        .execute();
      for (const r of rows) out.set(`${r.type}\u0000${r.value}`, r);
    }
  }
  return out;
}

export async function cidrPrefixes(db: IntelKysely): Promise<{ v4: number[]; v6: number[] }> {
  const rows = await db.selectFrom('cidr_prefixes').select(['family', 'prefix']).execute();
  return {
    v4: rows.filter((r) => r.family === 4).map((r) => r.prefix),
    v6: rows.filter((r) => r.family === 6).map((r) => r.prefix),
  };
}

export async function getIndicator(db: IntelKysely, type: IndicatorType, value: string): Promise<IndicatorRow | undefined> {
  return db.selectFrom('indicators').selectAll().where('type', '=', type).where('value', '=', value).executeTakeFirst();
}

export async function getObservations(db: IntelKysely, type: IndicatorType, value: string) {
  return db
    .selectFrom('observations')
    .selectAll()
    .where('type', '=', type)
    .where('value', '=', value)
    .orderBy('source')
    .execute();
}

export async function getRelated(db: IntelKysely, type: IndicatorType, value: string, limit = 256): Promise<IndicatorKey[]> {
  const rows = await db
    .selectFrom('relations')
    .select(['b_type', 'b_value'])
    .where('a_type', '=', type)
    .where('a_value', '=', value)
    .orderBy('b_type')
    .orderBy('b_value')
    .limit(limit)
    .execute();
  return rows.map((r) => ({ type: r.b_type as IndicatorType, value: r.b_value }));
}

export interface ExportFilter {
  types: readonly IndicatorType[];
  verdicts: readonly Verdict[];
  minConfidence: number;
  tlps: readonly Tlp[];
  now: number;
}

export async function listForExport(db: IntelKysely, f: ExportFilter): Promise<IndicatorRow[]> {
  return db
    .selectFrom('indicators')
    .selectAll()
    .where('type', 'in', [...f.types])
    .where('verdict', 'in', [...f.verdicts])
    .where('confidence', '>=', f.minConfidence)
    .where('tlp', 'in', [...f.tlps])
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', f.now)]))
    .orderBy('type')
    .orderBy('value')
    .execute();
}

export async function changesSince(db: IntelKysely, since: number, limit: number): Promise<ChangeRow[]> {
  return db.selectFrom('changes').selectAll().where('seq', '>', since).orderBy('seq').limit(limit).execute();
}

export async function headSeq(db: IntelKysely): Promise<number> {
  const r = await db.selectFrom('changes').select((eb) => eb.fn.max('seq').as('m')).executeTakeFirst();
  return Number(r?.m ?? 0);
}

/** Indicators whose combined verdict lapsed by `now` (expiry of the winning assertions). */
export async function dueForExpiry(db: IntelKysely, now: number, limit: number): Promise<IndicatorKey[]> {
  const rows = await db
    .selectFrom('indicators')
    .select(['type', 'value'])
    .where('expires_at', '<=', now)
    .where('verdict', '!=', 'unknown')
    .limit(limit)
    .execute();
  return rows.map((r) => ({ type: r.type as IndicatorType, value: r.value }));
}

/**
 * The fast path for seeding a fresh store (benchmarks, first load of a big list): values not yet
 * present are inserted with one source's verdict as the combined one and a change each; existing
 * values are left alone (use the normal import for those). Returns how many were inserted.
 */
export async function seedIndicators(
  trx: IntelKysely,
  source: string,
  observations: readonly Observation[],
  trust: number,
  now: number,
): Promise<number> {
  await lockChangeFeed(trx);
  // Sorted keys fill the B-tree indexes in order (appends, not random page splits).
  const sorted = [...observations].sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
  let inserted = 0;
  for (const part of chunks(sorted, 1000)) {
    const r = await trx
      .insertInto('observations')
      .values(
        part.map((o) => observationRow(o, source)),
      )
      .onConflict((oc) => oc.columns(['type', 'value', 'source']).doNothing())
      .returning(['type', 'value'])
      .execute();
    if (r.length === 0) continue;
    const fresh = new Set(r.map((x) => `${x.type}\u0000${x.value}`));
    const rows = part.filter((o) => fresh.has(`${o.type}\u0000${o.value}`));
    const conf = (o: Observation) => Math.max(1, Math.round(o.confidence * trust));
    const ins = await trx
      .insertInto('indicators')
      .values(
        rows.map((o) => ({
          type: o.type,
          value: o.value,
          verdict: o.verdict,
          confidence: conf(o),
          source,
          tlp: o.tlp,
          first_seen: o.firstSeen,
          last_seen: o.lastSeen,
          expires_at: o.expiresAt,
          updated_at: now,
        })),
      )
      .onConflict((oc) => oc.columns(['type', 'value']).doNothing())
      .returning(['type', 'value'])
      .execute();
    const added = new Set(ins.map((x) => `${x.type}\u0000${x.value}`));
    const changes = rows
      .filter((o) => added.has(`${o.type}\u0000${o.value}`) && o.verdict !== 'unknown')
      .map((o) => ({ type: o.type, value: o.value, verdict: o.verdict, confidence: conf(o), source, at: now }));
    if (changes.length > 0) await trx.insertInto('changes').values(changes).execute();
    inserted += added.size;
  }
  await noteCidrPrefixes(trx, observations);
  return inserted;
}

/** One page of the values a source asserts, after `after` in key order (for recomputing on a trust change). */
export async function sourceKeys(db: IntelKysely, source: string, after: IndicatorKey | undefined, limit: number): Promise<IndicatorKey[]> {
  let q = db.selectFrom('observations').select(['type', 'value']).where('source', '=', source).orderBy('type').orderBy('value').limit(limit);
  if (after) q = q.where((eb) => eb.or([eb('type', '>', after.type), eb.and([eb('type', '=', after.type), eb('value', '>', after.value)])]));
  const rows = await q.execute();
  return rows.map((r) => ({ type: r.type as IndicatorType, value: r.value }));
}
