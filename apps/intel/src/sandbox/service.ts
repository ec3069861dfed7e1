import type { Database } from '@yamori/db';
import type { SandboxClaimResponse, SandboxJob, SandboxReport, SandboxReportAck, Verdict } from '@yamori/protocol';
import type { IntelDb } from '../db/schema.ts';
import { ConflictError, NotFoundError } from '../errors.ts';
import { CHANGES_TOPIC } from '../feeds/import-service.ts';
import type { Warninglist } from '../feeds/warninglist.ts';
import { addRelations, applyObservations, ensureSource, getIndicator, loadTrust, lockChangeFeed } from '../indicators/indicator-repository.ts';
import { decryptSample } from '../samples/sample-crypto.ts';
import { claimJob, finishJob, getBlob, getJob, storeReport, type JobRow } from '../samples/sample-repository.ts';
import { JOBS_TOPIC } from '../samples/service.ts';
import { reportIndicators } from './report-indicators.ts';

/** The sandbox workers' side of the queue: claim with a lease, fetch the sample, hand in the report. */
export interface SandboxDeps {
  database: Database<IntelDb>;
  sampleKey: Buffer;
  warninglist: Warninglist;
  leaseMs: number;
  maxAttempts: number;
  jobTimeoutS: number;
  now: () => number;
  /** Re-check for expired leases at least this often while a claim waits (ms). */
  pollMs?: number;
}

function toJob(row: JobRow, timeoutS: number): SandboxJob {
  return { id: row.id, sha256: row.sha256, fileName: row.file_name, kind: row.kind as SandboxJob['kind'], timeoutS };
}

/** Long-poll claim: returns a job at once if one is claimable, else waits for a wake-up or `waitS`. */
export async function claim(deps: SandboxDeps, workerId: string, waitS: number, signal?: AbortSignal): Promise<SandboxClaimResponse> {
  const deadline = Date.now() + waitS * 1000;
  const { notifier, db } = deps.database;
  for (;;) {
    const row = await claimJob(db, workerId, { leaseMs: deps.leaseMs, maxAttempts: deps.maxAttempts, now: deps.now() });
    if (row) return { job: toJob(row, deps.jobTimeoutS) };
    const left = deadline - Date.now();
    if (left <= 0 || signal?.aborted) return { job: null };
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(t);
        off();
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const t = setTimeout(done, Math.min(left, deps.pollMs ?? 5000));
      const off = notifier.subscribe((topic) => {
        if (topic === JOBS_TOPIC) done();
      });
      signal?.addEventListener('abort', done);
    });
  }
}

async function leasedJob(deps: SandboxDeps, id: string): Promise<JobRow> {
  const job = await getJob(deps.database.db, id);
  if (!job) throw new NotFoundError(`sandbox job ${id}`);
  if (job.status !== 'leased') throw new ConflictError(`sandbox job ${id} is ${job.status}, not leased: claim it first`);
  return job;
}

export async function jobSample(deps: SandboxDeps, id: string): Promise<Buffer> {
  const job = await leasedJob(deps, id);
  const blob = await getBlob(deps.database.db, job.sha256);
  if (!blob) throw new NotFoundError(`sample contents of ${job.sha256} (expired by retention)`);
  return decryptSample(deps.sampleKey, job.sha256, blob);
}

export async function submitReport(deps: SandboxDeps, id: string, report: SandboxReport): Promise<SandboxReportAck> {
  const job = await leasedJob(deps, id);
  const now = deps.now();
  const found = reportIndicators(job.sha256, report, deps.warninglist, now);
  const { db } = deps.database;
  const applied = await db.transaction().execute(async (trx) => {
    if (!(await finishJob(trx, id, now))) throw new ConflictError(`sandbox job ${id} was finished by another report`);
    await storeReport(trx, job, report, now);
    await lockChangeFeed(trx);
    await ensureSource(trx, 'sandbox', now);
    const trustOf = await loadTrust(trx);
    const r = await applyObservations(trx, 'sandbox', found.observations, trustOf, now);
    await addRelations(trx, found.relations, now);
    return r;
  });
  if (applied.changed > 0) await deps.database.notifier.publish(CHANGES_TOPIC, String(applied.lastSeq));
  const row = await getIndicator(db, 'sha256', job.sha256);
  return {
    sha256: job.sha256,
    verdict: (row?.verdict as Verdict | undefined) ?? 'unknown',
    indicatorsAdded: found.added,
    skipped: found.skipped,
  };
}
