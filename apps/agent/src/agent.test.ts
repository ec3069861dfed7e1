import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultPolicy, type DetectionEvent, type HostFacts, type ProcessEvent } from '@yamori/protocol';
import { encodeEnrollmentToken } from '@yamori/protocol';
import { caFingerprint, createAgentClient } from './agent-client.ts';
import { createAgent, type AgentDeps } from './agent.ts';
import { enrollAgent } from './enroll.ts';
import { loadCursors, loadIdentity, loadStatus } from './state.ts';
import type { EventSource, ExecGate, ExecRequest, ExecAnswer } from './sensors.ts';
import type { ProcConnectorEvent } from './process-tree.ts';
import { makeTestPki, type TestPki } from './test-support/pki.ts';
import { startFakeServer, type FakeServer } from './test-support/fake-agent-server.ts';
import { createIsolation } from './commands.ts';
import { openQuarantineStore } from './quarantine/store.ts';

const BAD = 'b'.repeat(64);
const GOOD = 'a'.repeat(64);
const facts = (): HostFacts => ({
  hostname: 'h1',
  machineId: 'machine-0001',
  os: { family: 'debian', name: 'Debian', version: '13', kernel: '6.1' },
  arch: 'x64',
  ips: [],
  agentVersion: '0.1.0',
});
const quiet = () => undefined;

let pki: TestPki;
let srv: FakeServer;
before(async () => {
  pki = makeTestPki();
  srv = await startFakeServer(pki);
});
after(() => srv.close());

function tmp(t: { after: (fn: () => void) => void }) {
  const d = mkdtempSync(join(tmpdir(), 'ymr-agent-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

async function enrolledAgent(stateDir: string, over: Partial<AgentDeps> = {}) {
  const token = encodeEnrollmentToken({ v: 1, url: srv.url, caSha256: caFingerprint(pki.caPem), secret: 'x'.repeat(16) });
  const id = loadIdentity(stateDir) ?? (await enrollAgent({ stateDir, token, facts: facts(), now: Date.now }));
  const client = createAgentClient({
    url: id.url,
    caPem: readFileSync(join(stateDir, 'ca.pem'), 'utf8'),
    credentials: { agentId: id.agentId, secret: id.secret },
  });
  const isolation = createIsolation({ runNft: async () => undefined, serverPeers: async () => [], stateDir });
  return createAgent({ stateDir, client, agentId: id.agentId, facts, log: quiet, isolation, hashFile: async () => GOOD, ...over });
}

void test('enroll → check-in (policy, verdicts, commands) → decisions → upload, and state survives a restart', async (t) => {
  const dir = tmp(t);
  const policy = defaultPolicy();
  policy.modules.malware.mode = 'block';
  policy.blocklist = [{ sha256: BAD }];
  policy.exec.decisionTimeoutMs = 2000;
  srv.policy = { revision: 7, document: policy };
  srv.verdicts = [{ sha256: 'c'.repeat(64), verdict: 'malicious', source: 'sandbox', seq: 3 }];
  const victim = spawn('sleep', ['60']);
  t.after(() => victim.kill('SIGKILL'));
  srv.commands = [
    { id: 'k1', type: 'kill', params: { pid: victim.pid }, createdAt: '2026-06-01T00:00:00Z' },
    { id: 'u1', type: 'upgrade', params: {}, createdAt: '2026-06-01T00:00:00Z' },
  ];
  t.after(() => {
    srv.policy = null;
    srv.commands = [];
    srv.verdicts = [];
  });

  const agent = await enrolledAgent(dir);
  assert.equal(statSync(join(dir, 'identity.json')).mode & 0o777, 0o600);
  const victimExit = new Promise((r) => victim.once('exit', (_c, sig) => r(sig)));
  await agent.checkinOnce(0);
  assert.equal(agent.policy().modules.malware.mode, 'block');
  assert.equal(agent.verdicts.get('c'.repeat(64))?.verdict, 'malicious');
  assert.equal(await victimExit, 'SIGKILL');
  assert.deepEqual(srv.results.slice(-2).map((r) => [r.id, (r.body as { status: string }).status]), [['k1', 'done'], ['u1', 'failed']]);
  assert.deepEqual(loadCursors(dir), { commandCursor: 2, verdictCursor: 3 });
  assert.ok(srv.checkins.at(-1)?.facts, 'first check-in carries host facts');
  assert.equal(srv.checkins.at(-1)?.health?.queue_depth, 0);

  // Exec decisions: blocklist → deny + alert; server says unknown → allow; cached malicious → deny.
  assert.deepEqual(await agent.decide({ pid: process.pid, path: '/tmp/evil', sha256: BAD }), { allow: false, cache: false });
  assert.deepEqual(await agent.decide({ pid: process.pid, path: '/usr/bin/tool', sha256: 'd'.repeat(64) }), { allow: true, cache: false });
  assert.equal(agent.verdicts.get('d'.repeat(64))?.verdict, 'unknown', 'lookup answers fill the cache');
  assert.equal((await agent.decide({ pid: process.pid, path: '/opt/x', sha256: 'c'.repeat(64) })).allow, false);
  assert.equal(agent.counters().denied, 2);

  agent.record([
    {
      '@timestamp': new Date().toISOString(),
      event: { id: 'proc-event-1', dataset: 'yamori.process', kind: 'event', category: ['process'], type: ['start'], action: 'exec' },
      process: { entity_id: 'e1', pid: 1 },
    } satisfies ProcessEvent,
  ]);
  assert.equal(agent.queue.depth(), 3);
  const before = srv.eventsReceived;
  assert.equal(await agent.uploadOnce(), 'sent');
  assert.equal(await agent.uploadOnce(), 'empty');
  assert.equal(srv.eventsReceived - before, 3);
  const alerts = [...srv.batches.values()].flatMap((b) => b.events).filter((e) => e.event.dataset === 'yamori.alert');
  assert.equal(alerts.length, 2);
  assert.equal(alerts[0]?.event.action, 'exec_denied');

  // Restart: same agent id, policy and cursors kept, no new enrollment.
  await agent.stop();
  const again = await enrolledAgent(dir);
  assert.equal(again.policy().modules.malware.mode, 'block');
  await again.checkinOnce(0);
  assert.equal(srv.checkins.at(-1)?.policyRevision, 7);
  assert.equal(srv.checkins.at(-1)?.commandCursor, 2);
  await again.stop();
});

void test('poison batches are dropped and counted; 429 waits; an invalid event is never queued', async (t) => {
  const dir = tmp(t);
  const agent = await enrolledAgent(dir);
  t.after(() => {
    srv.script = () => undefined;
    return agent.stop();
  });
  const ev = (id: string): ProcessEvent => ({
    '@timestamp': new Date().toISOString(),
    event: { id, dataset: 'yamori.process', kind: 'event', category: ['process'], type: ['start'], action: 'exec' },
    process: { entity_id: 'e', pid: 1 },
  });
  agent.record([ev('event-0001'), { ...ev('event-0002'), extra: true } as unknown as ProcessEvent]);
  assert.equal(agent.queue.depth(), 1);
  assert.equal(agent.counters().invalidEvents, 1);
  srv.script = (p) => (p.endsWith('/events') ? [429, { code: 'rate_limited', message: 'x' }, { 'retry-after': '3' }] : undefined);
  assert.deepEqual(await agent.uploadOnce(), { retryMs: 3000 });
  srv.script = (p) => (p.endsWith('/events') ? [400, { code: 'invalid_input', message: 'bad' }] : undefined);
  assert.equal(await agent.uploadOnce(), 'sent');
  assert.equal(agent.queue.depth(), 0);
  assert.equal(agent.queue.dropped()['poison'], 1);
  assert.match(agent.health().problems?.join('\n') ?? '', /refused event batch/);
});

void test('revoked agent (401): reported in health and status, keeps enforcing the last policy, keeps retrying', async (t) => {
  const dir = tmp(t);
  const policy = defaultPolicy();
  policy.modules.malware.mode = 'block';
  policy.blocklist = [{ sha256: BAD }];
  srv.policy = { revision: 9, document: policy };
  t.after(() => (srv.policy = null));
  const agent = await enrolledAgent(dir, { checkinWaitS: 1, healthIntervalMs: 3_600_000, random: () => 0 });
  await agent.checkinOnce(0);
  const id = loadIdentity(dir)!;
  srv.agents.delete(id.agentId); // revoked on the server
  await agent.start();
  for (let i = 0; i < 200 && !/revoked/.test(agent.health().problems?.join() ?? ''); i++) await new Promise((r) => setTimeout(r, 25));
  assert.match(agent.health().problems?.join() ?? '', /does not know this agent or revoked it/);
  assert.equal((await agent.decide({ pid: process.pid, path: '/x', sha256: BAD })).allow, false);
  await agent.stop();
  assert.match(loadStatus(dir)?.lastError ?? '', /401/);
});

void test('exec gate wiring and fail rule: an unanswered lookup times out; fail-closed path denies', async (t) => {
  const dir = tmp(t);
  const policy = defaultPolicy();
  policy.modules.malware.mode = 'block';
  policy.exec.decisionTimeoutMs = 50;
  srv.policy = { revision: 11, document: policy };
  srv.script = (p) => (p.endsWith('/lookup') ? [503, 'busy'] : undefined);
  t.after(() => {
    srv.policy = null;
    srv.script = () => undefined;
  });
  let decide: ((r: ExecRequest) => Promise<ExecAnswer>) | undefined;
  const flushed: (readonly string[] | undefined)[] = [];
  const gate: ExecGate = {
    name: 'fake-exec',
    start: async (d) => void (decide = d),
    stop: async () => undefined,
    flush: (h) => flushed.push(h),
    state: () => ({ name: 'fake-exec', state: 'active' }),
  };
  const agent = await enrolledAgent(dir, { sensors: { execGate: gate }, healthIntervalMs: 3_600_000 });
  await agent.checkinOnce(0);
  await agent.start();
  assert.ok(decide);
  assert.deepEqual(await decide({ pid: process.pid, path: '/usr/bin/new', sha256: 'e'.repeat(64) }), { allow: true, cache: false });
  assert.deepEqual(await decide({ pid: process.pid, path: '/tmp/new', sha256: 'f'.repeat(64) }), { allow: false, cache: false });
  assert.equal(agent.counters().failOpen, 1);
  assert.equal(agent.health().fail_open_decisions, 1);
  assert.deepEqual(agent.health().sensors, [{ name: 'fake-exec', state: 'active' }]);
  assert.ok(flushed.length >= 1, 'policy change flushes the kernel cache');
  await agent.stop();
});

void test('a policy this agent cannot parse is reported and skipped; verdicts in the same answer still apply and flush the gate', async (t) => {
  const dir = tmp(t);
  const good = defaultPolicy();
  good.modules.malware.mode = 'block';
  srv.policy = { revision: 1, document: good };
  const flushed: (readonly string[] | undefined)[] = [];
  const gate: ExecGate = {
    name: 'fake-exec',
    start: async () => undefined,
    stop: async () => undefined,
    flush: (h) => flushed.push(h),
    state: () => ({ name: 'fake-exec', state: 'active' }),
  };
  let emit: ((e: ProcConnectorEvent) => void) | undefined;
  const procEvents: EventSource<ProcConnectorEvent> = {
    name: 'fake-proc',
    start: async (l) => void (emit = l),
    stop: async () => undefined,
    state: () => ({ name: 'fake-proc', state: 'active' }),
  };
  t.after(() => {
    srv.policy = null;
    srv.verdicts = [];
  });
  const agent = await enrolledAgent(dir, { sensors: { execGate: gate, procEvents }, healthIntervalMs: 3_600_000, checkinWaitS: 1 });
  await agent.checkinOnce(0);
  srv.policy = { revision: 2, document: { ...good, schemaVersion: 2 } as unknown as typeof good };
  srv.verdicts = [{ sha256: GOOD, verdict: 'malicious', source: 'retro-hunt', seq: 1 }];
  await agent.checkinOnce(0);
  assert.equal(agent.verdicts.get(GOOD)?.verdict, 'malicious');
  assert.deepEqual(flushed.at(-1), [GOOD]);
  assert.match(agent.health().problems?.join() ?? '', /rejected invalid policy revision 2.*keeping revision 1/);
  assert.equal(agent.policy().modules.malware.mode, 'block');

  // proc connector events become process telemetry through the tree
  await agent.start();
  assert.ok(emit);
  const me = process.pid;
  emit({ type: 'exec', pid: me });
  const queued = agent.queue.nextBatch();
  assert.ok(queued?.events.some((e) => e.event.dataset === 'yamori.process' && (e as ProcessEvent).process.pid === me));
  await agent.stop();
});

void test('watchdog: sustained CPU over budget sheds low-value telemetry and says so in health', async (t) => {
  const dir = tmp(t);
  let clock = Date.parse('2026-06-01T00:00:00Z');
  const agent = await enrolledAgent(dir, {
    now: () => (clock += 1000),
    sampler: { sample: () => ({ cpuPct: 55, rssMb: 40 }) },
    watchdogIntervalMs: 2,
    healthIntervalMs: 3_600_000,
    checkinWaitS: 1,
  });
  t.after(() => agent.stop());
  await agent.start();
  for (let i = 0; i < 200 && !(agent.health().shedding ?? []).includes('low_value_telemetry'); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(agent.health().shedding?.includes('low_value_telemetry'));
  const depth = agent.queue.depth();
  agent.record([
    {
      '@timestamp': new Date(clock).toISOString(),
      event: { id: 'dns-event-1', dataset: 'yamori.dns', kind: 'event', category: ['network'], type: ['protocol'], action: 'query' },
      dns: { question: { name: 'example.org', type: 'A' } },
    },
  ]);
  assert.equal(agent.queue.depth(), depth, 'low-value telemetry is shed');
});

void test('parent→child rules: a denied child of a matching ancestor is refused while held (block) or reported (monitor); other parents and children are untouched', async (t) => {
  const dir = tmp(t);
  const agent = await enrolledAgent(dir, { hashFile: async () => GOOD });
  t.after(() => agent.queue.close());
  agent.tree.seed(); // the exec'ing process is this test (node): its image is the "parent"
  const rules = (mode: 'block' | 'monitor') => {
    const p = defaultPolicy();
    p.modules.behavior.mode = mode;
    p.modules.behavior.parentChild = [
      { id: 'allow-helper', parent: process.execPath, child: '/opt/tools/curl', action: 'allow' },
      { id: 'node-no-downloaders', parent: process.execPath, child: '**/curl', action: 'deny', comment: 'the test runner starts no downloader' },
    ];
    return p;
  };
  srv.policy = { revision: 41, document: rules('block') };
  t.after(() => (srv.policy = null));
  await agent.checkinOnce(0);
  assert.deepEqual(await agent.decide({ pid: process.pid, path: '/usr/bin/curl' }), { allow: false, cache: false }, 'denied before it runs');
  assert.deepEqual(await agent.decide({ pid: process.pid, path: '/opt/tools/curl' }), { allow: true, cache: false }, 'an allow rule before the deny rule wins; still never cached');
  assert.equal((await agent.decide({ pid: process.pid, path: '/usr/bin/wget' })).allow, true, 'a child no rule names');
  assert.equal((await agent.decide({ pid: 1, path: '/usr/bin/curl' })).allow, true, 'the same child from another parent');
  const batch = agent.queue.nextBatch();
  const alerts = (batch?.events ?? []).filter((e) => e.event.dataset === 'yamori.alert');
  assert.equal(alerts.length, 1);
  assert.match(JSON.stringify(alerts[0]), /yamori\.parent_child\.node-no-downloaders/);
  assert.match(JSON.stringify(alerts[0]), /"action":"deny_exec"/);
  if (batch) agent.queue.ack(batch.batchId);

  srv.policy = { revision: 42, document: rules('monitor') };
  await agent.checkinOnce(0);
  assert.deepEqual(await agent.decide({ pid: process.pid, path: '/usr/bin/curl' }), { allow: true, cache: false }, 'monitor mode runs it');
  const monitored = (agent.queue.nextBatch()?.events ?? []).filter((e) => e.event.dataset === 'yamori.alert');
  assert.equal(monitored.length, 1);
  assert.match(JSON.stringify(monitored[0]), /"would_have":"deny_exec"/);
});

void test('block mode with quarantineOnMalicious: a blocklisted file denied at exec is moved into quarantine and the alert says so', async (t) => {
  const dir = tmp(t);
  const evil = join(dir, 'evil.sh');
  writeFileSync(evil, '#!/bin/sh\necho evil\n', { mode: 0o755 });
  const sha = createHash('sha256').update(readFileSync(evil)).digest('hex');
  const policy = defaultPolicy();
  policy.modules.malware = { mode: 'block', quarantineOnMalicious: true };
  policy.blocklist = [{ sha256: sha }];
  srv.policy = { revision: 11, document: policy };
  t.after(() => (srv.policy = null));
  const store = await openQuarantineStore(join(dir, 'quarantine'));
  const agent = await enrolledAgent(dir, {
    quarantine: async (path, reason, expectedSha256) => `quarantined as ${(await store.quarantine(path, { reason, ...(expectedSha256 ? { expectedSha256 } : {}) })).id}`,
  });
  t.after(() => agent.stop());
  await agent.checkinOnce(0);
  assert.deepEqual(await agent.decide({ pid: process.pid, path: evil, sha256: sha }), { allow: false, cache: false });
  const [entry] = await waitUntil(async () => {
    const l = await store.list();
    return l.length > 0 ? l : undefined;
  });
  assert.equal(entry?.originalPath, evil);
  assert.equal(entry?.sha256, sha);
  assert.equal(existsSync(evil), false, 'the file is gone from where it was');
  await waitUntil(async () => (agent.queue.depth() > 0 ? true : undefined));
  assert.equal(await agent.uploadOnce(), 'sent');
  const alert = [...srv.batches.values()]
    .flatMap((b) => b.events)
    .filter((e): e is DetectionEvent => e.event.dataset === 'yamori.alert')
    .find((e) => e.file?.path === evil);
  assert.ok(alert);
  assert.equal(alert.yamori.action, 'quarantine_file');
  assert.match(alert.yamori.reasons?.join('\n') ?? '', new RegExp(`exec denied; quarantined as ${entry?.id ?? ''}`));
  // restore round-trips it for the operator
  await store.restore(entry?.id ?? '');
  assert.equal(readFileSync(evil, 'utf8'), '#!/bin/sh\necho evil\n');
});

async function waitUntil<T>(f: () => Promise<T | undefined>, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

void test('a package exclusion lets that package\'s unmodified files run even when blocklisted; a modified copy is not excluded', async (t) => {
  const dir = tmp(t);
  const policy = defaultPolicy();
  policy.modules.malware.mode = 'block';
  policy.blocklist = [{ sha256: BAD }];
  policy.exclusions = [{ id: 'pkg-coreutils', kind: 'package', value: 'coreutils' }];
  srv.policy = { revision: 12, document: policy };
  t.after(() => (srv.policy = null));
  const asked: string[] = [];
  // dpkg says: /usr/bin/ls is coreutils' own file; /opt/ls is nobody's
  const agent = await enrolledAgent(dir, {
    packageOf: async (path) => (asked.push(path), path === '/usr/bin/ls' ? 'coreutils' : undefined),
  });
  t.after(() => agent.stop());
  await agent.checkinOnce(0);
  assert.deepEqual(await agent.decide({ pid: process.pid, path: '/usr/bin/ls', sha256: BAD }), { allow: true, cache: true });
  assert.equal((await agent.decide({ pid: process.pid, path: '/opt/ls', sha256: BAD })).allow, false);
  await agent.decide({ pid: process.pid, path: '/usr/bin/ls', sha256: BAD });
  assert.deepEqual(asked, ['/usr/bin/ls', '/opt/ls'], 'one ownership check per file content and path');
});

void test('prepare (a file written, not yet run) runs the engines and the lookup but decides and records nothing; the exec then needs no lookup', async (t) => {
  let lookups = 0;
  srv.script = (p) => {
    if (p.endsWith('/lookup')) lookups++;
    return undefined;
  };
  t.after(() => (srv.script = () => undefined));
  const scanned: string[] = [];
  let preparer: Parameters<ExecGate['start']>[1];
  const gate: ExecGate = {
    name: 'fake-exec',
    start: async (_d, p) => void (preparer = p),
    stop: async () => undefined,
    flush: () => undefined,
    state: () => ({ name: 'fake-exec', state: 'active' }),
  };
  const engine = async (r: { sha256: string }) => {
    scanned.push(r.sha256);
    return [];
  };
  const agent = await enrolledAgent(tmp(t), { sensors: { execGate: gate }, engines: [engine], healthIntervalMs: 3_600_000 });
  await agent.start();
  t.after(() => agent.stop());
  assert.ok(preparer, 'the gate receives the agent as its preparer');
  assert.equal(preparer.wanted(), true);
  const depth = agent.queue.depth();
  const sha = '9'.repeat(64);
  await preparer.prepare({ path: '/tmp/new-tool', sha256: sha, fd: -1 });
  assert.deepEqual(scanned, [sha], 'the engines ran (their memos keep the findings)');
  for (let i = 0; i < 200 && agent.verdicts.get(sha) === undefined; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(agent.verdicts.get(sha)?.verdict, 'unknown', 'the answer is in the verdict cache');
  assert.ok(agent.queue.depth() <= depth, 'no event, no alert (the uploader may have sent what was there)');
  assert.equal(agent.counters().execDecisions, 0);
  const asked = lookups;
  assert.deepEqual(await agent.decide({ pid: process.pid, path: '/tmp/new-tool', sha256: sha }), { allow: true, cache: false });
  assert.equal(lookups, asked, 'the exec was decided from the prepared answer');
});
