import { PostgresAdapter, sql, type Selectable } from 'kysely';
import { newId } from '@yamori/db';
import type { SampleKind, SandboxReport } from '@yamori/protocol';
import type { IntelDb } from '../db/schema.ts';
import type { IntelKysely } from '../indicators/indicator-repository.ts';

/** Samples (per organization), their encrypted contents (per sha256), the sandbox queue and reports. */
export type SampleRow = Selectable<IntelDb['samples']>;
export type JobRow = Selectable<IntelDb['sandbox_jobs']>;

export async function upsertSample(
  db: IntelKysely,
  row: { orgId: string; sha256: string; fileName: string | null; kind: SampleKind; size: number; now: number; expiresAt: number },
): Promise<void> {
  await db
    .insertInto('samples')
    .values({
      org_id: row.orgId,
      sha256: row.sha256,
      file_name: row.fileName,
      kind: row.kind,
      size: row.size,
      created_at: row.now,
      expires_at: row.expiresAt,
    })
    .onConflict((oc) =>
      oc.columns(['org_id', 'sha256']).doUpdateSet((eb) => ({ file_name: eb.ref('excluded.file_name'), expires_at: eb.ref('excluded.expires_at') })),
    )
    .execute();
}

/** The sample as one organization sees it; undefined for every other organization. */
export async function getSampleForOrg(db: IntelKysely, orgId: string, sha256: string): Promise<SampleRow | undefined> {
  return db.selectFrom('samples').selectAll().where('org_id', '=', orgId).where('sha256', '=', sha256).executeTakeFirst();
}

export async function putBlob(db: IntelKysely, sha256: string, data: Uint8Array, size: number, now: number): Promise<void> {
  await db
    .insertInto('sample_blobs')
    .values({ sha256, data, size, created_at: now })
    .onConflict((oc) => oc.column('sha256').doNothing())
    .execute();
}

export async function getBlob(db: IntelKysely, sha256: string): Promise<Uint8Array | undefined> {
  const r = await db.selectFrom('sample_blobs').select('data').where('sha256', '=', sha256).executeTakeFirst();
  return r?.data;
}

/** Queues a sandbox job for `sha256` unless one exists (any state): one detonation per file. */
export async function enqueueJob(
  db: IntelKysely,
  job: { sha256: string; kind: SampleKind; fileName: string | null },
  now: number,
): Promise<{ job: JobRow; created: boolean }> {
  const id = newId(now);
  const r = await db
    .insertInto('sandbox_jobs')
    .values({
      id,
      sha256: job.sha256,
      kind: job.kind,
      file_name: job.fileName,
      status: 'queued',
      attempts: 0,
      worker_id: null,
      lease_expires_at: null,
      created_at: now,
      updated_at: now,
    })
    .onConflict((oc) => oc.column('sha256').doNothing())
    .executeTakeFirst();
  const row = await db.selectFrom('sandbox_jobs').selectAll().where('sha256', '=', job.sha256).executeTakeFirstOrThrow();
  return { job: row, created: Number(r.numInsertedOrUpdatedRows ?? 0) === 1 };
}

export async function getJob(db: IntelKysely, id: string): Promise<JobRow | undefined> {
  return db.selectFrom('sandbox_jobs').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function getJobBySha(db: IntelKysely, sha256: string): Promise<JobRow | undefined> {
  return db.selectFrom('sandbox_jobs').selectAll().where('sha256', '=', sha256).executeTakeFirst();
}

/**
 * Leases the oldest claimable job: queued, or leased by a worker whose lease ran out (it died).
 * A job that ran out of attempts fails instead of looping forever. Concurrent claimers never get
 * the same job: the update is conditional on the state read, and PostgreSQL skips locked rows.
 */
export async function claimJob(
  db: IntelKysely,
  workerId: string,
  opts: { leaseMs: number; maxAttempts: number; now: number },
): Promise<JobRow | undefined> {
  const { now } = opts;
  return db.transaction().execute(async (trx) => {
    await trx
      .updateTable('sandbox_jobs')
      .set({ status: 'failed', worker_id: null, lease_expires_at: null, updated_at: now })
      .where('status', '=', 'leased')
      .where('lease_expires_at', '<=', now)
      .where('attempts', '>=', opts.maxAttempts)
      .execute();
    const pg = trx.getExecutor().adapter instanceof PostgresAdapter;
    let q = trx
      .selectFrom('sandbox_jobs')
      .select(['id', 'status', 'lease_expires_at'])
      .where((eb) => eb.or([eb('status', '=', 'queued'), eb.and([eb('status', '=', 'leased'), eb('lease_expires_at', '<=', now)])]))
      .orderBy('created_at')
      .limit(1);
    if (pg) q = q.modifyEnd(sql`for update skip locked`);
    const cand = await q.executeTakeFirst();
    if (!cand) return undefined;
    const r = await trx
      .updateTable('sandbox_jobs')
      .set((eb) => ({
        status: 'leased',
        worker_id: workerId,
        lease_expires_at: now + opts.leaseMs,
        attempts: eb('attempts', '+', 1),
        updated_at: now,
      }))
      .where('id', '=', cand.id)
      .where('status', '=', cand.status)
      .where((eb) => (cand.lease_expires_at === null ? eb('lease_expires_at', 'is', null) : eb('lease_expires_at', '=', cand.lease_expires_at)))
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) !== 1) return undefined;
    return trx.selectFrom('sandbox_jobs').selectAll().where('id', '=', cand.id).executeTakeFirstOrThrow();
  });
}

export async function finishJob(db: IntelKysely, id: string, now: number): Promise<boolean> {
  const r = await db
    .updateTable('sandbox_jobs')
    .set({ status: 'done', lease_expires_at: null, updated_at: now })
    .where('id', '=', id)
    .where('status', '=', 'leased')
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

export async function storeReport(db: IntelKysely, job: JobRow, report: SandboxReport, now: number): Promise<void> {
  await db
    .insertInto('sandbox_reports')
    .values({
      job_id: job.id,
      sha256: job.sha256,
      status: report.status,
      verdict: report.verdict,
      score: report.score,
      report: JSON.stringify(report),
      received_at: now,
    })
    .execute();
}

export async function latestReport(db: IntelKysely, sha256: string): Promise<SandboxReport | undefined> {
  const r = await db
    .selectFrom('sandbox_reports')
    .select('report')
    .where('sha256', '=', sha256)
    .orderBy('received_at', 'desc')
    .limit(1)
    .executeTakeFirst();
  return r ? (JSON.parse(r.report) as SandboxReport) : undefined;
}

/**
 * Retention: drops organizations' sample rows past their expiry, then contents nobody references
 * any more and that no queued or running job still needs. Reports and verdicts stay.
 */
export async function expireSamples(db: IntelKysely, now: number): Promise<{ samples: number; blobs: number }> {
  return db.transaction().execute(async (trx) => {
    const s = await trx.deleteFrom('samples').where('expires_at', '<=', now).executeTakeFirst();
    const b = await trx
      .deleteFrom('sample_blobs')
      .where((eb) =>
        eb.and([
          eb.not(eb.exists(eb.selectFrom('samples').select('samples.sha256').whereRef('samples.sha256', '=', 'sample_blobs.sha256'))),
          eb.not(
            eb.exists(
              eb
                .selectFrom('sandbox_jobs')
                .select('sandbox_jobs.sha256')
                .whereRef('sandbox_jobs.sha256', '=', 'sample_blobs.sha256')
                .where('sandbox_jobs.status', 'in', ['queued', 'leased']),
            ),
          ),
        ]),
      )
      .executeTakeFirst();
    return { samples: Number(s.numDeletedRows), blobs: Number(b.numDeletedRows) };
  });
}
