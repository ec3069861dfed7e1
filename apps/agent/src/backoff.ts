/**
 * Flow control, pure: jittered exponential backoff for retries and a token bucket for telemetry
 * rate limits. Time and randomness are passed in.
 */

/** Delay before retry number `attempt` (1-based): "equal jitter", between half and all of base·2^(attempt-1), capped. */
export function backoffMs(attempt: number, random: number, baseMs = 1000, maxMs = 300_000): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, Math.min(30, attempt - 1)));
  return Math.round(ceiling / 2 + (ceiling / 2) * Math.min(1, Math.max(0, random)));
}

export interface TokenBucket {
  tokens: number;
  at: number;
}

/** Take one token at `now` from a bucket refilled at `ratePerS` (burst = one second's worth). */
export function takeToken(b: TokenBucket, now: number, ratePerS: number): { ok: boolean; bucket: TokenBucket } {
  const tokens = Math.min(ratePerS, b.tokens + ((now - b.at) / 1000) * ratePerS);
  if (tokens >= 1) return { ok: true, bucket: { tokens: tokens - 1, at: now } };
  return { ok: false, bucket: { tokens, at: now } };
}
