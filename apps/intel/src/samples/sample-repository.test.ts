import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createTestDatabase, TEST_DIALECTS } from '@yamori/db';
import { openIntelDatabase } from '../db/open.ts';
import { createOrg } from '../orgs/org-repository.ts';
import { decryptSample, encryptSample } from './sample-crypto.ts';
import { claimJob, enqueueJob, expireSamples, finishJob, getBlob, getSampleForOrg, putBlob, upsertSample } from './sample-repository.ts';

const T0 = 1_767_000_000_000;

for (const kind of TEST_DIALECTS) {
  test(`${kind}: one job per sha256, attempts run out, retention keeps what a pending job needs`, async () => {
    const tdb = await createTestDatabase(kind);
    const database = await openIntelDatabase(tdb.url);
    const { db } = database;
    try {
      const org = (await createOrg(db, 'o', T0))!;
      const key = randomBytes(32);
      const sha = 'ab'.repeat(32);
      const blob = encryptSample(key, sha, Buffer.from('#!/bin/sh\necho hi\n'));
      await upsertSample(db, { orgId: org.id, sha256: sha, fileName: 'x.sh', kind: 'script', size: 18, now: T0, expiresAt: T0 + 1000 });
      await putBlob(db, sha, blob, 18, T0);
      const first = await enqueueJob(db, { sha256: sha, kind: 'script', fileName: 'x.sh' }, T0);
      const again = await enqueueJob(db, { sha256: sha, kind: 'script', fileName: 'other.sh' }, T0);
      assert.deepEqual([first.created, again.created, again.job.id], [true, false, first.job.id]);
      // Bound to its hash: the blob does not decrypt as another sample's.
      assert.equal(decryptSample(key, sha, (await getBlob(db, sha))!).toString(), '#!/bin/sh\necho hi\n');
      assert.throws(() => decryptSample(key, 'cd'.repeat(32), blob));

      // Past retention, but the job still needs the contents: the org's row goes, the blob stays.
      assert.deepEqual(await expireSamples(db, T0 + 2000), { samples: 1, blobs: 0 });
      assert.equal(await getSampleForOrg(db, org.id, sha), undefined);
      // Three leases that all expire: the job fails instead of looping.
      const opts = { leaseMs: 10, maxAttempts: 3 };
      for (let i = 0; i < 3; i++) assert.ok(await claimJob(db, `w${i}`, { ...opts, now: T0 + i * 100 }));
      assert.equal(await claimJob(db, 'w9', { ...opts, now: T0 + 1000 }), undefined);
      assert.equal(await finishJob(db, first.job.id, T0 + 1000), false, 'a failed job takes no report');
      assert.deepEqual(await expireSamples(db, T0 + 2000), { samples: 0, blobs: 1 });
    } finally {
      await database.close();
      await tdb.drop();
    }
  });
}
