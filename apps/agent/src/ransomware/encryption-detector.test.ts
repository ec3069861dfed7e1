import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { test } from 'node:test';
import { decoyContent } from './decoy-content.ts';
import { createEncryptionDetector, encryptedReason, inspectContent, isRansomNoteName, PROBE_BYTES } from './encryption-detector.ts';

const encrypt = (b: Buffer) => {
  const c = createCipheriv('aes-256-ctr', randomBytes(32), randomBytes(16));
  return Buffer.concat([c.update(b), c.final()]).subarray(0, PROBE_BYTES);
};

void test('encrypted content is opaque; real formats, even compressed ones, are not', () => {
  const doc = decoyContent('docx', 5);
  assert.equal(inspectContent(doc.subarray(0, PROBE_BYTES)).opaque, false, 'a docx is a zip: high entropy but known');
  assert.equal(inspectContent(gzipSync(randomBytes(8000))).opaque, false, 'gzip has its magic');
  assert.equal(inspectContent(decoyContent('jpeg', 5)).opaque, false);
  assert.equal(inspectContent(Buffer.from('plain text\n'.repeat(300))).opaque, false);
  assert.equal(inspectContent(encrypt(Buffer.from('plain text\n'.repeat(300)))).opaque, true);
  assert.equal(inspectContent(encrypt(Buffer.from('short text, 200 bytes '.repeat(10)))).opaque, true, 'small files too');
  assert.equal(inspectContent(randomBytes(40)).opaque, false, 'too few bytes to say');
});

void test('a file counts as encrypted when its name promises a format its content lost', () => {
  const opaque = inspectContent(encrypt(Buffer.alloc(4096, 0x41)));
  assert.match(encryptedReason('report.pdf', opaque) ?? '', /\.pdf file is now high-entropy/);
  assert.match(encryptedReason('report.pdf.locked', opaque) ?? '', /appended \.locked/);
  assert.match(encryptedReason('a1b2c3', opaque, 'report.docx') ?? '', /renamed from \.docx/);
  assert.equal(encryptedReason('3f9a0c1e', opaque), undefined, 'a pack file with no promised format (restic, borg)');
  assert.equal(encryptedReason('photo.jpg', inspectContent(decoyContent('jpeg', 1))), undefined);
});

void test('ransom note names', () => {
  for (const n of ['HOW_TO_DECRYPT.txt', 'README-RECOVER-FILES.html', '!!!_READ_ME_!!!.txt', 'restore_your_files.txt']) assert.ok(isRansomNoteName(n), n);
  for (const n of ['README.md', 'notes.txt', 'restore.sh', 'how-to-build.txt']) assert.ok(!isRansomNoteName(n), n);
});

void test('the detector fires once per process at the threshold, within the window only', () => {
  const d = createEncryptionDetector({ windowMs: 1000, threshold: 3, minEncrypted: 1 });
  const enc = (path: string) => ({ kind: 'encrypted' as const, path, reason: path });
  assert.equal(d.observe(7, enc('/a'), 0), undefined);
  assert.equal(d.observe(7, enc('/a'), 10), undefined, 'the same file counts once');
  assert.equal(d.observe(7, enc('/b'), 20), undefined);
  assert.equal(d.observe(8, enc('/c'), 30), undefined, 'another process has its own window');
  assert.equal(d.observe(7, enc('/d'), 5000), undefined, 'older signals left the window');
  assert.equal(d.observe(7, enc('/e'), 5010), undefined);
  const f = d.observe(7, enc('/f'), 5020);
  assert.ok(f);
  assert.equal(f.encrypted, 3);
  assert.equal(d.observe(7, enc('/g'), 5030), undefined, 'reported once');
  // decoys deleted without any encryption (a user cleaning up) never fire
  const touch = (path: string) => ({ kind: 'decoy_touched' as const, path, reason: path });
  assert.equal(d.observe(9, touch('/x'), 0), undefined);
  assert.equal(d.observe(9, touch('/y'), 1), undefined);
  assert.ok(d.observe(9, enc('/z'), 2), 'but with one encrypted file they do');
});
