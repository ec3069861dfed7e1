export { scanTree, type ScanTreeOptions, type ScanSummary, type ScanProgress, type ScanEvent } from './scanner.ts';
export { scanFile, toEngineFindings, createFileScanEngine, yaraDetection, type ScanEngines, type FileScanResult, type Detection, type YaraStatus } from './file-scan.ts';
export { walkTree, type WalkEntry, type WalkOptions, type WalkSkipReason } from './walk.ts';
export { isEicar, parseHashBlocklist, EICAR_SIGNATURE_NAME, EMPTY_BLOCKLIST, type HashBlocklist, type BlocklistParse } from './builtin-signatures.ts';
export { loadYaraRules, RULE_FILE_EXTENSIONS, type LoadedRules } from './rules-dir.ts';
export { createProgressReporter, formatProgressBar, formatProgressLine, formatSummary, formatBytes, type ProgressSink } from './progress.ts';
export { createScanScheduler, nextScanAt, type ScanScheduler, type ScanSchedulerDeps } from './schedule.ts';
export { createScanCommandHandler, type ScanCommandDeps as ScanCommandHandlerDeps } from './command.ts';
export { createScheduledScanModule, scanDetection, type ScheduledScanDeps, type ScheduledScanModule } from './scheduled.ts';
