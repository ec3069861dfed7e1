import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseStatTtyNr, parseStatusUid, readPopupTarget, ttyDevicePath } from './target.ts';

void test('tty_nr from /proc/PID/stat, even when the command name holds spaces and parentheses', () => {
  assert.equal(parseStatTtyNr('1234 (a) b (c) S 1 1234 1234 34818 1234 4194560 0'), 34818);
  assert.equal(parseStatTtyNr('1 (systemd) S 0 1 1 0 -1 4194560'), 0);
  assert.equal(parseStatTtyNr('garbage'), undefined);
  assert.equal(parseStatusUid('Name:\tx\nUid:\t1000\t0\t0\t0\nGid:\t100\t100\t100\t100\n'), 1000);
  assert.equal(parseStatusUid('Name:\tx\n'), undefined);
});

void test('device paths: Unix98 ptys (including minors past 255) and virtual consoles only', () => {
  assert.equal(ttyDevicePath((136 << 8) | 3), '/dev/pts/3');
  // major 136, minor 300: the minor's high bits sit above bit 20
  assert.equal(ttyDevicePath((136 << 8) | (300 & 0xff) | ((300 & ~0xff) << 12)), '/dev/pts/300');
  assert.equal(ttyDevicePath((137 << 8) | 4), '/dev/pts/260');
  assert.equal(ttyDevicePath((4 << 8) | 2), '/dev/tty2');
  assert.equal(ttyDevicePath((4 << 8) | 64), undefined); // ttyS0: a serial line
  assert.equal(ttyDevicePath((5 << 8) | 0), undefined); // /dev/tty itself
  assert.equal(ttyDevicePath(0), undefined);
});

void test('readPopupTarget: the real uid, or the login uid of a person who became root', () => {
  const proc = mkdtempSync(join(tmpdir(), 'yamori-proc-'));
  try {
    const fake = (pid: number, uid: number, ttyNr: number, loginuid?: string) => {
      mkdirSync(join(proc, String(pid)));
      writeFileSync(join(proc, String(pid), 'stat'), `${pid} (sh) S 1 ${pid} ${pid} ${ttyNr} ${pid} 0`);
      writeFileSync(join(proc, String(pid), 'status'), `Name:\tsh\nUid:\t${uid}\t${uid}\t${uid}\t${uid}\n`);
      if (loginuid !== undefined) writeFileSync(join(proc, String(pid), 'loginuid'), loginuid);
    };
    fake(10, 1000, (136 << 8) | 5);
    fake(11, 0, 0, '1001');
    fake(12, 0, 0, '4294967295');
    assert.deepEqual(readPopupTarget(10, proc), { pid: 10, uid: 1000, ttyNr: (136 << 8) | 5, tty: '/dev/pts/5' });
    assert.equal(readPopupTarget(11, proc)?.uid, 1001);
    assert.equal(readPopupTarget(12, proc)?.uid, 0);
    assert.equal(readPopupTarget(13, proc), undefined);
    assert.equal(readPopupTarget(-1, proc), undefined);
  } finally {
    rmSync(proc, { recursive: true, force: true });
  }
});

void test('readPopupTarget on a real process, and on one that is gone', async () => {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    const t = readPopupTarget(child.pid ?? 0);
    assert.equal(t?.uid, process.getuid?.());
    assert.equal(t?.tty, undefined); // spawned without a controlling terminal
  } finally {
    child.kill('SIGKILL');
  }
  await new Promise((r) => child.once('exit', r));
  assert.equal(readPopupTarget(child.pid ?? 0), undefined);
});
