/**
 * The worker loop: claim a job from intel (long poll), fetch the sample, detonate, post the
 * report. HTTP(S) only through `fetch` (injected for tests); detonation is injected too, so
 * the loop is tested against a real HTTP server without root.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { SandboxClaimResponse, SandboxReport, parseWith, type SandboxJob } from '@yamori/protocol';
import { backoffDelay, DEFAULT_BACKOFF, type BackoffPolicy } from './backoff.ts';
import { emptyReport } from './report.ts';

export interface WorkerDeps {
  intelUrl: string;
  workerKey: string;
  workerId: string;
  detonate: (sample: Uint8Array, job: SandboxJob) => Promise<SandboxReport>;
  /** Long-poll wait asked of intel per claim (0…60 s). */
  waitS?: number;
  fetch?: typeof fetch;
  backoff?: BackoffPolicy;
  log?: (msg: string) => void;
  /** Largest sample accepted. */
  maxSampleBytes?: number;
}

export class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

export interface Worker {
  /** One claim → detonate → report cycle. */
  runOnce(signal?: AbortSignal): Promise<'idle' | 'reported'>;
  /** Loops until `signal` aborts; errors back off and never end the loop. */
  run(signal: AbortSignal): Promise<void>;
}

export function createWorker(deps: WorkerDeps): Worker {
  const f = deps.fetch ?? fetch;
  const base = deps.intelUrl.replace(/\/+$/, '');
  const api = `${base}/api/intel/v1/sandbox`;
  const waitS = Math.max(0, Math.min(60, deps.waitS ?? 20));
  const log = deps.log ?? (() => undefined);
  const policy = deps.backoff ?? DEFAULT_BACKOFF;
  const maxSample = deps.maxSampleBytes ?? 256 * 1024 * 1024;
  const auth = { authorization: `Bearer ${deps.workerKey}` };

  const request = async (
    url: string,
    init: RequestInit,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<Response> => {
    const signals = [AbortSignal.timeout(timeoutMs), ...(signal ? [signal] : [])];
    const res = await f(url, {
      ...init,
      headers: { ...auth, ...(init.headers as Record<string, string> | undefined) },
      signal: AbortSignal.any(signals),
    });
    if (!res.ok) {
      const text = await res.text().catch(() => '');
      throw new HttpError(
        res.status,
        `${init.method ?? 'GET'} ${url}: HTTP ${res.status} ${text.slice(0, 300)}`,
      );
    }
    return res;
  };

  const claim = async (signal?: AbortSignal): Promise<SandboxJob | null> => {
    const res = await request(
      `${api}/claim`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ workerId: deps.workerId, waitS }),
      },
      (waitS + 30) * 1000,
      signal,
    );
    if (res.status === 204) return null;
    return parseWith(SandboxClaimResponse, await res.json(), 'claim response').job;
  };

  const fetchSample = async (job: SandboxJob, signal?: AbortSignal): Promise<Uint8Array> => {
    const res = await request(
      `${api}/jobs/${encodeURIComponent(job.id)}/sample`,
      { method: 'GET' },
      120_000,
      signal,
    );
    const len = Number(res.headers.get('content-length') ?? '0');
    if (len > maxSample) throw new HttpError(413, `sample of ${len} bytes exceeds ${maxSample}`);
    const bytes = new Uint8Array(await res.arrayBuffer());
    if (bytes.length > maxSample)
      throw new HttpError(413, `sample of ${bytes.length} bytes exceeds ${maxSample}`);
    return bytes;
  };

  /** The report must not be lost: retried with backoff until intel takes it (or 4xx says never). */
  const postReport = async (job: SandboxJob, report: SandboxReport, signal?: AbortSignal): Promise<void> => {
    const body = JSON.stringify(parseWith(SandboxReport, report, 'report'));
    for (let attempt = 1; ; attempt++) {
      try {
        await request(
          `${api}/jobs/${encodeURIComponent(job.id)}/report`,
          { method: 'POST', headers: { 'content-type': 'application/json' }, body },
          60_000,
          signal,
        );
        return;
      } catch (e) {
        if (
          signal?.aborted ||
          attempt >= 8 ||
          (e instanceof HttpError &&
            e.status >= 400 &&
            e.status < 500 &&
            e.status !== 408 &&
            e.status !== 429)
        )
          throw e;
        const d = backoffDelay(attempt, policy);
        log(`report for job ${job.id} failed (${(e as Error).message}); retry in ${d} ms`);
        await sleep(d, undefined, signal ? { signal } : {});
      }
    }
  };

  const runOnce = async (signal?: AbortSignal): Promise<'idle' | 'reported'> => {
    const job = await claim(signal);
    if (!job) return 'idle';
    log(`claimed job ${job.id} (${job.sha256}, ${job.kind}, ${job.timeoutS}s)`);
    let report: SandboxReport;
    try {
      const sample = await fetchSample(job, signal);
      const sha = createHash('sha256').update(sample).digest('hex');
      report =
        sha === job.sha256
          ? await deps.detonate(sample, job)
          : emptyReport('error', `sample bytes hash to ${sha}, not the job's ${job.sha256}: not detonated`);
    } catch (e) {
      if (signal?.aborted) throw e;
      report = emptyReport('error', `worker could not run the job: ${(e as Error).message}`);
    }
    // Not tied to `signal`: a finished detonation is still reported during shutdown.
    await postReport(job, report);
    log(`job ${job.id}: ${report.status}, ${report.verdict} (${report.score})`);
    return 'reported';
  };

  const run = async (signal: AbortSignal): Promise<void> => {
    let failures = 0;
    while (!signal.aborted) {
      try {
        await runOnce(signal);
        failures = 0;
      } catch (e) {
        if (signal.aborted) break;
        failures++;
        const d = backoffDelay(failures, policy);
        log(`worker error (${(e as Error).message}); retry in ${d} ms`);
        await sleep(d, undefined, { signal }).catch(() => undefined);
      }
    }
  };

  return { runOnce, run };
}
