import type { Selectable } from 'kysely';
import type { FeedFormat, FeedSource, FeedSourceInput, IndicatorType } from '@yamori/protocol';
import type { IntelDb } from '../db/schema.ts';
import { BUILTIN_TRUST, DEFAULT_TRUST, type IntelKysely } from '../indicators/indicator-repository.ts';

/** Feed sources: trust weights, and for scheduled feeds the URL, format and interval. */
export type SourceRow = Selectable<IntelDb['sources']>;

export function toFeedSource(r: SourceRow): FeedSource {
  return {
    name: r.name,
    trust: r.trust,
    url: r.url,
    format: r.format as FeedFormat | null,
    type: r.default_type as IndicatorType | null,
    intervalS: r.interval_s,
    enabled: r.enabled === 1,
    lastFetchAt: r.last_fetch_at === null ? null : new Date(r.last_fetch_at).toISOString(),
    lastStatus: r.last_status,
  };
}

export async function listSources(db: IntelKysely): Promise<SourceRow[]> {
  return db.selectFrom('sources').selectAll().orderBy('name').execute();
}

export async function getSource(db: IntelKysely, name: string): Promise<SourceRow | undefined> {
  return db.selectFrom('sources').selectAll().where('name', '=', name).executeTakeFirst();
}

/** Creates or updates a source; fields not given keep their value (or the default on create). */
export async function putSource(db: IntelKysely, input: FeedSourceInput, now: number): Promise<SourceRow> {
  const prev = await getSource(db, input.name);
  const row: SourceRow = {
    name: input.name,
    trust: input.trust ?? prev?.trust ?? BUILTIN_TRUST[input.name] ?? DEFAULT_TRUST,
    url: input.url ?? prev?.url ?? null,
    format: input.format ?? prev?.format ?? null,
    default_type: input.type ?? prev?.default_type ?? null,
    interval_s: input.intervalS ?? prev?.interval_s ?? null,
    enabled: input.enabled === undefined ? (prev?.enabled ?? 1) : input.enabled ? 1 : 0,
    next_fetch_at: input.url !== undefined || input.intervalS !== undefined ? now : (prev?.next_fetch_at ?? null),
    last_fetch_at: prev?.last_fetch_at ?? null,
    last_status: prev?.last_status ?? null,
    etag: input.url !== undefined ? null : (prev?.etag ?? null),
    created_at: prev?.created_at ?? now,
  };
  await db
    .insertInto('sources')
    .values(row)
    .onConflict((oc) =>
      oc.column('name').doUpdateSet({
        trust: row.trust,
        url: row.url,
        format: row.format,
        default_type: row.default_type,
        interval_s: row.interval_s,
        enabled: row.enabled,
        next_fetch_at: row.next_fetch_at,
        etag: row.etag,
      }),
    )
    .execute();
  return row;
}

export async function deleteSource(db: IntelKysely, name: string): Promise<boolean> {
  const r = await db.deleteFrom('sources').where('name', '=', name).executeTakeFirst();
  return Number(r.numDeletedRows) === 1;
}

/** Scheduled sources whose time has come. */
export async function dueSources(db: IntelKysely, now: number): Promise<SourceRow[]> {
  return db
    .selectFrom('sources')
    .selectAll()
    .where('enabled', '=', 1)
    .where('url', 'is not', null)
    .where('interval_s', 'is not', null)
    .where('format', 'is not', null)
    .where((eb) => eb.or([eb('next_fetch_at', 'is', null), eb('next_fetch_at', '<=', now)]))
    .execute();
}

/** Claims one fetch across instances: only the instance whose conditional update wins fetches. */
export async function claimFetch(db: IntelKysely, row: SourceRow, now: number): Promise<boolean> {
  const r = await db
    .updateTable('sources')
    .set({ next_fetch_at: now + (row.interval_s ?? 3600) * 1000 })
    .where('name', '=', row.name)
    .where((eb) => (row.next_fetch_at === null ? eb('next_fetch_at', 'is', null) : eb('next_fetch_at', '=', row.next_fetch_at)))
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

export async function recordFetch(db: IntelKysely, name: string, status: string, etag: string | null, now: number): Promise<void> {
  await db
    .updateTable('sources')
    .set({ last_fetch_at: now, last_status: status.slice(0, 2048), ...(etag !== null ? { etag } : {}) })
    .where('name', '=', name)
    .execute();
}
