import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultPolicy } from '@yamori/protocol';
import { createLinuxSensors, failClosedPrefixes, toProcConnectorEvent } from './linux-sensors.ts';

void test('policy fail-closed globs become gate-thread prefixes where they can be exact', () => {
  const p = defaultPolicy();
  p.exec.failClosedPaths = ['/tmp/**', '/dev/shm/**', '/home/*/Downloads/**', '/opt/exact', 'relative/**'];
  assert.deepEqual(failClosedPrefixes(p), { prefixes: ['/tmp', '/dev/shm', '/opt/exact'], notNative: ['/home/*/Downloads/**', 'relative/**'] });
  p.exec.onTimeout = 'deny';
  assert.deepEqual(failClosedPrefixes(p).prefixes, ['/']);
});

void test('proc connector events map to the process tree events (threads keep their tgid)', () => {
  const base = { cpu: 0, timestampNs: 1 };
  assert.deepEqual(toProcConnectorEvent({ ...base, kind: 'fork', pid: 11, tgid: 11, parentPid: 10, parentTgid: 9 }), { type: 'fork', pid: 11, tgid: 11, ppid: 9 });
  assert.deepEqual(toProcConnectorEvent({ ...base, kind: 'exec', pid: 11, tgid: 11 }), { type: 'exec', pid: 11, tgid: 11 });
  assert.deepEqual(toProcConnectorEvent({ ...base, kind: 'exit', pid: 11, tgid: 11, exitCode: 256 }), { type: 'exit', pid: 11, tgid: 11, exitCode: 256 });
  assert.equal(toProcConnectorEvent({ ...base, kind: 'comm', pid: 11, tgid: 11 }), undefined);
});

void test('without the addon every sensor reports off, and says which protections and why', async () => {
  const set = createLinuxSensors({ load: () => ({ available: false, reason: 'addon not built', protectionsOff: ['exec-gate', 'proc-connector'] }) });
  assert.equal(set.available, false);
  assert.deepEqual(set.off.map((o) => o.protection), ['exec-gate', 'proc-connector']);
  await set.sensors.execGate?.start(async () => ({ allow: true, cache: false }));
  const st = set.sensors.execGate?.state();
  assert.equal(st?.state, 'off');
  assert.match(st?.reason ?? '', /addon not built.*exec-gate, proc-connector/);
  assert.equal(set.sensors.procEvents?.state().state, 'off');
});
