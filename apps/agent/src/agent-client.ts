import type { IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import { createHash, X509Certificate } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { Type, type TSchema, type Static } from 'typebox';
import {
  CheckinResponse,
  EnrollResponse,
  ErrorBody,
  EventBatchResponse,
  LookupResponse,
  YaraRuleBundle,
  parseWith,
  type CheckinRequest,
  type CommandResult,
  type EnrollRequest,
  type EventBatch,
} from '@yamori/protocol';

/**
 * The agent's HTTPS client for `/api/agent/v1`. The server CA is pinned: its PEM (checked against
 * the sha256 in the enrollment token) is the ONLY trusted CA. Every server answer is validated
 * with the protocol schema: a server that answers garbage is reported, not trusted.
 */

export type AgentApiErrorKind = 'unauthorized' | 'network' | 'timeout' | 'http' | 'invalid_response' | 'rate_limited';

export class AgentApiError extends Error {
  readonly kind: AgentApiErrorKind;
  readonly status: number | undefined;
  readonly retryAfterS: number | undefined;
  constructor(kind: AgentApiErrorKind, message: string, opts: { status?: number; retryAfterS?: number; cause?: unknown } = {}) {
    super(message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.name = 'AgentApiError';
    this.kind = kind;
    this.status = opts.status;
    this.retryAfterS = opts.retryAfterS;
  }
}

/**
 * The check-in answer with the policy document left unvalidated: the policy store validates it on
 * its own, so one policy this agent cannot parse (say, from a newer server) is reported and
 * skipped while verdicts and commands in the same answer still get through.
 */
export const CheckinEnvelope = Type.Object({
  ...CheckinResponse.properties,
  policy: Type.Union([Type.Object({ revision: Type.Integer({ minimum: 0 }), document: Type.Unknown() }), Type.Null()]),
});
export type CheckinEnvelope = Static<typeof CheckinEnvelope>;

/** Hex sha256 of the DER of the first certificate in a PEM. */
export function caFingerprint(pem: string): string {
  return createHash('sha256').update(new X509Certificate(pem).raw).digest('hex');
}

export interface SendEventsResult {
  kind: 'ok' | 'retry_after' | 'too_large' | 'rejected';
  response?: Static<typeof EventBatchResponse>;
  retryAfterS?: number;
  message?: string;
}

export interface AgentClient {
  readonly url: string;
  enroll(req: EnrollRequest): Promise<EnrollResponse>;
  checkin(req: CheckinRequest, opts?: { signal?: AbortSignal }): Promise<CheckinEnvelope>;
  sendEvents(batch: EventBatch): Promise<SendEventsResult>;
  commandResult(commandId: string, result: CommandResult): Promise<void>;
  lookup(sha256: string[]): Promise<LookupResponse>;
  /** The tenant's enabled YARA rule packs with their sources (fetched when the check-in names a new revision). */
  yaraRules(): Promise<YaraRuleBundle>;
  /** Sends a sample for detonation; the server checks the upload policy again and may refuse. */
  uploadSample(bytes: Buffer, meta: { sha256: string; path: string }): Promise<{ kind: 'queued' } | { kind: 'refused' | 'unavailable'; message: string }>;
  close(): void;
}

export interface AgentClientDeps {
  url: string;
  /** PEM of the pinned CA; null only for a plain-http dev server. */
  caPem: string | null;
  credentials?: { agentId: string; secret: string } | undefined;
  /** Per-request timeout, added to the long-poll wait for check-ins. */
  timeoutMs?: number;
  userAgent?: string;
}

interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

// node:http without an ESM import: importing it builds its module namespace, which reads every
// export, lazy ones included (WebSocket and friends), and that loads undici and http2 (about
// 6 MB of resident memory the agent never uses).
const http = process.getBuiltinModule('node:http');

export function createAgentClient(deps: AgentClientDeps): AgentClient {
  const base = new URL(deps.url);
  const isHttps = base.protocol === 'https:';
  if (isHttps && !deps.caPem) throw new Error(`no pinned CA for ${deps.url}: enroll again (yamori agent enroll) to fetch it`);
  if (!isHttps && base.protocol !== 'http:') throw new Error(`server url ${deps.url} is not http(s)`);
  const agent = isHttps
    ? new https.Agent({ keepAlive: true, maxSockets: 4, ca: deps.caPem ?? undefined, rejectUnauthorized: true })
    : new http.Agent({ keepAlive: true, maxSockets: 4 });
  const timeoutMs = deps.timeoutMs ?? 30_000;
  const prefix = base.pathname.replace(/\/+$/, '');

  function request(
    method: string,
    path: string,
    body: Buffer | undefined,
    headers: Record<string, string>,
    opts: { timeoutMs: number; signal?: AbortSignal | undefined; auth: boolean },
  ): Promise<RawResponse> {
    const h: Record<string, string> = { 'user-agent': deps.userAgent ?? 'yamori-agent', accept: 'application/json', ...headers };
    if (opts.auth) {
      if (!deps.credentials) throw new AgentApiError('unauthorized', 'this agent is not enrolled: run `yamori agent enroll --url … --token …`');
      h['authorization'] = `Bearer ${deps.credentials.agentId}.${deps.credentials.secret}`;
    }
    if (body) h['content-length'] = String(body.length);
    const mod = isHttps ? https : http;
    return new Promise<RawResponse>((resolve, reject) => {
      const req = mod.request(
        {
          protocol: base.protocol,
          hostname: base.hostname,
          port: base.port || (isHttps ? 443 : 80),
          path: prefix + path,
          method,
          headers: h,
          agent,
          timeout: opts.timeoutMs,
          ...(opts.signal ? { signal: opts.signal } : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > MAX_RESPONSE_BYTES) {
              req.destroy(new AgentApiError('invalid_response', `response from ${method} ${path} exceeds ${MAX_RESPONSE_BYTES} bytes`));
              return;
            }
            chunks.push(c);
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new AgentApiError('timeout', `${method} ${path} timed out after ${opts.timeoutMs} ms`)));
      req.on('error', (err) => {
        if (err instanceof AgentApiError) reject(err);
        else if (err.name === 'AbortError') reject(err);
        else reject(new AgentApiError('network', `${method} ${deps.url}${path} failed: ${err.message} (is the server reachable?)`, { cause: err }));
      });
      req.end(body);
    });
  }

  function json(res: RawResponse, what: string): unknown {
    try {
      return JSON.parse(res.body.toString('utf8')) as unknown;
    } catch {
      throw new AgentApiError('invalid_response', `${what}: server answered ${res.status} with a body that is not JSON`, { status: res.status });
    }
  }

  function errorMessage(res: RawResponse): string {
    try {
      const b = parseWith(ErrorBody, JSON.parse(res.body.toString('utf8')));
      return `${b.code}: ${b.message}`;
    } catch {
      return res.body.toString('utf8').slice(0, 300) || `HTTP ${res.status}`;
    }
  }

  function retryAfter(res: RawResponse): number {
    const v = res.headers['retry-after'];
    const s = Number(Array.isArray(v) ? v[0] : v);
    if (Number.isFinite(s) && s >= 0) return Math.min(s, 3600);
    const d = Date.parse(String(v));
    return Number.isFinite(d) ? Math.max(0, Math.min(3600, (d - Date.now()) / 1000)) : 30;
  }

  function fail(res: RawResponse, what: string): never {
    if (res.status === 401) {
      throw new AgentApiError(
        'unauthorized',
        `${what}: the server does not know this agent or revoked it (401). Protection continues with the last policy; re-enroll with a new token if this persists.`,
        { status: 401 },
      );
    }
    if (res.status === 429) {
      throw new AgentApiError('rate_limited', `${what}: rate limited by the server`, { status: 429, retryAfterS: retryAfter(res) });
    }
    throw new AgentApiError('http', `${what}: HTTP ${res.status} ${errorMessage(res)}`, { status: res.status });
  }

  async function call<S extends TSchema>(
    path: string,
    payload: unknown,
    schema: S,
    what: string,
    opts: { timeoutMs?: number; signal?: AbortSignal | undefined; auth?: boolean } = {},
  ): Promise<Static<S>> {
    const res = await request('POST', path, Buffer.from(JSON.stringify(payload)), { 'content-type': 'application/json' }, {
      timeoutMs: opts.timeoutMs ?? timeoutMs,
      signal: opts.signal,
      auth: opts.auth ?? true,
    });
    if (res.status !== 200) fail(res, what);
    try {
      return parseWith(schema, json(res, what), `${what} response`);
    } catch (err) {
      if (err instanceof AgentApiError) throw err;
      throw new AgentApiError('invalid_response', `${(err as Error).message} (the server at ${deps.url} answered something this agent does not understand)`, {
        status: 200,
      });
    }
  }

  return {
    url: deps.url,
    enroll: (req) => call('/api/agent/v1/enroll', req, EnrollResponse, 'enroll', { auth: false }),
    checkin: (req, opts) =>
      call('/api/agent/v1/checkin', req, CheckinEnvelope, 'check-in', { timeoutMs: timeoutMs + req.waitS * 1000, signal: opts?.signal }),
    lookup: (sha256) => call('/api/agent/v1/lookup', { sha256 }, LookupResponse, 'lookup'),
    async yaraRules() {
      const res = await request('GET', '/api/agent/v1/yara-rules', undefined, {}, { timeoutMs: Math.max(timeoutMs, 120_000), auth: true });
      if (res.status !== 200) fail(res, 'YARA rules');
      try {
        return parseWith(YaraRuleBundle, json(res, 'YARA rules'), 'YARA rules response');
      } catch (err) {
        if (err instanceof AgentApiError) throw err;
        throw new AgentApiError('invalid_response', (err as Error).message, { status: 200 });
      }
    },
    async uploadSample(bytes, meta) {
      const res = await request(
        'POST',
        '/api/agent/v1/samples',
        bytes,
        { 'content-type': 'application/octet-stream', 'x-yamori-sha256': meta.sha256, 'x-yamori-path': encodeURIComponent(meta.path) },
        { timeoutMs: Math.max(timeoutMs, 120_000), auth: true },
      );
      const message = (() => {
        try {
          return (JSON.parse(res.body.toString()) as { message?: string }).message ?? '';
        } catch {
          return res.body.toString().slice(0, 200);
        }
      })();
      if (res.status === 202) return { kind: 'queued' };
      if (res.status === 403) return { kind: 'refused', message };
      if (res.status === 401) throw new AgentApiError('unauthorized', message || 'unauthorized');
      return { kind: 'unavailable', message: `HTTP ${res.status} ${message}` };
    },
    async commandResult(id, result) {
      const res = await request(
        'POST',
        `/api/agent/v1/commands/${encodeURIComponent(id)}/result`,
        Buffer.from(JSON.stringify(result)),
        { 'content-type': 'application/json' },
        { timeoutMs, auth: true },
      );
      if (res.status !== 204 && res.status !== 200) fail(res, `command ${id} result`);
    },
    async sendEvents(batch) {
      const body = gzipSync(Buffer.from(JSON.stringify(batch)));
      const res = await request('POST', '/api/agent/v1/events', body, { 'content-type': 'application/json', 'content-encoding': 'gzip' }, {
        timeoutMs,
        auth: true,
      });
      switch (res.status) {
        case 200: {
          try {
            return { kind: 'ok', response: parseWith(EventBatchResponse, json(res, 'events'), 'events response') };
          } catch (err) {
            throw new AgentApiError('invalid_response', (err as Error).message, { status: 200 });
          }
        }
        case 429:
          return { kind: 'retry_after', retryAfterS: retryAfter(res) };
        case 413:
          return { kind: 'too_large', message: errorMessage(res) };
        case 400:
          return { kind: 'rejected', message: errorMessage(res) };
        default:
          fail(res, 'events');
      }
    },
    close() {
      agent.destroy();
    },
  };
}

/**
 * Fetch the server CA over an UNVERIFIED connection (the only one this agent ever makes) and
 * accept it only if its DER sha256 equals the fingerprint from the enrollment token.
 */
export async function fetchPinnedCa(url: string, caSha256: string, timeoutMs = 15_000): Promise<string> {
  const u = new URL(url);
  if (u.protocol !== 'https:') throw new Error(`fetchPinnedCa needs an https url, got ${url}`);
  const pem = await new Promise<string>((resolve, reject) => {
    const req = https.request(
      {
        hostname: u.hostname,
        port: u.port || 443,
        path: `${u.pathname.replace(/\/+$/, '')}/api/agent/v1/ca`,
        method: 'GET',
        rejectUnauthorized: false, // verified below by the fingerprint from the token
        agent: false,
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          if (res.statusCode !== 200) reject(new Error(`GET ${url}/api/agent/v1/ca answered HTTP ${res.statusCode}: is this a Yamori server?`));
          else resolve(Buffer.concat(chunks).toString('utf8'));
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${url}/api/agent/v1/ca timed out after ${timeoutMs} ms`)));
    req.on('error', (err) => reject(new Error(`cannot reach ${url} to fetch its CA: ${err.message}`)));
    req.end();
  });
  let got: string;
  try {
    got = caFingerprint(pem);
  } catch {
    throw new Error(`the server at ${url} did not send a PEM certificate from /api/agent/v1/ca`);
  }
  if (got !== caSha256.toLowerCase()) {
    throw new Error(
      `CA fingerprint mismatch for ${url}: token says ${caSha256}, server sent ${got}. Someone may be intercepting the connection, or the token belongs to another server. Nothing was stored.`,
    );
  }
  return pem;
}
