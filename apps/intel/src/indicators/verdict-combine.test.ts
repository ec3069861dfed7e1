import { test } from 'node:test';
import assert from 'node:assert/strict';
import { combineVerdicts, type Assertion } from './verdict-combine.ts';

const a = (source: string, verdict: Assertion['verdict'], confidence: number, extra: Partial<Assertion> = {}): Assertion => ({
  source,
  verdict,
  confidence,
  tlp: 'green',
  expiresAt: null,
  ...extra,
});
const trust: Record<string, number> = { sandbox: 1, cert: 0.8, noisy: 0.2, off: 0 };
const trustOf = (s: string) => trust[s] ?? 0.5;

test('one source: its verdict, confidence scaled by trust', () => {
  const c = combineVerdicts([a('cert', 'malicious', 90)], trustOf, 0);
  assert.deepEqual({ v: c.verdict, c: c.confidence, s: c.source }, { v: 'malicious', c: 72, s: 'cert' });
});

test('a trusted benign sandbox outweighs a noisy feed; agreement raises confidence', () => {
  const c = combineVerdicts([a('noisy', 'malicious', 80), a('sandbox', 'benign', 60)], trustOf, 0);
  assert.equal(c.verdict, 'benign');
  assert.ok(c.confidence < 60, 'dissent lowers the confidence');
  const agree = combineVerdicts([a('cert', 'malicious', 70), a('sandbox', 'malicious', 70)], trustOf, 0);
  assert.equal(agree.verdict, 'malicious');
  assert.ok(agree.confidence > 70, `noisy-OR of agreeing sources: ${agree.confidence}`);
  assert.equal(agree.source, 'sandbox');
});

test('ties go to the more severe verdict; zero trust, unknown and expired assertions weigh nothing', () => {
  assert.equal(combineVerdicts([a('x', 'benign', 50), a('y', 'malicious', 50)], trustOf, 0).verdict, 'malicious');
  assert.equal(combineVerdicts([a('off', 'malicious', 100)], trustOf, 0).verdict, 'unknown');
  assert.equal(combineVerdicts([a('cert', 'unknown', 100)], trustOf, 0).verdict, 'unknown');
  const expired = combineVerdicts([a('cert', 'malicious', 100, { expiresAt: 10 }), a('x', 'suspicious', 40)], trustOf, 10);
  assert.equal(expired.verdict, 'suspicious');
});

test('strictest TLP among the supporting sources; expiry is the latest of theirs', () => {
  const c = combineVerdicts(
    [a('cert', 'malicious', 80, { tlp: 'amber', expiresAt: 100 }), a('x', 'malicious', 50, { tlp: 'clear', expiresAt: 200 })],
    trustOf,
    0,
  );
  assert.equal(c.tlp, 'amber');
  assert.equal(c.expiresAt, 200);
});
