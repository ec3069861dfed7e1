/**
 * Flood control for popups: a loop of blocked execs must not flood a desktop or a terminal. At
 * most one popup per user and program per `perProgramMs`, `perUserMax` per user and `globalMax`
 * in all per `windowMs`. Pure: time is passed in.
 */

export interface PopupLimits {
  perProgramMs: number;
  perUserMax: number;
  globalMax: number;
  windowMs: number;
  /** Bound on the remembered (user, program) pairs. */
  maxKeys: number;
}

export const DEFAULT_POPUP_LIMITS: PopupLimits = {
  perProgramMs: 10_000,
  perUserMax: 5,
  globalMax: 20,
  windowMs: 60_000,
  maxKeys: 4096,
};

export type PopupAdmission = 'show' | 'same_program' | 'user_cap' | 'global_cap';

export interface PopupLimiter {
  admit(uid: number, program: string, now: number): PopupAdmission;
}

export function createPopupLimiter(limits: PopupLimits = DEFAULT_POPUP_LIMITS): PopupLimiter {
  const lastShown = new Map<string, number>();
  const perUser = new Map<number, number[]>();
  let global: number[] = [];
  const recent = (times: readonly number[], now: number) => times.filter((t) => now - t < limits.windowMs);
  return {
    admit(uid, program, now) {
      const key = `${uid}\0${program}`;
      const last = lastShown.get(key);
      if (last !== undefined && now - last < limits.perProgramMs) return 'same_program';
      global = recent(global, now);
      if (global.length >= limits.globalMax) return 'global_cap';
      const mine = recent(perUser.get(uid) ?? [], now);
      if (mine.length >= limits.perUserMax) {
        perUser.set(uid, mine);
        return 'user_cap';
      }
      mine.push(now);
      global.push(now);
      if (perUser.size >= limits.maxKeys && !perUser.has(uid)) perUser.clear();
      perUser.set(uid, mine);
      lastShown.delete(key);
      if (lastShown.size >= limits.maxKeys) {
        // forget the oldest pairs; anything older than the window no longer limits anyway
        for (const [k, t] of lastShown) if (now - t >= limits.perProgramMs || lastShown.size >= limits.maxKeys) lastShown.delete(k);
      }
      lastShown.set(key, now);
      return 'show';
    },
  };
}
