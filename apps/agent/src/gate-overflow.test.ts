import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AnyEvent, defaultPolicy, parseWith, type DetectionEvent } from '@yamori/protocol';
import { createFakeSensors, type GateNotice } from '@yamori/sensor-linux';
import { createOverflowReporter, OVERFLOW_RULE_ID, overflowAlert } from './gate-overflow.ts';
import { createLinuxSensors } from './linux-sensors.ts';

void test('an exec queue overflow becomes a high-severity malware alert the server accepts', () => {
  const e = overflowAlert(17, { id: 'evt-00000001', now: Date.parse('2026-01-02T03:04:05Z'), mode: 'block' });
  parseWith(AnyEvent, e, 'event');
  assert.equal(e.rule.id, OVERFLOW_RULE_ID);
  assert.equal(e.rule.level, 'high');
  assert.deepEqual(e.yamori, { module: 'malware', mode: 'block', action: 'alert', reasons: ['17 execs were allowed without a decision'] });
  assert.equal(overflowAlert(1, { id: 'evt-00000002', now: 0, mode: 'off' }).yamori.mode, 'monitor');
});

void test('a storm of overflow notices is one alert per window with the execs summed', () => {
  let t = 1_000_000;
  const sent: DetectionEvent[] = [];
  const r = createOverflowReporter({ emit: (e) => sent.push(e), now: () => t, windowMs: 60_000 });
  r.setMode('block');
  r.add(3);
  assert.equal(sent.length, 1, 'the first overflow is reported at once');
  r.add(4);
  r.add(5);
  t += 1000;
  r.add(0);
  assert.equal(sent.length, 1, 'within the window the counts are held');
  r.flush();
  assert.deepEqual(sent.map((e) => e.yamori.reasons?.[0]), ['3 execs were allowed without a decision', '9 execs were allowed without a decision']);
  r.flush();
  assert.equal(sent.length, 2, 'nothing held, nothing sent');
});

void test('the exec gate adapter reports the gate\'s overflow notice through onSecurityEvent, in the policy\'s malware mode', async () => {
  const fake = createFakeSensors();
  let notice: ((n: GateNotice) => void) | undefined;
  const start = fake.startExecGate.bind(fake);
  fake.startExecGate = (o) => {
    notice = o.onNotice;
    return start(o);
  };
  const events: DetectionEvent[] = [];
  const set = createLinuxSensors({ load: () => ({ available: true, sensors: fake }), onSecurityEvent: (e) => events.push(e) });
  const gate = set.sensors.execGate;
  assert.ok(gate);
  const p = defaultPolicy();
  p.modules.malware.mode = 'block';
  gate.applyPolicy?.(p);
  await gate.start(async () => ({ allow: true, cache: false }));
  try {
    assert.ok(notice, 'the adapter listens for gate notices');
    notice({ kind: 'overflow', count: 42 });
    assert.equal(events.length, 1);
    assert.equal(events[0]?.rule.id, OVERFLOW_RULE_ID);
    assert.equal(events[0]?.yamori.mode, 'block');
    assert.deepEqual(events[0]?.yamori.reasons, ['42 execs were allowed without a decision']);
    assert.equal(gate.state().state, 'degraded');
    assert.match(gate.state().reason ?? '', /42 execs lost to queue overflow/);
  } finally {
    await gate.stop();
  }
});
