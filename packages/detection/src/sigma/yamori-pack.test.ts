// Yamori's own rule pack (packages/detection/rules/yamori): every rule compiles, carries ATT&CK
// technique tags and a yamori response block, and has true-positive and false-positive test events
// (rules/yamori/tests/<rule>.tp.jsonl / .fp.jsonl, schema-valid ECS events) that it does / does not match.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { AnyEvent, parseWith } from '@yamori/protocol';
import { createSequenceEngine } from './correlation.ts';
import { loadSigmaPack } from './loader.ts';
import { synthesizeEvent } from './synthesize.ts';

const PACK = join(import.meta.dirname, '../../rules/yamori');
const TESTS = join(PACK, 'tests');
const pack = await loadSigmaPack([PACK]);
// Rules that only feed sequences report nothing on their own.
const silent = createSequenceEngine(pack.correlations).silentRuleIds;

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
  assert.ok(pack.correlations.length >= 1, 'the pack has sequences');
  for (const c of pack.correlations) assert.ok(c.techniques.length > 0 && c.response.length > 0, `${basename(c.file)}: techniques and response`);
});

type Ev = { '@timestamp': string; process?: { entity_id?: string; parent?: { entity_id?: string } } };
/** The pack's own notion of "same process tree" for test events: siblings under one parent, or descendants of the first step. */
const sameTree = (first: Ev, later: Ev) =>
  later.process?.parent?.entity_id === first.process?.parent?.entity_id || later.process?.parent?.entity_id === first.process?.entity_id;

void test('every sequence fires on its true-positive events, in order, and never on its false positives', () => {
  const failures: string[] = [];
  for (const c of pack.correlations) {
    const stem = basename(c.file).replace(/\.ya?ml$/, '');
    for (const [kind, want] of [['tp', 1], ['fp', 0]] as const) {
      const evs = events(join(TESTS, `${stem}.${kind}.jsonl`)) as Ev[];
      if (evs.length === 0) failures.push(`${stem}: no ${kind} events`);
      const seq = createSequenceEngine<Ev>([c], { sameTree });
      let fired = 0;
      for (const e of evs) {
        const ruleIds = new Set(pack.engine.match(e).map((m) => m.id));
        fired += seq.observe({ ruleIds, group: () => undefined, context: e, at: Date.parse(e['@timestamp']) }).length;
      }
      if (fired !== want) failures.push(`${stem}.${kind}.jsonl: fired ${fired} times, expected ${want}`);
    }
  }
  assert.deepEqual(failures, []);
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
  const stems = new Set([...pack.compiled.map((c) => c.rule.file), ...pack.correlations.map((c) => c.file)].map((f) => basename(f).replace(/\.ya?ml$/, '')));
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
      const hits = pack.engine
        .match(e)
        .filter((m) => !silent.has(m.id))
        .map((m) => m.title);
      if (hits.length > 0) noisy.push(`${f}:${i + 1} → ${hits.join(', ')}`);
    }
  }
  assert.deepEqual(noisy, []);
});
