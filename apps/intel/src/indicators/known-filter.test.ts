import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { KnownFilter } from './known-filter.ts';

test('the known-value filter has no false negatives and few false positives at capacity', () => {
  const f = new KnownFilter(100_000);
  const h = (i: number) => createHash('sha256').update(String(i)).digest('hex');
  for (let i = 0; i < 100_000; i++) f.add('sha256', h(i));
  f.add('domain', 'evil.example');
  for (let i = 0; i < 100_000; i += 97) assert.ok(f.mightContain('sha256', h(i)));
  assert.ok(f.mightContain('domain', 'evil.example'));
  let fp = 0;
  for (let i = 100_000; i < 120_000; i++) if (f.mightContain('sha256', h(i))) fp++;
  assert.ok(fp < 20_000 * 0.03, `false positives: ${fp} of 20000`);
});
