import type { FeedFormat, FeedImportReport, IndicatorType } from '@yamori/protocol';
import { importFeed, type ImportDeps } from './import-service.ts';
import { claimFetch, dueSources, recordFetch, type SourceRow } from './source-repository.ts';

/**
 * Scheduled feeds: each due source is claimed (one instance fetches), fetched with fetch() (ETag
 * revalidation, size cap, timeout) and imported like an upload. Failures are recorded on the
 * source and retried at the next interval.
 */
export interface FetchDeps extends ImportDeps {
  fetch?: typeof fetch;
  maxBytes: number;
  timeoutMs?: number;
}

export async function fetchSource(deps: FetchDeps, src: SourceRow): Promise<FeedImportReport | 'not-modified'> {
  const f = deps.fetch ?? fetch;
  const res = await f(src.url!, {
    headers: { 'user-agent': 'yamori-intel/0.1', ...(src.etag ? { 'if-none-match': src.etag } : {}) },
    signal: AbortSignal.timeout(deps.timeoutMs ?? 60_000),
    redirect: 'follow',
  });
  if (res.status === 304) return 'not-modified';
  if (!res.ok) throw new Error(`HTTP ${res.status} ${res.statusText}`);
  const declared = Number(res.headers.get('content-length') ?? 0);
  if (declared > deps.maxBytes) throw new Error(`feed is ${declared} bytes, over the ${deps.maxBytes} limit`);
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (res.body) {
    for await (const c of res.body as AsyncIterable<Uint8Array>) {
      size += c.length;
      if (size > deps.maxBytes) throw new Error(`feed larger than ${deps.maxBytes} bytes`);
      chunks.push(c);
    }
  }
  const text = Buffer.concat(chunks).toString('utf8');
  const report = await importFeed(deps, {
    text,
    format: src.format as FeedFormat,
    source: src.name,
    type: (src.default_type as IndicatorType | null) ?? undefined,
  });
  const etag = res.headers.get('etag');
  await recordFetch(deps.database.db, src.name, summary(report), etag, deps.now());
  return report;
}

export function summary(r: FeedImportReport): string {
  return `ok: ${r.imported} imported, ${r.changed} changed, ${r.rejected} rejected, ${r.unsupported} unsupported, ${r.skipped} skipped`;
}

/** One scheduler tick: fetch every due source this instance wins. Returns what happened per source. */
export async function runDueFeeds(deps: FetchDeps): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const now = deps.now();
  for (const src of await dueSources(deps.database.db, now)) {
    if (!(await claimFetch(deps.database.db, src, now))) continue;
    try {
      const r = await fetchSource(deps, src);
      if (r === 'not-modified') {
        await recordFetch(deps.database.db, src.name, 'ok: not modified', null, deps.now());
        out[src.name] = 'not modified';
      } else out[src.name] = summary(r);
    } catch (e) {
      const msg = `error: ${(e as Error).message}`;
      await recordFetch(deps.database.db, src.name, msg, null, deps.now());
      out[src.name] = msg;
    }
  }
  return out;
}
