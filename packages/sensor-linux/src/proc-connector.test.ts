// The proc connector on the real kernel: every fork/exec/exit of a burst of short processes.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import type { ProcConnector, ProcEvent } from './index.ts';
import { sensorsOrSkip, sh, sleep, waitFor } from './testing/harness.ts';

const { sensors, skip } = sensorsOrSkip();

describe('proc connector', { skip: skip ?? false }, () => {
  // Every connector a test starts is stopped at the end, even when an assertion failed first:
  // a running connector keeps the test process alive.
  const started: ProcConnector[] = [];
  let pc: ProcConnector | undefined;
  after(() => {
    for (const c of started) if (!c.stopped) c.stop();
  });

  it('(f) sees fork, exec and exit of 200 quick /bin/true runs with no loss', async () => {
    const events: ProcEvent[] = [];
    pc = sensors!.startProcConnector({ onEvents: (batch) => events.push(...batch) });
    started.push(pc);
    const r = await sh('i=0; while [ $i -lt 200 ]; do /bin/true; i=$((i+1)); done', { timeoutMs: 60000 });
    assert.equal(r.code, 0);
    const loop = r.pid;
    const children = () =>
      new Set(events.filter((e) => e.kind === 'fork' && e.parentTgid === loop).map((e) => e.tgid));
    const complete = () => {
      const kids = children();
      const execs = events.filter((e) => e.kind === 'exec' && kids.has(e.tgid)).length;
      const exits = events.filter((e) => e.kind === 'exit' && kids.has(e.tgid) && e.pid === e.tgid).length;
      // The loop shell's own exit can arrive a little after its children's events.
      const loopExit = events.some((e) => e.kind === 'exit' && e.tgid === loop);
      return kids.size >= 200 && execs >= 200 && exits >= 200 && loopExit;
    };
    assert.ok(await waitFor(complete, 10000), 'all 200 forks, execs and exits arrived');
    const kids = children();
    assert.equal(kids.size, 200);
    const exits = events.filter((e) => e.kind === 'exit' && kids.has(e.tgid) && e.pid === e.tgid);
    assert.ok(exits.every((e) => e.exitCode === 0));
    assert.ok(
      events.some((e) => e.kind === 'exit' && e.tgid === loop),
      'the loop shell exit',
    );
    const s = pc.stats();
    assert.equal(s.lost, 0, JSON.stringify(s));
    assert.equal(s.overruns, 0);
    assert.equal(s.droppedEvents, 0);
    assert.ok(s.receiveBufferBytes >= 32 * 1024 * 1024, `rcvbuf ${s.receiveBufferBytes}`);
    pc.stop();
    assert.equal(pc.stopped, true);
  });

  it('a slow consumer loses nothing (the reader waits, the socket buffer absorbs) and stop() never hangs', async () => {
    let execs = 0;
    let batches = 0;
    const conn = sensors!.startProcConnector({
      onEvents: (batch) => {
        batches++;
        execs += batch.filter((e) => e.kind === 'exec').length;
        const end = performance.now() + 2; // a slow JS consumer: 2 ms per batch
        while (performance.now() < end);
      },
    });
    pc = conn;
    started.push(conn);
    const loop = 'i=0; while [ $i -lt 300 ]; do /bin/true; i=$((i+1)); done';
    await Promise.all([sh(loop, { timeoutMs: 60000 }), sh(loop, { timeoutMs: 60000 })]);
    assert.ok(await waitFor(() => execs >= 600, 20000), `saw ${execs} execs`);
    const s = conn.stats();
    assert.equal(s.lost + s.overruns + s.droppedEvents, 0, JSON.stringify(s));
    // now stop while a burst may keep the reader waiting for queue space
    const burst = sh(loop, { timeoutMs: 60000 });
    await sleep(50);
    const t0 = performance.now();
    conn.stop();
    const stopMs = performance.now() - t0;
    await burst;
    assert.ok(stopMs < 2000, `stop took ${stopMs.toFixed(0)} ms`);
    assert.ok(batches > 0);
  });

  it('an exec carries /proc as read right after it (image, argv, cwd, ids, the variables asked for); a fork the child\'s start time', async () => {
    const events: ProcEvent[] = [];
    pc = sensors!.startProcConnector({ envNames: ['YAMORI_TEST_VAR'], onEvents: (batch) => events.push(...batch) });
    started.push(pc);
    const r = await sh('cd /tmp && YAMORI_TEST_VAR=hello OTHER_VAR=no exec /bin/sh -c "sleep 0.3" "two words"', { timeoutMs: 10000 });
    assert.equal(r.code, 0);
    await waitFor(() => events.some((e) => e.kind === 'exit' && e.pid === r.pid));
    const exec = events.find((e) => e.kind === 'exec' && e.pid === r.pid && e.snapshot?.cmdline?.endsWith('two words\x00'));
    assert.ok(exec?.snapshot, JSON.stringify(events.filter((e) => e.pid === r.pid)));
    const snap = exec.snapshot;
    assert.equal(snap.cmdline, '/bin/sh\x00-c\x00sleep 0.3\x00two words\x00');
    assert.equal(snap.exe, realpathSync('/bin/sh'));
    assert.equal(snap.cwd, '/tmp');
    assert.equal(snap.environ, 'YAMORI_TEST_VAR=hello\x00');
    assert.equal(snap.name, 'sh');
    assert.equal(snap.uid, 0);
    assert.equal(snap.gid, 0);
    assert.equal(snap.ppid, process.pid);
    const fork = events.find((e) => e.kind === 'fork' && e.pid === r.pid);
    assert.ok(fork?.startTicks !== undefined && fork.startTicks > 0, JSON.stringify(fork));
    assert.equal(snap.startTicks, fork.startTicks, 'the same process: exec and fork agree on its start time');
    pc.stop();
  });

  it('snapshots are read as events arrive even while JavaScript is blocked (the thread holds the batch)', async () => {
    const events: ProcEvent[] = [];
    pc = sensors!.startProcConnector({ onEvents: (batch) => events.push(...batch) });
    started.push(pc);
    // JS is blocked for the whole run: every batch waits, 20 programs start and end meanwhile
    const r = spawnSync('/bin/sh', ['-c', 'i=0; while [ $i -lt 20 ]; do /bin/sleep 0.05; i=$((i+1)); done']);
    assert.equal(r.status, 0);
    assert.ok(await waitFor(() => events.filter((e) => e.kind === 'exit' && e.pid === r.pid).length > 0, 10000));
    const shell = r.pid;
    const kids = new Set(events.filter((e) => e.kind === 'fork' && e.parentTgid === shell).map((e) => e.pid));
    const execs = events.filter((e) => e.kind === 'exec' && kids.has(e.pid));
    assert.equal(execs.length, 20);
    assert.deepEqual(execs.filter((e) => e.snapshot?.exe !== realpathSync('/bin/sleep')).map((e) => JSON.stringify(e)), []);
    pc.stop();
  });

  it('reports uid changes', async () => {
    const events: ProcEvent[] = [];
    pc = sensors!.startProcConnector({ onEvents: (batch) => events.push(...batch) });
    started.push(pc);
    const r = await sh(
      'setpriv --reuid=65534 --regid=65534 --clear-groups /bin/true || su -s /bin/true nobody',
    );
    assert.equal(r.code, 0);
    assert.ok(
      await waitFor(() => events.some((e) => e.kind === 'uid' && e.effective === 65534)),
      'uid event',
    );
    assert.ok(
      events.some((e) => e.kind === 'gid' && e.effective === 65534),
      'gid event',
    );
    pc.stop();
  });
});
