import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSigmaRule } from './parse.ts';

const GOOD = `title: Reverse shell via bash
id: 5f0e1c2a-0000-4000-8000-000000000001
status: experimental
description: bash redirecting to /dev/tcp
references:
  - https://example.org/a
author: Yamori
date: 2026-01-01
tags:
  - attack.execution
  - attack.t1059.004
level: high
falsepositives:
  - none
logsource:
  product: linux
  category: process_creation
detection:
  selection:
    Image|endswith: /bash
    CommandLine|contains|all: ['/dev/tcp/', '>&']
  keywords:
    - 'evil'
  condition: selection and not keywords
yamori:
  response: [kill_process, alert]
`;

void test('parses metadata, searches with lines, condition and the yamori block', () => {
  const r = parseSigmaRule(GOOD, 'good.yml');
  assert.ok(r.ok);
  const rule = r.rule;
  assert.equal(rule.title, 'Reverse shell via bash');
  assert.equal(rule.id, '5f0e1c2a-0000-4000-8000-000000000001');
  assert.equal(rule.status, 'experimental');
  assert.equal(rule.level, 'high');
  assert.deepEqual(rule.tags, ['attack.execution', 'attack.t1059.004']);
  assert.deepEqual(rule.references, ['https://example.org/a']);
  assert.deepEqual(rule.falsepositives, ['none']);
  assert.equal(rule.author, 'Yamori');
  assert.deepEqual(rule.logsource, { product: 'linux', category: 'process_creation' });
  assert.deepEqual(rule.conditions, ['selection and not keywords']);
  assert.equal(rule.conditionLine, 24);
  assert.deepEqual(rule.yamori, { response: ['kill_process', 'alert'] });
  const sel = rule.searches.get('selection');
  assert.equal(sel?.kind, 'fields');
  if (sel?.kind !== 'fields') return;
  assert.equal(sel.line, 19);
  const [img, cl] = sel.maps[0] ?? [];
  assert.deepEqual(img, { field: 'Image', modifiers: ['endswith'], values: ['/bash'], line: 20 });
  assert.deepEqual(cl?.modifiers, ['contains', 'all']);
  assert.deepEqual(rule.searches.get('keywords'), { kind: 'keywords', name: 'keywords', line: 22, values: ['evil'], modifiers: [] });
});

void test('a list of maps is an OR of alternatives; null values survive', () => {
  const r = parseSigmaRule(
    `title: t\nlogsource: {product: linux, category: process_creation}\ndetection:\n  sel:\n    - Image: /a\n    - Image: null\n      User: root\n  condition: sel\n`,
    'f.yml',
  );
  assert.ok(r.ok);
  const sel = r.rule.searches.get('sel');
  assert.ok(sel?.kind === 'fields');
  assert.equal(sel.maps.length, 2);
  assert.deepEqual(sel.maps[1]?.[0]?.values, [null]);
});

void test('broken YAML is rejected with the line of the problem', () => {
  const r = parseSigmaRule('title: t\nlogsource:\n  product: linux\ndetection:\n  sel:\n    Image: "unterminated\n  condition: sel\n', 'bad.yml');
  assert.ok(!r.ok);
  assert.equal(r.error.file, 'bad.yml');
  assert.match(r.error.reason, /^bad YAML/);
  assert.equal(typeof r.error.line, 'number');
  const dup = parseSigmaRule('title: t\ntitle: u\n', 'dup.yml');
  assert.ok(!dup.ok);
  assert.deepEqual([dup.error.line, dup.error.reason], [2, 'bad YAML: Map keys must be unique']);
  const flow = parseSigmaRule('title: t\nlogsource:\n  product: linux\ndetection:\n  sel:\n    Image: [a, b\n  condition: sel\n', 'flow.yml');
  assert.ok(!flow.ok);
  assert.equal(flow.error.line, 7);
});

void test('an unsupported modifier is named with its line', () => {
  const r = parseSigmaRule(
    'title: t\nid: x1\nlogsource: {product: linux, category: process_creation}\ndetection:\n  sel:\n    CommandLine|expand: "%foo%"\n  condition: sel\n',
    'mod.yml',
  );
  assert.ok(!r.ok);
  assert.equal(r.error.line, 6);
  assert.match(r.error.reason, /unsupported modifier 'expand'/);
  assert.equal(r.error.ruleId, 'x1');
  assert.equal(r.error.category, 'process_creation');
});

void test('missing condition, bad level, unknown response action, multi-document and correlation rules are refused', () => {
  const base = 'title: t\nlogsource: {product: linux, category: process_creation}\n';
  const cases: [string, RegExp][] = [
    [base + 'detection:\n  sel:\n    Image: /a\n', /condition/],
    [base + 'level: severe\ndetection:\n  sel:\n    Image: /a\n  condition: sel\n', /unknown level severe/],
    [base + 'detection:\n  sel:\n    Image: /a\n  condition: sel\nyamori:\n  response: [reboot]\n', /unknown response action reboot/],
    [base + 'detection:\n  sel:\n    Image: /a\n  condition: sel\n---\ntitle: second\n', /multi-document/],
    ['title: c\ncorrelation:\n  type: event_count\n', /correlation/],
    ['- just\n- a list\n', /mapping/],
    ['', /empty/],
  ];
  for (const [text, re] of cases) {
    const r = parseSigmaRule(text, 'x.yml');
    assert.ok(!r.ok, text);
    assert.match(r.error.reason, re);
  }
});
