import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileYaraRules, formatYaraDiagnostic, yaraAvailability } from './yara.ts';
import { enclosingRule, escapeMatchData } from './rule-source.ts';

const GOOD = `
rule Hello_Marker : demo test {
  meta:
    author = "yamori tests"
    score = 70
  strings:
    $a = "hello-marker"
    $b = { DE AD BE EF }
  condition:
    any of them
}
`;

const BROKEN = `
rule Fine_One { strings: $x = "fine" condition: $x }

rule Broken_Syntax {
  strings:
    $a = "oops"
  condition:
    $a and and
}
`;

const UNDEFINED = `
rule Uses_Filename { condition: filename == "x.exe" }
`;

void test('enclosingRule finds the rule an error line sits in', () => {
  assert.equal(enclosingRule(BROKEN, 8), 'Broken_Syntax');
  assert.equal(enclosingRule(BROKEN, 2), 'Fine_One');
  assert.equal(enclosingRule('import "pe"\n', 1), null);
  assert.equal(enclosingRule('private global rule X { condition: true }', 1), 'X');
});

void test('escapeMatchData prints like yara -s', () => {
  assert.equal(escapeMatchData(Buffer.from([0x41, 0x00, 0x5c, 0xff])), 'A\\x00\\\\\\xff');
});

const available = yaraAvailability();
// Missing libyara fails these tests (so CI cannot pass while YARA is silently off), unless a
// developer opts out on a machine without libyara-dev.
const skip = available.ok || !process.env['YAMORI_ALLOW_NO_YARA'] ? false : `libyara addon unavailable: ${available.reason}`;

void test('matched strings carry rule, namespace, tags, meta and offsets', { skip }, async () => {
  const r = await compileYaraRules([{ name: 'good.yar', source: GOOD, namespace: 'pack1' }]);
  assert.deepEqual(r.errors, []);
  assert.ok(r.ruleset);
  assert.equal(r.ruleset.ruleCount, 1);
  const data = Buffer.concat([Buffer.alloc(100, 0x20), Buffer.from('hello-marker'), Buffer.alloc(7), Buffer.from([0xde, 0xad, 0xbe, 0xef])]);
  const res = await r.ruleset.scan(data);
  assert.ok(res.ok);
  assert.equal(res.matches.length, 1);
  const m = res.matches[0];
  assert.ok(m);
  assert.equal(m.rule, 'Hello_Marker');
  assert.equal(m.namespace, 'pack1');
  assert.deepEqual(m.tags, ['demo', 'test']);
  assert.deepEqual(m.meta, { author: 'yamori tests', score: 70 });
  assert.deepEqual(
    m.strings.map((s) => [s.identifier, s.offset, s.length, s.dataText]),
    [
      ['$a', 100, 12, 'hello-marker'],
      ['$b', 119, 4, '\\xde\\xad\\xbe\\xef'],
    ],
  );
  assert.equal(m.strings[1]?.dataHex, 'deadbeef');
  const clean = await r.ruleset.scan(Buffer.from('nothing to see'));
  assert.deepEqual(clean, { ok: true, matches: [] });
});

void test('a syntax error names file, line, rule and reason; the other files still compile', { skip }, async () => {
  const r = await compileYaraRules([
    { name: 'good.yar', source: GOOD },
    { name: 'broken.yar', source: BROKEN },
    { name: 'externals.yar', source: UNDEFINED },
  ]);
  assert.deepEqual(r.accepted, ['good.yar']);
  assert.deepEqual(r.rejected.sort(), ['broken.yar', 'externals.yar']);
  const syntax = r.errors.find((e) => e.file === 'broken.yar');
  assert.ok(syntax, JSON.stringify(r.errors));
  assert.equal(syntax.rule, 'Broken_Syntax');
  assert.equal(syntax.line, 8);
  assert.match(syntax.message, /syntax error/);
  assert.match(formatYaraDiagnostic(syntax), /^broken\.yar:8: error in rule Broken_Syntax: .*syntax error/);
  const ext = r.errors.find((e) => e.file === 'externals.yar');
  assert.ok(ext);
  assert.equal(ext.rule, 'Uses_Filename');
  assert.match(ext.message, /undefined identifier "filename"/);
  assert.ok(r.ruleset);
  assert.equal(r.ruleset.ruleCount, 1);
});

void test('strict mode rejects the whole set on any error', { skip }, async () => {
  const r = await compileYaraRules([{ name: 'good.yar', source: GOOD }, { name: 'broken.yar', source: BROKEN }], { mode: 'strict' });
  assert.equal(r.ruleset, null);
  assert.deepEqual(r.accepted, []);
  assert.ok(r.errors.some((e) => e.file === 'broken.yar' && e.rule === 'Broken_Syntax'));
});

void test('a rule name reused by a second file is reported against that file', { skip }, async () => {
  const r = await compileYaraRules([{ name: 'a.yar', source: GOOD }, { name: 'b.yar', source: GOOD }]);
  assert.deepEqual(r.accepted, ['a.yar']);
  assert.deepEqual(r.rejected, ['b.yar']);
  assert.equal(r.errors[0]?.file, 'b.yar');
  assert.match(r.errors[0]?.message ?? '', /duplicated/);
});

void test('data over the size bound is not scanned', { skip }, async () => {
  const r = await compileYaraRules([{ name: 'good.yar', source: GOOD }]);
  assert.ok(r.ruleset);
  const res = await r.ruleset.scan(Buffer.alloc(2048), { maxBytes: 1024 });
  assert.equal(res.ok, false);
  assert.equal(!res.ok && res.error.code, 'too_large');
});
