import type { SensorState } from '@yamori/protocol';
import type { Log } from '../agent.ts';
import type { Notifier } from '../sensors.ts';
import { createDesktopNotifier, type DesktopNotifier } from './desktop.ts';
import { createPopupLimiter, DEFAULT_POPUP_LIMITS, type PopupLimits } from './popup-limits.ts';
import { createLogindSessions, isGraphical, type SessionSource, type UserSession } from './sessions.ts';
import { readPopupTarget, type PopupTarget } from './target.ts';
import { formatTerminalMessage, userTerminals, writeToTerminal, type TerminalWriteResult } from './terminal.ts';

/**
 * The Linux Notifier: tells the user whose program was blocked, with the policy's popup text.
 *   1. who: uid and controlling terminal from /proc, read at once (the exec is still held);
 *   2. the blocked process's own terminal gets a short message, if it has one;
 *   3. a desktop notification on the user's session bus where logind reports a graphical session
 *      (or, without logind, wherever the user's bus answers);
 *   4. neither reached the user: their other terminals (logind session TTYs, their /dev/pts).
 * Flood-limited per user and program; popup() never throws and never blocks (terminal writes are
 * O_NONBLOCK, the bus is reached asynchronously through a child process).
 */

export interface PopupStats {
  requested: number;
  shown: number;
  suppressed: number;
  noTarget: number;
  desktopSent: number;
  terminalSent: number;
  /** No desktop and no terminal of the user to show it on (a daemon's or a cron job's exec): not a failure. */
  unreached: number;
  failures: number;
  lastFailure?: string;
}

export interface PopupNotifier extends Notifier {
  stats(): PopupStats;
  state(): SensorState;
  /** Resolves when every delivery under way has finished (tests, shutdown). */
  idle(): Promise<void>;
}

export interface PopupNotifierDeps {
  readTarget?: (pid: number) => PopupTarget | undefined;
  sessions?: SessionSource;
  desktop?: DesktopNotifier;
  writeTerminal?: typeof writeToTerminal;
  /** The user's terminals besides the blocked process's own. */
  terminalsOf?: (uid: number, sessionTtys: readonly string[], exclude: string | undefined) => string[];
  limits?: PopupLimits;
  now?: () => number;
  log?: Log;
}

export function createPopupNotifier(deps: PopupNotifierDeps = {}): PopupNotifier {
  const readTarget = deps.readTarget ?? ((pid: number) => readPopupTarget(pid));
  const sessions = deps.sessions ?? createLogindSessions();
  const desktop = deps.desktop ?? createDesktopNotifier();
  const writeTerminal = deps.writeTerminal ?? writeToTerminal;
  const terminalsOf = deps.terminalsOf ?? ((uid, ttys, exclude) => userTerminals(uid, { sessionTtys: ttys, exclude }));
  const limiter = createPopupLimiter(deps.limits ?? DEFAULT_POPUP_LIMITS);
  const now = deps.now ?? Date.now;
  const log: Log = deps.log ?? (() => undefined);
  const stats: PopupStats = { requested: 0, shown: 0, suppressed: 0, noTarget: 0, desktopSent: 0, terminalSent: 0, unreached: 0, failures: 0 };
  const inFlight = new Set<Promise<void>>();

  const fail = (what: string) => {
    stats.failures++;
    stats.lastFailure = what.slice(0, 300);
  };

  async function deliver(
    target: PopupTarget,
    text: { title: string; body: string },
    program: string,
    ownTerminal: TerminalWriteResult | undefined,
  ): Promise<void> {
    const list: UserSession[] | undefined = await sessions.sessions(target.uid);
    // logind knows: notify only where there is a desktop; it does not: try the user's bus anyway
    const tryDesktop = list === undefined || list.some(isGraphical);
    let reached = ownTerminal === 'sent' || ownTerminal === 'partial';
    if (tryDesktop) {
      const r = await desktop.notify(target.uid, text, program);
      if (r.result === 'sent') {
        stats.desktopSent++;
        reached = true;
      } else if (list !== undefined || r.result === 'failed') {
        // a graphical session logind told us about, and no notification: that is a failure
        fail(`desktop notification for uid ${target.uid}: ${r.result}${r.detail ? ` (${r.detail})` : ''}`);
        log('warn', 'popup: desktop notification failed', { uid: target.uid, result: r.result, detail: r.detail });
      }
    }
    if (reached) return;
    const ttys = (list ?? []).map((s) => s.tty).filter((t) => t !== '');
    const devices = terminalsOf(target.uid, ttys, target.tty);
    if (devices.length === 0 && ownTerminal === undefined) {
      stats.unreached++;
      return;
    }
    const message = formatTerminalMessage(text, program);
    let sent = 0;
    for (const device of devices) {
      const r = writeTerminal(device, message, { uid: target.uid });
      if (r === 'sent' || r === 'partial') sent++;
    }
    if (sent > 0) stats.terminalSent += sent;
    else fail(`no desktop, and none of uid ${target.uid}'s terminals took the message`);
  }

  return {
    popup(text, ctx) {
      try {
        stats.requested++;
        const target: PopupTarget | undefined =
          readTarget(ctx.pid) ?? (ctx.uid !== undefined ? { pid: ctx.pid, uid: ctx.uid, ttyNr: 0 } : undefined);
        if (!target) {
          stats.noTarget++;
          return;
        }
        const admission = limiter.admit(target.uid, ctx.path, now());
        if (admission !== 'show') {
          stats.suppressed++;
          return;
        }
        stats.shown++;
        // the process's own terminal first, synchronously (O_NONBLOCK): it may be gone in a moment
        let own: TerminalWriteResult | undefined;
        if (target.tty) {
          own = writeTerminal(target.tty, formatTerminalMessage(text, ctx.path), { rdev: target.ttyNr });
          if (own === 'sent' || own === 'partial') stats.terminalSent++;
        }
        const p = deliver(target, text, ctx.path, own)
          .catch((err: unknown) => {
            fail(`popup delivery: ${(err as Error).message}`);
            log('warn', 'popup delivery failed', { error: (err as Error).message });
          })
          .finally(() => inFlight.delete(p));
        inFlight.add(p);
      } catch (err) {
        fail(`popup: ${(err as Error).message}`);
      }
    },
    stats: () => ({ ...stats }),
    state() {
      const detail = `${stats.shown} shown (${stats.desktopSent} desktop, ${stats.terminalSent} terminal, ${stats.unreached} with no session to show them), ${stats.suppressed} flood-limited`;
      return stats.failures > 0
        ? { name: 'popup', state: 'degraded', reason: `${stats.failures} popups failed (last: ${stats.lastFailure ?? ''}); ${detail}`.slice(0, 1024) }
        : { name: 'popup', state: 'active', reason: detail };
    },
    async idle() {
      while (inFlight.size > 0) await Promise.all([...inFlight]);
    },
  };
}
