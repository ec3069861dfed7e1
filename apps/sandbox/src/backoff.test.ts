import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelay } from './backoff.ts';

void test('backoff grows exponentially with jitter and stays under the cap', () => {
  const p = { baseMs: 100, maxMs: 1000 };
  assert.equal(
    backoffDelay(1, p, () => 0),
    50,
  );
  assert.equal(
    backoffDelay(1, p, () => 1),
    100,
  );
  assert.equal(
    backoffDelay(3, p, () => 1),
    400,
  );
  assert.equal(
    backoffDelay(50, p, () => 1),
    1000,
  );
  assert.equal(
    backoffDelay(50, p, () => 0),
    500,
  );
  assert.ok(backoffDelay(0, p, () => 0.5) > 0);
});
