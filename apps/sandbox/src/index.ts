export {
  detonate,
  detonateDetailed,
  sweepStaleRuns,
  SAMPLE_PATH,
  type DetonateOptions,
  type DetonationDetails,
  type DetonationEnvironment,
} from './detonate.ts';
export { createWorker, HttpError, type Worker, type WorkerDeps } from './worker.ts';
export { loadConfig, type SandboxConfig } from './config.ts';
export { classifySample, type SampleClass } from './sample-kind.ts';
export { parseStrace, analyzeTrace, type Behaviour, type StraceEvent } from './strace-parse.ts';
export {
  scoreBehaviour,
  verdictFor,
  SIGNATURES,
  MALICIOUS_AT,
  SUSPICIOUS_AT,
  type ScoreInput,
  type FileChange,
  type SinkEvent,
} from './score.ts';
export { buildReport, emptyReport } from './report.ts';
export { sweepStaleCgroups } from './limits.ts';
