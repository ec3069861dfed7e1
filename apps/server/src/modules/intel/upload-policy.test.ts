import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { defaultPolicy } from '@yamori/protocol';
import { enrollAgent, startHarness } from '../../test-support.ts';
import { uploadDecision } from '@yamori/detection';

test('upload rules: consent, hash-only, file kinds, size and never-paths each refuse with their reason', () => {
  const p = { ...defaultPolicy().upload, consent: true, neverPaths: ['/srv/hr/**'] };
  const elf = { kind: 'elf' as const, sizeBytes: 1000, path: '/tmp/x' };
  assert.deepEqual(uploadDecision(p, elf), { allowed: true });
  assert.match(JSON.stringify(uploadDecision({ ...p, consent: false }, elf)), /not consented/);
  assert.match(JSON.stringify(uploadDecision({ ...p, hashOnly: true }, elf)), /hashes only/);
  assert.match(JSON.stringify(uploadDecision(p, { ...elf, kind: 'document' })), /file type \\"document\\"/);
  assert.match(JSON.stringify(uploadDecision(p, { ...elf, sizeBytes: 33 * 1024 * 1024 })), /larger than/);
  assert.match(JSON.stringify(uploadDecision(p, { ...elf, path: '/srv/hr/payroll/run' })), /never-upload/);
  assert.match(JSON.stringify(uploadDecision({ ...p, enabled: false }, elf)), /turned off/);
});

test('a document is not uploaded under the default upload policy, and the refusal is audited', async () => {
  const h = await startHarness('sqlite');
  try {
    const T = h.tenantId;
    // Even with the tenant's consent, the default file kinds are executables and scripts only.
    const [policy] = (await h.owner.request('GET', `/api/v1/tenants/${T}/policies`)).json() as Array<{ id: string }>;
    const doc = defaultPolicy();
    doc.upload.consent = true;
    const rev = (await h.owner.request('POST', `/api/v1/tenants/${T}/policies/${policy?.id}/revisions`, { document: doc })).json() as { revision: number };
    await h.owner.request('POST', `/api/v1/tenants/${T}/policies/${policy?.id}/revisions/${rev.revision}/approve`);
    await h.owner.request('POST', `/api/v1/tenants/${T}/policies/${policy?.id}/revisions/${rev.revision}/deploy`);
    const a = await enrollAgent(h, h.owner, T);
    const pdf = Buffer.from('%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n');
    const res = await h.app.inject({
      method: 'POST',
      url: '/api/agent/v1/samples',
      headers: {
        authorization: a.auth,
        'content-type': 'application/octet-stream',
        'x-yamori-sha256': createHash('sha256').update(pdf).digest('hex'),
        'x-yamori-path': encodeURIComponent('/home/alice/Documents/salaries.pdf'),
      },
      payload: pdf,
    });
    assert.equal(res.statusCode, 403, res.body);
    assert.match((res.json() as { message: string }).message, /file type "pdf" may not be uploaded/);
    const audit = (await h.owner.request('GET', `/api/v1/tenants/${T}/audit?action=sample.upload_refused`)).json() as { items: Array<{ after: { path: string; reason: string } }> };
    assert.equal(audit.items.length, 1);
    assert.equal(audit.items[0]?.after.path, '/home/alice/Documents/salaries.pdf');
  } finally {
    await h.close();
  }
});
