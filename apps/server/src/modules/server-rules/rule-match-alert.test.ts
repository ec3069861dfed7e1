import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SigmaMatch } from '@yamori/detection';
import type { AnyEvent } from '@yamori/protocol';
import { alertFromRuleMatch, evaluable } from './rule-match-alert.ts';

const match: SigmaMatch = {
  id: 'r-1',
  title: 'Write to cron',
  level: 'medium',
  tags: ['attack.persistence'],
  techniques: [],
  response: [],
  file: 'server-rule:x',
};
const agent = { agentId: 'ag1', hostname: 'web-1' };
const meta = (dataset: string, kind = 'event') => ({ id: 'evt-00000001', dataset, kind, category: ['file'], type: ['creation'], action: 'write' });
const fileEvent = {
  '@timestamp': '2026-12-07T10:00:00.000Z',
  event: meta('yamori.file'),
  file: { path: '/etc/cron.d/evil', hash: { sha256: 'c'.repeat(64) } },
  process: { pid: 10, executable: '/usr/bin/tee' },
} as unknown as AnyEvent;

void test('a file event match: the writing program is the alert program; dedup by rule, host and program', () => {
  const a = alertFromRuleMatch(match, fileEvent, agent, 5);
  assert.equal(a.processExecutable, '/usr/bin/tee');
  assert.equal(a.dedupKey, 'server-rule|r-1|ag1|/usr/bin/tee|');
  assert.equal(a.at, Date.parse('2026-12-07T10:00:00.000Z'));
  assert.deepEqual([a.module, a.mode, a.action, a.severity, a.ruleId, a.ruleName], ['server-rule', 'monitor', 'detected', 'medium', 'r-1', 'Write to cron']);
  const ev = a.event as { event: { kind: string; dataset: string }; threat?: unknown; file: { path: string } };
  assert.equal(ev.event.kind, 'alert');
  assert.equal(ev.event.dataset, 'yamori.file', 'the stored event says what was observed');
  assert.equal(ev.threat, undefined, 'no techniques, no threat block');
  assert.equal(ev.file.path, '/etc/cron.d/evil');
});

void test('a file event without a process names the file; an unparsable time falls back to now', () => {
  const { process: _, ...noProc } = fileEvent as unknown as Record<string, unknown>;
  const a = alertFromRuleMatch(match, { ...noProc, '@timestamp': 'garbage' } as unknown as AnyEvent, agent, 5);
  assert.equal(a.processExecutable, '/etc/cron.d/evil');
  assert.equal(a.sha256, 'c'.repeat(64));
  assert.equal(a.at, 5);
});

void test('only telemetry is evaluated, never detections or health metrics', () => {
  assert.equal(evaluable(fileEvent), true);
  assert.equal(evaluable({ ...fileEvent, event: meta('yamori.alert', 'alert') } as unknown as AnyEvent), false);
  assert.equal(evaluable({ ...fileEvent, event: meta('yamori.health', 'metric') } as unknown as AnyEvent), false);
});
