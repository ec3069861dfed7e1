// `npm run bench -- ingest [--seconds 15] [--agents 16] [--batch 1000] [--idle 5000] [--only sqlite|postgres] [--server-rules N]`
//
// Simulated agents over real HTTPS (event batches and long-polls) against one server process
// (`yamori up` on SQLite, `yamori server` on PostgreSQL). Prints committed events/s for each
// database and its ratio to the raw bulk-insert rate of the same database measured in this run,
// then the server's RSS while N idle agents hold long-polls. Last line: one JSON object.
// --server-rules N: the tenant holds N server rules (Yamori's Sigma pack, then the SigmaHQ Linux
// corpus) before ingest starts, so every batch is also evaluated on the server (bench/server-rules.ts
// measures that cost alone, with less noise).
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';
import { createTestDatabase } from '@yamori/db';
import { consoleSession, startYamori, type ServerProcess } from '../apps/cli/src/test-support.ts';
import { rssMb } from './proc-stats.ts';
import { sampleEvent, sigmaRuleFiles } from './sample-events.ts';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '15' },
    agents: { type: 'string', default: '16' },
    batch: { type: 'string', default: '1000' },
    idle: { type: 'string', default: '5000' },
    only: { type: 'string' },
    'idle-http': { type: 'boolean', default: false },
    'server-rules': { type: 'string', default: '0' },
  },
});
const SECONDS = Number(args.seconds);
const AGENTS = Number(args.agents);
const BATCH = Number(args.batch);
const IDLE = Number(args.idle);
const SERVER_RULES = Number(args['server-rules']);

interface Enrolled {
  agentId: string;
  secret: string;
}

function post(agent: Agent | HttpAgent, ca: string, url: string, auth: string, body: Buffer, gzip: boolean): Promise<{ status: number; body: string }> {
  const plain = url.startsWith('http:');
  return new Promise((resolve, reject) => {
    const r = (plain ? httpRequest : request)(
      url,
      {
        method: 'POST',
        agent,
        ...(plain ? {} : { ca }),
        headers: { authorization: auth, 'content-type': 'application/json', ...(gzip ? { 'content-encoding': 'gzip' } : {}), 'content-length': body.length },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      },
    );
    r.on('error', reject);
    r.end(body);
  });
}

async function enrollMany(server: ServerProcess, ca: string, n: number): Promise<Enrolled[]> {
  const s = await consoleSession(server.url, ca, 'admin@yamori.local', server.password ?? '');
  const [group] = (await s.api('GET', '/groups')).json<Array<{ id: string }>>();
  const tok = (await s.api('POST', '/enrollment-tokens', { groupId: group?.id, name: 'bench', expiresInHours: 2, maxUses: 1_000_000 })).json<{ token: string }>();
  const agent = server.url.startsWith('http:') ? new HttpAgent({ keepAlive: true, maxSockets: 32 }) : new Agent({ keepAlive: true, maxSockets: 32 });
  const out: Enrolled[] = [];
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const facts = {
        hostname: `bench-${i}`,
        machineId: `bench-machine-${i.toString().padStart(8, '0')}`,
        os: { family: 'linux', name: 'Debian', version: '12', kernel: '6.18' },
        arch: 'x86_64',
        ips: ['127.0.0.1'],
        agentVersion: 'bench',
      };
      const res = await post(agent, ca, `${server.url}/api/agent/v1/enroll`, '', Buffer.from(JSON.stringify({ token: tok.token, facts })), false);
      if (res.status !== 200) throw new Error(`enroll: ${res.status} ${res.body}`);
      out.push(JSON.parse(res.body) as Enrolled);
      if (out.length % 1000 === 0) process.stderr.write(`  enrolled ${out.length}/${n}\n`);
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  agent.destroy();
  return out;
}

/** Pushes up to n Sigma rules as the tenant's server rules; returns how many the server took. */
async function pushServerRules(server: ServerProcess, ca: string, n: number): Promise<number> {
  if (n <= 0) return 0;
  const s = await consoleSession(server.url, ca, 'admin@yamori.local', server.password ?? '');
  let taken = 0;
  for (const f of sigmaRuleFiles()) {
    if (taken >= n) break;
    // Rules the server refuses (correlations, unmapped log sources, no id) are simply not counted.
    if ((await s.api('POST', '/server-rules', { source: readFileSync(f, 'utf8') })).status === 201) taken++;
  }
  return taken;
}

async function ingestRate(server: ServerProcess, ca: string): Promise<number> {
  const agents = await enrollMany(server, ca, AGENTS);
  // Bodies are built and compressed before the clock starts: the client must not be the bottleneck.
  const perAgent = Math.ceil((30_000 * SECONDS) / BATCH / AGENTS) + 2;
  const bodies = agents.map(() =>
    Array.from({ length: perAgent }, (_, b) => gzipSync(JSON.stringify({ batchId: randomUUID(), events: Array.from({ length: BATCH }, (_, i) => sampleEvent(b * BATCH + i)) }))),
  );
  const httpAgent = new Agent({ keepAlive: true, maxSockets: AGENTS * 2 });
  let committed = 0;
  const deadline = Date.now() + SECONDS * 1000;
  const started = Date.now();
  await Promise.all(
    agents.map(async (a, ai) => {
      for (const body of bodies[ai] ?? []) {
        if (Date.now() >= deadline) return;
        const res = await post(httpAgent, ca, `${server.url}/api/agent/v1/events`, `Bearer ${a.agentId}.${a.secret}`, body, true);
        if (res.status === 200) committed += (JSON.parse(res.body) as { accepted: number }).accepted;
        else if (res.status !== 429) throw new Error(`events: ${res.status} ${res.body}`);
      }
    }),
  );
  httpAgent.destroy();
  return committed / ((Date.now() - started) / 1000);
}

/** The same rows as the server stores, inserted the fastest plain way each database offers. */
async function rawInsertRate(kind: 'sqlite' | 'postgres', url: string): Promise<number> {
  const rows = Array.from({ length: 50_000 }, (_, i) => JSON.stringify(sampleEvent(i)));
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'yamori-raw-'));
    const db = new DatabaseSync(join(dir, 'raw.db'));
    db.exec('PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, tenant_id TEXT NOT NULL, agent_id TEXT NOT NULL, ts BIGINT NOT NULL, dataset TEXT NOT NULL, data TEXT NOT NULL); CREATE INDEX e_t ON events (tenant_id, ts);');
    const ins = db.prepare('INSERT INTO events (tenant_id, agent_id, ts, dataset, data) VALUES (?, ?, ?, ?, ?)');
    const t0 = performance.now();
    for (let b = 0; b < rows.length; b += BATCH) {
      db.exec('BEGIN');
      for (let i = b; i < Math.min(rows.length, b + BATCH); i++) ins.run('t', 'a', Date.now(), 'yamori.process', rows[i] ?? '');
      db.exec('COMMIT');
    }
    const rate = rows.length / ((performance.now() - t0) / 1000);
    db.close();
    rmSync(dir, { recursive: true, force: true });
    return rate;
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query('CREATE TABLE raw_events (id BIGSERIAL PRIMARY KEY, tenant_id TEXT NOT NULL, agent_id TEXT NOT NULL, ts BIGINT NOT NULL, dataset TEXT NOT NULL, data TEXT NOT NULL); CREATE INDEX r_t ON raw_events (tenant_id, ts)');
  const t0 = performance.now();
  for (let b = 0; b < rows.length; b += BATCH) {
    const chunk = rows.slice(b, b + BATCH);
    const params: unknown[] = [];
    const values = chunk.map((d, i) => {
      params.push('t', 'a', Date.now(), 'yamori.process', d);
      const o = i * 5;
      return `($${o + 1},$${o + 2},$${o + 3},$${o + 4},$${o + 5})`;
    });
    await client.query('BEGIN');
    await client.query(`INSERT INTO raw_events (tenant_id, agent_id, ts, dataset, data) VALUES ${values.join(',')}`, params);
    await client.query('COMMIT');
  }
  const rate = rows.length / ((performance.now() - t0) / 1000);
  await client.end();
  return rate;
}

async function idleRss(server: ServerProcess, ca: string): Promise<{ agents: number; rss: number; before: number }> {
  const agents = await enrollMany(server, ca, IDLE);
  const before = rssMb(server.child.pid ?? 0);
  const httpAgent = server.url.startsWith('http:') ? new HttpAgent({ keepAlive: true, maxSockets: Infinity }) : new Agent({ keepAlive: true, maxSockets: Infinity });
  const ok: Array<Promise<unknown>> = [];
  let connected = 0;
  for (const a of agents) {
    const body = Buffer.from(JSON.stringify({ policyRevision: null, commandCursor: 0, verdictCursor: 0, waitS: 0 }));
    // First check-in takes the policy; the second one waits (the long-poll held open).
    const first = await post(httpAgent, ca, `${server.url}/api/agent/v1/checkin`, `Bearer ${a.agentId}.${a.secret}`, body, false);
    const rev = (JSON.parse(first.body) as { policy: { revision: number } }).policy.revision;
    const wait = Buffer.from(JSON.stringify({ policyRevision: rev, commandCursor: 0, verdictCursor: 0, waitS: 60 }));
    ok.push(post(httpAgent, ca, `${server.url}/api/agent/v1/checkin`, `Bearer ${a.agentId}.${a.secret}`, wait, false).catch(() => undefined));
    if (++connected % 1000 === 0) process.stderr.write(`  long-polling ${connected}/${IDLE}\n`);
  }
  await new Promise((r) => setTimeout(r, 3000));
  const rss = rssMb(server.child.pid ?? 0);
  httpAgent.destroy();
  return { agents: agents.length, rss, before };
}

const result: Record<string, number | null> = {
  server_rules: null,
  sqlite_events_per_s: null,
  sqlite_ratio_to_raw: null,
  postgres_events_per_s: null,
  postgres_ratio_to_raw: null,
  idle_agents: null,
  idle_rss_mb: null,
};

for (const kind of ['sqlite', 'postgres'] as const) {
  if (args.only && args.only !== kind) continue;
  const data = mkdtempSync(join(tmpdir(), 'yamori-bench-'));
  const tdb = kind === 'postgres' ? await createTestDatabase('postgres') : undefined;
  const rawDb = kind === 'postgres' ? await createTestDatabase('postgres') : undefined;
  const server = await startYamori(
    kind === 'sqlite' ? ['up', '--data', data, '--port', '0', '--log-level', 'error'] : ['server', '--data', data, '--port', '0', '--database', tdb?.url ?? '', '--log-level', 'error'],
  );
  try {
    const ca = readFileSync(join(data, 'tls', 'ca.pem'), 'utf8');
    const rules = await pushServerRules(server, ca, SERVER_RULES);
    result['server_rules'] = rules;
    console.log(`${kind}: ${AGENTS} agents sending ${BATCH}-event gzip batches over HTTPS for ${SECONDS} s, ${rules} server rules …`);
    const rate = await ingestRate(server, ca);
    const raw = await rawInsertRate(kind, rawDb?.url ?? '');
    console.log(`${kind}: committed ${Math.round(rate)} events/s through the API; raw bulk insert ${Math.round(raw)} rows/s; ratio ${(rate / raw).toFixed(2)}`);
    result[`${kind}_events_per_s`] = Math.round(rate);
    result[`${kind}_ratio_to_raw`] = Number((rate / raw).toFixed(3));
  } finally {
    await server.stop();
    await tdb?.drop();
    await rawDb?.drop();
    rmSync(data, { recursive: true, force: true });
  }
}
// Idle agents on a fresh server, so the figure is what holding long-polls costs, not what ingest left behind.
if (IDLE > 0 && (!args.only || args.only === 'sqlite')) {
  const data = mkdtempSync(join(tmpdir(), 'yamori-bench-'));
  // --idle-http: the same over plain HTTP, as behind a TLS-terminating load balancer, to show
  // how much of the figure is the TLS state Node keeps per connection.
  const plain = args['idle-http'];
  const server = await startYamori(['up', '--data', data, '--port', '0', '--log-level', 'error', ...(plain ? ['--insecure-http'] : [])]);
  try {
    const ca = plain ? '' : readFileSync(join(data, 'tls', 'ca.pem'), 'utf8');
    console.log(`sqlite: ${IDLE} idle agents holding long-polls over ${plain ? 'plain HTTP' : 'HTTPS'} on a fresh server …`);
    const idle = await idleRss(server, ca);
    console.log(`server RSS: ${idle.before.toFixed(0)} MB after enrolling, ${idle.rss.toFixed(0)} MB with ${idle.agents} agents long-polling (target < 300 MB)`);
    result['idle_agents'] = idle.agents;
    result['idle_rss_mb'] = Math.round(idle.rss);
  } finally {
    await server.stop();
    rmSync(data, { recursive: true, force: true });
  }
}
console.log(JSON.stringify(result));
