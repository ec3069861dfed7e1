import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TEST_DIALECTS } from '@yamori/db';
import { defaultPolicy } from '@yamori/protocol';
import { enrollAgent, postEvents, processEvent, startHarness } from '../../test-support.ts';

const SHA = 'c'.repeat(64);
const day = 86400_000;

for (const kind of TEST_DIALECTS) {
  test(`${kind}: a file run yesterday raises a retro-hunt alert when its verdict turns malicious, and is quarantined where policy says`, async () => {
    const h = await startHarness(kind);
    try {
      const T = h.tenantId;
      // Block mode with quarantine, so the retro-hunt also orders the file quarantined.
      const [policy] = (await h.owner.request('GET', `/api/v1/tenants/${T}/policies`)).json() as Array<{ id: string }>;
      const doc = defaultPolicy();
      doc.modules.malware = { mode: 'block', quarantineOnMalicious: true };
      const rev = (await h.owner.request('POST', `/api/v1/tenants/${T}/policies/${policy?.id}/revisions`, { document: doc })).json() as { revision: number };
      await h.owner.request('POST', `/api/v1/tenants/${T}/policies/${policy?.id}/revisions/${rev.revision}/approve`);
      await h.owner.request('POST', `/api/v1/tenants/${T}/policies/${policy?.id}/revisions/${rev.revision}/deploy`);

      const a = await enrollAgent(h, h.owner, T);
      const b = await enrollAgent(h, h.owner, T);
      const yesterday = Date.now() - day;
      const ran = (i: number, at: number, path = '/home/alice/tool') => ({
        ...processEvent(i, { executable: path, hash: { sha256: SHA } }),
        '@timestamp': new Date(at).toISOString(),
      });
      assert.equal((await postEvents(h.app, a.auth, [ran(1, yesterday), ran(2, yesterday + 60_000), ran(3, yesterday + 120_000, '/tmp/tool')])).statusCode, 200);
      assert.equal((await postEvents(h.app, b.auth, [processEvent(9)])).statusCode, 200, 'host b never ran it');

      const ledger = (await h.owner.request('GET', `/api/v1/tenants/${T}/ledger?sha256=${SHA}`)).json() as Array<{ path: string; count: number }>;
      assert.deepEqual(ledger.map((l) => [l.path, l.count]).sort(), [['/home/alice/tool', 2], ['/tmp/tool', 1]]);

      const set = await h.owner.request('POST', `/api/v1/tenants/${T}/verdicts`, { sha256: SHA, verdict: 'malicious' });
      assert.equal(set.statusCode, 200, set.body);
      assert.deepEqual(set.json(), { hostsAlerted: 1 });

      const alerts = (await h.owner.request('GET', `/api/v1/tenants/${T}/alerts?ruleId=yamori.retrohunt.malicious`)).json() as { items: Array<{ agentId: string; event: { rule: { description: string } } }> };
      assert.equal(alerts.items.length, 1);
      assert.equal(alerts.items[0]?.agentId, a.agentId);
      assert.match(alerts.items[0]?.event.rule.description ?? '', /ran 3 time\(s\) between .* as \/home\/alice\/tool, \/tmp\/tool/);

      const checkin = (await h.app.inject({ method: 'POST', url: '/api/agent/v1/checkin', headers: { authorization: a.auth }, payload: { policyRevision: null, commandCursor: 0, verdictCursor: 0, waitS: 0 } })).json() as {
        commands: Array<{ type: string; params: { sha256: string; paths: string[] } }>;
        verdicts: Array<{ sha256: string; verdict: string }>;
      };
      assert.deepEqual(checkin.commands.map((c) => [c.type, c.params.sha256, c.params.paths]), [['quarantine', SHA, ['/home/alice/tool', '/tmp/tool']]]);
      assert.ok(checkin.verdicts.some((v) => v.sha256 === SHA && v.verdict === 'malicious'), 'the verdict reaches agents too');
      const bCheckin = (await h.app.inject({ method: 'POST', url: '/api/agent/v1/checkin', headers: { authorization: b.auth }, payload: { policyRevision: null, commandCursor: 0, verdictCursor: 0, waitS: 0 } })).json() as { commands: unknown[] };
      assert.equal(bCheckin.commands.length, 0);
    } finally {
      await h.close();
    }
  });
}
