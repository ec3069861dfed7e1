// Pre-analysis at close-write on the real kernel (root): the exec gate adapter with its
// close-write watch, marks only on a private tmpfs mounted here; after() stops the gate (and
// with it the watch) and unmounts, even when a test fails.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadLinuxSensors } from '@yamori/sensor-linux';
import { createLinuxSensors, type ExecGateAdapter } from './linux-sensors.ts';
import type { ExecRequest } from './sensors.ts';

const isRoot = process.getuid?.() === 0;
const sh = (script: string): Promise<void> =>
  new Promise((resolve, reject) => {
    execFile('/bin/sh', ['-c', script], { timeout: 15_000 }, (err) => (err ? reject(new Error(`${script}: ${err.message}`)) : resolve()));
  });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function waitFor(cond: () => boolean, ms = 5000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(10)) if (cond()) return true;
  return cond();
}
const sha256Of = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

describe('exec gate adapter: files hashed and prepared when written (close-write watch)', { skip: isRoot ? false : 'needs root (fanotify)' }, () => {
  let dir: string;
  let gate: ExecGateAdapter;
  let wanted = true;
  const decided: ExecRequest[] = [];
  const prepared: Array<{ path: string; sha256: string }> = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'yamori-prepare-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64m,mode=0755', 'yamori-prepare-test', dir]);
    const set = createLinuxSensors({
      load: loadLinuxSensors,
      gateMounts: [dir],
      markMode: 'mount',
      allowChildren: false, // our `sh -c` helpers must ask like anyone else
      prepareMaxBytes: 4 * 1024 * 1024,
    });
    gate = set.sensors.execGate as ExecGateAdapter;
    await gate.start(
      async (req) => {
        decided.push(req);
        return { allow: true, cache: false };
      },
      {
        wanted: () => wanted,
        prepare: async (f) => {
          prepared.push({ path: f.path, sha256: f.sha256 });
        },
      },
    );
  });
  after(async () => {
    await gate?.stop();
    try {
      execFileSync('umount', ['-l', dir]);
    } catch {
      // not mounted
    }
    rmSync(dir, { recursive: true, force: true });
  });

  const stats = () => gate.stats()!;
  /**
   * Every candidate the watch reported is dealt with (hashed, known, skipped …). The kernel merges
   * events of one file that were not read yet, so how many arrive varies: give the thread a moment.
   */
  const settled = async () => {
    await sleep(100);
    return waitFor(() => {
      const p = stats().prepare;
      return p !== undefined && p.queued === 0 && p.running === 0;
    });
  };
  const run = async (path: string) => {
    const before = decided.length;
    await sh(`exec ${path}`);
    assert.equal(decided.length, before + 1, 'the exec was decided by the agent');
    return decided.at(-1)!;
  };

  it('a file written, made executable and run is hashed once, when written; the exec uses that hash', async () => {
    const path = join(dir, 'downloaded');
    // like `curl -o x; chmod +x x`: the chmod changes the ctime the gate keys on, and is heard too
    await sh(`cat /bin/true > ${path} && echo unique-1 >> ${path} && chmod +x ${path}`);
    assert.ok(await settled(), JSON.stringify(stats().prepare));
    const expected = sha256Of(path);
    assert.ok(prepared.some((p) => p.path === path && p.sha256 === expected), 'the agent prepared the content');
    const h0 = { ...stats().hashes };
    const req = await run(path);
    assert.equal(req.sha256, expected);
    const h1 = stats().hashes;
    assert.equal(h1.atExec - h0.atExec, 0, 'not hashed again at the exec');
    assert.equal(h1.preHashed - h0.preHashed, 1, 'the pre-hash was used');
  });

  it('a file modified after its pre-hash is hashed again at its exec (the key differs); nothing is pre-hashed while deep work is shed', async () => {
    const path = join(dir, 'changed');
    await sh(`cat /bin/true > ${path} && echo unique-2 >> ${path} && chmod +x ${path}`);
    assert.ok(await settled());
    const p0 = stats().prepare!;
    wanted = false;
    try {
      await sh(`echo more >> ${path}`);
      assert.ok(await waitFor(() => stats().prepare!.skipped > p0.skipped), JSON.stringify(stats().prepare));
      const h0 = { ...stats().hashes };
      const req = await run(path);
      assert.equal(req.sha256, sha256Of(path), 'the new content');
      assert.equal(stats().hashes.atExec - h0.atExec, 1, 'hashed at the exec');
      assert.equal(stats().prepare!.hashed, p0.hashed, 'nothing hashed while shedding');
    } finally {
      wanted = true;
    }
  });

  it('a file over the size limit is not pre-hashed: its exec hashes it', async () => {
    const path = join(dir, 'huge');
    const p0 = stats().prepare!;
    await sh(`{ cat /bin/true; head -c 5000000 /dev/zero; } > ${path} && chmod +x ${path}`); // never small: one write
    assert.ok(await waitFor(() => stats().prepare!.watch.tooLarge >= p0.watch.tooLarge + 2), JSON.stringify(stats().prepare));
    await sleep(50);
    assert.equal(stats().prepare!.hashed, p0.hashed);
    const h0 = { ...stats().hashes };
    const req = await run(path);
    assert.equal(req.sha256, sha256Of(path));
    assert.equal(stats().hashes.atExec - h0.atExec, 1);
    assert.equal(stats().hashes.preHashed - h0.preHashed, 0);
  });
});
