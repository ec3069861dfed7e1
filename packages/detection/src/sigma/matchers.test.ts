import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { EventView } from './event-view.ts';
import { skeletonEvent } from './field-map.ts';
import { base64Offsets, compileLeaf, parseWildcards } from './matchers.ts';

/** Reference Sigma glob: `*` any run, `?` one char, `\*` `\?` `\\` escapes, case-insensitive. */
type Tok = ReturnType<typeof parseWildcards>[number];
function reference(toks: readonly Tok[], text: string): boolean {
  const p = toks.flatMap((t): ({ c: string } | { wild: '*' | '?' })[] => (typeof t === 'string' ? [...t.toLowerCase()].map((c) => ({ c })) : [t]));
  const s = [...text.toLowerCase()];
  const memo = new Map<string, boolean>();
  const go = (i: number, j: number): boolean => {
    const k = `${i},${j}`;
    const hit = memo.get(k);
    if (hit !== undefined) return hit;
    let r: boolean;
    if (i === p.length) r = j === s.length;
    else {
      const t = p[i] as { c: string } | { wild: '*' | '?' };
      if ('c' in t) r = j < s.length && s[j] === t.c && go(i + 1, j + 1);
      else if (t.wild === '?') r = j < s.length && go(i + 1, j + 1);
      else r = go(i + 1, j) || (j < s.length && go(i, j + 1));
    }
    memo.set(k, r);
    return r;
  };
  return go(0, 0);
}

const view = new EventView();
function matches(field: string, mods: string[], value: string, cl: string): boolean {
  const leaf = compileLeaf({ field, modifiers: mods, values: [value], line: 1 }, 'process_creation');
  const event = { ...skeletonEvent('process_creation'), process: { entity_id: 'e', pid: 1, command_line: cl } };
  return leaf.test(view.reset(event));
}

void test('wildcard, escape and contains/startswith/endswith semantics agree with a reference glob matcher', () => {
  const unit = fc.constantFrom('a', 'B', 'b', '*', '?', '\\', '/');
  const str = (max: number) => fc.string({ unit, maxLength: max });
  fc.assert(
    fc.property(str(6), str(10), fc.constantFrom('', 'contains', 'startswith', 'endswith'), (pattern, text, mode) => {
      // modifiers add wildcards around the parsed value (a trailing backslash stays a literal)
      const star: Tok = { wild: '*' };
      const body = parseWildcards(pattern);
      const full = mode === 'contains' ? [star, ...body, star] : mode === 'startswith' ? [...body, star] : mode === 'endswith' ? [star, ...body] : body;
      const got = matches('CommandLine', mode ? [mode] : [], pattern, text);
      assert.equal(got, reference(full, text), `${mode} ${JSON.stringify(pattern)} on ${JSON.stringify(text)}`);
    }),
    { numRuns: 3000, seed: 42 },
  );
});

void test('base64offset renderings are found inside the encoding of any surrounding text', () => {
  fc.assert(
    fc.property(fc.string({ minLength: 3, maxLength: 12 }), fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), (value, pre, post) => {
      const enc = Buffer.from(pre + value + post).toString('base64');
      assert.ok(base64Offsets(Buffer.from(value)).some((r) => enc.includes(r)), `${value} in ${pre}|${post}`);
    }),
    { numRuns: 500, seed: 3 },
  );
});
