import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { TEST_DIALECTS } from '@yamori/db';
import { defaultPolicy } from '@yamori/protocol';
import { detectionEvent, enrollAgent, postEvents, processEvent, startHarness } from './test-support.ts';

for (const kind of TEST_DIALECTS) {
  test(`${kind}: enroll, receive the group's policy, send events, see alerts deduplicated`, async () => {
    const h = await startHarness(kind);
    try {
      const a = await enrollAgent(h, h.owner, h.tenantId, 'machine-aaaaaaaa');
      const checkin = await h.app.inject({
        method: 'POST',
        url: '/api/agent/v1/checkin',
        headers: { authorization: a.auth },
        payload: { policyRevision: null, commandCursor: 0, verdictCursor: 0, waitS: 0 },
      });
      assert.equal(checkin.statusCode, 200, checkin.body);
      const body = checkin.json() as { policy: { revision: number; document: unknown } | null };
      assert.ok(body.policy, 'a new agent gets its policy at once');
      assert.deepEqual(body.policy.document, defaultPolicy());

      const batchId = randomUUID();
      const events = [processEvent(1), processEvent(2), detectionEvent('r1'), detectionEvent('r1')];
      const first = await postEvents(h.app, a.auth, events, batchId);
      assert.equal(first.statusCode, 200, first.body);
      assert.deepEqual(first.json(), { batchId, accepted: 4, duplicate: false });
      const again = await postEvents(h.app, a.auth, events, batchId);
      assert.deepEqual(again.json(), { batchId, accepted: 4, duplicate: true }, 'a resent batch is acknowledged, not stored twice');

      const stored = await h.owner.request('GET', `/api/v1/tenants/${h.tenantId}/events?limit=100`);
      assert.equal((stored.json() as { items: unknown[] }).items.length, 4);
      const alerts = (await h.owner.request('GET', `/api/v1/tenants/${h.tenantId}/alerts`)).json() as { items: Array<{ id: string; count: number; status: string }> };
      assert.equal(alerts.items.length, 1, 'two detections of one rule on one program make one alert');
      assert.equal(alerts.items[0]?.count, 2);

      // Re-enrolling the same machine re-activates the same agent.
      const b = await enrollAgent(h, h.owner, h.tenantId, 'machine-aaaaaaaa');
      assert.equal(b.agentId, a.agentId);
      const old = await h.app.inject({ method: 'POST', url: '/api/agent/v1/checkin', headers: { authorization: a.auth }, payload: { policyRevision: null, commandCursor: 0, verdictCursor: 0, waitS: 0 } });
      assert.equal(old.statusCode, 401, 'the old secret stops working');
      const list = (await h.owner.request('GET', `/api/v1/tenants/${h.tenantId}/agents`)).json() as { items: unknown[] };
      assert.equal(list.items.length, 1);
    } finally {
      await h.close();
    }
  });

  test(`${kind}: a deployed policy change answers a waiting long-poll at once`, async () => {
    const h = await startHarness(kind);
    try {
      const a = await enrollAgent(h, h.owner, h.tenantId);
      const first = await h.app.inject({ method: 'POST', url: '/api/agent/v1/checkin', headers: { authorization: a.auth }, payload: { policyRevision: null, commandCursor: 0, verdictCursor: 0, waitS: 0 } });
      const rev = (first.json() as { policy: { revision: number } }).policy.revision;
      const started = Date.now();
      const poll = h.app.inject({ method: 'POST', url: '/api/agent/v1/checkin', headers: { authorization: a.auth }, payload: { policyRevision: rev, commandCursor: 0, verdictCursor: 0, waitS: 30 } });
      await new Promise((r) => setTimeout(r, 200));
      const policies = (await h.owner.request('GET', `/api/v1/tenants/${h.tenantId}/policies`)).json() as Array<{ id: string }>;
      const pid = policies[0]?.id ?? '';
      const doc = defaultPolicy();
      doc.modules.malware.mode = 'block';
      const created = await h.owner.request('POST', `/api/v1/tenants/${h.tenantId}/policies/${pid}/revisions`, { document: doc, comment: 'block malware' });
      assert.equal(created.statusCode, 201, created.body);
      const n = (created.json() as { revision: number }).revision;
      const early = await h.owner.request('POST', `/api/v1/tenants/${h.tenantId}/policies/${pid}/revisions/${n}/deploy`);
      assert.equal(early.statusCode, 409, 'a draft cannot be deployed before approval');
      assert.equal((await h.owner.request('POST', `/api/v1/tenants/${h.tenantId}/policies/${pid}/revisions/${n}/approve`)).statusCode, 200);
      assert.equal((await h.owner.request('POST', `/api/v1/tenants/${h.tenantId}/policies/${pid}/revisions/${n}/deploy`)).statusCode, 200);
      const res = await poll;
      const waited = Date.now() - started;
      const got = res.json() as { policy: { revision: number; document: { modules: { malware: { mode: string } } } } | null };
      assert.ok(got.policy, 'the long-poll returns the new policy');
      assert.equal(got.policy.document.modules.malware.mode, 'block');
      assert.ok(waited < 30_000, 'it returned because of the deploy, not the timeout');

      const diff = (await h.owner.request('GET', `/api/v1/tenants/${h.tenantId}/policies/${pid}/revisions/${n}/diff`)).json() as { changes: Array<{ path: string }> };
      assert.deepEqual(diff.changes.map((c) => c.path), ['/modules/malware/mode']);
      // Rollback: deploy revision 1 again.
      assert.equal((await h.owner.request('POST', `/api/v1/tenants/${h.tenantId}/policies/${pid}/revisions/1/deploy`)).statusCode, 200);
      const audit = (await h.owner.request('GET', `/api/v1/tenants/${h.tenantId}/audit`)).json() as { items: Array<{ action: string }> };
      assert.equal(audit.items[0]?.action, 'policy.rolled_back');
    } finally {
      await h.close();
    }
  });
}

test('bad input is refused with a message and writes nothing', async () => {
  const h = await startHarness('sqlite', { agentEventsPerSecond: 10, agentEventsBurst: 10 });
  try {
    const a = await enrollAgent(h, h.owner, h.tenantId);
    const count = async () => ((await h.owner.request('GET', `/api/v1/tenants/${h.tenantId}/events?limit=1000`)).json() as { items: unknown[] }).items.length;

    const wrongType = await postEvents(h.app, a.auth, [processEvent(1, { pid: 'not-a-number' })]);
    assert.equal(wrongType.statusCode, 400);
    assert.match((wrongType.json() as { message: string }).message, /pid/);

    const unknownField = await postEvents(h.app, a.auth, [{ ...processEvent(1), surprise: true }]);
    assert.equal(unknownField.statusCode, 400);

    const oneBad = await postEvents(h.app, a.auth, [processEvent(1), { nonsense: 1 }]);
    assert.equal(oneBad.statusCode, 400, 'a batch with one bad event is rejected whole');

    const notGzip = await h.app.inject({
      method: 'POST',
      url: '/api/agent/v1/events',
      headers: { authorization: a.auth, 'content-type': 'application/json', 'content-encoding': 'gzip' },
      payload: Buffer.from('{"this is not":"gzip"}'),
    });
    assert.equal(notGzip.statusCode, 400, notGzip.body);

    const malformed = await h.app.inject({ method: 'POST', url: '/api/agent/v1/events', headers: { authorization: a.auth, 'content-type': 'application/json' }, payload: '{"batchId": ' });
    assert.equal(malformed.statusCode, 400);

    const tooMany = await postEvents(h.app, a.auth, Array.from({ length: 5001 }, (_, i) => processEvent(i)));
    assert.equal(tooMany.statusCode, 400, 'oversized arrays are refused');

    assert.equal(await count(), 0, 'nothing was written');

    const limited = await postEvents(h.app, a.auth, Array.from({ length: 11 }, (_, i) => processEvent(i)));
    assert.equal(limited.statusCode, 429);
    assert.ok(Number(limited.headers['retry-after']) >= 1);

    const unknownAgent = await h.app.inject({ method: 'POST', url: '/api/agent/v1/checkin', headers: { authorization: 'Bearer nope.nope' }, payload: { policyRevision: null, commandCursor: 0, verdictCursor: 0, waitS: 0 } });
    assert.equal(unknownAgent.statusCode, 401);

    const badToken = await h.app.inject({ method: 'POST', url: '/api/agent/v1/enroll', payload: { token: 'ymr1.garbage-garbage', facts: { hostname: 'x' } } });
    assert.equal(badToken.statusCode, 400);

    const bomb = await h.app.inject({
      method: 'POST',
      url: '/api/agent/v1/events',
      headers: { authorization: a.auth, 'content-type': 'application/json', 'content-encoding': 'gzip' },
      payload: gzipSync(Buffer.concat([Buffer.from('{"batchId":"'), Buffer.alloc(80 * 1024 * 1024, 0x61), Buffer.from('"}')])),
    });
    assert.equal(bomb.statusCode, 413, 'a body that inflates past the limit is refused');
    assert.equal(await count(), 0);
  } finally {
    await h.close();
  }
});
