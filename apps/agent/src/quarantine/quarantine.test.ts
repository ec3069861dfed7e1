import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openQuarantineStore, QuarantineError } from './store.ts';
import { shouldQuarantine } from './quarantine-policy.ts';
import { createQuarantineCommandHandler } from './command.ts';

function dirs(t: { after(fn: () => void): void }) {
  const base = mkdtempSync(join(tmpdir(), 'yamori-quar-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  return { store: join(base, 'store'), work: base };
}

const isRoot = process.getuid?.() === 0;

void test('quarantine → restore round-trips bytes, mode and owner; stored content is encrypted', { skip: !isRoot && 'needs root (chown)' }, async (t) => {
  const d = dirs(t);
  const store = await openQuarantineStore(d.store, { now: () => new Date('2026-11-22T04:00:00Z') });
  const path = join(d.work, 'payload.bin');
  // Recognisable plaintext (repeated marker) plus random bytes.
  const content = Buffer.concat([Buffer.from('MALWARE-MARKER-'.repeat(200)), randomBytes(3000)]);
  writeFileSync(path, content);
  chownSync(path, 1234, 1234);
  chmodSync(path, 0o4750);
  const sha = createHash('sha256').update(content).digest('hex');

  const entry = await store.quarantine(path, { reason: 'YARA match', detections: ['yara:default:Test'], expectedSha256: sha });
  assert.equal(existsSync(path), false, 'original is gone');
  assert.deepEqual(
    { originalPath: entry.originalPath, uid: entry.uid, gid: entry.gid, mode: entry.mode, size: entry.size, sha256: entry.sha256, at: entry.quarantinedAt, reason: entry.reason },
    { originalPath: path, uid: 1234, gid: 1234, mode: 0o4750, size: content.length, sha256: sha, at: '2026-11-22T04:00:00.000Z', reason: 'YARA match' },
  );

  // On disk: the key and every file 0600, dir 0700, and no trace of the plaintext.
  assert.equal(statSync(d.store).mode & 0o777, 0o700);
  for (const name of readdirSync(d.store)) {
    const p = join(d.store, name);
    assert.equal(statSync(p).mode & 0o777, 0o600, name);
    const bytes = readFileSync(p);
    assert.equal(bytes.includes(Buffer.from('MALWARE-MARKER')), false, `${name} holds plaintext`);
    assert.equal(bytes.includes(content.subarray(3000, 3032)), false, `${name} holds plaintext`);
  }
  assert.equal(readFileSync(join(d.store, `${entry.id}.bin`)).length, 4 + 12 + content.length + 16);

  assert.deepEqual((await store.list()).map((e) => e.id), [entry.id]);

  const r = await store.restore(entry.id);
  assert.equal(r.restoredTo, path);
  assert.deepEqual(readFileSync(path), content);
  const st = statSync(path);
  assert.equal(st.uid, 1234);
  assert.equal(st.gid, 1234);
  assert.equal(st.mode & 0o7777, 0o4750);
  assert.deepEqual(await store.list(), []);
});

void test('restore to another path; an existing destination is not overwritten unless asked', async (t) => {
  const d = dirs(t);
  const store = await openQuarantineStore(d.store);
  const path = join(d.work, 'a.sh');
  writeFileSync(path, 'echo hi\n', { mode: 0o755 });
  const e1 = await store.quarantine(path, { reason: 'test' });
  writeFileSync(path, 'new file at the same path');
  await assert.rejects(store.restore(e1.id), (err: QuarantineError) => err.code === 'conflict');
  assert.equal(readFileSync(path, 'utf8'), 'new file at the same path');
  const other = join(d.work, 'restored.sh');
  const r = await store.restore(e1.id, { to: other });
  assert.equal(r.restoredTo, other);
  assert.equal(readFileSync(other, 'utf8'), 'echo hi\n');
  assert.equal(statSync(other).mode & 0o777, 0o755);
  // Into a directory: keeps the original name.
  const e2 = await store.quarantine(other, { reason: 'again' });
  const sub = join(d.work, 'sub');
  mkdirSync(sub);
  assert.equal((await store.restore(e2.id, { to: sub })).restoredTo, join(sub, 'restored.sh'));
});

void test('delete removes the entry; unknown ids are not_found', async (t) => {
  const d = dirs(t);
  const store = await openQuarantineStore(d.store);
  const path = join(d.work, 'x');
  writeFileSync(path, 'x');
  const e = await store.quarantine(path, { reason: 'r' });
  await store.delete(e.id);
  assert.deepEqual(await store.list(), []);
  assert.deepEqual(readdirSync(d.store), ['store.key']);
  await assert.rejects(store.delete(e.id), (err: QuarantineError) => err.code === 'not_found');
  await assert.rejects(store.get('../../etc/passwd'), (err: QuarantineError) => err.code === 'invalid');
});

void test('a changed file (sha256 mismatch) or a symlink is not quarantined and nothing changes', async (t) => {
  const d = dirs(t);
  const store = await openQuarantineStore(d.store);
  const path = join(d.work, 'f');
  writeFileSync(path, 'now different');
  await assert.rejects(store.quarantine(path, { reason: 'r', expectedSha256: 'a'.repeat(64) }), (err: QuarantineError) => err.code === 'changed');
  assert.equal(readFileSync(path, 'utf8'), 'now different');
  symlinkSync(path, join(d.work, 'link'));
  await assert.rejects(store.quarantine(join(d.work, 'link'), { reason: 'r' }), (err: QuarantineError) => err.code === 'invalid');
  assert.deepEqual(readdirSync(d.store), ['store.key']);
});

void test('tampered quarantine data fails authentication on restore and writes nothing', async (t) => {
  const d = dirs(t);
  const store = await openQuarantineStore(d.store);
  const path = join(d.work, 'f');
  writeFileSync(path, 'original content');
  const e = await store.quarantine(path, { reason: 'r' });
  const bin = join(d.store, `${e.id}.bin`);
  const bytes = readFileSync(bin);
  bytes[20] = (bytes[20] ?? 0) ^ 0xff;
  writeFileSync(bin, bytes);
  await assert.rejects(store.restore(e.id), (err: QuarantineError) => err.code === 'integrity');
  assert.equal(existsSync(path), false);
  assert.deepEqual(readdirSync(d.work).sort(), ['store']);
  // Reopening the store keeps the same key.
  const again = await openQuarantineStore(d.store);
  assert.equal((await again.list()).length, 1);
});

void test('policy: quarantine only malicious files in block mode when asked', () => {
  const p = (mode: 'monitor' | 'block', q: boolean) => ({ modules: { malware: { mode, quarantineOnMalicious: q } } }) as Parameters<typeof shouldQuarantine>[0];
  assert.equal(shouldQuarantine(p('block', true), 'malicious'), true);
  assert.equal(shouldQuarantine(p('monitor', true), 'malicious'), false);
  assert.equal(shouldQuarantine(p('block', false), 'malicious'), false);
  assert.equal(shouldQuarantine(p('block', true), 'suspicious'), false);
});

void test('server command: quarantine by path with sha256, then list and restore', async (t) => {
  const d = dirs(t);
  const store = await openQuarantineStore(d.store);
  const handler = createQuarantineCommandHandler(async () => store);
  const path = join(d.work, 'evil');
  writeFileSync(path, 'evil');
  const sha = createHash('sha256').update('evil').digest('hex');
  const cmd = (params: Record<string, unknown>) => ({ id: 'c1', type: 'quarantine' as const, params, createdAt: '2026-11-22T04:00:00.000Z' });
  const r = await handler(cmd({ path, sha256: sha }));
  assert.equal(r.status, 'done', r.output);
  const entry = JSON.parse(r.output ?? '{}') as { id: string; source: string };
  assert.equal(entry.source, 'server');
  const listed = await handler(cmd({ action: 'list' }));
  assert.equal((JSON.parse(listed.output ?? '[]') as unknown[]).length, 1);
  assert.equal((await handler(cmd({ action: 'restore', id: entry.id }))).status, 'done');
  assert.equal(readFileSync(path, 'utf8'), 'evil');
  const bad = await handler(cmd({ action: 'restore', id: 'nope' }));
  assert.equal(bad.status, 'failed');
  assert.match(bad.output ?? '', /invalid quarantine parameters/);
});
