import type { AnyEvent, DetectionEvent, Policy, ProtectionModule, SensorState } from '@yamori/protocol';
import type { LinuxSensors } from '@yamori/sensor-linux';
import type { Log } from './agent.ts';
import type { AppliedPolicy } from './policy-store.ts';
import type { ProcConnectorEvent, ProcessTree } from './process-tree.ts';

/**
 * Protection modules that watch what happens after a program started (behaviour rules, exploit
 * techniques, ransomware decoys …) plug into the agent through this interface. The agent owns
 * the telemetry stream, the process tree and the response: a module only decides that something
 * is a detection and which responses it asks for; `respond` applies the module's mode, the
 * policy's exclusions, runs the responses in block mode and records the alert.
 */

/** Responses a module may ask for (honoured in block mode only; alert is always implied). */
export type ResponseAction = 'kill_process' | 'kill_tree' | 'quarantine_file' | 'isolate_host';

export interface Detection {
  module: ProtectionModule;
  rule: {
    id: string;
    name: string;
    ruleset?: string;
    description?: string;
    level: 'informational' | 'low' | 'medium' | 'high' | 'critical';
  };
  /** Human explanations shown in the console (why this matched). */
  reasons: string[];
  /** ATT&CK technique ids (T1059.004 …). */
  techniques?: string[];
  actions: readonly ResponseAction[];
  /**
   * The process acting. `pidfd` (valid during the call) makes the kill race-free; `entityId`
   * guards against pid reuse when no pidfd is at hand.
   */
  process?: { pid: number; pidfd?: number | undefined; entityId?: string | undefined };
  /** The file acted on (quarantine_file takes this path). */
  file?: DetectionEvent['file'];
  destination?: DetectionEvent['destination'];
  score?: number;
}

export interface ResponseOutcome {
  /** Excluded by the policy (nothing recorded). */
  excluded?: string;
  mode: 'off' | 'monitor' | 'block';
  /** What actually ran (block mode). */
  done: ResponseAction[];
  /** Responses that failed, with the reason (also in the alert's reasons). */
  failed: { action: ResponseAction; error: string }[];
  /** The alert recorded, if any. */
  alert?: DetectionEvent;
}

export interface ModuleContext {
  policy(): Policy;
  applied(): AppliedPolicy | undefined;
  /** Queue telemetry (validated like every other event). */
  record(events: readonly AnyEvent[]): void;
  /** Report a detection: mode, exclusions, responses, popup and alert are handled here. */
  respond(d: Detection): Promise<ResponseOutcome>;
  readonly tree: ProcessTree;
  readonly log: Log;
  now(): number;
  newId(): string;
  readonly stateDir: string;
  /** The native sensors, for a module that needs its own fanotify group (decoys); absent without the addon. */
  readonly native?: LinuxSensors | undefined;
}

export interface AgentModule {
  readonly name: string;
  start(ctx: ModuleContext): Promise<void>;
  stop(): Promise<void>;
  applyPolicy?(policy: AppliedPolicy): void;
  /**
   * Every telemetry event the agent records (process start/end after the tree, file, network), before
   * the telemetry filter: a module sees events even when their kind is not uploaded. Must be quick and
   * must not throw (errors are caught and counted).
   */
  onEvent?(ev: AnyEvent): void;
  /** Proc connector events the tree does not turn into telemetry (uid/gid changes, ptrace attach) and the ones it does. */
  onProcEvent?(ev: ProcConnectorEvent): void;
  state(): SensorState;
}
