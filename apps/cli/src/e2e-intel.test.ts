import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID, createHash } from 'node:crypto';
import type { HostFacts } from '@yamori/protocol';
import { createAgentClient, enrollAgent, loadCaPem } from '@yamori/agent';
import { consoleSession, startYamori } from './test-support.ts';

const facts = (): HostFacts => ({
  hostname: 'e2e-intel',
  machineId: randomUUID().replaceAll('-', ''),
  os: { family: 'linux', name: 'Debian GNU/Linux', version: '12', kernel: '6.18' },
  arch: 'x86_64',
  ips: ['127.0.0.1'],
  agentVersion: '0.1.0',
});

test('yamori up: a hash imported into intelligence as malicious reaches a long-polling agent and alerts the host that ran it', async () => {
  const data = mkdtempSync(join(tmpdir(), 'yamori-e2e-intel-'));
  const server = await startYamori(['up', '--data', data, '--port', '0']);
  try {
    const ca = readFileSync(join(data, 'tls', 'ca.pem'), 'utf8');
    const intelUrl = /Threat intelligence: (\S+)/.exec(server.output())?.[1] ?? '';
    const keys = JSON.parse(readFileSync(join(data, 'intel', 'local-keys.json'), 'utf8')) as { adminKey: string };
    const s = await consoleSession(server.url, ca, 'admin@yamori.local', server.password ?? '');
    const [group] = (await s.api('GET', '/groups')).json<Array<{ id: string }>>();
    const tok = (await s.api('POST', '/enrollment-tokens', { groupId: group?.id, name: 'e2e', expiresInHours: 1 })).json<{ token: string }>();
    const stateDir = mkdtempSync(join(tmpdir(), 'yamori-agent-'));
    const id = await enrollAgent({ stateDir, token: tok.token, facts: facts(), now: Date.now, url: server.url });
    const client = createAgentClient({ url: server.url, caPem: loadCaPem(stateDir), credentials: { agentId: id.agentId, secret: id.secret } });
    try {
      // The host ran a file yesterday that nobody knew.
      const sha = createHash('sha256').update(randomUUID()).digest('hex');
      const sent = await client.sendEvents({
        batchId: randomUUID(),
        events: [
          {
            '@timestamp': new Date(Date.now() - 86400_000).toISOString(),
            event: { id: randomUUID(), dataset: 'yamori.process', kind: 'event', category: ['process'], type: ['start'], action: 'exec' },
            process: { entity_id: 'x1', pid: 4242, executable: '/home/alice/invoice-viewer', args: ['invoice-viewer'], hash: { sha256: sha } },
          },
        ],
      });
      assert.equal(sent.kind, 'ok');
      const first = await client.checkin({ policyRevision: null, commandCursor: 0, verdictCursor: 0, waitS: 0 });
      const poll = client.checkin({ policyRevision: first.policy?.revision ?? null, commandCursor: first.commandCursor, verdictCursor: first.verdictCursor, waitS: 45 });
      const importedAt = Date.now();
      const res = await fetch(`${intelUrl}/api/intel/v1/feeds/import?format=list&source=e2e-feed&type=sha256&verdict=malicious&confidence=90`, {
        method: 'POST',
        headers: { authorization: `Bearer ${keys.adminKey}`, 'content-type': 'application/octet-stream' },
        body: `# test feed\n${sha}\n`,
      });
      assert.equal(res.status, 200, await res.text());
      let update = await poll;
      // The long-poll may wake for another reason first; keep polling until the verdict is there.
      for (let i = 0; i < 5 && !update.verdicts.some((v) => v.sha256 === sha); i++) {
        update = await client.checkin({ policyRevision: update.policy?.revision ?? first.policy?.revision ?? null, commandCursor: update.commandCursor, verdictCursor: update.verdictCursor, waitS: 45 });
      }
      const v = update.verdicts.find((x) => x.sha256 === sha);
      assert.ok(v, 'the verdict arrived through the check-in channel');
      assert.equal(v.verdict, 'malicious');
      console.log(`# verdict from a feed import reached the agent ${Date.now() - importedAt} ms after the import`);
      const alerts = (await s.api('GET', '/alerts?ruleId=yamori.retrohunt.malicious')).json<{ items: Array<{ agentId: string; sha256: string }> }>();
      assert.deepEqual(alerts.items.map((a) => [a.agentId, a.sha256]), [[id.agentId, sha]], 'the retro-hunt alerted the host that ran it yesterday');
    } finally {
      client.close();
      rmSync(stateDir, { recursive: true, force: true });
    }
  } finally {
    await server.stop();
    rmSync(data, { recursive: true, force: true });
  }
});
