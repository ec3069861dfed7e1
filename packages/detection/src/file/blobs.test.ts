import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BASE64_MIN_ENTROPY, findBase64Blob } from './blobs.ts';
import { entropy } from './entropy.ts';

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** The definition, one character at a time: the first run (line breaks allowed inside) of ≥ minRun base64 characters with encoded-data entropy. */
function reference(s: string, minRun: number): string | undefined {
  let start = -1;
  let count = 0;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s[i]! : '\0';
    if (B64.includes(c)) {
      if (start < 0) start = i;
      count++;
      continue;
    }
    if (start >= 0 && (c === '\n' || c === '\r')) continue;
    if (count >= minRun) {
      const run = s.slice(start, Math.min(i, start + 65536)).replace(/[\r\n]/g, '');
      if (entropy(Buffer.from(run, 'latin1')) >= BASE64_MIN_ENTROPY) return run;
    }
    start = -1;
    count = 0;
  }
  return undefined;
}

// Text made of pieces that exercise the edges: base64 wrapped at 32–80 characters, identifier-like
// runs (low entropy), line breaks, binary bytes.
const wrapped = fc
  .tuple(fc.uint8Array({ minLength: 300, maxLength: 1200 }), fc.integer({ min: 32, max: 80 }), fc.constantFrom('\n', '\r\n'))
  .map(([bytes, width, nl]) => {
    const b = Buffer.from(bytes).toString('base64');
    const lines: string[] = [];
    for (let i = 0; i < b.length; i += width) lines.push(b.slice(i, i + width));
    return lines.join(nl);
  });
const piece = fc.oneof(
  wrapped,
  fc.stringMatching(/^[a-z_]{1,80}$/),
  fc.constantFrom('\n', '\r\n', ' ', '\0', '=', 'AAAA', 'x'.repeat(600)),
  fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b).toString('latin1')),
);

void test('findBase64Blob agrees with the per-character definition (wrapped at ≥ 32 characters per line)', () => {
  let found = 0;
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 12 }), fc.constantFrom(400, 512), (parts, minRun) => {
      const s = parts.join('');
      const want = reference(s, minRun);
      if (want !== undefined) found++;
      assert.equal(findBase64Blob(s, minRun), want);
      assert.equal(findBase64Blob(Buffer.from(s, 'latin1'), minRun), reference(s, minRun));
    }),
    { numRuns: 400 },
  );
  assert.ok(found > 40, `only ${found} inputs held a blob`);
});

void test('findBase64Blob: short minimum runs, and no blob in random binary data', () => {
  assert.equal(findBase64Blob('ab==cdefgh', 4), reference('ab==cdefgh', 4));
  const random = Buffer.alloc(1 << 20);
  for (let i = 0; i < random.length; i++) random[i] = (i * 2654435761) >>> 24;
  assert.equal(findBase64Blob(random, 512), reference(random.toString('latin1'), 512));
});
