import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultPolicy, parseWith, DetectionEvent, type Exclusion, type Mode, type Policy } from '@yamori/protocol';
import { indexExclusions } from '@yamori/detection';
import { decideExec, toDetectionEvent, type ExecDecisionInput } from './decision.ts';

const NOW = Date.parse('2026-06-01T00:00:00Z');
const BAD = 'b'.repeat(64);
const GOOD = 'a'.repeat(64);

function input(over: Partial<ExecDecisionInput> & { mode?: Mode; exclusions_?: Exclusion[]; policy_?: (p: Policy) => void } = {}): ExecDecisionInput {
  const policy = defaultPolicy();
  policy.modules.malware.mode = over.mode ?? 'block';
  policy.exclusions = over.exclusions_ ?? [];
  policy.blocklist = [{ sha256: BAD }];
  over.policy_?.(policy);
  return {
    subject: { path: '/usr/local/bin/tool', sha256: GOOD, parentPath: '/bin/bash' },
    policy,
    exclusions: indexExclusions(policy.exclusions),
    blocklist: new Set(policy.blocklist.map((b) => b.sha256)),
    lookup: 'unavailable',
    now: NOW,
    ...over,
  };
}

void test('block mode: blocklisted hash is denied with an alert and a popup', () => {
  const d = decideExec(input({ subject: { path: '/tmp/x', sha256: BAD } }));
  assert.equal(d.allow, false);
  assert.equal(d.popup, true);
  assert.equal(d.reason, 'blocklist');
  assert.equal(d.detection?.yamori.action, 'deny_exec');
  assert.equal(d.detection?.yamori.mode, 'block');
  assert.equal(d.detection?.yamori.would_have, undefined);
});

void test('monitor mode: allowed, "would have" alert, no popup', () => {
  const d = decideExec(input({ mode: 'monitor', subject: { path: '/tmp/x', sha256: BAD } }));
  assert.equal(d.allow, true);
  assert.equal(d.popup, false);
  assert.equal(d.detection?.yamori.action, 'none');
  assert.equal(d.detection?.yamori.would_have, 'deny_exec');
});

void test('off mode: allowed silently', () => {
  const d = decideExec(input({ mode: 'off', subject: { path: '/tmp/x', sha256: BAD } }));
  assert.equal(d.allow, true);
  assert.equal(d.detection, undefined);
  assert.equal(d.popup, false);
});

void test('exclusions come first: a hash exclusion beats the blocklist', () => {
  const d = decideExec(input({ subject: { path: '/x', sha256: BAD }, exclusions_: [{ id: 'e1', kind: 'sha256', value: BAD }] }));
  assert.equal(d.allow, true);
  assert.equal(d.reason, 'excluded');
  assert.equal(d.exclusionId, 'e1');
  assert.equal(d.cache, true);
});

void test('an exclusion for another module does not apply to exec control', () => {
  const d = decideExec(
    input({ subject: { path: '/x', sha256: BAD }, exclusions_: [{ id: 'e1', kind: 'sha256', value: BAD, modules: ['behavior'] }] }),
  );
  assert.equal(d.allow, false);
});

void test('an expired exclusion no longer applies', () => {
  const d = decideExec(
    input({ subject: { path: '/x', sha256: BAD }, exclusions_: [{ id: 'e1', kind: 'path', value: '/x', expiresAt: '2026-01-01T00:00:00Z' }] }),
  );
  assert.equal(d.allow, false);
});

void test('a rule exclusion silences that rule only', () => {
  const ex: Exclusion[] = [{ id: 'r', kind: 'rule', value: 'yamori.blocklist' }];
  assert.equal(decideExec(input({ subject: { path: '/x', sha256: BAD }, exclusions_: ex })).allow, true);
  const d = decideExec(input({ cached: { verdict: 'malicious', source: 'intel' }, exclusions_: ex }));
  assert.equal(d.allow, false);
  assert.equal(d.detection?.rule.id, 'yamori.reputation');
});

void test('the policy blocklist beats a cached benign verdict', () => {
  const d = decideExec(input({ subject: { path: '/x', sha256: BAD }, cached: { verdict: 'benign', source: 'intel' } }));
  assert.equal(d.allow, false);
  assert.equal(d.reason, 'blocklist');
});

void test('cache: benign allows and may be cached by the kernel; malicious denies', () => {
  const ok = decideExec(input({ cached: { verdict: 'benign', source: 'intel' } }));
  assert.deepEqual([ok.allow, ok.cache, ok.reason], [true, true, 'cache']);
  const bad = decideExec(input({ cached: { verdict: 'malicious', source: 'intel' } }));
  assert.deepEqual([bad.allow, bad.cache, bad.reason], [false, false, 'cache']);
});

void test('engine malicious decides without waiting for the server', () => {
  const d = decideExec(
    input({
      lookup: 'pending',
      engines: [{ verdict: 'malicious', module: 'malware', ruleId: 'yara.x', ruleName: 'X', score: 95, reasons: ['match'] }],
    }),
  );
  assert.equal(d.final, true);
  assert.equal(d.allow, false);
  assert.equal(d.detection?.rule.id, 'yara.x');
  assert.equal(d.detection?.yamori.score, 95);
});

void test('engine finding of a module in monitor mode only alerts', () => {
  const d = decideExec(
    input({
      policy_: (p) => (p.modules.behavior.mode = 'monitor'),
      engines: [{ verdict: 'malicious', module: 'behavior', ruleId: 'b.1', ruleName: 'B' }],
    }),
  );
  assert.equal(d.allow, true);
  assert.equal(d.detection?.yamori.would_have, 'deny_exec');
});

void test('engine finding excluded by rule id is ignored', () => {
  const d = decideExec(
    input({
      lookup: { verdict: 'benign', source: 'intel' },
      exclusions_: [{ id: 'r', kind: 'rule', value: 'yara.x' }],
      engines: [{ verdict: 'malicious', module: 'malware', ruleId: 'yara.x', ruleName: 'X' }],
    }),
  );
  assert.equal(d.allow, true);
  assert.equal(d.reason, 'lookup');
});

void test('pending lookup is not final; a server verdict decides', () => {
  assert.equal(decideExec(input({ lookup: 'pending' })).final, false);
  const d = decideExec(input({ lookup: { verdict: 'malicious', source: 'sandbox' } }));
  assert.deepEqual([d.final, d.allow, d.reason], [true, false, 'lookup']);
  const u = decideExec(input({ lookup: { verdict: 'unknown', source: 'intel' } }));
  assert.deepEqual([u.allow, u.cache], [true, false]);
});

void test('suspicious alerts but never denies', () => {
  const d = decideExec(input({ lookup: { verdict: 'suspicious', source: 'intel' } }));
  assert.equal(d.allow, true);
  assert.equal(d.popup, false);
  assert.equal(d.detection?.yamori.action, 'alert');
});

void test('fail rule: fail-open by default, fail-closed in failClosedPaths or when onTimeout is deny', () => {
  const open = decideExec(input({ lookup: 'timeout' }));
  assert.deepEqual([open.allow, open.reason, open.cache], [true, 'fail_open', false]);
  const closed = decideExec(input({ lookup: 'timeout', subject: { path: '/tmp/dropper' } }));
  assert.deepEqual([closed.allow, closed.reason, closed.popup], [false, 'fail_closed', true]);
  const denyAll = decideExec(input({ lookup: 'unavailable', policy_: (p) => (p.exec.onTimeout = 'deny') }));
  assert.equal(denyAll.allow, false);
  const monitor = decideExec(input({ mode: 'monitor', lookup: 'timeout', subject: { path: '/dev/shm/x' } }));
  assert.deepEqual([monitor.allow, monitor.detection?.yamori.would_have], [true, 'deny_exec']);
});

void test('toDetectionEvent builds a schema-valid DetectionEvent', () => {
  const d = decideExec(input({ mode: 'monitor', subject: { path: '/tmp/x', sha256: BAD } }));
  assert.ok(d.detection);
  const ev = toDetectionEvent(d.detection, {
    id: '0123456789abcdef',
    now: NOW,
    process: { entity_id: 'e', pid: 42, executable: '/tmp/x' },
    file: { path: '/tmp/x', hash: { sha256: BAD } },
  });
  parseWith(DetectionEvent, ev, 'detection');
  assert.equal(ev.event.action, 'exec_would_deny');
});
