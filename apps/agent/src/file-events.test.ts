import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { AnyEvent, defaultPolicy, parseWith, type FileEvent, type Policy } from '@yamori/protocol';
import {
  createFakeSensors,
  FanMask,
  loadLinuxSensors,
  type FileEvent as RawFileEvent,
} from '@yamori/sensor-linux';
import { createFileEventSource, dirScope, splitPath, staticPrefix } from './file-events.ts';

const isRoot = process.getuid?.() === 0;
const loaded = loadLinuxSensors();
const realSkip = !isRoot
  ? 'needs root (fanotify)'
  : !loaded.available && process.env['YAMORI_SENSOR_OPTIONAL'] === '1'
    ? loaded.reason
    : false;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function waitFor(cond: () => boolean): Promise<boolean> {
  const end = Date.now() + 10_000; // a bound on a hung test, not a timing assertion
  while (Date.now() < end) {
    if (cond()) return true;
    await sleep(10);
  }
  return cond();
}

/** Runs a shell command in a child; resolves with its pid once it exited 0. */
function sh(script: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', script], { stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve(child.pid ?? -1) : reject(new Error(`${script}: exit ${code}`)),
    );
  });
}

const policyWatching = (paths: string[]): Policy => {
  const p = defaultPolicy();
  p.telemetry.watchedPaths = paths;
  return p;
};

void describe('file events on the real kernel', { skip: realSkip }, () => {
  if (!loaded.available) throw new Error(`sensor addon unavailable: ${loaded.reason}`);
  const sensors = loaded.sensors;

  void it('writes, creations, renames and deletions under the watched globs, with the writer; nothing outside', async () => {
    const root = mkdtempSync(join(tmpdir(), 'yamori-file-events-'));
    for (const d of ['watched', 'conf', 'outside']) mkdirSync(join(root, d));
    writeFileSync(join(root, 'watched/existing.txt'), 'first\n');
    const events: FileEvent[] = [];
    // a window far longer than the test: which events merge does not depend on the machine's speed
    const source = createFileEventSource({
      sensors,
      watchedPaths: [`${root}/watched/**`, `${root}/conf/*.conf`],
      coalesceMs: 600_000,
    });
    await source.start((e) => events.push(e));
    const at = (path: string, type?: string) =>
      events.filter(
        (e) =>
          e.file.path === join(root, path) && (type === undefined || e.event.type.includes(type as 'change')),
      );
    try {
      assert.equal(source.state().state, 'active', source.state().reason);
      const writer = await sh(`echo more >> ${root}/watched/existing.txt`);
      await sh(`echo x > ${root}/conf/notes.txt; echo y > ${root}/outside/f.txt`);
      await sh(`echo done > ${root}/conf/zz.conf`); // queued after everything above
      assert.ok(await waitFor(() => at('conf/zz.conf', 'creation').length > 0), JSON.stringify(events));
      const change = at('watched/existing.txt', 'change');
      assert.equal(change.length, 1, 'MODIFY and CLOSE_WRITE of one write are one change');
      assert.equal(change[0]?.process?.pid, writer, "the writer's pid");
      assert.deepEqual(
        {
          name: change[0]?.file.name,
          directory: change[0]?.file.directory,
          extension: change[0]?.file.extension,
        },
        { name: 'existing.txt', directory: join(root, 'watched'), extension: 'txt' },
      );
      assert.equal(at('conf/notes.txt').length, 0, 'a marked directory, but the glob wants *.conf');
      assert.equal(at('outside/f.txt').length, 0);

      // a directory made after start is followed; renames pair up; deletions
      await sh(`mkdir ${root}/watched/sub`);
      assert.ok(await waitFor(() => at('watched/sub', 'creation').length > 0));
      assert.equal(at('watched/sub')[0]?.file.type, 'dir');
      const creator = await sh(`echo new > ${root}/watched/sub/new.txt`);
      await sh(
        `mv ${root}/watched/sub/new.txt ${root}/watched/sub/renamed.txt && rm ${root}/watched/existing.txt`,
      );
      assert.ok(
        await waitFor(() => at('watched/existing.txt', 'deletion').length > 0),
        JSON.stringify(events),
      );
      const created = at('watched/sub/new.txt', 'creation');
      assert.equal(created.length, 1);
      assert.equal(created[0]?.process?.pid, creator);
      assert.equal(
        at('watched/sub/new.txt', 'change').length,
        0,
        'the write right after the creation is part of it',
      );
      const renamed = at('watched/sub/renamed.txt', 'rename');
      assert.equal(renamed.length, 1, JSON.stringify(events.filter((e) => e.event.type.includes('rename'))));
      assert.equal(renamed[0]?.file.Ext?.original.path, join(root, 'watched/sub/new.txt'));

      // a tree made faster than the agent can mark it: what landed before the marks is listed
      await sh(`mkdir -p ${root}/watched/a/b && echo q > ${root}/watched/a/b/deep.txt`);
      assert.ok(
        await waitFor(() => at('watched/a/b/deep.txt', 'creation').length > 0),
        JSON.stringify(events),
      );
      await sh(`echo r > ${root}/watched/a/b/later.txt`);
      assert.ok(
        await waitFor(() => at('watched/a/b/later.txt', 'creation').length > 0),
        'the new directories are marked',
      );

      // a new policy moves the marks
      source.applyPolicy?.(policyWatching([`${root}/outside/**`]));
      const before = events.length;
      await sh(`echo z > ${root}/watched/sub/renamed.txt; echo g > ${root}/outside/g.txt`);
      assert.ok(await waitFor(() => at('outside/g.txt', 'creation').length > 0));
      assert.equal(
        events.slice(before).filter((e) => e.file.path.includes('/watched/')).length,
        0,
        'the old globs are unwatched',
      );
      for (const e of events) parseWith(AnyEvent, e, 'file event');
      assert.equal(source.stats().overflows, 0);
    } finally {
      await source.stop();
      rmSync(root, { recursive: true, force: true });
    }
    assert.equal(source.state().state, 'off');
  });
});

// ---------- logic on the fake sensors ----------

void it('glob planning: which directories to mark, and how', () => {
  const globs = ['/etc/**', '/home/*/.ssh/**', '/var/spool/cron/**', '/opt/app/*.conf'];
  assert.equal(dirScope('/etc', globs), 'children');
  assert.equal(dirScope('/etc/ssh/sshd_config.d', globs), 'children');
  assert.equal(dirScope('/home', globs), 'below');
  assert.equal(dirScope('/home/alice', globs), 'below');
  assert.equal(dirScope('/home/alice/.ssh', globs), 'children');
  assert.equal(dirScope('/home/alice/.cache', globs), undefined);
  assert.equal(dirScope('/var', globs), 'below');
  assert.equal(dirScope('/var/log', globs), undefined);
  assert.equal(dirScope('/opt/app', globs), 'children');
  assert.equal(dirScope('/opt/app/sub', globs), undefined, 'a single * stays within its segment');
  assert.equal(staticPrefix('/home/*/.ssh/**'), '/home');
  assert.equal(staticPrefix('/etc/passwd'), '/etc/passwd');
  assert.deepEqual(splitPath('/etc/ssh/sshd_config'), { name: 'sshd_config', directory: '/etc/ssh' });
  assert.deepEqual(splitPath('/root/.bashrc'), { name: '.bashrc', directory: '/root' });
  assert.deepEqual(splitPath('/x/a.tar.gz'), { name: 'a.tar.gz', directory: '/x', extension: 'gz' });
});

void it('bursts coalesce per file and process; renames pair; own writes and out-of-scope paths are dropped', async () => {
  const fake = createFakeSensors();
  let t = 0;
  const events: FileEvent[] = [];
  const dir = '/yamori-test-missing';
  const source = createFileEventSource({
    sensors: fake,
    watchedPaths: [`${dir}/**`],
    now: () => t,
    selfPid: 99,
    describeProcess: (pid) => ({ pid, name: 'writer', executable: '/usr/bin/writer' }),
  });
  await source.start((e) => events.push(e));
  const ev = (mask: number, name: string, pid = 7, d = dir): RawFileEvent => ({
    kind: 'file',
    mask,
    pid,
    pidfd: -1,
    dir: d,
    name,
    path: `${d}/${name}`,
  });
  fake.emitFile(Array.from({ length: 50 }, () => ev(FanMask.MODIFY, 'a.conf')));
  fake.emitFile([ev(FanMask.CLOSE_WRITE, 'a.conf')]);
  assert.equal(events.length, 1, 'one change for a burst');
  assert.deepEqual(events[0]?.event.type, ['change']);
  assert.deepEqual(events[0]?.process, { pid: 7, name: 'writer', executable: '/usr/bin/writer' });
  fake.emitFile([ev(FanMask.MODIFY, 'a.conf', 8)]);
  assert.equal(events.length, 2, 'another process is another event');
  t = 1500;
  fake.emitFile([ev(FanMask.MODIFY, 'a.conf')]);
  assert.equal(events.length, 3, 'the next window is another event');
  fake.emitFile([ev(FanMask.CREATE, 'b.conf'), ev(FanMask.MODIFY | FanMask.CLOSE_WRITE, 'b.conf')]);
  assert.deepEqual(
    events.slice(3).map((e) => e.event.type[0]),
    ['creation'],
  );
  fake.emitFile([
    ev(FanMask.MOVED_FROM, 'b.conf'),
    ev(FanMask.MOVED_TO, 'b.conf.bak'),
    ev(FanMask.DELETE, 'b.conf.bak'),
  ]);
  const [rename, deletion] = events.slice(4);
  assert.deepEqual(rename?.event.type, ['rename']);
  assert.equal(rename?.file.path, `${dir}/b.conf.bak`);
  assert.equal(rename?.file.Ext?.original.path, `${dir}/b.conf`);
  assert.deepEqual(deletion?.event.type, ['deletion']);
  const n = events.length;
  fake.emitFile([ev(FanMask.MODIFY, 'c.conf', 99), ev(FanMask.MODIFY, 'x', 7, '/elsewhere')]);
  assert.equal(events.length, n, "the agent's own writes and paths outside the globs are not reported");
  for (const e of events) parseWith(AnyEvent, e);
  assert.equal(source.state().state, 'active');
  fake.emitFile([], true);
  assert.equal(source.state().state, 'degraded');
  assert.match(source.state().reason ?? '', /1 queue overflows/);
  await source.stop();
  assert.equal(source.state().state, 'off');
});

void it('a policy without watched paths leaves the source off, and says so', async () => {
  const fake = createFakeSensors();
  const source = createFileEventSource({ sensors: fake, watchedPaths: [] });
  await source.start(() => undefined);
  assert.equal(source.state().state, 'off');
  assert.match(source.state().reason ?? '', /watches no paths/);
  source.applyPolicy?.(policyWatching(['relative/**', '/yamori-test-missing/**']));
  assert.equal(source.state().state, 'degraded');
  assert.match(source.state().reason ?? '', /ignored non-absolute globs: relative/);
  await source.stop();
});
