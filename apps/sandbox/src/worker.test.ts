import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { SandboxJob, SandboxReport } from '@yamori/protocol';
import { createWorker } from './worker.ts';
import { emptyReport } from './report.ts';

interface Seen {
  method: string;
  url: string;
  auth: string | undefined;
  body: string;
}

/** A stand-in for the intel service's sandbox API, over real HTTP. */
async function fakeIntel(
  handler: (req: Seen, res: ServerResponse) => void,
): Promise<{ url: string; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const s = {
        method: req.method ?? '',
        url: req.url ?? '',
        auth: req.headers.authorization,
        body: Buffer.concat(chunks).toString(),
      };
      seen.push(s);
      handler(s, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/`, seen, close: () => new Promise((r) => server.close(() => r())) };
}

const sample = Buffer.from('#!/bin/sh\necho hi\n');
const job: SandboxJob = {
  id: 'job/1',
  sha256: createHash('sha256').update(sample).digest('hex'),
  fileName: 'x.sh',
  kind: 'script',
  timeoutS: 30,
};
const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

void test('claims, fetches the sample, detonates and posts the report, with the worker key', async () => {
  let claims = 0;
  const intel = await fakeIntel((req, res) => {
    if (req.url === '/api/intel/v1/sandbox/claim')
      return json(res, 200, { job: claims++ === 0 ? job : null });
    if (req.url === '/api/intel/v1/sandbox/jobs/job%2F1/sample') return res.end(sample);
    if (req.url === '/api/intel/v1/sandbox/jobs/job%2F1/report') return json(res, 200, { ok: true });
    json(res, 404, { code: 'NOT_FOUND', message: req.url });
  });
  try {
    const detonated: SandboxJob[] = [];
    const report: SandboxReport = {
      status: 'completed',
      verdict: 'benign',
      score: 0,
      durationMs: 5,
      signatures: [],
      processes: [],
      files: [],
      network: [],
      indicators: [],
    };
    const w = createWorker({
      intelUrl: intel.url,
      workerKey: 'wk_secret',
      workerId: 'w1',
      waitS: 0,
      detonate: async (bytes, j) => {
        assert.deepEqual(Buffer.from(bytes), sample);
        detonated.push(j);
        return report;
      },
    });
    assert.equal(await w.runOnce(), 'reported');
    assert.equal(await w.runOnce(), 'idle');
    assert.deepEqual(detonated, [job]);
    assert.ok(intel.seen.every((s) => s.auth === 'Bearer wk_secret'));
    assert.deepEqual(JSON.parse(intel.seen[0]?.body ?? ''), { workerId: 'w1', waitS: 0 });
    const posted = intel.seen.find((s) => s.url.endsWith('/report'));
    assert.deepEqual(JSON.parse(posted?.body ?? ''), report);
  } finally {
    await intel.close();
  }
});

void test('a sample whose bytes do not match the job hash is reported as an error, not detonated', async () => {
  const intel = await fakeIntel((req, res) => {
    if (req.url.endsWith('/claim')) return json(res, 200, { job });
    if (req.url.endsWith('/sample')) return res.end(Buffer.from('something else'));
    json(res, 200, {});
  });
  try {
    const w = createWorker({
      intelUrl: intel.url,
      workerKey: 'k',
      workerId: 'w',
      waitS: 0,
      detonate: () => Promise.reject(new Error('must not run')),
    });
    assert.equal(await w.runOnce(), 'reported');
    const posted = JSON.parse(
      intel.seen.find((s) => s.url.endsWith('/report'))?.body ?? '{}',
    ) as SandboxReport;
    assert.equal(posted.status, 'error');
    assert.match(posted.reason ?? '', /not detonated/);
  } finally {
    await intel.close();
  }
});

void test('the loop backs off on errors (HTTP 500, unreachable) and keeps going; the report is retried', async () => {
  let claimCalls = 0;
  let reportCalls = 0;
  const intel = await fakeIntel((req, res) => {
    if (req.url.endsWith('/claim')) {
      claimCalls++;
      if (claimCalls <= 2) return json(res, 500, { code: 'INTERNAL', message: 'db down' });
      return json(res, 200, { job: claimCalls === 3 ? job : null });
    }
    if (req.url.endsWith('/sample')) return res.end(sample);
    if (req.url.endsWith('/report')) return json(res, reportCalls++ === 0 ? 503 : 200, {});
  });
  const ac = new AbortController();
  const logs: string[] = [];
  try {
    const w = createWorker({
      intelUrl: intel.url,
      workerKey: 'k',
      workerId: 'w',
      waitS: 0,
      backoff: { baseMs: 5, maxMs: 20 },
      log: (m) => logs.push(m),
      detonate: async () => {
        setTimeout(() => ac.abort(), 50);
        return emptyReport('error', 'fake');
      },
    });
    await w.run(ac.signal);
    assert.ok(claimCalls >= 3);
    assert.equal(reportCalls, 2, 'the report was retried after a 503');
    assert.ok(logs.some((l) => /HTTP 500/.test(l)));
  } finally {
    await intel.close();
  }
  // Unreachable intel: errors are caught, the loop waits and ends on abort.
  const ac2 = new AbortController();
  setTimeout(() => ac2.abort(), 100);
  const w2 = createWorker({
    intelUrl: 'http://127.0.0.1:9',
    workerKey: 'k',
    workerId: 'w',
    waitS: 0,
    backoff: { baseMs: 10, maxMs: 20 },
    detonate: () => Promise.reject(new Error('no')),
  });
  await w2.run(ac2.signal);
});
