import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createVerdictCache } from './verdict-cache.ts';

const h = (c: string) => c.repeat(64);

void test('LRU: least recently used entry is evicted first', () => {
  const c = createVerdictCache({ maxEntries: 2 });
  c.set(h('a'), { verdict: 'benign', source: 's', seq: 0 });
  c.set(h('b'), { verdict: 'benign', source: 's', seq: 0 });
  c.get(h('a'));
  c.set(h('c'), { verdict: 'benign', source: 's', seq: 0 });
  assert.equal(c.size, 2);
  assert.ok(c.get(h('a')));
  assert.equal(c.get(h('b')), undefined);
});

void test('check-in updates: changed verdicts invalidate; older seq never overwrites', () => {
  const flushed: string[][] = [];
  const c = createVerdictCache({ onInvalidate: (s) => flushed.push(s) });
  c.set(h('a'), { verdict: 'unknown', source: 'lookup', seq: 0 });
  const changed = c.applyUpdates([
    { sha256: h('a'), verdict: 'malicious', source: 'sandbox', seq: 5 },
    { sha256: h('b'), verdict: 'benign', source: 'intel', seq: 6 },
  ]);
  assert.deepEqual(changed, [h('a')]);
  assert.deepEqual(flushed, [[h('a')]]);
  assert.equal(c.get(h('a'))?.verdict, 'malicious');
  c.applyUpdates([{ sha256: h('a'), verdict: 'benign', source: 'old', seq: 4 }]);
  assert.equal(c.get(h('a'))?.verdict, 'malicious');
  // A verdict for a hash the cache never held still flushes: the kernel may have ignore-marked it.
  assert.deepEqual(c.applyUpdates([{ sha256: h('d'), verdict: 'malicious', source: 'x', seq: 7 }]), [h('d')]);
});
