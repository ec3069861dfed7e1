import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createSequenceEngine, parseSigmaCorrelation, resolveCorrelations } from './correlation.ts';

const corr = (body: string) => `title: T\nid: c-1\nlevel: high\ntags: [attack.t1105]\ncorrelation:\n${body}\nyamori:\n    response: [kill_tree]\n`;
const ok = (text: string) => {
  const r = parseSigmaCorrelation(text, 'c.yml');
  if (!r.ok) throw new Error(r.error.reason);
  return r.correlation;
};

void test('parses temporal_ordered and temporal correlations with group-by and timespan', () => {
  const c = ok(corr('    type: temporal_ordered\n    rules: [a, b]\n    group-by: [ProcessTree]\n    timespan: 5m'));
  assert.equal(c.type, 'temporal_ordered');
  assert.deepEqual(c.rules, ['a', 'b']);
  assert.equal(c.timespanMs, 300_000);
  assert.deepEqual(c.techniques, ['T1105']);
  assert.deepEqual(c.response, ['kill_tree']);
  assert.equal(c.generate, false);
});

void test('refuses what it cannot run, with the reason and the line', () => {
  const cases: [string, RegExp][] = [
    ['    type: event_count\n    rules: [a, b]\n    timespan: 5m', /event_count is not supported/],
    ['    type: temporal\n    rules: [a]\n    timespan: 5m', /at least two/],
    ['    type: temporal\n    rules: [a, b]\n    timespan: soon', /timespan/],
    ['    type: temporal\n    rules: [a, b]\n    timespan: 5m\n    condition: {gte: 2}', /unknown key correlation.condition/],
  ];
  for (const [body, reason] of cases) {
    const r = parseSigmaCorrelation(corr(body), 'c.yml');
    assert.equal(r.ok, false, body);
    if (!r.ok) {
      assert.match(r.error.reason, reason);
      assert.equal(r.error.line, 5);
    }
  }
  const bad = parseSigmaCorrelation('title: [unclosed\n', 'c.yml');
  assert.equal(bad.ok, false);
});

void test('a correlation that refers to a rule that is not loaded is reported, not dropped', () => {
  const c = ok(corr('    type: temporal\n    rules: [a, Rule B]\n    timespan: 1m'));
  const r = resolveCorrelations([c], [{ id: 'a', title: 'Rule A' }]);
  assert.equal(r.resolved.length, 0);
  assert.match(r.errors[0]?.reason ?? '', /not loaded: Rule B/);
  const r2 = resolveCorrelations([c], [{ id: 'a', title: 'Rule A' }, { id: 'b', title: 'Rule B' }]);
  assert.deepEqual(r2.resolved[0]?.ruleIds, ['a', 'b'], 'titles resolve to ids');
});

void test('sequences: order, window, group-by fields and the tree relation', () => {
  const ordered = resolveCorrelations([ok(corr('    type: temporal_ordered\n    rules: [a, b]\n    group-by: [User, ProcessTree]\n    timespan: 10s'))], [
    { id: 'a', title: 'A' },
    { id: 'b', title: 'B' },
  ]).resolved;
  const seq = createSequenceEngine<{ tree: number }>(ordered, { sameTree: (x, y) => x.tree === y.tree });
  const step = (id: string, at: number, tree = 1, user = 'alice') => seq.observe({ ruleIds: new Set([id]), group: (f) => (f === 'User' ? user : undefined), context: { tree }, at });
  assert.equal(step('b', 0).length, 0, 'b before a does not start a sequence');
  assert.equal(step('a', 1000).length, 0);
  assert.equal(step('b', 2000, 2).length, 0, 'another tree');
  assert.equal(step('b', 2000, 1, 'bob').length, 0, 'another user');
  const fired = step('b', 3000);
  assert.equal(fired.length, 1);
  assert.deepEqual(fired[0]?.steps, [{ tree: 1 }, { tree: 1 }]);
  assert.equal(step('b', 3500).length, 0, 'a completed sequence fires once');
  step('a', 20_000);
  assert.equal(step('b', 31_000).length, 0, 'outside the window');
  assert.deepEqual([...seq.silentRuleIds].sort(), ['a', 'b'], 'referenced rules are building blocks unless generate: true');
});
