// File analysis: type identification, ELF and script engines, anomaly model, verdict.
//
// On an exec cache miss the agent does, with the fd fanotify gave it (or a path):
//   const reader = fdReader(fd);                       // or openFileReader(path) … reader.close()
//   const r = scoreFile(reader, { mode: reader.mode, trust, model });
//   // r.verdict: 'malicious' | 'suspicious' | 'unknown' | 'benign', r.score 0–100, r.reasons[]
//   // r.analysis.type.kind is the policy FileKind (upload policy), r.analysis.findings for reports
// `trust` carries what the agent already knows (hash blocklist/allowlist, dpkg ownership + digest);
// `model` is parseAnomalyModel(JSON of packages/detection/models/elf-benign.json), optional.
export { bufferReader, Budget, BudgetExceededError, type ByteReader, type WorkCounter, type BudgetLimits } from './byte-reader.ts';
export { fdReader, openFileReader, type FileReader } from './file-reader.ts';
export * from './finding.ts';
export * from './file-type.ts';
export * from './elf.ts';
export * from './script.ts';
export * from './anomaly.ts';
export * from './verdict.ts';
export * from './analyze-file.ts';
export { entropy } from './entropy.ts';
export { findBase64Blob, findHexBlob } from './blobs.ts';
