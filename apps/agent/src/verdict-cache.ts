import type { Verdict, VerdictUpdate } from '@yamori/protocol';

/**
 * Bounded LRU of sha256 → verdict, fed by lookups and by the check-in's verdict stream. A verdict
 * that changes for a hash already known calls `onInvalidate` so the sensor can flush its kernel
 * cache / ignore marks for that file. Pure (no clock, no I/O): a Map keeps insertion order, and
 * re-inserting on access makes it an LRU.
 */
export interface CachedVerdict {
  verdict: Verdict;
  source: string;
  /** Server sequence number of the update, 0 for lookup answers; an older seq never overwrites. */
  seq: number;
}

export interface VerdictCache {
  get(sha256: string): CachedVerdict | undefined;
  /** Record a lookup answer (seq 0 unless known). */
  set(sha256: string, v: CachedVerdict): void;
  /** Apply the check-in's verdict updates; returns the hashes whose verdict changed. */
  applyUpdates(updates: readonly VerdictUpdate[]): string[];
  readonly size: number;
  clear(): void;
}

export interface VerdictCacheDeps {
  maxEntries?: number;
  onInvalidate?: (sha256s: string[]) => void;
}

export function createVerdictCache(deps: VerdictCacheDeps = {}): VerdictCache {
  const max = Math.max(1, deps.maxEntries ?? 100_000);
  const map = new Map<string, CachedVerdict>();

  const put = (key: string, v: CachedVerdict): boolean => {
    const old = map.get(key);
    if (old && old.seq > v.seq) return false;
    const changed = old !== undefined && old.verdict !== v.verdict;
    map.delete(key);
    map.set(key, { verdict: v.verdict, source: v.source, seq: v.seq });
    while (map.size > max) {
      const oldest = map.keys().next();
      if (oldest.done) break;
      map.delete(oldest.value);
    }
    return changed;
  };

  return {
    get(sha256) {
      const key = sha256.toLowerCase();
      const v = map.get(key);
      if (v) {
        map.delete(key);
        map.set(key, v);
      }
      return v;
    },
    set(sha256, v) {
      if (put(sha256.toLowerCase(), v)) deps.onInvalidate?.([sha256.toLowerCase()]);
    },
    applyUpdates(updates) {
      const changed: string[] = [];
      for (const u of updates) {
        const key = u.sha256.toLowerCase();
        const had = map.has(key);
        // An update for a hash we never cached still matters to the kernel cache: a file allowed
        // (and ignore-marked) while unknown must be re-checked once it gets a verdict.
        if (put(key, { verdict: u.verdict, source: u.source, seq: u.seq }) || (!had && u.verdict !== 'benign')) changed.push(key);
      }
      if (changed.length > 0) deps.onInvalidate?.(changed);
      return changed;
    },
    get size() {
      return map.size;
    },
    clear() {
      map.clear();
    },
  };
}
