import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_LIMITS, evaluateWatchdog, initialWatchdogState, type WatchdogState } from './watchdog.ts';

function run(samples: [number, number, number][]) {
  let s: WatchdogState = initialWatchdogState();
  const actions: string[] = [];
  for (const [t, cpuPct, rssMb] of samples) {
    const r = evaluateWatchdog(s, { cpuPct, rssMb }, t * 1000);
    s = r.state;
    if (r.action !== 'none') actions.push(`${t}:${r.action}:${r.feature ?? ''}`);
  }
  return { s, actions };
}

void test('a short CPU spike sheds nothing; sustained CPU sheds least valuable first, one per window', () => {
  assert.deepEqual(run([[0, 50, 100], [5, 50, 100], [10, 2, 100]]).actions, []);
  const { s, actions } = run([[0, 30, 100], [6, 30, 100], [12, 30, 100], [18, 30, 100], [24, 30, 100]]);
  assert.deepEqual(actions, ['12:shed:low_value_telemetry', '24:shed:deep_scan']);
  assert.deepEqual(s.shedding, ['low_value_telemetry', 'deep_scan']);
});

void test('calm for the recovery window restores in reverse order', () => {
  const { actions } = run([[0, 30, 100], [12, 30, 100], [24, 30, 100], [30, 1, 100], [60, 1, 100], [90, 1, 100], [150, 1, 100], [200, 1, 100]]);
  assert.deepEqual(actions, ['12:shed:low_value_telemetry', '24:shed:deep_scan', '90:restore:deep_scan', '150:restore:low_value_telemetry']);
});

void test('memory over budget sheds at once; far over asks for a restart', () => {
  assert.deepEqual(run([[0, 1, DEFAULT_LIMITS.rssMb + 1]]).actions, ['0:shed:low_value_telemetry']);
  assert.deepEqual(run([[0, 1, DEFAULT_LIMITS.rssHardMb + 1]]).actions, ['0:restart:']);
});
