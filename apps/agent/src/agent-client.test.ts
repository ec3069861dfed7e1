import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { encodeEnrollmentToken, parseEnrollmentToken, type HostFacts, type ProcessEvent } from '@yamori/protocol';
import { AgentApiError, caFingerprint, createAgentClient, fetchPinnedCa } from './agent-client.ts';
import { makeTestPki, type TestPki } from './test-support/pki.ts';
import { startFakeServer, type FakeServer } from './test-support/fake-agent-server.ts';

let pki: TestPki;
let other: TestPki;
let srv: FakeServer;
before(async () => {
  pki = makeTestPki();
  other = makeTestPki();
  srv = await startFakeServer(pki);
});
after(() => srv.close());

const facts: HostFacts = {
  hostname: 'h1',
  machineId: '0123456789abcdef',
  os: { family: 'debian', name: 'Debian', version: '13', kernel: '6.1' },
  arch: 'x64',
  ips: ['10.0.0.1'],
  agentVersion: '0.1.0',
};
const ev = (): ProcessEvent => ({
  '@timestamp': '2026-06-01T00:00:00.000Z',
  event: { id: randomUUID(), dataset: 'yamori.process', kind: 'event', category: ['process'], type: ['start'], action: 'exec' },
  process: { entity_id: 'e', pid: 1 },
});

void test('enrollment token: round trip and clear errors', () => {
  const p = { v: 1 as const, url: 'https://ap.example:8443', caSha256: 'a'.repeat(64), secret: 's'.repeat(20) };
  assert.deepEqual(parseEnrollmentToken(encodeEnrollmentToken(p)), p);
  assert.throws(() => parseEnrollmentToken('abc'), /must start with "ymr1\."/);
  assert.throws(() => parseEnrollmentToken('ymr1.###'), /base64url JSON/);
  assert.throws(() => parseEnrollmentToken(encodeEnrollmentToken({ ...p, caSha256: null })), /no CA fingerprint/);
});

void test('CA pinning: accepts the CA whose fingerprint is in the token, refuses another', async () => {
  const pem = await fetchPinnedCa(srv.url, caFingerprint(pki.caPem));
  assert.equal(caFingerprint(pem), caFingerprint(pki.caPem));
  await assert.rejects(fetchPinnedCa(srv.url, caFingerprint(other.caPem)), /CA fingerprint mismatch/);
});

void test('a client pinned to another CA refuses to talk to the server', async () => {
  const c = createAgentClient({ url: srv.url, caPem: other.caPem, timeoutMs: 5000 });
  await assert.rejects(c.enroll({ token: 'ymr1.xxxxxxxxxx', facts }), (e: AgentApiError) => e.kind === 'network');
  c.close();
});

void test('enroll, check-in, events (gzip), lookup, command result over pinned TLS', async () => {
  const anon = createAgentClient({ url: srv.url, caPem: pki.caPem });
  const enrolled = await anon.enroll({ token: 'ymr1.xxxxxxxxxx', facts });
  assert.equal(enrolled.reactivated, false);
  assert.equal((await anon.enroll({ token: 'ymr1.xxxxxxxxxx', facts })).agentId, enrolled.agentId);
  anon.close();
  const creds = { agentId: enrolled.agentId, secret: srv.agents.get(enrolled.agentId)!.secret };
  const c = createAgentClient({ url: srv.url, caPem: pki.caPem, credentials: creds });
  const r = await c.checkin({ policyRevision: null, commandCursor: 0, verdictCursor: 0, waitS: 0 });
  assert.equal(r.policy, null);
  const batchId = randomUUID();
  const sent = await c.sendEvents({ batchId, events: [ev(), ev()] });
  assert.deepEqual(sent, { kind: 'ok', response: { batchId, accepted: 2, duplicate: false } });
  assert.equal((await c.sendEvents({ batchId, events: [ev(), ev()] })).response?.duplicate, true);
  const l = await c.lookup(['b'.repeat(64)]);
  assert.equal(l.results[0]?.verdict, 'malicious');
  await c.commandResult('cmd1', { status: 'done' });
  assert.deepEqual(srv.results.at(-1), { id: 'cmd1', body: { status: 'done' } });
  c.close();
});

void test('error mapping: 401, 429 Retry-After, 413, 400 poison, garbage answers', async (t) => {
  const enrolled = await createAgentClient({ url: srv.url, caPem: pki.caPem }).enroll({ token: 'ymr1.xxxxxxxxxx', facts: { ...facts, machineId: 'other-machine-1' } });
  const c = createAgentClient({ url: srv.url, caPem: pki.caPem, credentials: { agentId: enrolled.agentId, secret: srv.agents.get(enrolled.agentId)!.secret } });
  t.after(() => {
    srv.script = () => undefined;
    c.close();
  });
  const bad = createAgentClient({ url: srv.url, caPem: pki.caPem, credentials: { agentId: enrolled.agentId, secret: 'wrong' } });
  await assert.rejects(bad.checkin({ policyRevision: null, commandCursor: 0, verdictCursor: 0, waitS: 0 }), (e: AgentApiError) => e.kind === 'unauthorized' && /re-enroll/.test(e.message));
  bad.close();

  const batch = { batchId: randomUUID(), events: [ev()] };
  srv.script = (p) => (p.endsWith('/events') ? [429, { code: 'rate_limited', message: 'slow down' }, { 'retry-after': '7' }] : undefined);
  assert.deepEqual(await c.sendEvents(batch), { kind: 'retry_after', retryAfterS: 7 });
  srv.script = (p) => (p.endsWith('/events') ? [413, { code: 'payload_too_large', message: 'too big' }] : undefined);
  assert.equal((await c.sendEvents(batch)).kind, 'too_large');
  srv.script = (p) => (p.endsWith('/events') ? [400, { code: 'invalid_input', message: '/events/0 bad' }] : undefined);
  assert.deepEqual(await c.sendEvents(batch), { kind: 'rejected', message: 'invalid_input: /events/0 bad' });
  srv.script = (p) => (p.endsWith('/checkin') ? [200, { policy: 'yes please' }] : undefined);
  await assert.rejects(c.checkin({ policyRevision: null, commandCursor: 0, verdictCursor: 0, waitS: 0 }), (e: AgentApiError) => e.kind === 'invalid_response' && /invalid check-in response/.test(e.message));
  srv.script = (p) => (p.endsWith('/checkin') ? [503, 'down for maintenance'] : undefined);
  await assert.rejects(c.checkin({ policyRevision: null, commandCursor: 0, verdictCursor: 0, waitS: 0 }), (e: AgentApiError) => e.kind === 'http' && e.status === 503);
});
