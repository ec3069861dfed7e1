import type { AnyEvent, SensorState } from '@yamori/protocol';
import { loadSigmaPack, YAMORI_SIGMA_RULES_DIR, type CompiledSigmaRule, type SigmaEngine } from '@yamori/detection';
import type { AgentModule, Detection, ModuleContext, ResponseAction } from '../modules.ts';

/**
 * Behaviour protection on the agent: every process, file and network event goes through the
 * Sigma engine (Yamori's pack by default); a match becomes a detection whose `yamori.response`
 * (kill_process, kill_tree, quarantine_file, isolate_host) the responder runs in block mode, or
 * reports as "would have" in monitor mode. One alert per rule and process: a shell that matches
 * the same rule on every command would otherwise flood the console.
 */

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

  return {
    name: 'behavior',
    async start(c) {
      ctx = c;
      try {
        const pack = await loadSigmaPack(options.rulePaths ?? [YAMORI_SIGMA_RULES_DIR]);
        engine = pack.engine;
        loadErrors = pack.errors.map((e) => ({ file: e.file, line: e.line, reason: e.reason }));
        if (loadErrors.length > 0) c.log('warn', 'behaviour rules that did not load', { errors: loadErrors.slice(0, 20) });
        c.log('info', 'behaviour rules loaded', { rules: pack.compiled.length, errors: loadErrors.length });
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
      for (const rule of hits) {
        const key = `${rule.rule.id}\0${proc?.entityId ?? proc?.pid ?? ''}`;
        const last = reported.get(key);
        if (last !== undefined && t - last < dedupMs) continue;
        if (reported.size >= 10_000) {
          for (const [k, at] of reported) if (t - at >= dedupMs) reported.delete(k);
          if (reported.size >= 10_000) reported.clear();
        }
        reported.set(key, t);
        matches++;
        const c = ctx;
        c.respond(detection(rule, ev)).catch((err: unknown) => {
          failures++;
          c.log('error', 'behaviour response failed', { rule: rule.rule.id, error: (err as Error).message });
        });
      }
    },
    rules: () => ({ loaded: engine?.rules.length ?? 0, errors: loadErrors }),
    state(): SensorState {
      if (!engine) return { name: 'behavior', state: 'off', reason: startError ? `rules failed to load: ${startError}` : 'not started' };
      const detail = `${engine.rules.length} Sigma rules, ${matches} matches`;
      if (loadErrors.length > 0 || failures > 0) {
        return { name: 'behavior', state: 'degraded', reason: `${detail}; ${loadErrors.length} rule files failed to load, ${failures} responses failed`.slice(0, 1024) };
      }
      return { name: 'behavior', state: 'active', reason: detail };
    },
  };
}
