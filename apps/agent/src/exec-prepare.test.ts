import assert from 'node:assert/strict';
import { appendFileSync, fstatSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { WrittenFile } from '@yamori/sensor-linux';
import { createPreHasher, type PreHasherDeps } from './exec-prepare.ts';

const dir = mkdtempSync(join(tmpdir(), 'yamori-prehash-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
/** A real file and fd, described as the close-write watch would. */
function written(content = `#!/bin/sh\n# ${n}\n`): WrittenFile {
  const path = join(dir, `f${n++}`);
  writeFileSync(path, content, { mode: 0o755 });
  const fd = openSync(path, 'r');
  const st = fstatSync(fd, { bigint: true });
  return { fd, pid: 1, path, dev: Number(st.dev), ino: Number(st.ino), size: Number(st.size), mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs };
}
const key = (f: WrittenFile) => `${f.dev}:${f.ino}:${f.size}:${f.mtimeNs}:${f.ctimeNs}`;
const isClosed = (fd: number) => {
  try {
    fstatSync(fd);
    return false;
  } catch {
    return true;
  }
};

function setup(over: Partial<PreHasherDeps> = {}) {
  const map = new Map<string, string>();
  const gates: Array<{ fd: number; release: (sha: string) => void }> = [];
  const prepared: string[] = [];
  const hasher = createPreHasher({
    key,
    known: (k) => map.has(k),
    remember: (f, sha) => map.set(key(f), sha),
    wanted: () => true,
    prepare: async (f) => {
      prepared.push(f.path);
    },
    // hashing waits until the test releases it
    hash: (fd) => new Promise((resolve) => gates.push({ fd, release: resolve })),
    ...over,
  });
  const settle = () => new Promise((r) => setImmediate(r));
  return { hasher, map, gates, prepared, settle };
}

void test('one file at a time; an exec of a file under way (or still queued) shares its hash; fds are closed when done', async () => {
  const { hasher, map, gates, prepared, settle } = setup();
  const a = written();
  const b = written();
  hasher.offer([a, b]);
  assert.equal(gates.length, 1, 'concurrency 1');
  assert.deepEqual({ ...hasher.stats(), candidates: 2 }, { ...hasher.stats(), queued: 1, running: 1 });
  const pa = hasher.pending(key(a));
  assert.equal(pa, hasher.pending(key(a)), 'the same promise');
  const pb = hasher.pending(key(b)); // queued: starts at once for the exec
  assert.equal(gates.length, 2);
  gates[0]?.release('aa');
  gates[1]?.release('bb');
  assert.equal(await pa, 'aa');
  assert.equal(await pb, 'bb');
  await settle();
  await settle();
  assert.equal(map.get(key(a)), 'aa');
  assert.deepEqual(prepared.sort(), [a.path, b.path].sort());
  assert.ok(isClosed(a.fd) && isClosed(b.fd));
  assert.equal(hasher.pending(key(a)), undefined, 'done: the map has it');
  hasher.offer([{ ...a, fd: openSync(a.path, 'r') }]);
  assert.equal(hasher.stats().known, 1);
});

void test('a file changed while hashed is thrown away; a newer version supersedes a queued one; a full queue drops', async () => {
  const { hasher, map, gates, settle } = setup({ maxQueue: 1 });
  const busy = written();
  const a = written();
  hasher.offer([busy, a]);
  const a2 = { ...a, fd: openSync(a.path, 'r'), ctimeNs: a.ctimeNs + 1n };
  hasher.offer([a2]);
  assert.equal(hasher.stats().superseded, 1);
  assert.ok(isClosed(a.fd));
  hasher.offer([written()]);
  assert.equal(hasher.stats().dropped, 1);
  appendFileSync(busy.path, 'changed\n');
  gates[0]?.release('old');
  assert.equal(await hasher.pending(key(busy)), undefined, 'changed while hashed: discarded');
  assert.equal(map.has(key(busy)), false);
  await settle();
  await settle();
  assert.equal(hasher.stats().discarded, 2, 'a2 does not match the file (its ctime was made up)');
  assert.equal(gates.length, 1, 'a file already changed when its turn comes is not even read');
  hasher.stop();
});

void test('nothing is hashed while the agent sheds deep work; stop closes what waits', () => {
  let wanted = false;
  const { hasher, gates } = setup({ wanted: () => wanted });
  const a = written();
  hasher.offer([a]);
  assert.equal(hasher.stats().skipped, 1);
  assert.ok(isClosed(a.fd));
  wanted = true;
  const b = written();
  const c = written();
  hasher.offer([b, c]);
  hasher.stop();
  assert.ok(isClosed(c.fd), 'queued: closed at stop');
  assert.equal(gates.length, 1);
});
