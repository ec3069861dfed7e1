import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import {
  IntelChangesResponse as ChangesSchema,
  IntelLookupResponse as LookupSchema,
  parseWith,
  type IntelChangesResponse,
  type IntelLookupResponse,
  type SampleKind,
} from '@yamori/protocol';

/** The management server's side of the threat-intelligence API (an organization API key). */
export interface IntelClient {
  lookup(sha256s: readonly string[], timeoutMs: number): Promise<IntelLookupResponse['results']>;
  changes(since: number, waitS: number, signal?: AbortSignal): Promise<IntelChangesResponse>;
  uploadSample(bytes: Buffer, meta: { sha256: string; fileName?: string | undefined; kind: SampleKind }): Promise<{ status: number; body: string }>;
}

export interface IntelClientOptions {
  url: string;
  key: string;
  /** PEM of the CA to trust for an https intel service; undefined = system CAs. */
  caPem?: string | undefined;
}

export function createIntelClient(opts: IntelClientOptions): IntelClient {
  const base = opts.url.replace(/\/+$/, '');
  const isHttps = base.startsWith('https:');
  function call(method: string, path: string, body: Buffer | undefined, headers: Record<string, string>, timeoutMs: number, signal?: AbortSignal) {
    return new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = (isHttps ? httpsRequest : httpRequest)(
        `${base}${path}`,
        {
          method,
          headers: { authorization: `Bearer ${opts.key}`, ...headers, ...(body ? { 'content-length': String(body.length) } : {}) },
          timeout: timeoutMs,
          ...(isHttps && opts.caPem ? { ca: opts.caPem } : {}),
          ...(signal ? { signal } : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`intel ${path} timed out after ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }
  const json = async <T>(p: Promise<{ status: number; body: string }>, schema: Parameters<typeof parseWith>[0], what: string): Promise<T> => {
    const r = await p;
    if (r.status !== 200) throw new Error(`intel ${what}: HTTP ${r.status} ${r.body.slice(0, 300)}`);
    return parseWith(schema, JSON.parse(r.body), `intel ${what} response`) as T;
  };
  return {
    async lookup(sha256s, timeoutMs) {
      const body = Buffer.from(JSON.stringify({ items: sha256s.map((value) => ({ type: 'sha256', value })) }));
      const r = await json<IntelLookupResponse>(call('POST', '/api/intel/v1/lookup', body, { 'content-type': 'application/json' }, timeoutMs), LookupSchema, 'lookup');
      return r.results;
    },
    async changes(since, waitS, signal) {
      return json<IntelChangesResponse>(call('GET', `/api/intel/v1/changes?since=${since}&waitS=${waitS}`, undefined, {}, (waitS + 15) * 1000, signal), ChangesSchema, 'changes');
    },
    async uploadSample(bytes, meta) {
      return call(
        'POST',
        '/api/intel/v1/samples',
        bytes,
        {
          'content-type': 'application/octet-stream',
          'x-yamori-sha256': meta.sha256,
          'x-yamori-kind': meta.kind,
          ...(meta.fileName ? { 'x-yamori-file-name': encodeURIComponent(meta.fileName) } : {}),
        },
        60_000,
      );
    },
  };
}
