import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { expandDecoyFolders } from './decoy-folders.ts';

void test('decoy folder globs expand to existing directories, bounded, with exclusion-glob semantics', (t) => {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'yamori-decoy-folders-')));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  for (const d of ['home/alice/Documents', 'home/bob/Documents', 'home/carol', 'srv/www/site/a/b/c/d']) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, 'home', 'notes.txt'), 'a file, not a folder');
  symlinkSync(join(root, 'home', 'alice'), join(root, 'home', 'alias'));

  const r = expandDecoyFolders([`${root}/home/*`, `${root}/home/*/Documents`, `${root}/missing`, 'relative/path', '/proc/*']);
  assert.deepEqual(r.folders, [
    `${root}/home/alice`,
    `${root}/home/alice/Documents`,
    `${root}/home/bob`,
    `${root}/home/bob/Documents`,
    `${root}/home/carol`,
  ]);
  assert.deepEqual(r.rejected, ['relative/path', '/proc/*'], 'the symlinked alias is the same folder (listed once)');

  const deep = expandDecoyFolders([`${root}/srv/**`], { maxDepth: 2 });
  assert.deepEqual(deep.folders, [`${root}/srv/www`, `${root}/srv/www/site`], '** descends a bounded number of levels');

  const bounded = expandDecoyFolders([`${root}/home/*`, `${root}/home/*/Documents`], { maxFolders: 2 });
  assert.equal(bounded.folders.length, 2);
  assert.equal(bounded.truncated, 3);
});
