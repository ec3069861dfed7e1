// Helpers for end-to-end tests: the real `yamori` process, spoken to over real HTTPS.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, openDatabase } from '@yamori/db';
import { admin, bootstrapFirstRun, buildApp, loadConfig, serverMigrations, type DB } from '@yamori/server';
import { prepareAgentService } from './commands/agent.ts';

export const YAMORI = join(import.meta.dirname, '..', 'bin', 'yamori.js');

export interface ServerProcess {
  url: string;
  caSha256: string | null;
  password: string | undefined;
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/** Starts `yamori ARGS…` and waits for the line that names its URL. */
export async function startYamori(args: string[], env: NodeJS.ProcessEnv = {}): Promise<ServerProcess> {
  const child = spawn(process.execPath, [YAMORI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`yamori ${args.join(' ')} did not start:\n${out}`)), 60_000);
    const check = () => {
      const m = /management server: (\S+)/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`yamori exited with ${code}:\n${out}`));
    });
  });
  await new Promise((r) => setTimeout(r, 50));
  return {
    url,
    caSha256: /CA fingerprint \(sha256\): ([a-f0-9]{64})/.exec(out)?.[1] ?? null,
    password: /password: (\S+)/.exec(out)?.[1],
    child,
    output: () => out,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        // a node process can hang in its exit (nodejs/node#64274): its work is done by then
        const kill = setTimeout(() => child.kill('SIGKILL'), 15_000);
        child.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json<T>(): T;
}

/** A small HTTPS client that trusts only `ca` (the console/CLI side of the tests). */
export function call(
  url: string,
  opts: { method?: string; body?: unknown; ca?: string | null; headers?: Record<string, string> } = {},
): Promise<HttpResult> {
  const u = new URL(url);
  const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  const req = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const r = req(
      u,
      {
        method: opts.method ?? 'GET',
        ...(opts.ca ? { ca: opts.ca } : {}),
        headers: { ...(payload ? { 'content-type': 'application/json' } : {}), ...opts.headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString();
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: <T>() => JSON.parse(body) as T });
        });
      },
    );
    r.on('error', reject);
    if (payload) r.write(payload);
    r.end();
  });
}

/** Logs in as the first owner and returns a function for authenticated console calls. */
export async function consoleSession(base: string, ca: string | null, email: string, password: string) {
  const res = await call(`${base}/api/v1/auth/login`, { method: 'POST', body: { email, password }, ca });
  if (res.status !== 200) throw new Error(`login: ${res.status} ${res.body}`);
  const cookie = [res.headers['set-cookie']].flat().find((c) => c?.startsWith('yamori_session='))?.split(';')[0] ?? '';
  const csrf = res.json<{ csrfToken: string; user: { memberships: Array<{ tenantId: string }> } }>();
  const tenantId = csrf.user.memberships[0]?.tenantId ?? '';
  return {
    tenantId,
    api: (method: string, path: string, body?: unknown) =>
      call(`${base}/api/v1/tenants/${tenantId}${path}`, { method, body, ca, headers: { cookie, 'x-csrf-token': csrf.csrfToken } }),
  };
}

/**
 * The all-in-one server (`yamori up` on `data`) with its owner's console session, and an agent
 * enrolled into the default group by `yamori agent enroll --state stateDir` (run with `env` added,
 * e.g. the agent service's settings). With `env` the agent is then prepared as `yamori agent
 * install` prepares it (prepareAgentService: bundle built, compile caches filled), so that the
 * benches' agent, started as the unit starts it, runs what ships. The server is stopped again if
 * enrolling fails.
 */
export async function upWithEnrolledAgent(o: { data: string; stateDir: string; tokenName: string; env?: NodeJS.ProcessEnv }) {
  const server = await startYamori(['up', '--data', o.data, '--port', '0']);
  try {
    const ca = readFileSync(join(o.data, 'tls', 'ca.pem'), 'utf8');
    const { api, tenantId } = await consoleSession(server.url, ca, 'admin@yamori.local', server.password ?? '');
    const [group] = (await api('GET', '/groups')).json<Array<{ id: string }>>();
    const tok = (await api('POST', '/enrollment-tokens', { groupId: group?.id, name: o.tokenName, expiresInHours: 1 })).json<{ token: string }>();
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        [YAMORI, 'agent', 'enroll', '--url', server.url, '--token', tok.token, '--state', o.stateDir],
        { env: { ...process.env, ...o.env } },
        (err, stdout, stderr) => (err ? reject(new Error(`yamori agent enroll: ${err.message}\n${stderr}`)) : resolve(stdout)),
      ),
    );
    const agentId = /agent (\S+) with/.exec(out)?.[1];
    if (!agentId) throw new Error(`yamori agent enroll named no agent:\n${out}`);
    const policyId = (await api('GET', '/policies')).json<Array<{ id: string }>>()[0]?.id ?? '';
    if (o.env) {
      const warning = await prepareAgentService({ node: process.execPath, cli: YAMORI, stateDir: o.stateDir });
      if (warning) console.error(`warning: ${warning}`);
    }
    return { server, ca, api, tenantId, agentId, policyId };
  } catch (err) {
    await server.stop();
    throw err;
  }
}

/**
 * The real server in this process on a real socket (plain HTTP, SQLite): a tenant with an admin
 * API token (in `env`, as the CLI reads it) and a read-only one, and a scratch directory. All of it
 * goes when the test ends.
 */
export async function serverOnSocket(t: { after: (fn: () => Promise<void> | void) => void }) {
  const tdb = await createTestDatabase('sqlite');
  const database = await openDatabase<DB>({ url: tdb.url, migrations: serverMigrations });
  const first = await bootstrapFirstRun(database.db, Date.now());
  if (!first) throw new Error('bootstrap did not run on an empty database');
  const config = loadConfig({ dataDir: '/tmp/yamori-unused', databaseUrl: tdb.url, insecureHttp: true, publicUrl: 'http://127.0.0.1:1' });
  const { app } = await buildApp({ database, config, ca: null });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const token = (await admin.createApiToken(database.db, first.tenantId, { name: 'cli', role: 'admin', scope: 'write' })).secret;
  const readOnly = (await admin.createApiToken(database.db, first.tenantId, { name: 'ro', role: 'admin', scope: 'read' })).secret;
  const dir = mkdtempSync(join(tmpdir(), 'ymr-cli-'));
  t.after(async () => {
    await app.close();
    await database.close();
    await tdb.drop();
    rmSync(dir, { recursive: true, force: true });
  });
  return { env: { YAMORI_URL: url, YAMORI_TOKEN: token }, readOnly, dir };
}
