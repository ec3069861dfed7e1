import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPackageTrust, parseMd5sums } from './package-trust.ts';

test('md5sums lines: executable directories only, absolute paths', () => {
  const t = parseMd5sums('0123456789abcdef0123456789abcdef  usr/bin/ls\nfedcba9876543210fedcba9876543210  usr/share/doc/x/README\nbroken line\n');
  assert.deepEqual(t, [{ md5: '0123456789abcdef0123456789abcdef', path: '/usr/bin/ls' }]);
});

test('a package-owned binary whose digest matches is trusted; modified, or copied elsewhere, it is not', async () => {
  const root = mkdtempSync(join(tmpdir(), 'yamori-dpkg-'));
  try {
    mkdirSync(join(root, 'var/lib/dpkg/info'), { recursive: true });
    mkdirSync(join(root, 'usr/bin'), { recursive: true });
    const tool = join(root, 'usr/bin/tool');
    copyFileSync('/usr/bin/true', tool);
    const md5 = createHash('md5').update(readFileSync(tool)).digest('hex');
    // The md5sums file names paths relative to the root it describes.
    writeFileSync(join(root, 'var/lib/dpkg/info/faketools.md5sums'), `${md5}  ${tool.slice(1)}\n`);
    writeFileSync(join(root, 'var/lib/dpkg/status'), 'Package: faketools\n');
    const trust = createPackageTrust({ root });
    assert.equal(await trust.check(tool), undefined, 'nothing is trusted before the database is loaded');
    await trust.refresh();
    assert.deepEqual(await trust.check(tool), { package: 'faketools', digestMatches: true });
    const copy = join(root, 'tmp-copy');
    copyFileSync(tool, copy);
    assert.equal(await trust.check(copy), undefined, 'a copy elsewhere is owned by no package');
    writeFileSync(tool, Buffer.concat([readFileSync(tool), Buffer.from('patched')]));
    assert.deepEqual(await trust.check(tool), { package: 'faketools', digestMatches: false }, 'a modified package file is not trusted');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("this machine's /usr/bin/ls is trusted through the real dpkg database", { skip: existsSync('/var/lib/dpkg/info/coreutils.md5sums') ? false : 'not a Debian system' }, async () => {
  const trust = createPackageTrust();
  await trust.refresh();
  assert.ok(trust.size > 100, `loaded ${trust.size} executable paths`);
  assert.deepEqual(await trust.check('/usr/bin/ls'), { package: 'coreutils', digestMatches: true });
  assert.deepEqual(await trust.check('/bin/ls'), { package: 'coreutils', digestMatches: true }, 'merged /usr: /bin/ls is the same file');
});
