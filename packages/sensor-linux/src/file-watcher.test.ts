// File events with the writer's pid, and decoys guarded by open permission.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { FanMask, type FileEvent, type FileWatcher } from './index.ts';
import { mountScratch, sensorsOrSkip, sh, waitFor, type Scratch } from './testing/harness.ts';

const { sensors, skip } = sensorsOrSkip();

describe('file watcher', { skip: skip ?? false }, () => {
  let scratch: Scratch;
  const watchers: FileWatcher[] = [];
  before(() => {
    scratch = mountScratch();
  });
  after(() => {
    for (const w of watchers) w.stop();
    scratch?.cleanup();
  });

  it('(g) reports a write with the writer pid, plus create, rename and delete', async () => {
    const events: FileEvent[] = [];
    const pidfdsSeen: number[] = [];
    const w = sensors!.startFileWatcher({
      onEvents: (batch) => {
        events.push(...batch);
        pidfdsSeen.push(...batch.map((e) => e.pidfd));
      },
    });
    watchers.push(w);
    w.watch(scratch.dir);
    // The shell stays alive until the events are read: the kernel makes a pidfd only for a
    // process that still exists when the watcher reads the event (on a busy machine, later).
    let shellPid = -1;
    const running = sh(
      `echo hello > ${scratch.dir}/doc.txt && mv ${scratch.dir}/doc.txt ${scratch.dir}/doc.locked && rm ${scratch.dir}/doc.locked && exec sleep 30`,
      { timeoutMs: 60000, onSpawn: (pid) => (shellPid = pid) },
    );
    const path = `${scratch.dir}/doc.txt`;
    assert.ok(
      await waitFor(() =>
        events.some((e) => e.path === `${scratch.dir}/doc.locked` && e.mask & FanMask.DELETE),
      ),
    );
    process.kill(shellPid, 'SIGKILL');
    await running;
    const r = { pid: shellPid };
    const write = events.find((e) => e.path === path && e.mask & FanMask.CLOSE_WRITE);
    assert.ok(write, JSON.stringify(events));
    assert.equal(write.pid, r.pid, 'the shell that redirected into the file is the writer');
    assert.ok(events.some((e) => e.path === path && e.mask & FanMask.CREATE));
    assert.ok(events.some((e) => e.path === path && e.mask & FanMask.MODIFY));
    assert.ok(events.some((e) => e.path === path && e.mask & FanMask.MOVED_FROM));
    assert.ok(events.some((e) => e.path === `${scratch.dir}/doc.locked` && e.mask & FanMask.MOVED_TO));
    assert.ok(
      pidfdsSeen.some((fd) => fd >= 0),
      'FAN_REPORT_PIDFD delivered pidfds',
    );
    assert.equal(w.stats().overflows, 0);
    w.stop();
  });

  it('decoys: an open for writing by another process is denied and reported; reads pass', async () => {
    const events: FileEvent[] = [];
    const w = sensors!.startFileWatcher({ onEvents: (batch) => events.push(...batch) });
    watchers.push(w);
    const decoy = `${scratch.dir}/!aaa-decoy.docx`;
    writeFileSync(decoy, 'PK decoy content');
    w.addDecoy(decoy);
    const write = await sh(`echo encrypted > '${decoy}'`);
    assert.notEqual(write.code, 0, 'the write was refused');
    assert.equal(readFileSync(decoy, 'utf8'), 'PK decoy content', 'own process reads (self is excluded)');
    const read = await sh(`cat '${decoy}'`);
    assert.equal(read.code, 0);
    assert.equal(read.stdout, 'PK decoy content');
    assert.ok(await waitFor(() => events.filter((e) => e.kind === 'decoy').length >= 2));
    const denied = events.find((e) => e.kind === 'decoy' && e.denied);
    assert.ok(denied);
    assert.equal(denied.pid, write.pid);
    assert.equal(denied.path, decoy);
    const allowed = events.find((e) => e.kind === 'decoy' && !e.denied);
    assert.ok(allowed && allowed.pid !== write.pid);
    const excludedWriter = await sh(`sleep 0.2; echo ok > '${decoy}'`, {
      onSpawn: (pid) => w.excludeDecoyPid(pid),
    });
    assert.equal(excludedWriter.code, 0, 'an excluded pid may write');
    assert.equal(w.stats().decoyDenied, 1);
    w.stop();
  });

  it('decoys with freezeDeniedWriters: the denied writer is stopped before its open returns, until told', async () => {
    const states: string[] = [];
    let resumed = false;
    const w = sensors!.startFileWatcher({
      freezeDeniedWriters: true,
      onEvents: (batch) => {
        for (const e of batch) {
          if (e.kind !== 'decoy' || !e.denied) continue;
          assert.equal(e.frozen, true);
          // SIGSTOP went in before the denial was answered; the writer takes it on its way back
          // from open(), so it may still show R for a moment. It must reach T and stay there
          // (it would otherwise print "after") until we resume it.
          const pidfd = sensors!.pidfdOpen(e.pid);
          const state = (): string => readFileSync(`/proc/${e.pid}/stat`, 'utf8').split(') ')[1]?.[0] ?? '?';
          void waitFor(() => state() === 'T', 2000).then(async (stopped) => {
            states.push(state());
            if (stopped) await new Promise((r) => setTimeout(r, 100));
            states.push(state());
            resumed = true;
            sensors!.killPidfd(pidfd, 'SIGCONT');
          });
        }
      },
    });
    watchers.push(w);
    const decoy = `${scratch.dir}/!frozen-decoy.pdf`;
    writeFileSync(decoy, '%PDF-1.4 decoy');
    w.addDecoy(decoy);
    const r = await sh(`echo encrypted > '${decoy}' 2>/dev/null; echo after`);
    assert.ok(resumed, 'the writer went on only after it was resumed');
    assert.deepEqual(states, ['T', 'T'], 'stopped (T) after its denied open, and still stopped 100 ms later');
    assert.equal(r.stdout, 'after\n', 'resumed with SIGCONT, it carries on (its write was denied)');
    assert.equal(readFileSync(decoy, 'utf8'), '%PDF-1.4 decoy');
    assert.equal(w.stats().decoyFrozen, 1);
    w.stop();
  });
});
