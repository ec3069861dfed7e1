import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffMs, takeToken } from './backoff.ts';

void test('backoff grows exponentially with jitter and is capped', () => {
  assert.equal(backoffMs(1, 0), 500);
  assert.equal(backoffMs(1, 1), 1000);
  assert.equal(backoffMs(4, 0), 4000);
  assert.equal(backoffMs(100, 1), 300_000);
  assert.ok(backoffMs(100, 0) >= 150_000);
});

void test('token bucket: burst of one second, then the rate', () => {
  let b = { tokens: 3, at: 0 };
  const take = (now: number) => {
    const r = takeToken(b, now, 3);
    b = r.bucket;
    return r.ok;
  };
  assert.deepEqual([take(0), take(0), take(0), take(0)], [true, true, true, false]);
  assert.equal(take(340), true); // 0.34 s × 3/s ≈ 1 token
  assert.equal(take(340), false);
});
