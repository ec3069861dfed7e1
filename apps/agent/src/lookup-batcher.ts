import type { LookupResponse } from '@yamori/protocol';
import type { KnownVerdict } from './decision.ts';

/**
 * Collects unknown hashes for a few milliseconds and asks the server once for all of them
 * (≤ 1000 per request); concurrent asks for the same hash share one answer.
 */
export interface LookupBatcher {
  lookup(sha256: string): Promise<KnownVerdict>;
}

export interface LookupBatcherDeps {
  lookup: (sha256: string[]) => Promise<LookupResponse>;
  lingerMs?: number;
  maxBatch?: number;
  onAnswer?: (sha256: string, v: KnownVerdict) => void;
}

export function createLookupBatcher(deps: LookupBatcherDeps): LookupBatcher {
  const linger = deps.lingerMs ?? 10;
  const max = Math.min(1000, deps.maxBatch ?? 1000);
  const waiting = new Map<string, { resolve: (v: KnownVerdict) => void; reject: (e: unknown) => void; promise: Promise<KnownVerdict> }>();
  let queued: string[] = [];
  let timer: NodeJS.Timeout | undefined;

  const flush = () => {
    timer = undefined;
    while (queued.length > 0) {
      const batch = queued.slice(0, max);
      queued = queued.slice(max);
      deps.lookup(batch).then(
        (res) => {
          const got = new Map(res.results.map((r) => [r.sha256, { verdict: r.verdict, source: r.source }]));
          for (const h of batch) {
            const w = waiting.get(h);
            waiting.delete(h);
            const v = got.get(h) ?? { verdict: 'unknown' as const, source: 'server:no-answer' };
            deps.onAnswer?.(h, v);
            w?.resolve(v);
          }
        },
        (err: unknown) => {
          for (const h of batch) {
            waiting.get(h)?.reject(err);
            waiting.delete(h);
          }
        },
      );
    }
  };

  return {
    lookup(sha256) {
      const have = waiting.get(sha256);
      if (have) return have.promise;
      let resolve!: (v: KnownVerdict) => void;
      let reject!: (e: unknown) => void;
      const promise = new Promise<KnownVerdict>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      promise.catch(() => undefined); // callers that gave up (timeout) must not cause unhandled rejections
      waiting.set(sha256, { resolve, reject, promise });
      queued.push(sha256);
      if (queued.length >= max) flush();
      else timer ??= setTimeout(flush, linger);
      return promise;
    },
  };
}
