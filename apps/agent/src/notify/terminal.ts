import { closeSync, constants, fstatSync, openSync, readdirSync, statSync, writeSync } from 'node:fs';
import { isatty } from 'node:tty';

/**
 * The terminal side of a popup: a short message written to the blocked process's controlling
 * terminal, or to the user's other terminals when there is no desktop to show it on. Every text
 * that reaches a terminal is stripped of control characters first: a file name is chosen by
 * whoever created the file, and an escape sequence in it could rewrite the screen, set the window
 * title, or (on some emulators) answer back into the shell.
 */

/**
 * Printable text only: C0 and C1 controls, DEL and the Unicode bidirectional overrides become
 * visible escapes (`\x1b`, `\u202e`), so the reader still sees that the name was odd.
 */
export function sanitizeForTerminal(s: string, maxLength = 1024): string {
  let out = '';
  for (const ch of s) {
    const c = ch.codePointAt(0) ?? 0;
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else if ((c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069) || c === 0x200e || c === 0x200f)
      out += `\\u${c.toString(16)}`;
    else out += ch;
    if (out.length >= maxLength) return `${out.slice(0, maxLength)}…`;
  }
  return out;
}

/** The message as it appears on a terminal; \r\n so it lines up even when the terminal is in raw mode. */
export function formatTerminalMessage(text: { title: string; body: string }, program: string): string {
  const lines = [
    '',
    `*** ${sanitizeForTerminal(text.title, 200)} ***`,
    ...text.body.split('\n').map((l) => sanitizeForTerminal(l, 1024)),
    `Program: ${sanitizeForTerminal(program, 1024)}`,
    '',
  ];
  return lines.join('\r\n');
}

export type TerminalWriteResult = 'sent' | 'partial' | 'busy' | 'not_a_terminal' | 'failed';

/**
 * Write to a terminal without ever blocking the agent: O_NONBLOCK (a terminal whose output is
 * stopped by ^S or full returns EAGAIN at once), O_NOCTTY (the agent must never acquire a
 * controlling terminal); libuv opens every descriptor close-on-exec. `expect` checks the device is the one we meant: the character device
 * with that device number, or owned by that uid.
 */
export function writeToTerminal(
  device: string,
  message: string,
  expect: { rdev?: number; uid?: number } = {},
): TerminalWriteResult {
  let fd: number;
  try {
    fd = openSync(device, constants.O_WRONLY | constants.O_NOCTTY | constants.O_NONBLOCK);
  } catch {
    return 'failed';
  }
  try {
    const st = fstatSync(fd);
    if (!st.isCharacterDevice() || !isatty(fd)) return 'not_a_terminal';
    if (expect.rdev !== undefined && st.rdev !== expect.rdev) return 'not_a_terminal';
    if (expect.uid !== undefined && st.uid !== expect.uid) return 'not_a_terminal';
    const buf = Buffer.from(message, 'utf8');
    let off = 0;
    while (off < buf.length) {
      try {
        off += writeSync(fd, buf, off, buf.length - off);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return off > 0 ? 'partial' : 'busy';
        return 'failed';
      }
    }
    return 'sent';
  } catch {
    return 'failed';
  } finally {
    try {
      closeSync(fd);
    } catch {
      // nothing to do
    }
  }
}

/**
 * The user's terminals other than the one already written to: the TTYs of their logind sessions
 * (tty1, pts/3) and the /dev/pts entries they own. Bounded, so a user with hundreds of ptys
 * does not turn one popup into hundreds of writes.
 */
export function userTerminals(
  uid: number,
  opts: { sessionTtys?: readonly string[]; devDir?: string; max?: number; exclude?: string | undefined } = {},
): string[] {
  const devDir = opts.devDir ?? '/dev';
  const max = opts.max ?? 8;
  const found = new Set<string>();
  for (const t of opts.sessionTtys ?? []) {
    if (/^(pts\/\d+|tty\d+)$/.test(t)) found.add(`${devDir}/${t}`);
  }
  try {
    for (const name of readdirSync(`${devDir}/pts`)) {
      if (!/^\d+$/.test(name)) continue;
      const path = `${devDir}/pts/${name}`;
      try {
        const st = statSync(path);
        if (st.isCharacterDevice() && st.uid === uid) found.add(path);
      } catch {
        // closed meanwhile
      }
    }
  } catch {
    // no devpts
  }
  return [...found].filter((p) => p !== opts.exclude).slice(0, max);
}
