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

test('many packages: each path answers with its own package and digest; a path listed twice counts once', async () => {
  const root = mkdtempSync(join(tmpdir(), 'yamori-dpkg-'));
  try {
    const info = join(root, 'var/lib/dpkg/info');
    mkdirSync(info, { recursive: true });
    const md5 = (s: string) => createHash('md5').update(s).digest('hex');
    // 3 × 8,000 paths (more than the table's first allocation); the md5sums name paths under root, as above
    const dir = (p: string) => join(root, 'usr/lib', p);
    for (const p of ['alpha', 'beta', 'gamma']) {
      mkdirSync(dir(p), { recursive: true });
      const lines = Array.from(
        { length: 8000 },
        (_, i) => `${md5(`${p}-${i}`)}  ${join(dir(p), `f${i}`).slice(1)}\n`,
      );
      writeFileSync(join(info, `${p === 'gamma' ? 'gamma:amd64' : p}.md5sums`), lines.join(''));
      writeFileSync(join(dir(p), 'f7'), `${p}-7`);
      writeFileSync(join(dir(p), 'f8'), 'patched');
    }
    const shared = join(dir('alpha'), 'f7').slice(1);
    writeFileSync(join(info, 'again.md5sums'), `${md5('alpha-7')}  ${shared}\n`);
    const trust = createPackageTrust({ root });
    await trust.refresh();
    assert.equal(trust.size, 3 * 8000, 'a path in two md5sums files is one entry');
    assert.deepEqual(await trust.check(join(dir('beta'), 'f7')), { package: 'beta', digestMatches: true });
    assert.deepEqual(
      await trust.check(join(dir('gamma'), 'f7')),
      { package: 'gamma', digestMatches: true },
      'the architecture qualifier is not part of the name',
    );
    assert.deepEqual(await trust.check(join(dir('gamma'), 'f8')), { package: 'gamma', digestMatches: false });
    assert.ok(['alpha', 'again'].includes((await trust.check(join(dir('alpha'), 'f7')))?.package ?? ''));
    assert.equal(await trust.check(join(dir('alpha'), 'f8000')), undefined);
    assert.equal(await trust.check(join(root, 'usr/lib/nobody/f1')), undefined);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
