import https from 'node:https';
import http from 'node:http';
import { gunzipSync } from 'node:zlib';
import type { AddressInfo } from 'node:net';
import type { CheckinRequest, CheckinResponse, Command, EventBatch, Policy, VerdictUpdate } from '@yamori/protocol';
import type { TestPki } from './pki.ts';

/**
 * A minimal in-memory implementation of the server's agent API, for the agent's tests only.
 * Behaviour can be bent per test through `script` hooks (answer 429/413/400/garbage …).
 */
export interface FakeServer {
  url: string;
  agents: Map<string, { secret: string; machineId: string }>;
  batches: Map<string, EventBatch>;
  eventsReceived: number;
  checkins: CheckinRequest[];
  results: { id: string; body: unknown }[];
  policy: { revision: number; document: Policy } | null;
  commands: Command[];
  verdicts: VerdictUpdate[];
  /** Return a [status, body, headers] to override the normal answer for a path, or undefined. */
  script: (path: string, body: unknown) => [number, unknown, Record<string, string>?] | undefined;
  close(): Promise<void>;
}

export async function startFakeServer(pki: TestPki | null): Promise<FakeServer> {
  const s: FakeServer = {
    url: '',
    agents: new Map(),
    batches: new Map(),
    eventsReceived: 0,
    checkins: [],
    results: [],
    policy: null,
    commands: [],
    verdicts: [],
    script: () => undefined,
    close: async () => undefined,
  };
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const send = (status: number, body?: unknown, headers: Record<string, string> = {}) => {
        const text = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
        res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json', ...headers });
        res.end(text);
      };
      const path = (req.url ?? '').replace(/\?.*/, '');
      if (path === '/api/agent/v1/ca') return send(200, pki?.caPem ?? '');
      let raw = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') raw = gunzipSync(raw);
      let body: unknown;
      try {
        body = raw.length ? JSON.parse(raw.toString('utf8')) : undefined;
      } catch {
        return send(400, { code: 'invalid_input', message: 'not json' });
      }
      const scripted = s.script(path, body);
      if (scripted) return send(scripted[0], scripted[1], scripted[2]);
      if (path === '/api/agent/v1/enroll') {
        const b = body as { token: string; facts: { machineId: string } };
        const existing = [...s.agents].find(([, a]) => a.machineId === b.facts.machineId);
        const agentId = existing?.[0] ?? `agent${s.agents.size + 1}`;
        const secret = `secret-${agentId}-${Date.now()}`;
        s.agents.set(agentId, { secret, machineId: b.facts.machineId });
        return send(200, { agentId, secret, tenantId: 't1', groupId: 'g1', reactivated: existing !== undefined });
      }
      const auth = /^Bearer ([^.]+)\.(.+)$/.exec(req.headers.authorization ?? '');
      if (!auth || s.agents.get(auth[1] ?? '')?.secret !== auth[2]) return send(401, { code: 'unauthorized', message: 'unknown agent' });
      if (path === '/api/agent/v1/checkin') {
        const b = body as CheckinRequest;
        s.checkins.push(b);
        const commands = s.commands.filter((_, i) => i + 1 > b.commandCursor);
        const verdicts = s.verdicts.filter((v) => v.seq > b.verdictCursor);
        const policy = s.policy && s.policy.revision !== b.policyRevision ? s.policy : null;
        const reply: CheckinResponse = {
          policy,
          commands,
          commandCursor: s.commands.length,
          verdicts,
          verdictCursor: Math.max(b.verdictCursor, ...s.verdicts.map((v) => v.seq)),
          serverTime: new Date().toISOString(),
        };
        if (!policy && commands.length === 0 && verdicts.length === 0 && b.waitS > 0) {
          setTimeout(() => send(200, reply), 50);
          return;
        }
        return send(200, reply);
      }
      if (path === '/api/agent/v1/events') {
        const b = body as EventBatch;
        const duplicate = s.batches.has(b.batchId);
        if (!duplicate) {
          s.batches.set(b.batchId, b);
          s.eventsReceived += b.events.length;
        }
        return send(200, { batchId: b.batchId, accepted: b.events.length, duplicate });
      }
      const m = /^\/api\/agent\/v1\/commands\/([^/]+)\/result$/.exec(path);
      if (m) {
        s.results.push({ id: decodeURIComponent(m[1] ?? ''), body });
        return send(204);
      }
      if (path === '/api/agent/v1/lookup') {
        const b = body as { sha256: string[] };
        return send(200, { results: b.sha256.map((h) => ({ sha256: h, verdict: h.startsWith('b') ? 'malicious' : 'unknown', source: 'fake' })) });
      }
      send(404, { code: 'not_found', message: path });
    });
  };
  const server = pki ? https.createServer({ cert: pki.certPem, key: pki.keyPem }, handler) : http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  s.url = `${pki ? 'https' : 'http'}://127.0.0.1:${port}`;
  s.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return s;
}
