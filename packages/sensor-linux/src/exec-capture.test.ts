import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashFd } from './exec-capture.ts';

void test('hashFd gives the file\'s sha256 on every path (sync, one read on the thread pool, streamed), and leaves the fd offset alone', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ymr-hashfd-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const size of [0, 1, 4 << 20, (4 << 20) + 1, 16 << 20, (16 << 20) + 3]) {
    const bytes = randomBytes(size);
    const path = join(dir, `f-${size}`);
    writeFileSync(path, bytes);
    const want = createHash('sha256').update(bytes).digest('hex');
    const fd = openSync(path, 'r');
    try {
      for (const options of [{ size }, { size, background: true }, {}, { background: true }]) {
        assert.equal(await hashFd(fd, options), want, `${size} bytes, ${JSON.stringify(options)}`);
      }
      const head = Buffer.alloc(1);
      assert.equal(readSync(fd, head, 0, 1, null), Math.min(1, size), 'offset still at 0');
    } finally {
      closeSync(fd);
    }
  }
});
