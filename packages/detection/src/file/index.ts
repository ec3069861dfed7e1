// File analysis: type identification, ELF and script engines, anomaly model, verdict.
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
