import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TEST_DIALECTS } from '@yamori/db';
import { YARA_PACK_MAX_BYTES, type YaraPack, type YaraPackSummary, type YaraRuleBundle } from '@yamori/protocol';
import { topics } from '../../lib/wakeups.ts';
import { enrollAgent, startHarness, type Harness } from '../../test-support.ts';

const GOOD = `rule Marker_One : demo test {
  strings:
    $a = "yamori-yara-marker"
  condition:
    $a
}
`;
const SECOND = `rule Marker_Two { strings: $b = { DE AD BE EF } condition: $b }\n`;
const BROKEN = `rule Fine_One { strings: $x = "fine" condition: $x }

rule Broken_Syntax {
  strings:
    $a = "oops"
  condition:
    $a and and
}
`;

const checkin = (h: Harness, auth: string, yaraRevision: string | null | undefined, waitS = 0) =>
  h.app.inject({
    method: 'POST',
    url: '/api/agent/v1/checkin',
    headers: { authorization: auth },
    payload: { policyRevision: null, commandCursor: 0, verdictCursor: 0, waitS, ...(yaraRevision !== undefined ? { yaraRevision } : {}) },
  });

for (const kind of TEST_DIALECTS) {
  test(`${kind}: YARA packs: upload, list, get, update, enable/disable, delete; every change audited`, async () => {
    const h = await startHarness(kind);
    try {
      const base = `/api/v1/tenants/${h.tenantId}/yara-packs`;
      const req = (method: string, url: string, body?: unknown) => h.owner.request(method, url, body);
      const created = await req('POST', base, { name: 'Demo pack', description: 'markers', source: GOOD });
      assert.equal(created.statusCode, 201, created.body);
      const s = created.json() as YaraPackSummary;
      assert.equal(s.enabled, true);
      assert.equal(s.version, 1);
      assert.equal(s.ruleCount, 1);
      assert.deepEqual(s.fileNames, ['Demo_pack.yar']);
      assert.equal(s.sizeBytes, Buffer.byteLength(GOOD));
      assert.equal(s.createdBy, s.updatedBy);

      const got = (await req('GET', `${base}/${s.id}`)).json() as YaraPack;
      assert.deepEqual(got.files, [{ name: 'Demo_pack.yar', source: GOOD }]);
      assert.deepEqual(((await req('GET', base)).json() as YaraPackSummary[]).map((p) => p.name), ['Demo pack']);
      assert.equal((await req('POST', base, { name: 'Demo pack', source: GOOD })).statusCode, 409);

      // several files; a new version compiles again
      const upd = await req('PATCH', `${base}/${s.id}`, { files: [{ name: 'one.yar', source: GOOD }, { name: 'two.yara', source: SECOND }] });
      assert.equal(upd.statusCode, 200, upd.body);
      const u = upd.json() as YaraPackSummary;
      assert.equal(u.version, 2);
      assert.equal(u.ruleCount, 2);
      assert.deepEqual(u.fileNames, ['one.yar', 'two.yara']);

      const off = (await req('POST', `${base}/${s.id}/disable`)).json() as YaraPackSummary;
      assert.equal(off.enabled, false);
      assert.equal(off.version, 3);
      const on = (await req('POST', `${base}/${s.id}/enable`)).json() as YaraPackSummary;
      assert.equal(on.enabled, true);

      assert.equal((await req('DELETE', `${base}/${s.id}`)).statusCode, 204);
      assert.equal((await req('GET', `${base}/${s.id}`)).statusCode, 404);
      assert.equal((await req('DELETE', `${base}/${s.id}`)).statusCode, 404);

      const { items } = (await req('GET', `/api/v1/tenants/${h.tenantId}/audit?limit=50`)).json() as { items: Array<{ action: string; target: string }> };
      const actions = items.filter((a) => a.target === `yara_pack:${s.id}`).map((a) => a.action).sort();
      assert.deepEqual(actions, ['yara_pack.created', 'yara_pack.deleted', 'yara_pack.disabled', 'yara_pack.enabled', 'yara_pack.updated']);
    } finally {
      await h.close();
    }
  });

  test(`${kind}: a rule that does not compile is refused with file, line and rule; nothing is stored`, async () => {
    const h = await startHarness(kind);
    try {
      const base = `/api/v1/tenants/${h.tenantId}/yara-packs`;
      const req = (method: string, url: string, body?: unknown) => h.owner.request(method, url, body);
      const bad = await req('POST', base, { name: 'bad', files: [{ name: 'good.yar', source: GOOD }, { name: 'broken.yar', source: BROKEN }] });
      assert.equal(bad.statusCode, 400, bad.body);
      const body = bad.json() as { code: string; message: string; details: string[] };
      assert.equal(body.code, 'invalid_input');
      assert.match(body.message, /nothing was stored/);
      assert.ok(body.details.some((d) => /^broken\.yar:7: error in rule Broken_Syntax: .*syntax error/.test(d)), body.details.join('\n'));
      assert.ok(!body.details.some((d) => d.startsWith('good.yar')), 'the good file is not blamed');
      assert.deepEqual((await req('GET', base)).json(), []);

      // an update with a broken rule leaves the stored pack as it was
      const ok = (await req('POST', base, { name: 'ok', source: GOOD })).json() as YaraPackSummary;
      const badUpd = await req('PATCH', `${base}/${ok.id}`, { source: BROKEN });
      assert.equal(badUpd.statusCode, 400);
      const still = (await req('GET', `${base}/${ok.id}`)).json() as YaraPack;
      assert.equal(still.version, 1);
      assert.deepEqual(still.files.map((f) => f.source), [GOOD]);

      // bad shapes
      assert.equal((await req('POST', base, { name: 'none' })).statusCode, 400);
      assert.equal((await req('POST', base, { name: 'both', source: GOOD, files: [{ name: 'a.yar', source: GOOD }] })).statusCode, 400);
      assert.equal((await req('POST', base, { name: 'dup', files: [{ name: 'a.yar', source: GOOD }, { name: 'a.yar', source: SECOND }] })).statusCode, 400);
      assert.equal((await req('POST', base, { name: 'path', files: [{ name: '../etc/x.yar', source: GOOD }] })).statusCode, 400);
      assert.equal((await req('POST', base, { name: 'empty', source: '// no rules here\n' })).statusCode, 400);

      // a huge body is refused before it is parsed
      const huge = await req('POST', base, { name: 'huge', source: `rule Big { strings: $a = "${'A'.repeat(YARA_PACK_MAX_BYTES)}" condition: $a }` });
      assert.equal(huge.statusCode, 413, huge.body.slice(0, 200));
      assert.equal((huge.json() as { code: string }).code, 'payload_too_large');

      const { items } = (await req('GET', `/api/v1/tenants/${h.tenantId}/audit?limit=50`)).json() as { items: Array<{ action: string }> };
      assert.deepEqual(items.filter((a) => a.action.startsWith('yara_pack.')).map((a) => a.action), ['yara_pack.created']);
      assert.deepEqual(((await req('GET', base)).json() as YaraPackSummary[]).map((p) => p.name), ['ok']);
    } finally {
      await h.close();
    }
  });

  test(`${kind}: putting rules in force needs policies:deploy; analysts upload disabled packs`, async () => {
    const h = await startHarness(kind);
    try {
      const base = `/api/v1/tenants/${h.tenantId}/yara-packs`;
      const mk = async (role: string, scope = 'write') =>
        ((await h.owner.request('POST', `/api/v1/tenants/${h.tenantId}/tokens`, { name: `${role}-${scope}`, role, scope })).json() as { secret: string }).secret;
      const as = (secret: string) => (method: string, url: string, body?: unknown) =>
        h.app.inject({ method: method as 'GET', url, headers: { authorization: `Bearer ${secret}` }, ...(body === undefined ? {} : { payload: body as object }) });
      const analyst = as(await mk('analyst'));
      const approver = as(await mk('approver'));
      const reader = as(await mk('owner', 'read'));
      const helpdesk = as(await mk('helpdesk'));

      const refused = await analyst('POST', base, { name: 'a', source: GOOD });
      assert.equal(refused.statusCode, 403);
      assert.match((refused.json() as { message: string }).message, /policies:deploy/);
      const draft = await analyst('POST', base, { name: 'a', source: GOOD, enabled: false });
      assert.equal(draft.statusCode, 201, draft.body);
      const id = (draft.json() as YaraPackSummary).id;
      assert.equal((await analyst('PATCH', `${base}/${id}`, { source: SECOND })).statusCode, 200, 'a disabled pack may be edited');
      assert.equal((await analyst('POST', `${base}/${id}/enable`)).statusCode, 403);
      assert.equal((await helpdesk('POST', base, { name: 'h', source: GOOD, enabled: false })).statusCode, 403);
      assert.equal((await reader('POST', base, { name: 'r', source: GOOD, enabled: false })).statusCode, 403);
      assert.equal((await reader('GET', `${base}/${id}`)).statusCode, 200);
      assert.equal((await approver('POST', `${base}/${id}/enable`)).statusCode, 200);
      assert.equal((await analyst('PATCH', `${base}/${id}`, { source: GOOD })).statusCode, 403, 'an enabled pack is changed by a deployer only');
      assert.equal((await analyst('DELETE', `${base}/${id}`)).statusCode, 403);
      assert.equal((await approver('DELETE', `${base}/${id}`)).statusCode, 204);
    } finally {
      await h.close();
    }
  });

  test(`${kind}: agents learn the YARA revision in the check-in and fetch the enabled packs`, async () => {
    const h = await startHarness(kind);
    try {
      const base = `/api/v1/tenants/${h.tenantId}/yara-packs`;
      const a = await enrollAgent(h, h.owner, h.tenantId);
      const bundle = async () => {
        const r = await h.app.inject({ method: 'GET', url: '/api/agent/v1/yara-rules', headers: { authorization: a.auth } });
        assert.equal(r.statusCode, 200, r.body);
        return r.json() as YaraRuleBundle;
      };
      // an agent that does not send a revision (older agents) hears nothing about YARA
      assert.equal(((await checkin(h, a.auth, undefined)).json() as { yaraRevision?: string }).yaraRevision, undefined);

      const empty = await bundle();
      assert.deepEqual(empty.packs, []);
      const first = (await checkin(h, a.auth, null)).json() as { yaraRevision: string };
      assert.equal(first.yaraRevision, empty.revision);

      // a change publishes on the topic the waiting check-ins listen to
      const waiter = h.wakeups.listen([topics.yara(h.tenantId)]);
      const p = (await h.owner.request('POST', base, { name: 'p1', source: GOOD })).json() as YaraPackSummary;
      await h.owner.request('POST', base, { name: 'p2', source: SECOND, enabled: false });
      assert.equal(waiter.fired, true);
      waiter.dispose();

      const now = await bundle();
      assert.notEqual(now.revision, empty.revision);
      assert.deepEqual(now.packs.map((x) => [x.id, x.name, x.version, x.files.map((f) => f.source)]), [[p.id, 'p1', 1, [GOOD]]]);
      const news = (await checkin(h, a.auth, empty.revision, 30)).json() as { yaraRevision: string };
      assert.equal(news.yaraRevision, now.revision);
      // up to date: the answer carries the same revision
      const same = (await checkin(h, a.auth, now.revision, 0)).json() as { yaraRevision: string };
      assert.equal(same.yaraRevision, now.revision);

      // disabling removes the pack from the agents' bundle, enabling brings it back at a new revision
      await h.owner.request('POST', `${base}/${p.id}/disable`);
      const off = await bundle();
      assert.deepEqual(off.packs, []);
      assert.notEqual(off.revision, now.revision);
      await h.owner.request('POST', `${base}/${p.id}/enable`);
      const back = await bundle();
      assert.equal(back.packs[0]?.version, 3);
      assert.notEqual(back.revision, now.revision);

      assert.equal((await h.app.inject({ method: 'GET', url: '/api/agent/v1/yara-rules' })).statusCode, 401);
    } finally {
      await h.close();
    }
  });
}
