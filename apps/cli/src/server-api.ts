// A small client for the management server's console/automation API (`/api/v1`), for CLI commands
// that act on a running server with an API token: `--url`, `--token`, `--ca`, `--tenant` or
// YAMORI_URL, YAMORI_TOKEN, YAMORI_CA, YAMORI_TENANT.
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { ErrorBody } from '@yamori/protocol';

export interface ServerApiOptions {
  url?: string | undefined;
  token?: string | undefined;
  /** PEM file of the CA that signed the server's certificate (the server's tls/ca.pem); default: the system's CAs. */
  ca?: string | undefined;
  tenant?: string | undefined;
}

export interface ApiResponse {
  status: number;
  body: unknown;
}

/** A refusal by the server (4xx/5xx), with its `{ code, message, details }` body. */
export class ServerApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: string[];
  constructor(status: number, body: Partial<ErrorBody>, what: string) {
    super(`${what}: ${body.message ?? `HTTP ${status}`}`);
    this.status = status;
    this.code = body.code ?? 'http';
    this.details = body.details ?? [];
  }
}

/** Problems with the command line or the local environment (exit code 2). */
export class UsageProblem extends Error {}

export interface ServerApi {
  readonly url: string;
  readonly tenantId: string;
  /** Calls `/api/v1/tenants/:tenantId` + path; throws ServerApiError unless 2xx. */
  tenant(method: string, path: string, body?: unknown): Promise<unknown>;
}

const MAX_RESPONSE = 64 * 1024 * 1024;

function send(url: URL, method: string, token: string, ca: string | undefined, body: unknown): Promise<ApiResponse> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const req = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const r = req(
      url,
      {
        method,
        ...(ca && url.protocol === 'https:' ? { ca } : {}),
        headers: {
          authorization: `Bearer ${token}`,
          accept: 'application/json',
          ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_RESPONSE) r.destroy(new Error(`answer over ${MAX_RESPONSE} bytes`));
          else chunks.push(c);
        });
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = text === '' ? null : JSON.parse(text);
          } catch {
            // not JSON: keep the text
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
        res.on('error', reject);
      },
    );
    r.on('error', (e) => reject(new Error(`cannot reach ${url.origin}: ${e.message}`)));
    r.end(payload);
  });
}

function check(res: ApiResponse, what: string): unknown {
  if (res.status >= 200 && res.status < 300) return res.body;
  const b = typeof res.body === 'object' && res.body !== null ? (res.body as Partial<ErrorBody>) : { message: String(res.body).slice(0, 300) };
  throw new ServerApiError(res.status, b, what);
}

export async function connectServerApi(o: ServerApiOptions, env: NodeJS.ProcessEnv = process.env): Promise<ServerApi> {
  const url = o.url ?? env['YAMORI_URL'];
  const token = o.token ?? env['YAMORI_TOKEN'];
  if (!url) throw new UsageProblem('no server: pass --url https://HOST:8443 (or set YAMORI_URL)');
  if (!token) throw new UsageProblem('no API token: pass --token ymt_… (or set YAMORI_TOKEN); create one with `yamori admin token add` or in the console');
  const caPath = o.ca ?? env['YAMORI_CA'];
  let ca: string | undefined;
  if (caPath) {
    try {
      ca = readFileSync(caPath, 'utf8');
    } catch (e) {
      throw new UsageProblem(`cannot read the CA file ${caPath}: ${(e as Error).message}`);
    }
  }
  let base: URL;
  try {
    base = new URL(url.replace(/\/+$/, '') + '/');
  } catch {
    throw new UsageProblem(`--url ${url} is not a URL`);
  }
  const at = (path: string) => new URL(`api/v1${path}`, base);
  let tenantId = o.tenant ?? env['YAMORI_TENANT'];
  if (!tenantId) {
    const me = check(await send(at('/auth/me'), 'GET', token, ca, undefined), 'who am I') as { tenants: Array<{ id: string }> };
    if (me.tenants.length !== 1) throw new UsageProblem(`this login holds ${me.tenants.length} tenants: pass --tenant ID`);
    tenantId = me.tenants[0]?.id ?? '';
  }
  const t = tenantId;
  return {
    url: base.origin,
    tenantId: t,
    async tenant(method, path, body) {
      return check(await send(at(`/tenants/${encodeURIComponent(t)}${path}`), method, token, ca, body), `${method} ${path || '/'}`);
    },
  };
}
