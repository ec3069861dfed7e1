import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultPolicy, type Policy } from '@yamori/protocol';
import { createSampleUploader } from './sample-uploader.ts';

test('unknown executables are sent once when the upload policy allows; documents and non-consenting tenants never leave the host', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'yamori-upload-'));
  try {
    const elf = join(dir, 'tool');
    copyFileSync('/usr/bin/true', elf);
    const pdf = join(dir, 'salaries.pdf');
    writeFileSync(pdf, '%PDF-1.7\n%%EOF\n');
    const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');
    const sent: string[] = [];
    let policy: Policy = defaultPolicy();
    const up = createSampleUploader({
      client: { uploadSample: async (_b, m) => (sent.push(m.path), { kind: 'queued' as const }) },
      policy: () => policy,
      log: () => undefined,
    });
    up.offer(sha(elf), elf);
    await up.idle();
    assert.deepEqual(sent, [], 'default policy: the tenant has not consented');
    assert.equal(up.stats.refusedHere, 1);

    policy = { ...policy, upload: { ...policy.upload, consent: true } };
    const other = join(dir, 'tool2');
    copyFileSync('/usr/bin/false', other);
    up.offer(sha(other), other);
    up.offer(sha(other), other);
    up.offer(sha(pdf), pdf);
    await up.idle();
    assert.deepEqual(sent, [other], 'the executable once; the document never');

    const changed = join(dir, 'tool3');
    copyFileSync('/usr/bin/true', changed);
    const before = sha(changed);
    writeFileSync(changed, Buffer.concat([readFileSync(changed), Buffer.from('x')]));
    up.offer(before, changed);
    await up.idle();
    assert.deepEqual(sent, [other], 'a file rewritten since its exec is not sent under its old hash');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
