import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseWith, ProcessEvent } from '@yamori/protocol';
import { createProcReader, parseStat } from './proc-reader.ts';
import { createProcessTree, entityId } from './process-tree.ts';

function fakeProc(t: { after: (fn: () => void) => void }) {
  const root = mkdtempSync(join(tmpdir(), 'ymr-proc-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'sys/kernel/random'), { recursive: true });
  writeFileSync(join(root, 'sys/kernel/random/boot_id'), 'boot-1\n');
  writeFileSync(join(root, 'stat'), 'cpu 1 2 3\nbtime 1780000000\n');
  const add = (pid: number, ppid: number, ticks: number, exe: string, argv: string[], env = '') => {
    const d = join(root, String(pid));
    rmSync(d, { recursive: true, force: true });
    mkdirSync(d);
    const rest = ['S', String(ppid), ...Array.from({ length: 17 }, () => '0'), String(ticks), '0'];
    writeFileSync(join(d, 'stat'), `${pid} (${exe.split('/').pop()} (x)) ${rest.join(' ')}\n`);
    writeFileSync(join(d, 'cmdline'), argv.join('\0') + '\0');
    writeFileSync(join(d, 'status'), `Name:\tx\nUid:\t1000\t1000\t1000\t1000\nGid:\t100\t100\t100\t100\n`);
    writeFileSync(join(d, 'environ'), env);
    symlinkSync(exe, join(d, 'exe'));
    symlinkSync('/home/u', join(d, 'cwd'));
  };
  return { root, add, gone: (pid: number) => rmSync(join(root, String(pid)), { recursive: true, force: true }) };
}

void test('parseStat survives a comm with spaces and parentheses', () => {
  const s = parseStat('42 (a b) c)) S 7 ' + Array.from({ length: 17 }, () => '0').join(' ') + ' 12345 0');
  assert.deepEqual(s, { name: 'a b) c)', ppid: 7, startTicks: 12345 });
});

void test('seed, fork, exec, exit: stable entity ids, parent links, ECS events', (t) => {
  const p = fakeProc(t);
  p.add(1, 0, 1, '/sbin/init', ['/sbin/init']);
  p.add(100, 1, 500, '/bin/bash', ['bash', '-l'], 'HOME=/x\0LD_PRELOAD=/tmp/evil.so\0');
  let n = 0;
  const tree = createProcessTree({
    reader: createProcReader({ root: p.root }),
    userName: (uid) => (uid === 1000 ? 'alice' : undefined),
    now: () => Date.parse('2026-06-01T00:00:00Z'),
    newId: () => `event-${++n}`.padEnd(10, '0'),
  });
  assert.equal(tree.seed(), 2);
  const bash = tree.get(100);
  assert.equal(bash?.entityId, entityId('boot-1', 100, 500));
  assert.deepEqual(bash?.env, ['LD_PRELOAD=/tmp/evil.so']);

  // fork: child looks like the parent; no event
  assert.equal(tree.handle({ type: 'fork', pid: 200, ppid: 100, tgid: 200, startTicks: 900 }), undefined);
  // a thread is ignored
  assert.equal(tree.handle({ type: 'fork', pid: 201, ppid: 100, tgid: 200 }), undefined);
  assert.equal(tree.get(201), undefined);
  // exec: read the new image from /proc, keep the identity
  p.add(200, 100, 900, '/usr/bin/curl', ['curl', 'http://x']);
  tree.noteExecHash(200, '/usr/bin/curl', 'c'.repeat(64));
  const start = tree.handle({ type: 'exec', pid: 200 });
  assert.ok(start);
  parseWith(ProcessEvent, start, 'process event');
  assert.equal(start.process.entity_id, entityId('boot-1', 200, 900));
  assert.equal(start.process.executable, '/usr/bin/curl');
  assert.equal(start.process.hash?.sha256, 'c'.repeat(64));
  assert.deepEqual(start.process.args, ['curl', 'http://x']);
  assert.equal(start.process.parent?.entity_id, bash?.entityId);
  assert.equal(start.process.parent?.executable, '/bin/bash');
  assert.deepEqual(start.process.user, { id: '1000', name: 'alice' });
  assert.equal(start.process.start, new Date(1780000000 * 1000 + 9000).toISOString());
  assert.deepEqual(tree.ancestors(200).map((a) => a.pid), [100, 1]);

  // exit
  p.gone(200);
  const end = tree.handle({ type: 'exit', pid: 200, exitCode: 3 });
  assert.equal(end?.event.type[0], 'end');
  assert.equal(end?.process.exit_code, 3);
  assert.equal(tree.get(200), undefined);

  // a fork that never execs ends silently; an exec of a vanished pid keeps its identity and lineage
  // but not the forked parent's image, which would name the wrong program
  tree.handle({ type: 'fork', pid: 300, ppid: 100, startTicks: 950 });
  assert.equal(tree.handle({ type: 'exit', pid: 300 }), undefined);
  tree.handle({ type: 'fork', pid: 301, ppid: 100, startTicks: 960 });
  const vanished = tree.handle({ type: 'exec', pid: 301 });
  assert.equal(vanished?.process.entity_id, entityId('boot-1', 301, 960));
  assert.equal(vanished?.process.executable, undefined);
  assert.equal(vanished?.process.parent?.executable, '/bin/bash');
  assert.equal(tree.handle({ type: 'exec', pid: 99999 }), undefined);
});

void test('the real /proc: this process is readable', () => {
  const r = createProcReader();
  const me = r.read(process.pid);
  assert.ok(me);
  assert.equal(me.exe, process.execPath);
  assert.equal(r.startTicks(process.pid), me.startTicks);
  assert.ok(r.bootId().length > 8);
  assert.equal(r.read(2 ** 22 + 7), undefined);
});

void test('a process gone before its exec event is recorded from the exec gate capture: new argv, hash, user, lineage', (t) => {
  const p = fakeProc(t);
  p.add(1, 0, 1, '/sbin/init', ['/sbin/init']);
  p.add(100, 1, 500, '/bin/sh', ['sh', '-c', 'loop']);
  const tree = createProcessTree({ reader: createProcReader({ root: p.root }), now: () => Date.parse('2026-06-01T00:00:00Z'), newId: () => 'event-1234' });
  tree.seed();
  tree.handle({ type: 'fork', pid: 300, ppid: 100, tgid: 300, startTicks: 950 });
  // the gate held the exec and read it; the process has exited by the time the exec event is handled
  tree.noteExec(300, { path: '/opt/x/prog', sha256: 'd'.repeat(64), ppid: 100, uid: 1000, gid: 100, argv: ['/opt/x/prog', 'arg 1'], cwd: '/srv', env: ['LD_PRELOAD=/tmp/x.so'] });
  const start = tree.handle({ type: 'exec', pid: 300 });
  assert.ok(start);
  parseWith(ProcessEvent, start, 'process event');
  assert.equal(start.process.executable, '/opt/x/prog');
  assert.deepEqual(start.process.args, ['/opt/x/prog', 'arg 1']);
  assert.equal(start.process.hash?.sha256, 'd'.repeat(64));
  assert.equal(start.process.working_directory, '/srv');
  assert.deepEqual(start.process.env_vars, ['LD_PRELOAD=/tmp/x.so'], 'the env the new image got, for the LD_PRELOAD rules');
  assert.equal(start.process.user?.id, '1000');
  assert.equal(start.process.entity_id, entityId('boot-1', 300, 950));
  assert.equal(start.process.parent?.executable, '/bin/sh');
  assert.ok(tree.handle({ type: 'exit', pid: 300, exitCode: 0 }), 'its end is reported too');
});

void test('an exec with the connector\'s snapshot is recorded from it without reading /proc; a null snapshot (gone) keeps identity and lineage, no image', (t) => {
  const p = fakeProc(t);
  p.add(100, 1, 500, '/bin/bash', ['bash']);
  const tree = createProcessTree({ reader: createProcReader({ root: p.root }), now: () => 0, newId: () => 'e'.repeat(10) });
  tree.seed();
  tree.handle({ type: 'fork', pid: 300, ppid: 100, tgid: 300, startTicks: 700 });
  // nothing for pid 300 under the fake /proc: only the snapshot can name the new image
  const start = tree.handle({
    type: 'exec',
    pid: 300,
    snapshot: { pid: 300, ppid: 100, startTicks: 700, name: 'curl', exe: '/usr/bin/curl', argv: ['curl', '-s', 'http://x'], cwd: '/srv', uid: 33, gid: 33, env: ['LD_PRELOAD=/x.so'] },
  });
  assert.equal(start?.process.executable, '/usr/bin/curl');
  assert.deepEqual(start?.process.args, ['curl', '-s', 'http://x']);
  assert.equal(start?.process.working_directory, '/srv');
  assert.equal(start?.process.entity_id, entityId('boot-1', 300, 700), 'the identity the fork gave it');
  assert.equal(start?.process.parent?.executable, '/bin/bash');
  assert.deepEqual(tree.get(300)?.env, ['LD_PRELOAD=/x.so']);
  tree.attachHash(300, '/usr/bin/wget', 'e'.repeat(64)); // not its image: ignored
  tree.attachHash(300, '/usr/bin/curl', 'd'.repeat(64));
  assert.equal(tree.toEcs(300)?.hash?.sha256, 'd'.repeat(64));

  // gone before the connector's thread could read it, and no exec-gate capture: a start with its
  // identity and parent, and no image (the forked bash image would name the wrong program)
  tree.handle({ type: 'fork', pid: 301, ppid: 100, tgid: 301, startTicks: 710 });
  p.add(301, 100, 710, '/usr/bin/stale', ['stale']); // /proc must not be consulted for it
  const gone = tree.handle({ type: 'exec', pid: 301, snapshot: null });
  assert.equal(gone?.process.executable, undefined);
  assert.equal(gone?.process.name, undefined);
  assert.deepEqual(gone?.process.args, []);
  assert.equal(gone?.process.entity_id, entityId('boot-1', 301, 710));
  assert.equal(gone?.process.parent?.executable, '/bin/bash');
  parseWith(ProcessEvent, gone, 'process event');
});
