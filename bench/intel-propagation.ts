// The propagation half of `npm run bench -- intel`: a verdict imported into intelligence, followed
// by two management server instances on one PostgreSQL, reaching AGENTS simulated agents that
// long-poll those instances over HTTPS. Prints p50/p99/max from the import to each agent's answer.
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase } from '@yamori/db';
import { addKey, createOrg, loadIntelConfig, openIntelDatabase, startIntelService } from '@yamori/intel';
import { consoleSession, startYamori } from '../apps/cli/src/test-support.ts';

function post(agent: Agent, ca: string, url: string, auth: string, body: unknown): Promise<{ status: number; body: string }> {
  const payload = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const r = request(url, { method: 'POST', agent, ca, headers: { authorization: auth, 'content-type': 'application/json', 'content-length': payload.length } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    r.on('error', reject);
    r.end(payload);
  });
}

export async function measurePropagation(agents: number): Promise<{ p50: number; p99: number; max: number; agents: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'yamori-bench-prop-'));
  const intelConfig = loadIntelConfig({ dataDir: join(dir, 'intel'), host: '127.0.0.1', port: 0, logLevel: 'error' }, {});
  const idb = await openIntelDatabase(intelConfig.databaseUrl);
  const now = Date.now();
  const org = await createOrg(idb.db, 'bench-servers', now);
  const orgKey = (await addKey(idb.db, { scope: 'org', orgId: org?.id ?? '' }, now)).key;
  const adminKey = (await addKey(idb.db, { scope: 'admin' }, now)).key;
  await idb.close();
  const intel = await startIntelService(intelConfig);
  const pgdb = await createTestDatabase('postgres');
  const common = ['server', '--data', join(dir, 'server'), '--port', '0', '--database', pgdb.url, '--log-level', 'error', '--intel-url', intel.url, '--intel-key', orgKey];
  const a = await startYamori(common);
  const b = await startYamori(common);
  const http = new Agent({ keepAlive: true, maxSockets: Infinity });
  try {
    const ca = readFileSync(join(dir, 'server', 'tls', 'ca.pem'), 'utf8');
    const s = await consoleSession(a.url, ca, 'admin@yamori.local', a.password ?? '');
    const [group] = (await s.api('GET', '/groups')).json<Array<{ id: string }>>();
    const tok = (await s.api('POST', '/enrollment-tokens', { groupId: group?.id, name: 'bench', expiresInHours: 1, maxUses: 1_000_000 })).json<{ token: string }>();
    const enrolled: Array<{ url: string; auth: string; rev: number; vc: number }> = [];
    for (let i = 0; i < agents; i++) {
      const url = i % 2 === 0 ? a.url : b.url;
      const facts = { hostname: `prop-${i}`, machineId: `prop-machine-${i.toString().padStart(8, '0')}`, os: { family: 'linux', name: 'Debian', version: '12', kernel: '6.18' }, arch: 'x86_64', ips: ['127.0.0.1'], agentVersion: 'bench' };
      const e = JSON.parse((await post(http, ca, `${url}/api/agent/v1/enroll`, '', { token: tok.token, facts })).body) as { agentId: string; secret: string };
      const auth = `Bearer ${e.agentId}.${e.secret}`;
      const first = JSON.parse((await post(http, ca, `${url}/api/agent/v1/checkin`, auth, { policyRevision: null, commandCursor: 0, verdictCursor: 0, waitS: 0 })).body) as { policy: { revision: number }; verdictCursor: number };
      enrolled.push({ url, auth, rev: first.policy.revision, vc: first.verdictCursor });
    }
    const sha = createHash('sha256').update(randomUUID()).digest('hex');
    let importedAt = 0;
    const latencies: number[] = [];
    const waits = enrolled.map(async (ag) => {
      let cursor = ag.vc;
      for (;;) {
        const res = JSON.parse((await post(http, ca, `${ag.url}/api/agent/v1/checkin`, ag.auth, { policyRevision: ag.rev, commandCursor: 0, verdictCursor: cursor, waitS: 60 })).body) as { verdicts: Array<{ sha256: string }>; verdictCursor: number };
        cursor = res.verdictCursor;
        if (res.verdicts.some((v) => v.sha256 === sha)) {
          latencies.push(Date.now() - importedAt);
          return;
        }
      }
    });
    // Start the clock only when both instances hold every long-poll (their /metrics gauge says so).
    const held = async (url: string) => {
      const text = await new Promise<string>((resolve, reject) => {
        request(`${url}/metrics`, { agent: http, ca }, (res) => {
          let b = '';
          res.on('data', (c: Buffer) => (b += c.toString()));
          res.on('end', () => resolve(b));
        })
          .on('error', reject)
          .end();
      });
      return Number(/^yamori_checkin_longpolls (\d+)/m.exec(text)?.[1] ?? 0);
    };
    const waitStart = Date.now();
    while ((await held(a.url)) + (await held(b.url)) < agents) {
      if (Date.now() - waitStart > 120_000) throw new Error('the long-polls were not all held within 2 minutes');
      await new Promise((r) => setTimeout(r, 200));
    }
    console.log(`  all ${agents} long-polls held after ${Date.now() - waitStart} ms`);
    importedAt = Date.now();
    const imp = await fetch(`${intel.url}/api/intel/v1/feeds/import?format=list&source=bench&type=sha256&verdict=malicious&confidence=90`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/octet-stream' },
      body: `${sha}\n`,
    });
    if (!imp.ok) throw new Error(`import: ${imp.status} ${await imp.text()}`);
    await Promise.all(waits);
    latencies.sort((x, y) => x - y);
    const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
    return { p50: pct(0.5), p99: pct(0.99), max: latencies.at(-1) ?? NaN, agents: latencies.length };
  } finally {
    http.destroy();
    await Promise.all([a.stop(), b.stop()]);
    await intel.stop();
    await pgdb.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}
