/** Token bucket, pure: state in, state out; `now` in milliseconds. */
export interface Bucket {
  tokens: number;
  at: number;
}

export interface TakeResult {
  ok: boolean;
  bucket: Bucket;
  /** When refused: seconds until `cost` tokens are available. */
  retryAfterS: number;
}

export function take(bucket: Bucket | undefined, cost: number, ratePerS: number, burst: number, now: number): TakeResult {
  const prev = bucket ?? { tokens: burst, at: now };
  const tokens = Math.min(burst, prev.tokens + ((now - prev.at) / 1000) * ratePerS);
  if (cost <= tokens) return { ok: true, bucket: { tokens: tokens - cost, at: now }, retryAfterS: 0 };
  const missing = Math.min(cost, burst) - tokens;
  return { ok: false, bucket: { tokens, at: now }, retryAfterS: Math.max(1, Math.ceil(missing / ratePerS)) };
}

/** Per-key buckets for one process, with a bound on how many keys are remembered. */
export function createLimiter(ratePerS: number, burst: number, maxKeys = 100_000) {
  const buckets = new Map<string, Bucket>();
  return (key: string, cost: number, now: number): TakeResult => {
    const r = take(buckets.get(key), cost, ratePerS, burst, now);
    buckets.delete(key);
    buckets.set(key, r.bucket);
    if (buckets.size > maxKeys) buckets.delete(buckets.keys().next().value as string);
    return r;
  };
}
