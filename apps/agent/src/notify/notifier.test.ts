import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createPopupNotifier } from './notifier.ts';

const text = { title: 'Blocked', body: 'b' };

void test('popup() never throws: a failing delivery is counted and shows in the popup state', async () => {
  const n = createPopupNotifier({
    readTarget: (pid) => ({ pid, uid: 1000, ttyNr: 0 }),
    sessions: { sessions: async () => [{ id: '2', type: 'x11', tty: '', active: true, remote: false }] },
    desktop: { notify: async () => ({ result: 'no_service', detail: 'nobody owns org.freedesktop.Notifications' }) },
    writeTerminal: () => 'busy',
    terminalsOf: () => ['/dev/pts/1'],
    now: () => 0,
  });
  n.popup(text, { pid: 1, path: '/a' });
  await n.idle();
  assert.equal(n.stats().failures, 2); // the desktop logind promised, then no terminal either
  assert.equal(n.state().state, 'degraded');
  assert.match(n.state().reason ?? '', /none of uid 1000's terminals took the message/);

  // a daemon's exec: no desktop, no terminal anywhere: nobody to tell, which is no failure
  const headless = createPopupNotifier({
    readTarget: (pid) => ({ pid, uid: 998, ttyNr: 0 }),
    sessions: { sessions: async () => [] },
    terminalsOf: () => [],
    now: () => 0,
  });
  headless.popup(text, { pid: 1, path: '/a' });
  await headless.idle();
  assert.deepEqual([headless.stats().unreached, headless.stats().failures, headless.state().state], [1, 0, 'active']);

  const broken = createPopupNotifier({
    readTarget: () => {
      throw new Error('proc exploded');
    },
    now: () => 0,
  });
  assert.doesNotThrow(() => broken.popup(text, { pid: 1, path: '/a' }));
  const rejecting = createPopupNotifier({
    readTarget: (pid) => ({ pid, uid: 1000, ttyNr: 0 }),
    sessions: { sessions: () => Promise.reject(new Error('bus gone')) },
    now: () => 0,
  });
  rejecting.popup(text, { pid: 1, path: '/a' });
  await rejecting.idle();
  assert.deepEqual([broken.stats().failures, rejecting.stats().failures], [1, 1]);
});

void test('the process is gone: the caller\'s uid still finds the user; without one nobody is told', async () => {
  const told: number[] = [];
  const n = createPopupNotifier({
    readTarget: () => undefined,
    sessions: { sessions: async () => [{ id: '2', type: 'wayland', tty: '', active: true, remote: false }] },
    desktop: {
      notify: async (uid) => {
        told.push(uid);
        return { result: 'sent' };
      },
    },
    now: () => 0,
  });
  n.popup(text, { pid: 99, path: '/a', uid: 1000 });
  n.popup(text, { pid: 98, path: '/b' });
  await n.idle();
  assert.deepEqual(told, [1000]);
  assert.deepEqual([n.stats().noTarget, n.stats().desktopSent], [1, 1]);
});

void test('logind knows no desktop for the user: no bus call, the terminals get it', async () => {
  let desktopCalls = 0;
  const written: string[] = [];
  const n = createPopupNotifier({
    readTarget: (pid) => ({ pid, uid: 1000, ttyNr: 0 }),
    sessions: { sessions: async () => [{ id: '5', type: 'tty', tty: 'tty3', active: true, remote: false }] },
    desktop: {
      notify: async () => {
        desktopCalls++;
        return { result: 'sent' };
      },
    },
    writeTerminal: (device) => {
      written.push(device);
      return 'sent';
    },
    terminalsOf: (_uid, ttys) => ttys.map((t) => `/dev/${t}`),
    now: () => 0,
  });
  n.popup(text, { pid: 1, path: '/a' });
  await n.idle();
  assert.equal(desktopCalls, 0);
  assert.deepEqual(written, ['/dev/tty3']);
});
