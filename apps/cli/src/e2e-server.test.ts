import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { createTestDatabase } from '@yamori/db';
import { defaultPolicy, type HostFacts } from '@yamori/protocol';
import { createAgentClient, enrollAgent, loadCaPem } from '@yamori/agent';
import { call, consoleSession, startYamori } from './test-support.ts';

const facts = (machineId: string): HostFacts => ({
  hostname: `e2e-${machineId.slice(0, 6)}`,
  machineId,
  os: { family: 'linux', name: 'Debian GNU/Linux', version: '12', kernel: '6.18' },
  arch: 'x86_64',
  ips: ['127.0.0.1'],
  agentVersion: '0.1.0',
});

async function deployMalwareBlock(api: Awaited<ReturnType<typeof consoleSession>>['api']) {
  const [policy] = (await api('GET', '/policies')).json<Array<{ id: string }>>();
  const doc = defaultPolicy();
  doc.modules.malware.mode = 'block';
  const rev = (await api('POST', `/policies/${policy?.id ?? ''}/revisions`, { document: doc })).json<{ revision: number }>();
  assert.equal((await api('POST', `/policies/${policy?.id ?? ''}/revisions/${rev.revision}/approve`)).status, 200);
  assert.equal((await api('POST', `/policies/${policy?.id ?? ''}/revisions/${rev.revision}/deploy`)).status, 200);
}

for (const kind of ['sqlite', 'postgres'] as const) {
  test(`${kind}: an agent enrolls over HTTPS with the CA pinned, gets its policy, sends events and hears a policy change through its long-poll`, async () => {
    const data = mkdtempSync(join(tmpdir(), 'yamori-e2e-'));
    const tdb = kind === 'postgres' ? await createTestDatabase('postgres') : undefined;
    const server = await startYamori(
      kind === 'sqlite' ? ['up', '--data', data, '--port', '0'] : ['server', '--data', data, '--port', '0', '--database', tdb?.url ?? ''],
    );
    try {
      assert.ok(server.caSha256 && server.password, server.output());
      const ca = readFileSync(join(data, 'tls', 'ca.pem'), 'utf8');
      assert.equal((await call(`${server.url}/readyz`, { ca })).json<{ database: string }>().database, kind);
      // Without the CA, a client refuses the server: the certificate is not from a public CA.
      await assert.rejects(call(`${server.url}/readyz`));

      const s = await consoleSession(server.url, ca, 'admin@yamori.local', server.password);
      const [group] = (await s.api('GET', '/groups')).json<Array<{ id: string }>>();
      const tok = (await s.api('POST', '/enrollment-tokens', { groupId: group?.id, name: 'e2e', expiresInHours: 1 })).json<{ token: string }>();

      const stateDir = mkdtempSync(join(tmpdir(), 'yamori-agent-'));
      const id = await enrollAgent({ stateDir, token: tok.token, facts: facts(randomUUID().replaceAll('-', '')), now: Date.now, url: server.url });
      assert.ok(id.pinned, 'the agent pinned the CA named in the token');
      const client = createAgentClient({ url: server.url, caPem: loadCaPem(stateDir), credentials: { agentId: id.agentId, secret: id.secret } });
      try {
        const first = await client.checkin({ policyRevision: null, commandCursor: 0, verdictCursor: 0, waitS: 0 });
        assert.ok(first.policy, 'the group policy arrives at the first check-in');
        const sent = await client.sendEvents({
          batchId: randomUUID(),
          events: [
            {
              '@timestamp': new Date().toISOString(),
              event: { id: randomUUID(), dataset: 'yamori.process', kind: 'event', category: ['process'], type: ['start'], action: 'exec' },
              process: { entity_id: 'x1', pid: 4242, executable: '/usr/bin/id', args: ['id'] },
            },
          ],
        });
        assert.equal(sent.kind, 'ok');
        assert.equal(sent.response?.accepted, 1);

        const started = Date.now();
        const poll = client.checkin({ policyRevision: first.policy.revision, commandCursor: first.commandCursor, verdictCursor: first.verdictCursor, waitS: 30 });
        await new Promise((r) => setTimeout(r, 300));
        const changedAt = Date.now();
        await deployMalwareBlock(s.api);
        const next = await poll;
        const latency = Date.now() - changedAt;
        assert.ok(next.policy, 'the long-poll answered with the new policy');
        assert.notEqual(next.policy.revision, first.policy.revision);
        assert.ok(Date.now() - started < 30_000, 'woken by the deploy, not by the long-poll timeout');
        console.log(`# ${kind}: policy change reached the long-polling agent ${latency} ms after the deploy request`);
      } finally {
        client.close();
        rmSync(stateDir, { recursive: true, force: true });
      }
    } finally {
      await server.stop();
      await tdb?.drop();
      rmSync(data, { recursive: true, force: true });
    }
  });
}

test('two server instances on one PostgreSQL: a change made on A wakes an agent long-polling on B', async () => {
  const tdb = await createTestDatabase('postgres');
  const data = mkdtempSync(join(tmpdir(), 'yamori-e2e-'));
  // Both instances share the data directory's tls/, as instances behind one load balancer do.
  const a = await startYamori(['server', '--data', data, '--port', '0', '--database', tdb.url]);
  const b = await startYamori(['server', '--data', data, '--port', '0', '--database', tdb.url]);
  try {
    assert.equal(a.caSha256, b.caSha256);
    const ca = readFileSync(join(data, 'tls', 'ca.pem'), 'utf8');
    const s = await consoleSession(a.url, ca, 'admin@yamori.local', a.password ?? '');
    const [group] = (await s.api('GET', '/groups')).json<Array<{ id: string }>>();
    const tok = (await s.api('POST', '/enrollment-tokens', { groupId: group?.id, name: 'e2e', expiresInHours: 1 })).json<{ token: string }>();
    const stateDir = mkdtempSync(join(tmpdir(), 'yamori-agent-'));
    const id = await enrollAgent({ stateDir, token: tok.token, facts: facts(randomUUID().replaceAll('-', '')), now: Date.now, url: b.url });
    const client = createAgentClient({ url: b.url, caPem: loadCaPem(stateDir), credentials: { agentId: id.agentId, secret: id.secret } });
    try {
      const first = await client.checkin({ policyRevision: null, commandCursor: 0, verdictCursor: 0, waitS: 0 });
      assert.ok(first.policy);
      const started = Date.now();
      const poll = client.checkin({ policyRevision: first.policy.revision, commandCursor: first.commandCursor, verdictCursor: first.verdictCursor, waitS: 30 });
      await new Promise((r) => setTimeout(r, 300));
      const changedAt = Date.now();
      await deployMalwareBlock(s.api);
      const next = await poll;
      assert.ok(next.policy, 'instance B answered with the policy deployed through instance A');
      assert.ok(Date.now() - started < 30_000, 'woken through LISTEN/NOTIFY, not by the timeout');
      console.log(`# cross-instance wake-up: ${Date.now() - changedAt} ms from the deploy request on A to the answer on B`);
    } finally {
      client.close();
      rmSync(stateDir, { recursive: true, force: true });
    }
  } finally {
    await Promise.all([a.stop(), b.stop()]);
    await tdb.drop();
    rmSync(data, { recursive: true, force: true });
  }
});
