// Helpers for the server's tests: a real database of each dialect, the app built on it, and
// logged-in clients. Only test files import this.
import { gzipSync } from 'node:zlib';
import { randomUUID } from 'node:crypto';
import { createTestDatabase, openDatabase, type DialectKind, type TestDatabase, type Database } from '@yamori/db';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import type { HostFacts } from '@yamori/protocol';
import { buildApp, type App } from './app.ts';
import { bootstrapFirstRun } from './bootstrap.ts';
import { loadConfig, type ConfigInput } from './config.ts';
import type { DB } from './db-types.ts';
import { serverMigrations } from './migrations/index.ts';

export interface Harness extends App {
  kind: DialectKind;
  database: Database<DB>;
  tenantId: string;
  owner: Session;
  close(): Promise<void>;
}

export interface Session {
  cookie: string;
  csrf: string;
  request(method: string, url: string, body?: unknown): Promise<LightMyRequestResponse>;
}

export async function startHarness(kind: DialectKind, config: ConfigInput = {}, now?: () => number): Promise<Harness> {
  const tdb: TestDatabase = await createTestDatabase(kind);
  const database = await openDatabase<DB>({ url: tdb.url, migrations: serverMigrations });
  const first = await bootstrapFirstRun(database.db, Date.now());
  if (!first) throw new Error('bootstrap did not run on an empty database');
  const cfg = loadConfig({ dataDir: '/tmp/yamori-unused', databaseUrl: tdb.url, insecureHttp: true, publicUrl: 'http://127.0.0.1:1', ...config });
  const built = await buildApp({ database, config: cfg, ca: { pem: 'PEM', sha256: 'a'.repeat(64) }, ...(now ? { now } : {}) });
  const owner = await login(built.app, first.email, first.password);
  return {
    ...built,
    kind,
    database,
    tenantId: first.tenantId,
    owner,
    close: async () => {
      await built.app.close();
      await database.close();
      await tdb.drop();
    },
  };
}

export async function login(app: FastifyInstance, email: string, password: string): Promise<Session> {
  const res = await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password } });
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`);
  const cookie = res.cookies.find((c) => c.name === 'yamori_session')?.value ?? '';
  const csrf = (res.json() as { csrfToken: string }).csrfToken;
  return {
    cookie,
    csrf,
    request: (method, url, body) =>
      app.inject({
        method: method as 'GET',
        url,
        cookies: { yamori_session: cookie },
        headers: { 'x-csrf-token': csrf },
        ...(body === undefined ? {} : { payload: body as object }),
      }),
  };
}

export function facts(machineId = randomUUID().replaceAll('-', ''), hostname = 'host-1'): HostFacts {
  return {
    hostname,
    machineId,
    os: { family: 'linux', name: 'Debian GNU/Linux', version: '12', kernel: '6.18.0' },
    arch: 'x86_64',
    ips: ['10.0.0.5'],
    agentVersion: '0.1.0',
  };
}

export async function enrollAgent(h: { app: FastifyInstance }, s: Session, tenantId: string, machineId?: string) {
  const groups = (await s.request('GET', `/api/v1/tenants/${tenantId}/groups`)).json() as Array<{ id: string }>;
  const tok = await s.request('POST', `/api/v1/tenants/${tenantId}/enrollment-tokens`, { groupId: groups[0]?.id, name: 'test', expiresInHours: 1 });
  if (tok.statusCode !== 201) throw new Error(`token: ${tok.body}`);
  const token = (tok.json() as { token: string }).token;
  const res = await h.app.inject({ method: 'POST', url: '/api/agent/v1/enroll', payload: { token, facts: facts(machineId) } });
  if (res.statusCode !== 200) throw new Error(`enroll: ${res.body}`);
  const e = res.json() as { agentId: string; secret: string; groupId: string };
  return { ...e, token, auth: `Bearer ${e.agentId}.${e.secret}` };
}

export function processEvent(i: number, extra: Record<string, unknown> = {}) {
  return {
    '@timestamp': new Date(1_760_000_000_000 + i).toISOString(),
    event: { id: randomUUID(), dataset: 'yamori.process', kind: 'event', category: ['process'], type: ['start'], action: 'exec' },
    process: { entity_id: `e${i}`, pid: 1000 + i, executable: '/usr/bin/true', args: ['/usr/bin/true'], ...extra },
  };
}

export function detectionEvent(ruleId: string, mode: 'monitor' | 'block' = 'block', exe = '/tmp/evil') {
  return {
    '@timestamp': new Date().toISOString(),
    event: { id: randomUUID(), dataset: 'yamori.alert', kind: 'alert', category: ['malware'], type: ['denied'], action: 'exec_blocked' },
    rule: { id: ruleId, name: `Rule ${ruleId}`, level: 'high' },
    yamori: { module: 'malware', mode, action: mode === 'block' ? 'deny_exec' : 'none', ...(mode === 'monitor' ? { would_have: 'deny_exec' } : {}) },
    process: { entity_id: 'p1', pid: 42, executable: exe, hash: { sha256: 'b'.repeat(64) } },
  };
}

export function postEvents(app: FastifyInstance, auth: string, events: unknown[], batchId: string = randomUUID()) {
  return app.inject({
    method: 'POST',
    url: '/api/agent/v1/events',
    headers: { authorization: auth, 'content-type': 'application/json', 'content-encoding': 'gzip' },
    payload: gzipSync(JSON.stringify({ batchId, events })),
  });
}
