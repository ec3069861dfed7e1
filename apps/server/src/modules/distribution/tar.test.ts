import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { paxRecord, TAR_END, tarHeader, tarPadding, type TarEntry } from './tar.ts';

function archive(entries: Array<TarEntry & { content?: string }>): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    parts.push(tarHeader(e));
    if (e.content !== undefined) parts.push(Buffer.from(e.content), tarPadding(Buffer.byteLength(e.content)));
  }
  return Buffer.concat([...parts, TAR_END]);
}

test('pax records count their own length', () => {
  for (const value of ['x', 'a'.repeat(90), 'a'.repeat(94), 'a'.repeat(95), 'a'.repeat(994), 'a'.repeat(995)]) {
    const r = paxRecord('path', value);
    assert.equal(Number(r.slice(0, r.indexOf(' '))), Buffer.byteLength(r), `value of ${value.length}`);
  }
});

test('GNU tar reads files, directories, links and long names as written', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ymr-tar-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const long = `deep/${'d'.repeat(60)}/${'e'.repeat(60)}/file.txt`;
  const longTarget = `../${'t'.repeat(120)}`;
  const file = join(dir, 'a.tar');
  writeFileSync(
    file,
    archive([
      { path: 'bin', type: 'directory', mode: 0o755, size: 0, mtime: 0 },
      { path: 'bin/run', type: 'file', mode: 0o755, size: 3, mtime: 1_700_000_000, content: 'hi\n' },
      { path: 'empty', type: 'file', mode: 0o644, size: 0, mtime: 0, content: '' },
      { path: long, type: 'file', mode: 0o644, size: 512, mtime: 0, content: 'x'.repeat(512) },
      { path: 'link', type: 'symlink', mode: 0o777, size: 0, mtime: 0, linkname: 'bin/run' },
      { path: 'longlink', type: 'symlink', mode: 0o777, size: 0, mtime: 0, linkname: longTarget },
    ]),
  );
  const out = join(dir, 'out');
  execFileSync('mkdir', [out]);
  execFileSync('tar', ['-xf', file, '-C', out]);
  assert.equal(readFileSync(join(out, 'bin/run'), 'utf8'), 'hi\n');
  assert.equal(statSync(join(out, 'bin/run')).mode & 0o777, 0o755);
  assert.equal(statSync(join(out, 'bin/run')).mtimeMs, 1_700_000_000_000);
  assert.equal(readFileSync(join(out, 'empty'), 'utf8'), '');
  assert.equal(readFileSync(join(out, long), 'utf8'), 'x'.repeat(512));
  assert.equal(readlinkSync(join(out, 'link')), 'bin/run');
  assert.equal(readlinkSync(join(out, 'longlink')), longTarget);
  const listing = execFileSync('tar', ['-tvf', file], { encoding: 'utf8' });
  assert.match(listing, /root\/root/);
});

test('paths that would leave the directory are refused', () => {
  for (const path of ['/etc/passwd', '../x', 'a/../../x', '']) {
    assert.throws(() => tarHeader({ path, type: 'file', mode: 0o644, size: 0, mtime: 0 }), /unsafe tar path/);
  }
});
