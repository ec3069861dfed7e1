import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcessByStdio } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { DBusCallError, withBus } from './dbus.ts';
import { createDesktopNotifier, notificationBody } from './desktop.ts';
import { createPopupNotifier } from './notifier.ts';

// A private session bus owned by an unprivileged user (nobody), as /run/user/UID/bus is owned by
// its user, with a notification server on it built on the same D-Bus library.
const NOBODY = 65534;
const isRoot = process.getuid?.() === 0;
let skip: string | false = isRoot ? false : 'needs root (the notifier drops to the user like the agent does)';
const dirs: string[] = [];
const children: ChildProcessByStdio<Writable, Readable, Readable>[] = [];

const hasDbusDaemon = () => {
  try {
    execFileSync('dbus-daemon', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

before(() => {
  if (skip || hasDbusDaemon()) return;
  try {
    execFileSync('bash', ['scripts/apt-ensure.sh', 'dbus-daemon'], { cwd: new URL('../../../..', import.meta.url), stdio: 'inherit' });
  } catch (e) {
    // In CI the bus must install: a skip there would hide a broken notifier.
    if (process.env['CI']) throw e;
    skip = `dbus-daemon unavailable: ${(e as Error).message}`;
  }
});

after(() => {
  for (const c of children) c.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Lines of a child's stdout, one at a time. */
function lines(child: ChildProcessByStdio<Writable, Readable, Readable>): () => Promise<string> {
  const it = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  return async () => {
    const r = await it.next();
    if (r.done) throw new Error('child closed its output');
    return r.value;
  };
}

function userRuntimeDir(): string {
  const dir = mkdtempSync('/tmp/yamori-run-user-');
  dirs.push(dir);
  chownSync(dir, NOBODY, NOBODY);
  chmodSync(dir, 0o700);
  return dir;
}

async function startBus(dir: string): Promise<string> {
  const daemon = spawn('dbus-daemon', ['--session', `--address=unix:path=${dir}/bus`, '--nofork', '--print-address=1'], {
    uid: NOBODY,
    gid: NOBODY,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.push(daemon);
  const address = await lines(daemon)();
  assert.match(address, /^unix:path=/);
  return `unix:path=${dir}/bus`;
}

async function startListener(address: string) {
  const script = fileURLToPath(new URL('../test-support/notifications-listener.ts', import.meta.url));
  const listener = spawn(process.execPath, [script, String(NOBODY), String(NOBODY), address], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(listener);
  const next = lines(listener);
  assert.equal(await next(), 'ready');
  return async () => JSON.parse(await next()) as { summary: string; body: string; appName: string; hints: Record<string, unknown>; id: number };
}

const text = { title: 'Yamori blocked a program', body: 'A program was stopped.\nContact your IT help desk.' };

void test('the session bus refuses root: the reason the notifier drops to the user', { skip }, async () => {
  const dir = userRuntimeDir();
  const address = await startBus(dir);
  await assert.rejects(
    withBus(address, 5000, (call) => call({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'GetId' })),
    (e: unknown) => e instanceof DBusCallError,
  );
});

void test('Notify reaches the notification server on the user\'s session bus with the policy text', { skip }, async () => {
  const dir = userRuntimeDir();
  const address = await startBus(dir);
  const nextNotification = await startListener(address);
  const desktop = createDesktopNotifier({ runtimeDir: () => dir });
  const program = '/tmp/evil<b>\x1b]0;owned\x07.sh';
  const r = await desktop.notify(NOBODY, text, program);
  assert.equal(r.result, 'sent', r.detail);
  const n = await nextNotification();
  assert.equal(n.appName, 'Yamori');
  assert.equal(n.summary, text.title);
  assert.equal(n.body, notificationBody(text.body, program));
  assert.ok(n.body.startsWith('A program was stopped.\nContact your IT help desk.'));
  assert.ok(n.body.includes('/tmp/evil&lt;b&gt;\\x1b]0;owned\\x07.sh'), n.body);
  assert.ok(!n.body.includes('\x1b'));
  assert.equal(n.hints['urgency'], 2);
});

void test('no notification server on the bus: no_service, so the popup falls back to terminals', { skip }, async () => {
  const dir = userRuntimeDir();
  await startBus(dir);
  const desktop = createDesktopNotifier({ runtimeDir: () => dir });
  const r = await desktop.notify(NOBODY, text, '/bin/x');
  assert.equal(r.result, 'no_service', r.detail);
  // a runtime directory that is not the user's is never used
  assert.equal((await desktop.notify(NOBODY + 1, text, '/bin/x')).result, 'no_bus');
});

void test('the notifier: a blocked exec in a desktop session shows one notification; a repeat within 10 s does not', { skip }, async () => {
  const dir = userRuntimeDir();
  const address = await startBus(dir);
  const nextNotification = await startListener(address);
  let t = 1_000_000;
  const terminalWrites: string[] = [];
  const notifier = createPopupNotifier({
    readTarget: (pid) => ({ pid, uid: NOBODY, ttyNr: 0 }),
    sessions: { sessions: async () => [{ id: '2', type: 'wayland', tty: '', active: true, remote: false }] },
    desktop: createDesktopNotifier({ runtimeDir: () => dir }),
    writeTerminal: (device) => {
      terminalWrites.push(device);
      return 'sent';
    },
    terminalsOf: () => ['/dev/pts/99'],
    now: () => t,
  });
  notifier.popup(text, { pid: 4242, path: '/home/u/Downloads/miner' });
  notifier.popup(text, { pid: 4243, path: '/home/u/Downloads/miner' });
  await notifier.idle();
  t += 10_001;
  notifier.popup({ title: 'second', body: 'again' }, { pid: 4244, path: '/home/u/Downloads/miner' });
  await notifier.idle();
  const s = notifier.stats();
  assert.deepEqual({ requested: s.requested, shown: s.shown, suppressed: s.suppressed, desktopSent: s.desktopSent, failures: s.failures }, { requested: 3, shown: 2, suppressed: 1, desktopSent: 2, failures: 0 });
  assert.equal((await nextNotification()).summary, text.title);
  assert.equal((await nextNotification()).summary, 'second');
  // reached on the desktop, and the process had no terminal: no terminal is written to
  assert.deepEqual(terminalWrites, []);
  assert.equal(notifier.state().state, 'active');
});

void test('at most maxConcurrent children at once, maxQueued waiting; more are refused as busy', async () => {
  // a stand-in for node that answers once the test lets it, on a bus socket of this user
  const dir = mkdtempSync(join(tmpdir(), 'yamori-notify-'));
  dirs.push(dir);
  const server = createServer().listen(join(dir, 'bus'));
  await once(server, 'listening');
  const fakeNode = join(dir, 'fake-node');
  writeFileSync(fakeNode, `#!/bin/sh\ncat >/dev/null\necho started >> ${dir}/started\nwhile [ ! -e ${dir}/go ]; do sleep 0.02; done\necho '{"ok":true,"id":7}'\n`, { mode: 0o755 });
  const uid = process.getuid?.() ?? 0;
  const desktop = createDesktopNotifier({ runtimeDir: () => dir, node: fakeNode, maxConcurrent: 1, maxQueued: 1, timeoutMs: 60_000 });
  try {
    const first = desktop.notify(uid, text, '/a');
    const second = desktop.notify(uid, text, '/b');
    assert.deepEqual(await desktop.notify(uid, text, '/c'), { result: 'busy', detail: '1 notifications already waiting' });
    while (!existsSync(join(dir, 'started'))) await delay(10);
    assert.equal(readFileSync(join(dir, 'started'), 'utf8'), 'started\n', 'one child at a time');
    writeFileSync(join(dir, 'go'), '');
    assert.deepEqual(await first, { result: 'sent', detail: 'notification 7' });
    assert.deepEqual(await second, { result: 'sent', detail: 'notification 7' });
    assert.equal(readFileSync(join(dir, 'started'), 'utf8'), 'started\nstarted\n');
  } finally {
    server.close();
  }
});
