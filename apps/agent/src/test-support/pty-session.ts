import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { readPopupTarget, type PopupTarget } from '../notify/target.ts';

/**
 * A real pseudo-terminal for tests: util-linux `script` runs `sleep` with the slave side as its
 * controlling terminal and copies everything written there to its stdout (the master side).
 */

export const hasScript = (() => {
  try {
    execFileSync('script', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

export interface PtySession {
  /** The process whose controlling terminal is the pty. */
  target: PopupTarget & { tty: string };
  output(): string;
  waitFor(s: string): Promise<void>;
  close(): void;
}

export async function startPtySession(): Promise<PtySession> {
  const child = spawn('script', ['-qfc', 'sleep 60', '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString('utf8')));
  const session = (target: PopupTarget & { tty: string }): PtySession => ({
    target,
    output: () => output,
    waitFor: async (s) => {
      while (!output.includes(s)) await delay(20);
    },
    close: () => child.kill('SIGKILL'),
  });
  // script's child, once it has taken the pty as its controlling terminal
  for (;;) {
    const kids = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(' ').filter(Boolean).map(Number);
    for (const p of kids) {
      const t = readPopupTarget(p);
      if (t?.tty !== undefined) return session({ ...t, tty: t.tty });
    }
    await delay(20);
  }
}
