import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultPolicy } from '@yamori/protocol';
import { createFakeSensors } from '@yamori/sensor-linux';
import { createLinuxSensors, failClosedPrefixes, toProcConnectorEvent } from './linux-sensors.ts';
import type { ExecRequest } from './sensors.ts';

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
  assert.equal(set.sensors.fileEvents?.state().state, 'off');
  assert.match(set.sensors.netEvents?.state().reason ?? '', /addon not built/);
});

void test('with the addon, file events and network connections are composed (and can be disabled)', async () => {
  const fake = createFakeSensors();
  const set = createLinuxSensors({ load: () => ({ available: true, sensors: fake }), disable: ['file-events'] });
  assert.equal(set.sensors.fileEvents?.name, 'file-events');
  assert.match(set.sensors.fileEvents?.state().reason ?? '', /disabled by configuration/);
  const net = set.sensors.netEvents;
  assert.equal(net?.name, 'network-connections');
  await net?.start(() => undefined);
  try {
    assert.equal(net?.state().state, 'active', net?.state().reason);
  } finally {
    await net?.stop();
  }
});

void test('exec gate adapter: the agent decides misses; clean answers are left to the kernel until a flush', async () => {
  const fake = createFakeSensors();
  const set = createLinuxSensors({ load: () => ({ available: true, sensors: fake }) });
  const gate = set.sensors.execGate;
  assert.ok(gate);
  const asked: ExecRequest[] = [];
  await gate.start(async (req) => {
    asked.push(req);
    return req.path.endsWith('/bad') ? { allow: false, cache: false } : { allow: true, cache: req.path.endsWith('/clean') };
  });
  try {
    assert.equal(await fake.exec({ path: '/opt/bad', ino: 1 }), 'deny');
    assert.equal(await fake.exec({ path: '/opt/bad', ino: 1 }), 'deny', 'a denial is not remembered: asked again');
    assert.equal(await fake.exec({ path: '/opt/clean', ino: 2 }), 'allow');
    assert.equal(await fake.exec({ path: '/opt/clean', ino: 2 }), 'allow');
    assert.deepEqual(asked.map((r) => r.path), ['/opt/bad', '/opt/bad', '/opt/clean'], 'the clean file was answered by the kernel the second time');
    assert.ok(asked[0]?.capture, 'each request carries what was read while the exec was held');
    assert.equal(asked[0]?.deadline !== undefined, true);
    gate.flush();
    assert.equal(await fake.exec({ path: '/opt/clean', ino: 2 }), 'allow');
    assert.equal(asked.length, 4, 'after a flush the kernel asks again');
    assert.equal(gate.state().state, 'active');
  } finally {
    await gate.stop();
  }
  assert.equal(gate.state().state, 'off');
});

void test('exec gate adapter: a failing decision is answered by the policy fail rule, and the gate thread gets the policy', async () => {
  const fake = createFakeSensors();
  const logs: string[] = [];
  const set = createLinuxSensors({ load: () => ({ available: true, sensors: fake }), log: (_l, m) => logs.push(m) });
  const gate = set.sensors.execGate;
  assert.ok(gate && typeof gate.applyPolicy === 'function');
  const p = defaultPolicy();
  p.exec = { decisionTimeoutMs: 40, onTimeout: 'allow', failClosedPaths: ['/tmp/**'] };
  gate.applyPolicy(p);
  await gate.start(async (req) => {
    if (req.path.includes('slow')) return new Promise(() => undefined); // never answers
    throw new Error('engine crashed');
  });
  try {
    assert.equal(await fake.exec({ path: '/tmp/x', ino: 3 }), 'deny', 'fail-closed path');
    assert.equal(await fake.exec({ path: '/opt/x', ino: 4 }), 'allow', 'fail-open elsewhere');
    assert.equal(await fake.exec({ path: '/tmp/slow', ino: 5 }), 'deny', 'the gate thread applies the fail rule when the agent never answers');
    assert.equal(await fake.exec({ path: '/opt/slow', ino: 6 }), 'allow');
    const st = gate.state();
    assert.equal(st.state, 'degraded');
    assert.match(st.reason ?? '', /2 decisions timed out \(1 allowed, 1 denied/);
    assert.match(st.reason ?? '', /2 decision errors/);
    assert.ok(logs.some((m) => m.includes('exec decision failed')));
  } finally {
    await gate.stop();
  }
});

void test('a sensor that cannot start says why in its state', async () => {
  const fake = createFakeSensors();
  const broken = {
    ...fake,
    startExecGate: () => {
      throw new Error('fanotify_init: Operation not permitted');
    },
  };
  const set = createLinuxSensors({ load: () => ({ available: true, sensors: broken }) });
  await assert.rejects(set.sensors.execGate?.start(async () => ({ allow: true, cache: false })) ?? Promise.resolve());
  assert.deepEqual(set.sensors.execGate?.state(), { name: 'exec-gate', state: 'off', reason: 'failed to start: fanotify_init: Operation not permitted' });
});
