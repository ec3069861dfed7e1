import { createHash } from 'node:crypto';
import type { Database } from '@yamori/db';
import type { SampleReportResponse, SampleUploadResponse, Verdict } from '@yamori/protocol';
import type { IntelDb } from '../db/schema.ts';
import { InvalidInputError, NotFoundError, PayloadTooLargeError } from '../errors.ts';
import { getIndicator } from '../indicators/indicator-repository.ts';
import { encryptSample } from './sample-crypto.ts';
import { decideKind } from './sample-kind.ts';
import { enqueueJob, getJobBySha, getSampleForOrg, latestReport, putBlob, upsertSample, type JobRow } from './sample-repository.ts';

/**
 * Sample uploads and their reports. Verdicts are shared with every organization; the sample, its
 * file name and its report are visible only to organizations that uploaded it.
 */
export interface SampleDeps {
  database: Database<IntelDb>;
  sampleKey: Buffer;
  maxSampleBytes: number;
  retentionMs: number;
  now: () => number;
}

export const JOBS_TOPIC = 'intel:jobs';

export interface Upload {
  orgId: string;
  body: Buffer;
  sha256: string | undefined;
  fileName: string | undefined;
  kind: string | undefined;
}

export function jobStatus(job: JobRow | undefined): SampleUploadResponse['status'] {
  if (!job) return 'queued';
  return job.status === 'leased' ? 'running' : (job.status as 'queued' | 'done' | 'failed');
}

async function verdictOf(deps: SampleDeps, sha256: string): Promise<Verdict> {
  const row = await getIndicator(deps.database.db, 'sha256', sha256);
  const now = deps.now();
  return row && (row.expires_at === null || row.expires_at > now) ? (row.verdict as Verdict) : 'unknown';
}

export async function uploadSample(deps: SampleDeps, up: Upload): Promise<SampleUploadResponse> {
  const declared = (up.sha256 ?? '').trim().toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(declared)) throw new InvalidInputError('header x-yamori-sha256 must be the file\'s lower-case hex sha256');
  if (up.body.length === 0) throw new InvalidInputError('empty body: send the file as application/octet-stream');
  if (up.body.length > deps.maxSampleBytes) throw new PayloadTooLargeError(`sample larger than ${deps.maxSampleBytes} bytes`);
  const actual = createHash('sha256').update(up.body).digest('hex');
  if (actual !== declared) throw new InvalidInputError(`sha256 mismatch: header says ${declared}, body is ${actual}`);
  const kind = decideKind(up.kind, up.body.subarray(0, 4096));
  if (!kind.ok) throw new InvalidInputError(kind.reason);
  const fileName = up.fileName ? up.fileName.slice(0, 1024) : null;
  const now = deps.now();
  const blob = encryptSample(deps.sampleKey, actual, up.body);
  const { job, created } = await deps.database.db.transaction().execute(async (trx) => {
    await upsertSample(trx, { orgId: up.orgId, sha256: actual, fileName, kind: kind.kind, size: up.body.length, now, expiresAt: now + deps.retentionMs });
    await putBlob(trx, actual, blob, up.body.length, now);
    return enqueueJob(trx, { sha256: actual, kind: kind.kind, fileName }, now);
  });
  if (created) await deps.database.notifier.publish(JOBS_TOPIC, job.id);
  return { sha256: actual, queued: created, jobId: job.id, status: jobStatus(job), verdict: await verdictOf(deps, actual) };
}

export async function sampleReport(deps: SampleDeps, orgId: string, sha256: string): Promise<SampleReportResponse> {
  const { db } = deps.database;
  const sample = await getSampleForOrg(db, orgId, sha256);
  // Another organization's sample looks exactly like a missing one.
  if (!sample) throw new NotFoundError(`sample ${sha256}`);
  const job = await getJobBySha(db, sha256);
  const report = await latestReport(db, sha256);
  return {
    sha256,
    fileName: sample.file_name,
    kind: sample.kind as SampleReportResponse['kind'],
    size: sample.size,
    uploadedAt: new Date(sample.created_at).toISOString(),
    status: jobStatus(job),
    verdict: await verdictOf(deps, sha256),
    report: report ?? null,
  };
}
