import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createPopupNotifier } from './notifier.ts';
import { hasScript, startPtySession, type PtySession } from '../test-support/pty-session.ts';
import { formatTerminalMessage, sanitizeForTerminal, userTerminals, writeToTerminal } from './terminal.ts';

void test('sanitizeForTerminal: escapes, bells, newlines, C1 controls and bidi overrides become visible text', () => {
  assert.equal(sanitizeForTerminal('/tmp/a\x1b]0;pwned\x07b'), '/tmp/a\\x1b]0;pwned\\x07b');
  assert.equal(sanitizeForTerminal('x\ny\rz\x7f\u009b31m'), 'x\\x0ay\\x0dz\\x7f\\x9b31m');
  assert.equal(sanitizeForTerminal('invoice\u202efdp.sh'), 'invoice\\u202efdp.sh');
  assert.equal(sanitizeForTerminal('/usr/bin/日本語 ok'), '/usr/bin/日本語 ok');
  assert.equal(sanitizeForTerminal('a'.repeat(50), 10), `${'a'.repeat(10)}…`);
  const m = formatTerminalMessage({ title: 'Blocked\x1b[2J', body: 'line one\nline two' }, '/tmp/\x1b[31mred');
  assert.equal(m, '\r\n*** Blocked\\x1b[2J ***\r\nline one\r\nline two\r\nProgram: /tmp/\\x1b[31mred\r\n');
});

void test('writeToTerminal refuses what is not the expected character device', () => {
  const dir = mkdtempSync(join(tmpdir(), 'yamori-tty-'));
  try {
    writeFileSync(join(dir, 'file'), 'kept');
    assert.equal(writeToTerminal(join(dir, 'file'), 'x'), 'not_a_terminal');
    assert.equal(readFileSync(join(dir, 'file'), 'utf8'), 'kept');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(writeToTerminal('/dev/null', 'x'), 'not_a_terminal');
  assert.equal(writeToTerminal('/dev/pts/999999', 'x'), 'failed');
});

const started: PtySession[] = [];
after(() => {
  for (const p of started) p.close();
});
async function ptySession(): Promise<PtySession> {
  const p = await startPtySession();
  started.push(p);
  return p;
}

void test('the blocked process\'s own terminal gets the message, with escapes in the path neutralised', { skip: !hasScript && 'util-linux script not installed' }, async () => {
  const pty = await ptySession();
  assert.match(pty.target.tty, /^\/dev\/pts\/\d+$/);
  const notifier = createPopupNotifier({
    sessions: { sessions: async () => [] }, // logind: no desktop session for this user
    desktop: { notify: async () => assert.fail('no desktop session: no notification') },
    terminalsOf: () => [],
    now: () => 0,
  });
  const path = '/tmp/x\x1b]2;owned\x07\x1b[2J.bin';
  notifier.popup({ title: 'Yamori blocked a program', body: 'Ask the help desk.' }, { pid: pty.target.pid, path });
  await notifier.idle();
  await pty.waitFor('.bin');
  const out = pty.output();
  assert.ok(out.includes('*** Yamori blocked a program ***'), out);
  assert.ok(out.includes('Ask the help desk.'), out);
  assert.ok(out.includes('Program: /tmp/x\\x1b]2;owned\\x07\\x1b[2J.bin'), out);
  assert.ok(!out.includes('\x1b') && !out.includes('\x07'), JSON.stringify(out));
  const s = notifier.stats();
  assert.deepEqual({ shown: s.shown, terminalSent: s.terminalSent, failures: s.failures }, { shown: 1, terminalSent: 1, failures: 0 });
});

void test('no desktop and no terminal of its own: the user\'s other terminals get the message', { skip: !hasScript && 'util-linux script not installed' }, async () => {
  const pty = await ptySession();
  const tty = pty.target.tty;
  // the pty belongs to the user who opened it (root here), so it is among their terminals
  assert.ok(userTerminals(pty.target.uid, { max: 10_000 }).includes(tty));
  assert.ok(!userTerminals(pty.target.uid, { max: 10_000, exclude: tty }).includes(tty));
  assert.deepEqual(userTerminals(pty.target.uid, { sessionTtys: ['pts/7', '../../etc/passwd', 'tty2'], devDir: '/nonexistent' }), ['/nonexistent/pts/7', '/nonexistent/tty2']);
  const notifier = createPopupNotifier({
    readTarget: (pid) => ({ pid, uid: pty.target.uid, ttyNr: 0 }), // e.g. a daemon: no controlling terminal
    sessions: { sessions: async () => undefined }, // no logind: try the bus, then the terminals
    desktop: { notify: async () => ({ result: 'no_bus' }) },
    terminalsOf: (uid, ttys, exclude) => userTerminals(uid, { sessionTtys: ttys, exclude }).filter((t) => t === tty), // never other people's shells on this host
    now: () => 0,
  });
  notifier.popup({ title: 'Blocked', body: 'b' }, { pid: 1, path: '/opt/tool' });
  await notifier.idle();
  await pty.waitFor('/opt/tool');
  assert.ok(pty.output().includes('*** Blocked ***'));
  assert.deepEqual({ terminalSent: notifier.stats().terminalSent, failures: notifier.stats().failures }, { terminalSent: 1, failures: 0 });
});
