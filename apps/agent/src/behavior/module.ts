import type { AnyEvent, SensorState } from '@yamori/protocol';
import {
  createSequenceEngine,
  loadSigmaPack,
  resolveSigmaField,
  YAMORI_SIGMA_RULES_DIR,
  type CompiledSigmaRule,
  type SequenceEngine,
  type SequenceMatch,
  type SigmaEngine,
} from '@yamori/detection';
import type { AgentModule, Detection, ModuleContext, ResponseAction } from '../modules.ts';

/**
 * Behaviour protection on the agent: every process, file and network event goes through the
 * Sigma engine (Yamori's pack by default); a match becomes a detection whose `yamori.response`
 * (kill_process, kill_tree, quarantine_file, isolate_host) the responder runs in block mode, or
 * reports as "would have" in monitor mode. One alert per rule and process: a shell that matches
 * the same rule on every command would otherwise flood the console. Sigma correlation rules
 * (sequences) run here too: their steps are matched per process tree, and the rules they refer to
 * report nothing on their own.
 */

/** What a sequence remembers of each step: enough to relate later steps and to name the culprit. */
interface Step {
  pid: number;
  entityId?: string | undefined;
  parentPid?: number | undefined;
  parentEntityId?: string | undefined;
}

export interface BehaviorModuleOptions {
  /** Rule files or directories (default: Yamori's pack). */
  rulePaths?: readonly string[];
  /** How long a (rule, process) pair stays reported (ms, default 10 min). */
  dedupMs?: number;
}

const DATASETS = new Set(['yamori.process', 'yamori.file', 'yamori.network', 'yamori.dns']);

export interface BehaviorModule extends AgentModule {
  /** Rules loaded and the files that failed (for status and tests). */
  rules(): { loaded: number; errors: { file: string; line?: number | undefined; reason: string }[] };
}

export function createBehaviorModule(options: BehaviorModuleOptions = {}): BehaviorModule {
  const dedupMs = options.dedupMs ?? 600_000;
  let ctx: ModuleContext | undefined;
  let engine: SigmaEngine | undefined;
  let sequences: SequenceEngine<Step> | undefined;
  let loadErrors: { file: string; line?: number | undefined; reason: string }[] = [];
  let startError: string | undefined;
  let matches = 0;
  let failures = 0;
  const reported = new Map<string, number>();

  const actingProcess = (ev: AnyEvent): Detection['process'] => {
    if (!('process' in ev) || !ev.process) return undefined;
    const p = ev.process;
    return { pid: p.pid, ...(p.entity_id ? { entityId: p.entity_id } : {}) };
  };

  function detection(rule: CompiledSigmaRule, ev: AnyEvent): Detection {
    const r = rule.rule;
    const actions = rule.result.response.filter((a): a is ResponseAction => a !== 'alert');
    const proc = actingProcess(ev);
    const reasons = [`Sigma rule "${r.title}" (${r.id}) matched a ${rule.category.replace('_', ' ')} event`];
    if ('process' in ev && ev.process && 'command_line' in ev.process && ev.process.command_line) {
      reasons.push(`command line: ${ev.process.command_line.slice(0, 900)}`);
    } else if ('process' in ev && ev.process?.executable) reasons.push(`process: ${ev.process.executable}`);
    if (ev.event.dataset === 'yamori.file' && 'file' in ev) reasons.push(`file: ${ev.file.path}`);
    if (ev.event.dataset === 'yamori.network' && 'destination' in ev) reasons.push(`destination: ${ev.destination.ip}:${ev.destination.port ?? ''}`);
    return {
      module: 'behavior',
      rule: {
        id: r.id,
        name: r.title,
        ruleset: r.file.includes('/rules/yamori/') ? 'yamori' : 'sigma',
        level: r.level,
        ...(r.description ? { description: r.description } : {}),
      },
      reasons,
      techniques: [...rule.result.techniques],
      actions,
      ...(proc ? { process: proc } : {}),
      ...(ev.event.dataset === 'yamori.file' && 'file' in ev ? { file: ev.file } : {}),
      ...(ev.event.dataset === 'yamori.network' && 'destination' in ev ? { destination: ev.destination } : {}),
    };
  }

  /**
   * Same process tree: the later step is the first step's process, a sibling (same parent), or a
   * descendant of the first step's parent (the shell that drives the chain).
   */
  function sameTree(first: Step, later: Step): boolean {
    if (later.entityId !== undefined && later.entityId === first.entityId) return true;
    const root = first.parentEntityId;
    if (root === undefined) return false;
    if (later.parentEntityId === root) return true;
    return ctx?.tree.ancestors(later.pid, 16).some((n) => n.entityId === root || n.entityId === first.entityId) ?? false;
  }

  function sequenceDetection(m: SequenceMatch<Step>): Detection {
    const c = m.correlation;
    const first = m.steps[0] as Step;
    // The sequence's culprit is the process tree that ran it: the first step's parent, else its own process.
    const culprit = first.parentPid !== undefined && first.parentPid > 1 ? { pid: first.parentPid, entityId: first.parentEntityId } : { pid: first.pid, entityId: first.entityId };
    return {
      module: 'behavior',
      rule: { id: c.id, name: c.title, ruleset: c.file.includes('/rules/yamori/') ? 'yamori' : 'sigma', level: c.level, ...(c.description ? { description: c.description } : {}) },
      reasons: [
        `Sigma sequence "${c.title}" (${c.id}): ${c.ruleIds.length} steps within ${c.timespanMs / 1000} s in one process tree`,
        ...m.steps.map((s, i) => `step ${i + 1}: ${ctx?.tree.get(s.pid)?.argv.join(' ').slice(0, 400) ?? `pid ${s.pid}`}`),
      ],
      techniques: [...c.techniques],
      actions: c.response.filter((a): a is ResponseAction => a !== 'alert'),
      process: culprit,
    };
  }

  return {
    name: 'behavior',
    async start(c) {
      ctx = c;
      try {
        const pack = await loadSigmaPack(options.rulePaths ?? [YAMORI_SIGMA_RULES_DIR]);
        engine = pack.engine;
        sequences = createSequenceEngine<Step>(pack.correlations, { sameTree });
        loadErrors = pack.errors.map((e) => ({ file: e.file, line: e.line, reason: e.reason }));
        if (loadErrors.length > 0) c.log('warn', 'behaviour rules that did not load', { errors: loadErrors.slice(0, 20) });
        c.log('info', 'behaviour rules loaded', { rules: pack.compiled.length, sequences: pack.correlations.length, errors: loadErrors.length });
      } catch (err) {
        startError = (err as Error).message;
        throw err;
      }
    },
    async stop() {
      ctx = undefined;
    },
    onEvent(ev) {
      if (!engine || !ctx || !DATASETS.has(ev.event.dataset)) return;
      if (ev.event.dataset === 'yamori.process' && !ev.event.type.includes('start')) return;
      const hits = engine.matchRules(ev);
      if (hits.length === 0) return;
      const t = ctx.now();
      const proc = actingProcess(ev);
      const c = ctx;
      const report = (d: Detection, id: string) =>
        c.respond(d).catch((err: unknown) => {
          failures++;
          c.log('error', 'behaviour response failed', { rule: id, error: (err as Error).message });
        });
      if (sequences && sequences.correlations.length > 0 && proc) {
        const parent = 'process' in ev && ev.process && 'parent' in ev.process ? ev.process.parent : undefined;
        const node = c.tree.get(proc.pid);
        const step: Step = {
          pid: proc.pid,
          entityId: proc.entityId,
          parentPid: parent?.pid ?? node?.ppid,
          parentEntityId: parent?.entity_id ?? node?.parentEntityId,
        };
        const category = hits[0]?.category;
        const group = (field: string): string | undefined => {
          const r = category ? resolveSigmaField(category, field) : undefined;
          const v = r && 'slot' in r ? r.slot.get(ev as unknown as Record<string, unknown>) : undefined;
          return v === undefined ? undefined : Array.isArray(v) ? v.join('\0') : String(v);
        };
        for (const m of sequences.observe({ ruleIds: new Set(hits.map((h) => h.rule.id)), group, context: step, at: t })) {
          matches++;
          void report(sequenceDetection(m), m.correlation.id);
        }
      }
      for (const rule of hits) {
        if (sequences?.silentRuleIds.has(rule.rule.id)) continue;
        const key = `${rule.rule.id}\0${proc?.entityId ?? proc?.pid ?? ''}`;
        const last = reported.get(key);
        if (last !== undefined && t - last < dedupMs) continue;
        if (reported.size >= 10_000) {
          for (const [k, at] of reported) if (t - at >= dedupMs) reported.delete(k);
          if (reported.size >= 10_000) reported.clear();
        }
        reported.set(key, t);
        matches++;
        void report(detection(rule, ev), rule.rule.id);
      }
    },
    rules: () => ({ loaded: engine?.rules.length ?? 0, errors: loadErrors }),
    state(): SensorState {
      if (!engine) return { name: 'behavior', state: 'off', reason: startError ? `rules failed to load: ${startError}` : 'not started' };
      const detail = `${engine.rules.length} Sigma rules, ${sequences?.correlations.length ?? 0} sequences, ${matches} matches`;
      if (loadErrors.length > 0 || failures > 0) {
        return { name: 'behavior', state: 'degraded', reason: `${detail}; ${loadErrors.length} rule files failed to load, ${failures} responses failed`.slice(0, 1024) };
      }
      return { name: 'behavior', state: 'active', reason: detail };
    },
  };
}
