// A finding is one observation about a file that the verdict weighs and the console shows.

export type Severity = 'info' | 'low' | 'medium' | 'high' | 'critical';

export interface Finding {
  /** Stable dotted id, e.g. `elf.packer.upx`; exclusions and tuning refer to it. */
  id: string;
  /** Points this finding adds to the file's 0–100 score (see verdict.ts). */
  weight: number;
  severity?: Severity;
  /** Human explanation the console shows. */
  message: string;
  /** What was seen (a string, a section name, an offset); bounded in length. */
  evidence?: string;
}

const MAX_EVIDENCE_CHARS = 200;

/** Builds a finding, trimming evidence to a printable bounded string. */
export function finding(id: string, weight: number, severity: Severity, message: string, evidence?: string): Finding {
  const f: Finding = { id, weight, severity, message };
  if (evidence !== undefined) f.evidence = printable(evidence, MAX_EVIDENCE_CHARS);
  return f;
}

/** Replaces control and non-ASCII characters and cuts to `max` characters. */
export function printable(s: string, max: number): string {
  // eslint-disable-next-line no-control-regex
  const clean = s.replace(/[\u0000-\u001f\u007f-\uffff]/g, '.');
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}
