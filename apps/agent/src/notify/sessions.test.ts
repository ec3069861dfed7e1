import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { after, test } from 'node:test';
import { Message, sessionBus, Variant, type MessageBus } from '@jellybrick/dbus-next';
import { createLogindSessions, isGraphical } from './sessions.ts';

// A stand-in for systemd-logind on a private bus (the test's own: root's bus, as the system bus
// is to the agent), answering ListSessions and the session properties the popup reads.
const hasDbusDaemon = (() => {
  try {
    execFileSync('dbus-daemon', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const skip = hasDbusDaemon ? false : 'dbus-daemon not installed (bash scripts/apt-ensure.sh dbus-daemon)';
const cleanup: (() => void)[] = [];
after(() => {
  for (const c of cleanup) c();
});

async function privateBus(): Promise<string> {
  const dir = mkdtempSync('/tmp/yamori-bus-');
  const daemon: ChildProcess = spawn('dbus-daemon', ['--session', `--address=unix:path=${dir}/bus`, '--nofork', '--print-address=1'], { stdio: ['ignore', 'pipe', 'ignore'] });
  cleanup.push(() => {
    daemon.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  const it = createInterface({ input: daemon.stdout as NonNullable<ChildProcess['stdout']> })[Symbol.asyncIterator]();
  await it.next();
  return `unix:path=${dir}/bus`;
}

const SESSIONS: Record<string, Record<string, Variant>> = {
  '/org/freedesktop/login1/session/_31': { Type: new Variant('s', 'tty'), TTY: new Variant('s', 'tty1'), Active: new Variant('b', false), Remote: new Variant('b', false), State: new Variant('s', 'online') },
  '/org/freedesktop/login1/session/_32': { Type: new Variant('s', 'wayland'), TTY: new Variant('s', ''), Active: new Variant('b', true), Remote: new Variant('b', false), State: new Variant('s', 'active') },
  '/org/freedesktop/login1/session/_33': { Type: new Variant('s', 'x11'), TTY: new Variant('s', ''), Active: new Variant('b', false), Remote: new Variant('b', false), State: new Variant('s', 'closing') },
  '/org/freedesktop/login1/session/_34': { Type: new Variant('s', 'tty'), TTY: new Variant('s', 'pts/4'), Active: new Variant('b', true), Remote: new Variant('b', true), State: new Variant('s', 'active') },
};

async function fakeLogind(address: string): Promise<MessageBus> {
  const bus = sessionBus({ busAddress: address });
  cleanup.push(() => bus.disconnect());
  bus.addMethodHandler((msg: Message) => {
    if (msg.interface === 'org.freedesktop.login1.Manager' && msg.member === 'ListSessions') {
      bus.send(
        Message.newMethodReturn(msg, 'a(susso)', [
          [
            ['1', 1000, 'alice', 'seat0', '/org/freedesktop/login1/session/_31'],
            ['2', 1000, 'alice', 'seat0', '/org/freedesktop/login1/session/_32'],
            ['3', 1000, 'alice', 'seat0', '/org/freedesktop/login1/session/_33'],
            ['4', 1001, 'bob', '', '/org/freedesktop/login1/session/_34'],
          ],
        ]),
      );
      return true;
    }
    if (msg.interface === 'org.freedesktop.DBus.Properties' && msg.member === 'GetAll') {
      bus.send(Message.newMethodReturn(msg, 'a{sv}', [SESSIONS[msg.path] ?? {}]));
      return true;
    }
    return false;
  });
  await bus.requestName('org.freedesktop.login1', 4);
  return bus;
}

void test('logind: the user\'s sessions, which are graphical, which terminals; closing ones left out', { skip }, async () => {
  const address = await privateBus();
  await fakeLogind(address);
  const source = createLogindSessions({ address });
  const alice = await source.sessions(1000);
  assert.deepEqual(alice, [
    { id: '1', type: 'tty', tty: 'tty1', active: false, remote: false },
    { id: '2', type: 'wayland', tty: '', active: true, remote: false },
  ]);
  assert.equal(alice.some(isGraphical), true);
  const bob = await source.sessions(1001);
  assert.deepEqual(bob?.map((s) => [s.tty, isGraphical(s)]), [['pts/4', false]]);
  assert.deepEqual(await source.sessions(1002), []);
});

void test('no logind on the bus, or no bus: unknown (undefined), never an exception', { skip }, async () => {
  const address = await privateBus();
  assert.equal(await createLogindSessions({ address }).sessions(1000), undefined);
  assert.equal(await createLogindSessions({ address: 'unix:path=/nonexistent/bus' }).sessions(1000), undefined);
});
