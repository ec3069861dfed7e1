import type { DnsEvent, FileEvent, NetworkEvent, Policy, SensorState } from '@yamori/protocol';
import type { ProcConnectorEvent } from './process-tree.ts';

/**
 * What the agent core needs from the native sensors. The sensor package (fanotify, proc
 * connector) is adapted to these interfaces at the composition root; tests use fakes.
 */

/** One FAN_OPEN_EXEC_PERM event: `pid` is the process calling execve, `path` the file to run. */
export interface ExecRequest {
  pid: number;
  path: string;
  /** Content hash if the sensor computed it (e.g. from the event fd). */
  sha256?: string | undefined;
  /** Hash the file from the event's fd (preferred over re-opening `path`, which can be swapped). */
  hash?: (() => Promise<string>) | undefined;
  /**
   * The file being executed, opened by the kernel: readable with positional reads until the
   * answer (local engines read this rather than re-opening `path`).
   */
  fd?: number | undefined;
  /** What the sensor read while the exec was held: the new image's argv, cwd, user (short-lived processes). */
  capture?: ExecCaptureInfo | undefined;
  /** When the sensor's own fail rule answers (Date.now() ms): the decision should be in before. */
  deadline?: number | undefined;
}

/** The exec as seen while it was held in execve (see @yamori/sensor-linux captureExec). */
export interface ExecCaptureInfo {
  ppid: number;
  uid: number;
  gid: number;
  argv: string[];
  cwd: string;
  /** The file being executed. */
  exe: string;
  /** Watched environment variables (LD_PRELOAD …) the new image gets, as NAME=value. */
  env?: string[] | undefined;
}

export interface ExecAnswer {
  allow: boolean;
  /** The sensor may remember "allow" for this unmodified file (ignore mark) and stop asking. */
  cache: boolean;
}

/**
 * Work the agent does ahead of an exec, for a file that was just written and may run soon (a gate
 * that watches writes calls it; see docs/adr/0011). Preparation decides nothing.
 */
export interface ExecPreparer {
  /** False while the agent sheds deep work: the sensor then does not pre-hash written files. */
  wanted(): boolean;
  /** Warm what the exec's decision will need for this content (engine memos, the server's answer). */
  prepare(file: { path: string; sha256: string; fd: number }): Promise<void>;
}

export interface ExecGate {
  readonly name: string;
  /**
   * Start delivering exec permission events to `decide`. The gate must answer the kernel even if
   * `decide` is late: `setFallback` gives it the policy's timeout and fail rule for that case.
   * With `preparer`, files written on the gate's filesystems may be hashed and prepared before
   * they run.
   */
  start(decide: (req: ExecRequest) => Promise<ExecAnswer>, preparer?: ExecPreparer): Promise<void>;
  stop(): Promise<void>;
  /** Drop cached answers (native cache, kernel ignore marks): all, or the files with these hashes. */
  flush(sha256s?: readonly string[]): void;
  setFallback?(timeoutMs: number, onTimeout: 'allow' | 'deny'): void;
  /** The whole exec section of a new policy (timeout, fail rule, fail-closed paths). */
  applyPolicy?(policy: Policy): void;
  state(): SensorState;
}

export interface EventSource<E> {
  readonly name: string;
  start(listener: (event: E) => void): Promise<void>;
  stop(): Promise<void>;
  /** Reconfigure from a new policy (watched paths, telemetry kinds …). */
  applyPolicy?(policy: Policy): void;
  state(): SensorState;
}

/** Shows the policy's popup text to the user whose program was blocked. */
export interface Notifier {
  /** `uid`: who ran it, when the caller knows (the process may be gone, e.g. after a kill). Never throws. */
  popup(text: { title: string; body: string }, ctx: { pid: number; path: string; uid?: number | undefined }): void;
  /** Delivery health (failures, flood-limited popups). */
  state?(): SensorState;
}

export interface Sensors {
  execGate?: ExecGate | undefined;
  procEvents?: EventSource<ProcConnectorEvent> | undefined;
  /** File events already in ECS form (the sensor knows the path and the acting pid). */
  fileEvents?: EventSource<FileEvent> | undefined;
  netEvents?: EventSource<NetworkEvent | DnsEvent> | undefined;
  notifier?: Notifier | undefined;
}
