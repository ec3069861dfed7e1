import { readFileSync } from 'node:fs';

/**
 * Who to tell about a blocked program: the user behind the process and its controlling terminal,
 * read from /proc while the process still exists (an exec held by the gate does; a killed one may
 * be a zombie, whose stat and status are still readable until it is reaped).
 */

export interface PopupTarget {
  pid: number;
  /** The user to tell: the real uid, or the login uid when a user became root (sudo, su). */
  uid: number;
  /** The controlling terminal's device number (tty_nr), 0 if none. */
  ttyNr: number;
  /** /dev/pts/N or /dev/ttyN for `ttyNr`, when it is one of those. */
  tty?: string | undefined;
}

/** tty_nr, the 7th field of /proc/PID/stat (counted after the command name, which may hold spaces and parentheses). */
export function parseStatTtyNr(stat: string): number | undefined {
  const end = stat.lastIndexOf(')');
  if (end < 0) return undefined;
  // after ") ": state ppid pgrp session tty_nr …
  const fields = stat.slice(end + 2).split(' ');
  const n = Number(fields[4]);
  return Number.isInteger(n) && n >= 0 ? n : undefined;
}

/** The real uid from /proc/PID/status ("Uid:\treal\teffective\tsaved\tfs"). */
export function parseStatusUid(status: string): number | undefined {
  const uid = /^Uid:\s+(\d+)/m.exec(status)?.[1];
  return uid !== undefined ? Number(uid) : undefined;
}

export const ttyMajor = (ttyNr: number): number => (ttyNr >>> 8) & 0xfff;
export const ttyMinor = (ttyNr: number): number => (ttyNr & 0xff) | ((ttyNr >>> 12) & 0xfff00);

/**
 * The device file of a controlling terminal: Unix98 ptys (majors 136–143) and virtual consoles
 * (major 4, minors 1–63). Serial lines and the rest are not terminals a person reads here.
 */
export function ttyDevicePath(ttyNr: number): string | undefined {
  if (ttyNr === 0) return undefined;
  const major = ttyMajor(ttyNr);
  const minor = ttyMinor(ttyNr);
  if (major >= 136 && major <= 143) return `/dev/pts/${(major - 136) * 256 + minor}`;
  if (major === 4 && minor >= 1 && minor <= 63) return `/dev/tty${minor}`;
  return undefined;
}

const NO_LOGIN_UID = 4294967295;

/** Read synchronously: the caller holds the exec, so the process is there now and may be gone a moment later. */
export function readPopupTarget(pid: number, procRoot = '/proc'): PopupTarget | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  let stat: string;
  let status: string;
  try {
    stat = readFileSync(`${procRoot}/${pid}/stat`, 'utf8');
    status = readFileSync(`${procRoot}/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  let uid = parseStatusUid(status);
  if (uid === undefined) return undefined;
  const ttyNr = parseStatTtyNr(stat) ?? 0;
  if (uid === 0) {
    // A person who became root (sudo, su) still reads their own desktop and terminals.
    try {
      const login = Number(readFileSync(`${procRoot}/${pid}/loginuid`, 'utf8').trim());
      if (Number.isInteger(login) && login > 0 && login !== NO_LOGIN_UID) {
        uid = login;
      }
    } catch {
      // no audit login uid: root it is
    }
  }
  return { pid, uid, ttyNr, tty: ttyDevicePath(ttyNr) };
}
