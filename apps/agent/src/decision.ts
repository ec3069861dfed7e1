import type { DetectionAction, DetectionEvent, Mode, Policy, ProtectionModule, Verdict } from '@yamori/protocol';
import { matchGlob, type ExclusionIndex } from '@yamori/detection';

/**
 * The pure exec decision pipeline: exclusions → policy blocklist → local verdict cache → engine
 * results → server lookup → policy mode of the module. No I/O, no clock: the caller passes what
 * it knows and `now`. The policy blocklist is consulted before a cached verdict so that an admin's
 * explicit block always beats a cached "benign" reputation (the cache is only a shortcut).
 */

export interface ExecSubject {
  path: string;
  sha256?: string | undefined;
  parentPath?: string | undefined;
  signer?: string | undefined;
  package?: string | undefined;
}

export interface KnownVerdict {
  verdict: Verdict;
  source: string;
}

/** A finding of a local engine (static analysis, YARA …) about the file being executed. */
export interface EngineFinding {
  verdict: Verdict;
  module: ProtectionModule;
  ruleId: string;
  ruleName: string;
  ruleset?: string;
  score?: number;
  reasons?: string[];
}

/**
 * The server lookup: a verdict, `'pending'` (asked, waiting), `'timeout'` (the decision deadline
 * passed) or `'unavailable'` (offline, no lookup possible). Absent means "not asked": treated as
 * unavailable.
 */
export type LookupState = KnownVerdict | 'pending' | 'timeout' | 'unavailable';

export interface ExecDecisionInput {
  subject: ExecSubject;
  policy: Policy;
  exclusions: ExclusionIndex;
  blocklist: ReadonlySet<string>;
  cached?: KnownVerdict | undefined;
  engines?: readonly EngineFinding[] | undefined;
  lookup?: LookupState | undefined;
  now: number;
}

export type DecisionReason =
  | 'excluded'
  | 'blocklist'
  | 'cache'
  | 'engine'
  | 'lookup'
  | 'pending'
  | 'fail_open'
  | 'fail_closed';

/** The DetectionEvent fields a decision fills in; `toDetectionEvent` adds time, id and process. */
export interface DetectionFields {
  rule: { id: string; name: string; ruleset?: string };
  severity: number;
  level: 'low' | 'medium' | 'high' | 'critical';
  yamori: {
    module: ProtectionModule;
    mode: Mode;
    action: DetectionAction;
    would_have?: DetectionAction;
    reasons: string[];
    score?: number;
  };
}

export interface ExecDecision {
  allow: boolean;
  /** The sensor may remember this answer for the unmodified file (kernel ignore mark). */
  cache: boolean;
  /** False only for 'pending': wait for the lookup (up to exec.decisionTimeoutMs) and decide again. */
  final: boolean;
  reason: DecisionReason;
  verdict?: Verdict;
  detail: string;
  detection?: DetectionFields;
  /** Show the policy's popup text to the user (block mode denials only). */
  popup: boolean;
  exclusionId?: string;
}

export const RULES = {
  blocklist: { id: 'yamori.blocklist', name: 'File hash on the policy blocklist' },
  reputation: { id: 'yamori.reputation', name: 'File with a malicious reputation' },
  suspicious: { id: 'yamori.reputation.suspicious', name: 'File with a suspicious reputation' },
  failClosed: { id: 'yamori.exec.fail_closed', name: 'Undecided execution in a fail-closed path' },
} as const;

const allowQuiet = (reason: DecisionReason, detail: string, cache: boolean, verdict?: Verdict): ExecDecision => ({
  allow: true,
  cache,
  final: true,
  reason,
  detail,
  popup: false,
  ...(verdict ? { verdict } : {}),
});

/**
 * Apply the module's mode to "this should be stopped" (`deny`) or "this should be reported"
 * (alert only). Block: deny + alert + popup. Monitor: allow + "would have" alert, no popup.
 * Off: allow silently.
 */
function enforce(
  input: ExecDecisionInput,
  o: {
    module: ProtectionModule;
    deny: boolean;
    reason: DecisionReason;
    verdict?: Verdict;
    rule: { id: string; name: string; ruleset?: string | undefined };
    severity: number;
    reasons: string[];
    score?: number | undefined;
  },
): ExecDecision {
  const mode = input.policy.modules[o.module].mode;
  // The finding's own module and rule id may be excluded (the exec subject was already checked for 'malware').
  const excluded = input.exclusions.find({ module: o.module, ...input.subject, ruleId: o.rule.id }, input.now);
  const base = { cache: false, final: true, reason: o.reason, ...(o.verdict ? { verdict: o.verdict } : {}) };
  if (excluded) {
    return {
      ...base,
      reason: 'excluded',
      allow: true,
      popup: false,
      detail: `${o.rule.id} excluded by ${excluded.kind} exclusion ${excluded.id}`,
      exclusionId: excluded.id,
    };
  }
  if (mode === 'off') return { ...base, allow: true, popup: false, detail: `${o.module} module off: ${o.reasons.join('; ')}` };
  const intended: DetectionAction = o.deny ? 'deny_exec' : 'alert';
  const blocking = mode === 'block' && o.deny;
  const rule = { id: o.rule.id, name: o.rule.name, ...(o.rule.ruleset ? { ruleset: o.rule.ruleset } : {}) };
  const detection: DetectionFields = {
    rule,
    severity: o.severity,
    level: severityLevel(o.severity),
    yamori: {
      module: o.module,
      mode,
      action: mode === 'block' ? intended : o.deny ? 'none' : 'alert',
      ...(mode === 'monitor' && o.deny ? { would_have: intended } : {}),
      reasons: o.reasons.slice(0, 64).map((r) => r.slice(0, 1024)),
      ...(o.score !== undefined ? { score: Math.max(0, Math.min(100, o.score)) } : {}),
    },
  };
  return {
    ...base,
    allow: !blocking,
    popup: blocking,
    detail: `${blocking ? 'denied' : mode === 'monitor' && o.deny ? 'would have denied' : 'alerted'}: ${o.reasons.join('; ')}`,
    detection,
  };
}

function severityLevel(s: number): DetectionFields['level'] {
  return s >= 90 ? 'critical' : s >= 70 ? 'high' : s >= 40 ? 'medium' : 'low';
}

function fromVerdict(input: ExecDecisionInput, v: KnownVerdict, reason: DecisionReason): ExecDecision {
  const what = `${v.verdict} by ${v.source}`;
  switch (v.verdict) {
    case 'malicious':
      return enforce(input, {
        module: 'malware',
        deny: true,
        reason,
        verdict: v.verdict,
        rule: RULES.reputation,
        severity: 90,
        reasons: [`${reason}: ${what}`],
      });
    case 'suspicious':
      return enforce(input, {
        module: 'malware',
        deny: false,
        reason,
        verdict: v.verdict,
        rule: RULES.suspicious,
        severity: 50,
        reasons: [`${reason}: ${what}`],
      });
    case 'benign':
      return allowQuiet(reason, what, true, v.verdict);
    case 'unknown':
      // Known to be unknown: allow, but do not let the kernel remember it, so a later verdict applies.
      return allowQuiet(reason, what, false, v.verdict);
  }
}

export function decideExec(input: ExecDecisionInput): ExecDecision {
  const { subject, now } = input;

  const excluded = input.exclusions.find({ module: 'malware', ...subject }, now);
  if (excluded && excluded.kind !== 'rule') {
    return { ...allowQuiet('excluded', `excluded by ${excluded.kind} exclusion ${excluded.id}`, true), exclusionId: excluded.id };
  }

  if (subject.sha256 && input.blocklist.has(subject.sha256)) {
    return enforce(input, {
      module: 'malware',
      deny: true,
      reason: 'blocklist',
      verdict: 'malicious',
      rule: RULES.blocklist,
      severity: 90,
      reasons: [`sha256 ${subject.sha256} is on the policy blocklist`],
    });
  }

  if (input.cached && input.cached.verdict !== 'unknown') return fromVerdict(input, input.cached, 'cache');

  // Local engines: the strongest finding of each module that is not excluded by rule id.
  const findings = (input.engines ?? []).filter(
    (f) => !input.exclusions.find({ module: f.module, ...subject, ruleId: f.ruleId }, now),
  );
  const malicious = findings.find((f) => f.verdict === 'malicious');
  if (malicious) {
    return enforce(input, {
      module: malicious.module,
      deny: true,
      reason: 'engine',
      verdict: 'malicious',
      rule: { id: malicious.ruleId, name: malicious.ruleName, ruleset: malicious.ruleset },
      severity: 80,
      reasons: malicious.reasons ?? [`engine rule ${malicious.ruleId}`],
      score: malicious.score,
    });
  }

  const lookup = input.lookup ?? 'unavailable';
  if (lookup === 'pending') {
    return { allow: true, cache: false, final: false, reason: 'pending', detail: 'waiting for the server lookup', popup: false };
  }
  if (typeof lookup === 'object' && lookup.verdict !== 'unknown') return fromVerdict(input, lookup, 'lookup');

  const suspicious = findings.find((f) => f.verdict === 'suspicious');
  if (suspicious) {
    return enforce(input, {
      module: suspicious.module,
      deny: false,
      reason: 'engine',
      verdict: 'suspicious',
      rule: { id: suspicious.ruleId, name: suspicious.ruleName, ruleset: suspicious.ruleset },
      severity: 50,
      reasons: suspicious.reasons ?? [`engine rule ${suspicious.ruleId}`],
      score: suspicious.score,
    });
  }
  if (typeof lookup === 'object') return fromVerdict(input, lookup, 'lookup');
  if (input.cached) return fromVerdict(input, input.cached, 'cache');

  // Undecided: no verdict in time (or offline). Apply the policy's fail rule.
  const closedBy = input.policy.exec.failClosedPaths.find((g) => matchGlob(g, subject.path));
  const failClosed = input.policy.exec.onTimeout === 'deny' || closedBy !== undefined;
  const why = lookup === 'timeout' ? 'no verdict within the decision timeout' : 'no verdict available (server unreachable)';
  if (!failClosed) return allowQuiet('fail_open', `${why}: allowed (fail-open)`, false);
  return enforce(input, {
    module: 'malware',
    deny: true,
    reason: 'fail_closed',
    rule: RULES.failClosed,
    severity: 40,
    reasons: [closedBy ? `${why}; ${subject.path} matches fail-closed path ${closedBy}` : `${why}; policy exec.onTimeout is deny`],
  });
}

/** Build the full DetectionEvent from a decision's fields plus what the caller knows. */
export function toDetectionEvent(
  d: DetectionFields,
  ctx: { id: string; now: number; process?: DetectionEvent['process']; file?: DetectionEvent['file'] },
): DetectionEvent {
  const denied = d.yamori.action === 'deny_exec';
  return {
    '@timestamp': new Date(ctx.now).toISOString(),
    event: {
      id: ctx.id,
      dataset: 'yamori.alert',
      kind: 'alert',
      category: ['malware'],
      type: [denied ? 'denied' : 'info'],
      action: denied ? 'exec_denied' : d.yamori.would_have ? 'exec_would_deny' : 'exec_alert',
      outcome: 'success',
      severity: d.severity,
    },
    rule: { ...d.rule, level: d.level },
    yamori: d.yamori,
    ...(ctx.process ? { process: ctx.process } : {}),
    ...(ctx.file ? { file: ctx.file } : {}),
  };
}
