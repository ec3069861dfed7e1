import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLimits } from './limits.ts';

const spec = { memoryBytes: 128 * 1024 * 1024, pids: 32, cpuPercent: 25 };

// Directories stand in for cgroup mounts: what is written where, and the fallbacks.
void test('cgroup v2: job cgroup under yamori-sandbox with cpu.max, memory.max, pids.max; limit events read back', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'yamori-cg2-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  writeFileSync(join(root, 'cgroup.controllers'), 'cpuset cpu io memory hugetlb pids rdma misc\n');
  const l = await createLimits('job-1', spec, [{ path: root, fstype: 'cgroup2', options: ['rw'] }]);
  const dir = join(root, 'yamori-sandbox', 'job-1');
  assert.equal(l.kind, 'cgroup-v2');
  assert.deepEqual(l.procFiles, [join(dir, 'cgroup.procs')]);
  assert.equal(l.note, null);
  assert.equal(readFileSync(join(dir, 'memory.max'), 'utf8'), String(spec.memoryBytes));
  assert.equal(readFileSync(join(dir, 'pids.max'), 'utf8'), '32');
  assert.equal(readFileSync(join(dir, 'cpu.max'), 'utf8'), '25000 100000');
  assert.equal(
    readFileSync(join(root, 'yamori-sandbox', 'cgroup.subtree_control'), 'utf8'),
    '+cpu +memory +pids',
  );
  assert.equal(await l.pidsLimitHit(), false);
  writeFileSync(join(dir, 'pids.events'), 'max 7\n');
  writeFileSync(join(dir, 'memory.events'), 'low 0\nhigh 0\nmax 0\noom 1\noom_kill 1\n');
  assert.equal(await l.pidsLimitHit(), true);
  assert.equal(await l.memoryLimitHit(), true);
});

void test('hybrid host: v2 without controllers → cgroup v1 pids/memory/cpu; nothing writable → rlimits, reported', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'yamori-cg1-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  for (const c of ['unified', 'pids', 'memory', 'cpu']) mkdirSync(join(root, c));
  writeFileSync(join(root, 'unified', 'cgroup.controllers'), 'hugetlb\n');
  const mounts = [
    { path: join(root, 'unified'), fstype: 'cgroup2', options: ['rw'] },
    { path: join(root, 'pids'), fstype: 'cgroup', options: ['rw', 'pids'] },
    { path: join(root, 'memory'), fstype: 'cgroup', options: ['rw', 'memory'] },
    { path: join(root, 'cpu'), fstype: 'cgroup', options: ['rw', 'cpu'] },
  ];
  const l = await createLimits('weird/../id', spec, mounts);
  assert.equal(l.kind, 'cgroup-v1');
  assert.equal(l.procFiles.length, 3);
  assert.ok(
    l.procFiles.every((f) => f.includes('/yamori-sandbox/job-') && !f.includes('..')),
    'job id sanitized',
  );
  const pidsDir = l.procFiles[0]?.replace(/\/cgroup\.procs$/, '') ?? '';
  assert.equal(readFileSync(join(pidsDir, 'pids.max'), 'utf8'), '32');
  assert.deepEqual(l.prlimitArgs, []);

  const none = await createLimits('job-2', spec, []);
  assert.equal(none.kind, 'rlimit');
  assert.deepEqual(none.prlimitArgs, ['--nproc=32', `--as=${spec.memoryBytes}`]);
  assert.match(none.note ?? '', /RLIMIT_NPROC/);
  assert.equal(existsSync(join(root, 'pids', 'yamori-sandbox', 'job-2')), false);
});
