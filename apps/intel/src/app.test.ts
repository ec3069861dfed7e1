import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { TEST_DIALECTS } from '@yamori/db';
import type { FeedImportReport, IntelChangesResponse, IntelLookupResponse, SandboxClaimResponse, SandboxReport } from '@yamori/protocol';
import { runDueFeeds } from './feeds/feed-fetch.ts';
import { parseStixBundle } from './feeds/stix-parse.ts';
import { BUILTIN_WARNINGLISTS, createWarninglist } from './feeds/warninglist.ts';
import { startTestIntel, type TestIntel } from './test-helpers.ts';

const fixture = (name: string) => readFileSync(join(import.meta.dirname, 'feeds', 'fixtures', name));
const P = '/api/intel/v1';

async function importFile(t: TestIntel, format: string, body: Buffer | string, query = '', contentType = 'application/json') {
  const res = await t.app.inject({
    method: 'POST',
    url: `${P}/feeds/import?format=${format}&source=test-${format}${query}`,
    headers: { ...t.auth(t.keys.admin), 'content-type': contentType },
    payload: body,
  });
  assert.equal(res.statusCode, 200, res.body);
  return res.json<FeedImportReport>();
}

async function lookupAll(t: TestIntel, key: string, items: { type: string; value: string }[]) {
  const res = await t.app.inject({ method: 'POST', url: `${P}/lookup`, headers: t.auth(key), payload: { items } });
  assert.equal(res.statusCode, 200, res.body);
  return res.json<IntelLookupResponse>().results.map((r) => `${r.value} ${r.verdict}`);
}

for (const kind of TEST_DIALECTS) {
  test(`${kind}: auth scopes, and bad input is refused with a message and writes nothing`, async () => {
    const t = await startTestIntel(kind);
    try {
      const noKey = await t.app.inject({ method: 'POST', url: `${P}/lookup`, payload: { items: [{ type: 'ip', value: '1.2.3.4' }] } });
      assert.equal(noKey.statusCode, 401);
      assert.equal(noKey.json<{ code: string }>().code, 'unauthorized');
      const wrongScope = await t.app.inject({ method: 'POST', url: `${P}/feeds/import?format=list&source=x`, headers: t.auth(t.keys.orgA), payload: '1.2.3.4' });
      assert.equal(wrongScope.statusCode, 403);
      const worker = await t.app.inject({ method: 'POST', url: `${P}/lookup`, headers: t.auth(t.keys.worker), payload: { items: [{ type: 'ip', value: '1.2.3.4' }] } });
      assert.equal(worker.statusCode, 403);
      const garbage = await t.app.inject({
        method: 'POST',
        url: `${P}/feeds/import?format=stix&source=x`,
        headers: { ...t.auth(t.keys.admin), 'content-type': 'application/json' },
        payload: '{"type":"bundle","objects":',
      });
      assert.equal(garbage.statusCode, 400);
      assert.match(garbage.json<{ message: string }>().message, /stix feed: not JSON/);
      const badFormat = await t.app.inject({ method: 'POST', url: `${P}/feeds/import?format=xml&source=x`, headers: t.auth(t.keys.admin), payload: 'x' });
      assert.equal(badFormat.statusCode, 400);
      const badLookup = await t.app.inject({ method: 'POST', url: `${P}/lookup`, headers: t.auth(t.keys.orgA), payload: { items: [] } });
      assert.equal(badLookup.statusCode, 400);
      const changes = await t.app.inject({ method: 'GET', url: `${P}/changes?since=0`, headers: t.auth(t.keys.orgA) });
      assert.deepEqual(changes.json(), { changes: [], next: 0 });
      const orgKey = await t.app.inject({ method: 'POST', url: `${P}/keys`, headers: t.auth(t.keys.admin), payload: { scope: 'org' } });
      assert.equal(orgKey.statusCode, 400);
    } finally {
      await t.close();
    }
  });

  test(`${kind}: STIX, MISP and CSV imports over HTTP report per-item problems; lookups see CIDRs and relations`, async () => {
    const t = await startTestIntel(kind);
    try {
      const stix = await importFile(t, 'stix', fixture('stix-bundle.json'));
      assert.deepEqual(
        { total: stix.total, imported: stix.imported, changed: stix.changed, rejected: stix.rejected, unsupported: stix.unsupported },
        { total: 12, imported: 5, changed: 5, rejected: 4, unsupported: 3 },
      );
      assert.ok(stix.problems.some((p) => p.ref === 'x-acme-widget--0f7b7a1e-1c2d-4e5f-8a9b-0c1d2e3f4a5b'));
      const misp = await importFile(t, 'misp', fixture('misp-event.json'));
      assert.deepEqual({ imported: misp.imported, rejected: misp.rejected, unsupported: misp.unsupported, skipped: misp.skipped }, { imported: 10, rejected: 2, unsupported: 5, skipped: 1 });
      const csv = await importFile(t, 'csv', fixture('urlhaus-recent.csv'), '&confidence=60', 'text/csv');
      assert.deepEqual({ imported: csv.imported, rejected: csv.rejected }, { imported: 4, rejected: 4 });
      assert.deepEqual(csv.problems.map((p) => p.ref), ['line 14', 'line 15', 'line 13', 'line 16']);

      assert.deepEqual(
        await lookupAll(t, t.keys.orgB, [
          { type: 'sha256', value: '4BAC27393BDD9777CE02453256C5577CD02275510B2227F473D03F533924F877' },
          { type: 'ip', value: '198.51.99.17' },
          { type: 'ip', value: '8.8.8.8' },
          { type: 'domain', value: 'x.pool.miner-example.top' },
          { type: 'url', value: 'HTTP://bad-host.example.com/a/x86' },
        ]),
        [
          '4BAC27393BDD9777CE02453256C5577CD02275510B2227F473D03F533924F877 malicious',
          '198.51.99.17 malicious',
          '8.8.8.8 unknown',
          'x.pool.miner-example.top malicious',
          'HTTP://bad-host.example.com/a/x86 malicious',
        ],
      );
      const detail = await t.app.inject({ method: 'GET', url: `${P}/indicators/domain/cnc.mirai-example.net`, headers: t.auth(t.keys.orgA) });
      assert.equal(detail.statusCode, 200);
      const d = detail.json<{ indicator: { related: { value: string }[]; verdict: string }; observations: { source: string; trust: number }[] }>();
      assert.deepEqual(d.indicator.related.map((r) => r.value).sort(), ['203.0.114.7', '4bac27393bdd9777ce02453256c5577cd02275510b2227f473d03f533924f877']);
      assert.deepEqual(d.observations.map((o) => `${o.source}:${o.trust}`), ['test-stix:0.5']);
      // Distrusting a source recomputes what it asserted: its indicators lapse to unknown.
      const put = await t.app.inject({
        method: 'PUT',
        url: `${P}/feeds/sources/test-stix`,
        headers: { ...t.auth(t.keys.admin), 'content-type': 'application/json' },
        payload: { trust: 0 },
      });
      assert.equal(put.statusCode, 200, put.body);
      assert.deepEqual(await lookupAll(t, t.keys.orgA, [{ type: 'domain', value: 'cnc.mirai-example.net' }]), ['cnc.mirai-example.net unknown']);
    } finally {
      await t.close();
    }
  });

  test(`${kind}: the change feed long-poll wakes on a new verdict (another instance's, on PostgreSQL)`, async () => {
    const t = await startTestIntel(kind);
    // A second instance on the same database stands for another intel server behind the load balancer.
    const other = kind === 'postgres' ? await startTestIntel(kind, { tdb: t.tdb }) : t;
    try {
      // Builds this instance's in-memory filter of known values before the other instance adds one.
      assert.deepEqual(await lookupAll(t, t.keys.orgA, [{ type: 'ip', value: '185.220.101.33' }]), ['185.220.101.33 unknown']);
      const head = (await t.app.inject({ method: 'GET', url: `${P}/changes?since=0`, headers: t.auth(t.keys.orgA) })).json<IntelChangesResponse>().next;
      const poll = t.app.inject({ method: 'GET', url: `${P}/changes?since=${head}&waitS=30`, headers: t.auth(t.keys.orgA) });
      await new Promise((r) => setTimeout(r, 300));
      await importFile(other, 'list', '185.220.101.33\n', '&type=ip', 'text/plain');
      const res = (await poll).json<IntelChangesResponse>();
      assert.deepEqual(res.changes.map((c) => `${c.type} ${c.value} ${c.verdict} ${c.source}`), ['ip 185.220.101.33 malicious test-list']);
      assert.equal(res.next, res.changes[0]!.seq);
      assert.deepEqual(await lookupAll(t, t.keys.orgA, [{ type: 'ip', value: '185.220.101.33' }]), ['185.220.101.33 malicious']);
      const empty = await t.app.inject({ method: 'GET', url: `${P}/changes?since=${res.next}&waitS=0`, headers: t.auth(t.keys.orgA) });
      assert.deepEqual(empty.json<IntelChangesResponse>(), { changes: [], next: res.next });
    } finally {
      if (other !== t) await other.close();
      await t.close();
    }
  });

  test(`${kind}: samples stay with their organization, verdicts are shared; the sandbox flow leases, re-queues and reports`, async () => {
    const t = await startTestIntel(kind);
    try {
      const elf = Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]), Buffer.from(`payload-${kind}-${Date.now()}`)]);
      const sha = createHash('sha256').update(elf).digest('hex');
      const upload = (key: string, body: Buffer, headers: Record<string, string>) =>
        t.app.inject({ method: 'POST', url: `${P}/samples`, headers: { ...t.auth(key), 'content-type': 'application/octet-stream', ...headers }, payload: body });
      const up = await upload(t.keys.orgA, elf, { 'x-yamori-sha256': sha, 'x-yamori-file-name': encodeURIComponent('/tmp/.x/kworker😈'), 'x-yamori-kind': 'elf' });
      assert.equal(up.statusCode, 200, up.body);
      assert.deepEqual({ ...up.json<object>(), jobId: 'x' }, { sha256: sha, queued: true, jobId: 'x', status: 'queued', verdict: 'unknown' });
      // Refusals: wrong hash, documents, a "script" that is an ELF; a worker key cannot upload.
      assert.match((await upload(t.keys.orgA, elf, { 'x-yamori-sha256': 'a'.repeat(64) })).json<{ message: string }>().message, /sha256 mismatch/);
      const pdf = Buffer.from('%PDF-1.7 fake');
      const refused = await upload(t.keys.orgA, pdf, { 'x-yamori-sha256': createHash('sha256').update(pdf).digest('hex'), 'x-yamori-kind': 'document' });
      assert.equal(refused.statusCode, 400);
      assert.match(refused.json<{ message: string }>().message, /only elf and script/);
      assert.match((await upload(t.keys.orgA, elf, { 'x-yamori-sha256': sha, 'x-yamori-kind': 'script' })).body, /is an ELF/);
      assert.equal((await upload(t.keys.worker, elf, { 'x-yamori-sha256': sha })).statusCode, 403);
      // The same file from org B: stored for B too, but no second job.
      const upB = await upload(t.keys.orgB, elf, { 'x-yamori-sha256': sha });
      assert.equal(upB.json<{ queued: boolean }>().queued, false);

      const report = (key: string) => t.app.inject({ method: 'GET', url: `${P}/samples/${sha}/report`, headers: t.auth(key) });
      assert.equal((await report(t.keys.orgA)).json<{ fileName: string }>().fileName, '/tmp/.x/kworker😈');
      assert.equal((await report(t.keys.orgB)).json<{ fileName: string | null }>().fileName, null, "B never sees A's file name");

      const claim = (workerId: string, waitS = 0) =>
        t.app.inject({ method: 'POST', url: `${P}/sandbox/claim`, headers: t.auth(t.keys.worker), payload: { workerId, waitS } });
      const first = (await claim('w1')).json<SandboxClaimResponse>().job!;
      assert.deepEqual({ sha: first.sha256, kind: first.kind, name: first.fileName }, { sha, kind: 'elf', name: '/tmp/.x/kworker😈' });
      assert.equal((await claim('w2')).json<SandboxClaimResponse>().job, null, 'a leased job is not handed out twice');
      // w1 dies: after the lease the job goes to w2.
      t.clock.now += 61_000;
      const second = (await claim('w2')).json<SandboxClaimResponse>().job!;
      assert.equal(second.id, first.id);
      const sample = await t.app.inject({ method: 'GET', url: `${P}/sandbox/jobs/${second.id}/sample`, headers: t.auth(t.keys.worker) });
      assert.equal(sample.headers['content-type'], 'application/octet-stream');
      assert.deepEqual(sample.rawPayload, elf);
      assert.equal((await t.app.inject({ method: 'GET', url: `${P}/sandbox/jobs/${second.id}/sample`, headers: t.auth(t.keys.orgA) })).statusCode, 403);

      const dropped = 'cd'.repeat(32);
      const body: SandboxReport = {
        status: 'completed',
        verdict: 'malicious',
        score: 92,
        durationMs: 4100,
        signatures: [{ id: 'persistence.cron', weight: 40, message: 'writes a crontab' }],
        processes: [{ pid: 1, ppid: 0, executable: '/sample', args: ['/sample'] }],
        files: [{ path: '/tmp/.x/payload', op: 'write', sha256: dropped }],
        network: [
          { kind: 'dns', domain: 'c2.sandbox-example.top' },
          { kind: 'dns', domain: 'google.com' },
          { kind: 'connect', ip: '45.9.148.99', port: 4444 },
        ],
        indicators: [{ type: 'url', value: 'http://c2.sandbox-example.top/gate.php' }],
      };
      // A long-poll from org B's server sees the verdict arrive.
      const poll = t.app.inject({ method: 'GET', url: `${P}/changes?since=0&waitS=20`, headers: t.auth(t.keys.orgB) });
      const ack = await t.app.inject({ method: 'POST', url: `${P}/sandbox/jobs/${second.id}/report`, headers: t.auth(t.keys.worker), payload: body });
      assert.equal(ack.statusCode, 200, ack.body);
      const a = ack.json<{ verdict: string; indicatorsAdded: number; skipped: { value: string; reason: string }[] }>();
      assert.deepEqual({ v: a.verdict, n: a.indicatorsAdded, skipped: a.skipped.map((s) => s.value) }, { v: 'malicious', n: 4, skipped: ['google.com'] });
      const changes = (await poll).json<IntelChangesResponse>().changes;
      assert.ok(changes.some((c) => c.value === sha && c.verdict === 'malicious' && c.source === 'sandbox'));
      assert.equal((await t.app.inject({ method: 'POST', url: `${P}/sandbox/jobs/${second.id}/report`, headers: t.auth(t.keys.worker), payload: body })).statusCode, 409);

      // Shared verdicts: org B (which never saw the report's details) gets the verdicts.
      assert.deepEqual(
        await lookupAll(t, t.keys.orgB, [
          { type: 'sha256', value: sha },
          { type: 'sha256', value: dropped },
          { type: 'domain', value: 'c2.sandbox-example.top' },
          { type: 'ip', value: '45.9.148.99' },
        ]),
        [`${sha} malicious`, `${dropped} suspicious`, 'c2.sandbox-example.top suspicious', '45.9.148.99 suspicious'],
      );
      const rep = (await report(t.keys.orgA)).json<{ status: string; verdict: string; report: SandboxReport }>();
      assert.deepEqual({ s: rep.status, v: rep.verdict, sig: rep.report.signatures[0]!.id }, { s: 'done', v: 'malicious', sig: 'persistence.cron' });
      const detail = await t.app.inject({ method: 'GET', url: `${P}/indicators/sha256/${sha}`, headers: t.auth(t.keys.orgB) });
      assert.equal(detail.json<{ indicator: { related: unknown[] } }>().indicator.related.length, 4);
      // A third organization that never uploaded it: 404, exactly like a missing sample.
      const third = await t.app.inject({ method: 'GET', url: `${P}/samples/${'e'.repeat(64)}/report`, headers: t.auth(t.keys.orgB) });
      assert.equal(third.statusCode, 404);
      const org = await t.app.inject({ method: 'POST', url: `${P}/orgs`, headers: t.auth(t.keys.admin), payload: { name: 'org-c' } });
      const key = await t.app.inject({ method: 'POST', url: `${P}/keys`, headers: t.auth(t.keys.admin), payload: { scope: 'org', orgId: org.json<{ id: string }>().id } });
      assert.equal((await report(key.json<{ key: string }>().key)).statusCode, 404);
    } finally {
      await t.close();
    }
  });
}

test('sqlite: exports parse (STIX round-trips, nft defines the merged sets, Suricata rules, lists)', async () => {
  const t = await startTestIntel('sqlite');
  try {
    await importFile(t, 'stix', fixture('stix-bundle.json'));
    await importFile(t, 'list', '45.9.148.0/24\n45.9.148.7\n45.9.149.0/24\n2a03:b0c0:3:d0::1a51:c001\n', '&type=ip', 'text/plain');
    const get = async (path: string) => {
      const res = await t.app.inject({ method: 'GET', url: `${P}/export/${path}`, headers: t.auth(t.keys.orgA) });
      assert.equal(res.statusCode, 200, res.body);
      return res.body;
    };
    const stix = await get('stix');
    const back = parseStixBundle(stix);
    assert.equal(back.problems.length, 0);
    assert.equal(back.items.length, 9);
    assert.ok(back.items.every((i) => i.verdict === 'malicious'));
    const nft = await get('nft?chains=true');
    assert.match(nft, /set blocklist_v4 \{\n\t\ttype ipv4_addr\n\t\tflags interval\n\t\telements = \{/);
    assert.match(nft, /45\.9\.148\.0\/23/, 'adjacent /24s merged (and the /32 inside dropped)');
    assert.match(nft, /203\.0\.114\.7/);
    assert.match(nft, /ip daddr @blocklist_v4 counter drop/);
    // The real parser: `nft -c` checks the file without applying it (needs nft and root, as in CI).
    const dir = mkdtempSync(join(tmpdir(), 'yamori-nft-'));
    try {
      for (const [name, text] of [['full.nft', nft], ['empty.nft', await get('nft?minConfidence=100')]] as const) {
        writeFileSync(join(dir, name), text);
        const check = spawnSync('nft', ['-c', '-f', join(dir, name)], { encoding: 'utf8' });
        if (check.error) assert.fail(`nft not runnable: ${check.error.message}`);
        assert.equal(check.status, 0, `${name}: ${check.stderr}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const suricata = await get('suricata');
    assert.match(suricata, /^alert dns any any -> any any \(msg:"YAMORI malicious DNS query for cnc.mirai-example.net"; dns.query; dotprefix; content:".cnc.mirai-example.net"; nocase; endswith;/m);
    assert.match(suricata, /^alert http any any -> any any .*http.host; content:"dl.bad-updates.example.org"; bsize:26; http.uri; content:"\/x86\?id=1"; startswith;/m);
    assert.match(suricata, /filesha256:yamori-sha256.list/);
    const sids = [...suricata.matchAll(/sid:(\d+);/g)].map((m) => m[1]);
    assert.equal(new Set(sids).size, sids.length, 'unique sids');
    assert.equal(await get('sha256'), '4bac27393bdd9777ce02453256c5577cd02275510b2227f473d03f533924f877\n');
    assert.match(await get('url'), /\ndl\.bad-updates\.example\.org\/x86\?id=1\n/);
    assert.match(await get('domain?minConfidence=90'), /0 entries/);
    const ips = (await get('ip')).split('\n').filter((l) => l && !l.startsWith('#'));
    assert.deepEqual(ips.sort(), ['198.51.99.0/24', '203.0.114.7', '2a03:b0c0:3:d0::1a51:c001', '45.9.148.0/24', '45.9.148.7', '45.9.149.0/24']);
  } finally {
    await t.close();
  }
});

test('sqlite: a feed source on a schedule is fetched from its URL, revalidated by ETag, failures recorded', async () => {
  let hits = 0;
  const server = createServer((req, res) => {
    hits++;
    if (req.headers['if-none-match'] === '"v1"') {
      res.writeHead(304).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain', etag: '"v1"' }).end('# feed\nevil-feed.example\nbad line here\n');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const t = await startTestIntel('sqlite');
  try {
    const put = await t.app.inject({
      method: 'PUT',
      url: `${P}/feeds/sources/remote-list`,
      headers: { ...t.auth(t.keys.admin), 'content-type': 'application/json' },
      payload: { url: `http://127.0.0.1:${port}/feed.txt`, format: 'list', type: 'domain', intervalS: 3600, trust: 0.9 },
    });
    assert.equal(put.statusCode, 200, put.body);
    const deps = { database: t.database, warninglist: createWarninglist(BUILTIN_WARNINGLISTS), now: () => t.clock.now, defaultTtlMs: null, maxBytes: 1 << 20 };
    assert.deepEqual(await runDueFeeds(deps), { 'remote-list': 'ok: 1 imported, 1 changed, 1 rejected, 0 unsupported, 0 skipped' });
    assert.deepEqual(await runDueFeeds(deps), {}, 'not due again before its interval');
    t.clock.now += 3600_000;
    assert.deepEqual(await runDueFeeds(deps), { 'remote-list': 'not modified' });
    assert.equal(hits, 2);
    assert.deepEqual(await lookupAll(t, t.keys.orgA, [{ type: 'domain', value: 'evil-feed.example' }]), ['evil-feed.example malicious']);
    const sources = await t.app.inject({ method: 'GET', url: `${P}/feeds/sources`, headers: t.auth(t.keys.admin) });
    const src = sources.json<{ items: { name: string; trust: number; lastStatus: string }[] }>().items.find((s) => s.name === 'remote-list')!;
    assert.deepEqual({ trust: src.trust, status: src.lastStatus }, { trust: 0.9, status: 'ok: not modified' });
    await new Promise<void>((r) => server.close(() => r()));
    t.clock.now += 3600_000;
    assert.match((await runDueFeeds(deps))['remote-list'] ?? '', /^error: /);
  } finally {
    server.close();
    await t.close();
  }
});
