import type { DetectionAction, DetectionEvent, Mode, Policy } from '@yamori/protocol';
import type { Isolation, KillFn } from './commands.ts';
import type { Log } from './agent.ts';
import type { Detection, ResponseAction, ResponseOutcome } from './modules.ts';
import type { AppliedPolicy } from './policy-store.ts';
import type { ProcessTree } from './process-tree.ts';
import type { Notifier } from './sensors.ts';

/**
 * The one place where a module's detection becomes an action: the module's mode (off / monitor /
 * block), the policy's exclusions, the responses in block mode (kill via pidfd, quarantine,
 * isolation), the popup, and the alert with what was done or what would have been done.
 */

export interface ResponderDeps {
  applied: () => AppliedPolicy | undefined;
  fallback: Policy;
  tree: ProcessTree;
  kill: KillFn;
  isolation: Isolation;
  quarantine?: ((path: string, reason: string, expectedSha256?: string) => Promise<string>) | undefined;
  notifier?: Notifier | undefined;
  record: (events: DetectionEvent[]) => void;
  log: Log;
  now: () => number;
  newId: () => string;
  language: 'en' | 'ja';
}

/** Strongest first: the alert's single `action` field names the strongest response. */
const STRENGTH: readonly ResponseAction[] = ['isolate_host', 'kill_tree', 'kill_process', 'quarantine_file'];
const SEVERITY = { informational: 10, low: 25, medium: 50, high: 75, critical: 95 } as const;

const strongest = (actions: readonly ResponseAction[]): DetectionAction =>
  STRENGTH.find((a) => actions.includes(a)) ?? 'alert';

export function createResponder(deps: ResponderDeps): (d: Detection) => Promise<ResponseOutcome> {
  return async (d) => {
    const applied = deps.applied();
    const policy = applied?.document ?? deps.fallback;
    const mode: Mode = policy.modules[d.module].mode;
    if (mode === 'off') return { mode, done: [], failed: [] };
    const node = d.process ? deps.tree.get(d.process.pid) : undefined;
    const subject = {
      module: d.module,
      ruleId: d.rule.id,
      path: node?.exe ?? d.file?.path,
      sha256: node?.sha256,
      parentPath: node ? deps.tree.get(node.ppid)?.exe : undefined,
    };
    const excluded = applied?.exclusions.find(subject, deps.now());
    // A file-targeted exclusion (path of the file acted on) also counts, e.g. a folder the backup tool owns.
    const excludedFile =
      excluded ?? (d.file?.path && d.file.path !== subject.path ? applied?.exclusions.find({ module: d.module, ruleId: d.rule.id, path: d.file.path }, deps.now()) : undefined);
    if (excludedFile) return { mode, excluded: `${excludedFile.kind} exclusion ${excludedFile.id}`, done: [], failed: [] };

    const done: ResponseAction[] = [];
    const failed: ResponseOutcome['failed'] = [];
    const reasons = [...d.reasons];
    if (mode === 'block') {
      // Kill before anything slower (quarantine, isolation): every millisecond counts against encryption.
      const kill: ResponseAction | undefined = d.actions.includes('kill_tree') ? 'kill_tree' : d.actions.includes('kill_process') ? 'kill_process' : undefined;
      const steps: ResponseAction[] = [...(kill ? [kill] : []), ...d.actions.filter((a) => a !== 'kill_tree' && a !== 'kill_process')];
      const run = async (action: ResponseAction): Promise<string> => {
        switch (action) {
          case 'kill_tree':
          case 'kill_process': {
            if (!d.process) throw new Error('no process to kill');
            const tree = action === 'kill_tree';
            const r = await deps.kill(d.process.pid, { tree, expectEntityId: d.process.entityId, rootPidfd: d.process.pidfd });
            return r.detail;
          }
          case 'quarantine_file': {
            if (!d.file?.path) throw new Error('no file to quarantine');
            if (!deps.quarantine) throw new Error('quarantine store unavailable');
            return deps.quarantine(d.file.path, `${d.rule.id}: ${d.rule.name}`, d.file.hash?.sha256);
          }
          case 'isolate_host':
            return deps.isolation.isolate([]);
        }
      };
      for (const action of steps) {
        try {
          const detail = await run(action);
          done.push(action);
          reasons.push(`${action}: ${detail}`);
        } catch (err) {
          const error = (err as Error).message;
          failed.push({ action, error });
          reasons.push(`${action} failed: ${error}`);
          deps.log('error', `response ${action} failed`, { rule: d.rule.id, error });
        }
      }
      if (d.actions.length > 0 && deps.notifier && d.process) {
        deps.notifier.popup(policy.popup[deps.language], { pid: d.process.pid, path: node?.exe ?? d.file?.path ?? '', uid: node?.uid });
      }
    }
    const wouldHave = strongest(d.actions);
    const action: DetectionAction = mode === 'block' ? (done.length > 0 ? strongest(done) : 'alert') : 'none';
    const proc = d.process ? deps.tree.toEcs(d.process.pid) : undefined;
    const alert: DetectionEvent = {
      '@timestamp': new Date(deps.now()).toISOString(),
      event: {
        id: deps.newId(),
        dataset: 'yamori.alert',
        kind: 'alert',
        category: ['intrusion_detection'],
        type: [done.some((a) => a.startsWith('kill')) ? 'denied' : 'info'],
        action: mode === 'block' ? (done.length > 0 ? `${d.module}_${strongest(done)}` : `${d.module}_alert`) : `${d.module}_would_${wouldHave}`,
        outcome: failed.length > 0 ? 'failure' : 'success',
        severity: SEVERITY[d.rule.level],
      },
      rule: {
        id: d.rule.id.slice(0, 128),
        name: d.rule.name.slice(0, 256),
        level: d.rule.level,
        ...(d.rule.ruleset ? { ruleset: d.rule.ruleset } : {}),
        ...(d.rule.description ? { description: d.rule.description.slice(0, 4096) } : {}),
      },
      yamori: {
        module: d.module,
        mode,
        action,
        ...(mode === 'monitor' && wouldHave !== 'alert' ? { would_have: wouldHave } : {}),
        reasons: reasons.slice(0, 64).map((r) => r.slice(0, 1024)),
        ...(d.score !== undefined ? { score: d.score } : {}),
      },
      ...(d.techniques?.length ? { threat: { technique: d.techniques.slice(0, 32).map((id) => ({ id })) } } : {}),
      ...(proc ? { process: proc } : d.process ? { process: { entity_id: d.process.entityId ?? '', pid: d.process.pid } } : {}),
      ...(d.file ? { file: d.file } : {}),
      ...(d.destination ? { destination: d.destination } : {}),
    };
    deps.record([alert]);
    return { mode, done, failed, alert };
  };
}
