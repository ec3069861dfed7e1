import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createPopupLimiter, DEFAULT_POPUP_LIMITS } from './popup-limits.ts';

void test('one popup per user and program per 10 s', () => {
  const l = createPopupLimiter();
  assert.equal(l.admit(1000, '/tmp/a', 0), 'show');
  assert.equal(l.admit(1000, '/tmp/a', 9_999), 'same_program');
  assert.equal(l.admit(1001, '/tmp/a', 9_999), 'show'); // another user
  assert.equal(l.admit(1000, '/tmp/b', 9_999), 'show'); // another program
  assert.equal(l.admit(1000, '/tmp/a', 10_000), 'show');
});

void test('a loop of distinct blocked programs is capped per user and in all', () => {
  const l = createPopupLimiter({ ...DEFAULT_POPUP_LIMITS, perUserMax: 3, globalMax: 5, windowMs: 60_000 });
  const shown = (uid: number, from: number, n: number, t: number) =>
    Array.from({ length: n }, (_, i) => l.admit(uid, `/tmp/p${from + i}`, t));
  assert.deepEqual(shown(1000, 0, 5, 0), ['show', 'show', 'show', 'user_cap', 'user_cap']);
  assert.deepEqual(shown(1001, 0, 3, 1), ['show', 'show', 'global_cap']);
  assert.deepEqual(shown(1002, 0, 1, 59_999), ['global_cap']);
  // the window slides: a minute later the caps are free again
  assert.deepEqual(shown(1000, 100, 1, 60_000), ['show']);
});

void test('the remembered (user, program) pairs stay bounded', () => {
  const l = createPopupLimiter({ ...DEFAULT_POPUP_LIMITS, perUserMax: 1e9, globalMax: 1e9, maxKeys: 100 });
  for (let i = 0; i < 1000; i++) assert.equal(l.admit(1000, `/tmp/p${i}`, i), 'show');
  // the newest pair is still limited
  assert.equal(l.admit(1000, '/tmp/p999', 1000), 'same_program');
});
