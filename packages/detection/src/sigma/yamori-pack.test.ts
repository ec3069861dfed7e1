// Yamori's own rule pack (packages/detection/rules/yamori): every rule compiles, carries ATT&CK
// technique tags and a yamori response block, and has true-positive and false-positive test events
// (rules/yamori/tests/<rule>.tp.jsonl / .fp.jsonl, schema-valid ECS events) that it does / does not match.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { AnyEvent, parseWith } from '@yamori/protocol';
import { loadSigmaPack } from './loader.ts';
import { synthesizeEvent } from './synthesize.ts';

const PACK = join(import.meta.dirname, '../../rules/yamori');
const TESTS = join(PACK, 'tests');
const pack = await loadSigmaPack([PACK]);

function events(file: string): unknown[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l, i) => {
      try {
        return JSON.parse(l) as unknown;
      } catch {
        throw new Error(`${file}:${i + 1}: not JSON`);
      }
    });
}

void test('every rule in the pack compiles, with ATT&CK techniques and a yamori response', () => {
  assert.deepEqual(pack.errors, []);
  assert.ok(pack.compiled.length >= 20, `only ${pack.compiled.length} rules`);
  for (const c of pack.compiled) {
    const name = basename(c.rule.file);
    assert.ok(c.result.techniques.length > 0, `${name}: no attack.tNNNN tag`);
    assert.ok((c.rule.yamori?.response.length ?? 0) > 0, `${name}: no yamori.response`);
    assert.ok(c.rule.description && c.rule.falsepositives.length > 0, `${name}: description and falsepositives are required`);
  }
});

void test('every rule matches its true positives and none of its false positives', () => {
  const failures: string[] = [];
  for (const c of pack.compiled) {
    const stem = basename(c.rule.file).replace(/\.ya?ml$/, '');
    const tp = events(join(TESTS, `${stem}.tp.jsonl`));
    const fp = events(join(TESTS, `${stem}.fp.jsonl`));
    if (tp.length === 0) failures.push(`${stem}: no true-positive events`);
    if (fp.length === 0) failures.push(`${stem}: no false-positive events`);
    tp.forEach((e, i) => {
      if (!pack.engine.match(e).some((m) => m.id === c.rule.id)) failures.push(`${stem}.tp.jsonl:${i + 1} not matched`);
    });
    fp.forEach((e, i) => {
      if (pack.engine.match(e).some((m) => m.id === c.rule.id)) failures.push(`${stem}.fp.jsonl:${i + 1} matched`);
    });
    if (!synthesizeEvent(c)) failures.push(`${stem}: no event synthesized`);
  }
  assert.deepEqual(failures, []);
});

void test('test events are valid Yamori ECS events, and every test file belongs to a rule', () => {
  const stems = new Set(pack.compiled.map((c) => basename(c.rule.file).replace(/\.ya?ml$/, '')));
  for (const f of readdirSync(TESTS)) {
    const m = /^(.+)\.(tp|fp)\.jsonl$/.exec(f);
    assert.ok(m && stems.has(m[1] as string), `stray test file ${f}`);
    for (const [i, e] of events(join(TESTS, f)).entries()) parseWith(AnyEvent, e, `${f}:${i + 1}`);
  }
});

void test('false-positive events stay quiet across the whole pack', () => {
  const noisy: string[] = [];
  for (const f of readdirSync(TESTS).filter((x) => x.endsWith('.fp.jsonl'))) {
    for (const [i, e] of events(join(TESTS, f)).entries()) {
      const hits = pack.engine.match(e).map((m) => m.title);
      if (hits.length > 0) noisy.push(`${f}:${i + 1} → ${hits.join(', ')}`);
    }
  }
  assert.deepEqual(noisy, []);
});
