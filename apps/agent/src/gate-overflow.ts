import { randomUUID } from 'node:crypto';
import type { DetectionEvent, Mode } from '@yamori/protocol';

/**
 * A fanotify queue overflow on the exec gate means the kernel let execs run that the agent never
 * decided: a security event, not only a log line (an attacker who floods the queue gets programs
 * past the gate). Reported as an alert, at most one per window with the execs summed, so a storm
 * of overflow notices is one alert with a count rather than a flood.
 */

export const OVERFLOW_RULE_ID = 'yamori.exec.queue_overflow';

export function overflowAlert(count: number, ctx: { id: string; now: number; mode: Mode }): DetectionEvent {
  const mode: Mode = ctx.mode === 'off' ? 'monitor' : ctx.mode;
  return {
    '@timestamp': new Date(ctx.now).toISOString(),
    event: {
      id: ctx.id,
      dataset: 'yamori.alert',
      kind: 'alert',
      category: ['malware', 'host'],
      type: ['allowed'],
      action: 'exec_queue_overflow',
      outcome: 'failure',
      severity: 70,
    },
    rule: {
      id: OVERFLOW_RULE_ID,
      name: 'Exec gate queue overflow: programs ran without a decision',
      ruleset: 'yamori',
      description: 'The kernel fanotify queue of the exec gate overflowed; the kernel allowed the execs it could not queue.',
      level: 'high',
    },
    yamori: {
      module: 'malware',
      mode,
      action: 'alert',
      reasons: [`${count} execs were allowed without a decision`],
    },
  };
}

export interface OverflowReporter {
  /** The gate reported `count` lost execs. */
  add(count: number): void;
  setMode(mode: Mode): void;
  /** Send what is held back now (stop). */
  flush(): void;
}

export function createOverflowReporter(deps: {
  emit: (event: DetectionEvent) => void;
  now?: () => number;
  newId?: () => string;
  windowMs?: number;
}): OverflowReporter {
  const now = deps.now ?? Date.now;
  const newId = deps.newId ?? randomUUID;
  const windowMs = deps.windowMs ?? 60_000;
  let mode: Mode = 'monitor';
  let lastSent = -Infinity;
  let held = 0;
  let timer: NodeJS.Timeout | undefined;
  const send = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (held === 0) return;
    const count = held;
    held = 0;
    lastSent = now();
    try {
      deps.emit(overflowAlert(count, { id: newId(), now: lastSent, mode }));
    } catch {
      // the recorder validates and counts; a reporter must never break the gate's notice handler
    }
  };
  return {
    add(count) {
      if (!(count > 0)) return;
      held += count;
      const wait = lastSent + windowMs - now();
      if (wait <= 0) send();
      else if (!timer) {
        timer = setTimeout(send, wait);
        timer.unref();
      }
    },
    setMode(m) {
      mode = m;
    },
    flush: send,
  };
}
