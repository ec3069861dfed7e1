/**
 * Resource budget for the agent itself, like osquery's watchdog: sustained CPU over the limit
 * (e.g. > 10 % for 12 s) or memory over the limit sheds optional work, one named feature at a
 * time in the order given (least valuable first); sustained calm restores them in reverse order.
 * Memory far over the limit asks for a restart (systemd brings the agent back). Pure: the state
 * goes in and comes out; time is passed in.
 */
export interface WatchdogLimits {
  cpuPct: number;
  /** How long CPU must stay over the limit before shedding, and between two sheds. */
  cpuWindowMs: number;
  rssMb: number;
  /** RSS at which shedding is not enough: restart. */
  rssHardMb: number;
  /** How long everything must stay under budget before restoring one feature. */
  recoverMs: number;
}

export const DEFAULT_LIMITS: WatchdogLimits = { cpuPct: 10, cpuWindowMs: 12_000, rssMb: 400, rssHardMb: 1024, recoverMs: 60_000 };

/** Optional work the agent can stop doing, least valuable first. */
export const SHEDDABLE_FEATURES = ['low_value_telemetry', 'deep_scan', 'file_hashing_large', 'yara_scan'] as const;

export interface WatchdogState {
  overSince: number | null;
  underSince: number | null;
  lastChange: number | null;
  shedding: string[];
}

export const initialWatchdogState = (): WatchdogState => ({ overSince: null, underSince: null, lastChange: null, shedding: [] });

export interface ResourceSample {
  cpuPct: number;
  rssMb: number;
}

export interface WatchdogResult {
  state: WatchdogState;
  action: 'none' | 'shed' | 'restore' | 'restart';
  feature?: string;
  reason?: string;
}

export function evaluateWatchdog(
  state: WatchdogState,
  sample: ResourceSample,
  now: number,
  limits: WatchdogLimits = DEFAULT_LIMITS,
  features: readonly string[] = SHEDDABLE_FEATURES,
): WatchdogResult {
  if (sample.rssMb > limits.rssHardMb) {
    return {
      state: { ...state, lastChange: now },
      action: 'restart',
      reason: `RSS ${sample.rssMb.toFixed(0)} MB over the hard limit ${limits.rssHardMb} MB`,
    };
  }
  const memOver = sample.rssMb > limits.rssMb;
  const cpuOver = sample.cpuPct > limits.cpuPct;
  const over = memOver || cpuOver;
  const next: WatchdogState = {
    ...state,
    overSince: over ? (state.overSince ?? now) : null,
    underSince: over ? null : (state.underSince ?? now),
  };
  const sinceChange = state.lastChange === null ? Infinity : now - state.lastChange;
  if (over) {
    const sustained = memOver || now - (next.overSince ?? now) >= limits.cpuWindowMs;
    const feature = features.find((f) => !next.shedding.includes(f));
    if (sustained && feature !== undefined && sinceChange >= limits.cpuWindowMs) {
      const reason = memOver
        ? `RSS ${sample.rssMb.toFixed(0)} MB over ${limits.rssMb} MB`
        : `CPU ${sample.cpuPct.toFixed(1)} % over ${limits.cpuPct} % for ${((now - (next.overSince ?? now)) / 1000).toFixed(0)} s`;
      return { state: { ...next, shedding: [...next.shedding, feature], lastChange: now, overSince: now }, action: 'shed', feature, reason };
    }
    return { state: next, action: 'none' };
  }
  if (next.shedding.length > 0 && now - (next.underSince ?? now) >= limits.recoverMs && sinceChange >= limits.recoverMs) {
    const feature = next.shedding[next.shedding.length - 1] as string;
    return {
      state: { ...next, shedding: next.shedding.slice(0, -1), lastChange: now, underSince: now },
      action: 'restore',
      feature,
      reason: 'back under budget',
    };
  }
  return { state: next, action: 'none' };
}
