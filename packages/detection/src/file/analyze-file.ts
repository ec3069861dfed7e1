// One call for the exec path: identify the file, run the engine for its kind, and (with scoreFile)
// turn the findings plus trust and the optional anomaly model into a verdict.
import type { ByteReader, WorkCounter } from './byte-reader.ts';
import { analyzeElf, type ElfAnalysis, type ElfLimits } from './elf.ts';
import { HEAD_BYTES, identifyFileType, type FileType } from './file-type.ts';
import type { Finding } from './finding.ts';
import { analyzeScript, SCRIPT_SCAN_CHARS, type ScriptAnalysis } from './script.ts';
import { anomalyScore, type AnomalyModel } from './anomaly.ts';
import { decideVerdict, type FileTrust, type FileVerdict } from './verdict.ts';

export interface FileAnalysis {
  type: FileType;
  findings: Finding[];
  elf?: ElfAnalysis;
  script?: ScriptAnalysis;
  work: WorkCounter;
}

export interface AnalyzeOptions {
  /** st_mode, for setuid/setgid. */
  mode?: number;
  elfLimits?: Partial<ElfLimits>;
}

/** Identifies and analyzes a file. Never throws on content; only the reader's own I/O errors propagate. */
export function analyzeFile(reader: ByteReader, options: AnalyzeOptions = {}): FileAnalysis {
  const head = reader.read(0, Math.min(reader.size, HEAD_BYTES));
  const type = identifyFileType(head);
  const work: WorkCounter = { bytesRead: head.length, steps: 0 };
  if (type.kind === 'elf') {
    const elfOpts: { mode?: number; limits?: Partial<ElfLimits> } = {};
    if (options.mode !== undefined) elfOpts.mode = options.mode;
    if (options.elfLimits) elfOpts.limits = options.elfLimits;
    const elf = analyzeElf(reader, elfOpts);
    work.bytesRead += elf.work.bytesRead;
    work.steps += elf.work.steps;
    return { type, findings: elf.findings, elf, work };
  }
  if (type.kind === 'script' || type.kind === 'text') {
    const bytes = head.length >= reader.size ? head : reader.read(0, Math.min(reader.size, SCRIPT_SCAN_CHARS));
    if (bytes !== head) work.bytesRead += bytes.length;
    const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
    const script = analyzeScript(text, type.script?.interpreter ?? '');
    return { type, findings: script.findings, script, work };
  }
  return { type, findings: [], work };
}

export interface ScoreOptions extends AnalyzeOptions {
  trust?: FileTrust;
  model?: AnomalyModel;
}

export interface FileScore extends FileVerdict {
  analysis: FileAnalysis;
}

/**
 * analyzeFile + decideVerdict: what the agent calls on an exec cache miss. Trust (hash lists,
 * package ownership) comes from the caller; the anomaly model only applies to ELF files.
 */
export function scoreFile(reader: ByteReader, options: ScoreOptions = {}): FileScore {
  const analysis = analyzeFile(reader, options);
  const input: Parameters<typeof decideVerdict>[0] = { findings: analysis.findings };
  if (options.trust) input.trust = options.trust;
  const role = analysis.elf?.role;
  // The model was trained on programs and libraries; objects and core files are not exec'd.
  if (options.model && analysis.elf?.parsed && (role === 'executable' || role === 'shared-library')) {
    input.anomaly = { score: anomalyScore(analysis.elf.features, options.model), model: `${options.model.name}@${options.model.version}` };
  }
  return { ...decideVerdict(input), analysis };
}
