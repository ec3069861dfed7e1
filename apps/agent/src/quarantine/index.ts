export {
  openQuarantineStore,
  QuarantineError,
  DEFAULT_QUARANTINE_DIR,
  type QuarantineStore,
  type QuarantineEntry,
  type QuarantineRequest,
  type RestoreOptions,
  type QuarantineErrorCode,
  type QuarantineStoreDeps,
} from './store.ts';
export { shouldQuarantine } from './quarantine-policy.ts';
export { createQuarantineCommandHandler } from './command.ts';
