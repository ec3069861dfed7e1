import { readFileSync } from 'node:fs';
import { DEFAULT_ANOMALY_MODEL_URL, fdReader, openFileReader, parseAnomalyModel, scoreFile, type AnomalyModel, type FileReader, type FileScore } from '@yamori/detection';
import type { ExecEngine } from './agent.ts';
import type { EngineFinding } from './decision.ts';
import type { PackageTrust } from './package-trust.ts';

/**
 * The static file-analysis engine on the exec path: on a decision cache miss, score the file the
 * kernel opened for the exec (the gate's fd; the path only when no fd is given) with the ELF/script
 * engines and the benign-ELF anomaly model (parsed once). The work per file is bounded by the
 * engines' own budgets (DEFAULT_ELF_LIMITS: ≤ 24 MiB read, 200k steps). Results are remembered per
 * sha256, so a file is scored once however often it runs.
 */
export const STATIC_RULES = {
  malicious: { id: 'yamori.static.malicious', name: 'Static analysis: malicious file' },
  suspicious: { id: 'yamori.static.suspicious', name: 'Static analysis: suspicious file' },
} as const;

export interface FileEngineOptions {
  /** The anomaly model; default: @yamori/detection's models/elf-benign.json (undefined if unreadable). */
  model?: AnomalyModel | null;
  /** Files larger than this are not scored (default 64 MiB). */
  maxFileBytes?: number;
  /** Remembered scores (default 4096). */
  memo?: number;
  onScore?: (sha256: string, score: FileScore, ms: number) => void;
  /** Package-manager trust: a package's own, unmodified file is benign whatever its features. */
  packageTrust?: PackageTrust;
}

export function loadDefaultModel(): AnomalyModel | undefined {
  try {
    return parseAnomalyModel(JSON.parse(readFileSync(DEFAULT_ANOMALY_MODEL_URL, 'utf8')));
  } catch {
    return undefined;
  }
}

/** EngineFindings for the decision pipeline from one score (unknown and benign say nothing). */
export function findingsOf(score: Pick<FileScore, 'verdict' | 'score' | 'reasons'>): EngineFinding[] {
  if (score.verdict !== 'malicious' && score.verdict !== 'suspicious') return [];
  const rule = STATIC_RULES[score.verdict];
  return [
    {
      verdict: score.verdict,
      module: 'malware',
      ruleId: rule.id,
      ruleName: rule.name,
      ruleset: 'yamori.static',
      score: score.score,
      reasons: score.reasons.slice(0, 16).map((r) => `${r.id}: ${r.message}${r.evidence ? ` (${r.evidence})` : ''}`),
    },
  ];
}

export function createFileEngine(options: FileEngineOptions = {}): ExecEngine {
  const model = options.model === null ? undefined : (options.model ?? loadDefaultModel());
  const maxBytes = options.maxFileBytes ?? 64 * 1024 * 1024;
  const memoMax = options.memo ?? 4096;
  const memo = new Map<string, EngineFinding[]>();
  // scores under way: an exec of a file still being prepared (ADR 0011) waits for that score
  const scoring = new Map<string, Promise<EngineFinding[]>>();
  const score = async (req: Parameters<ExecEngine>[0], key: string): Promise<EngineFinding[]> => {
    let reader: FileReader | undefined;
    try {
      reader = req.fd !== undefined && req.fd >= 0 ? fdReader(req.fd) : openFileReader(req.path);
      if (reader.size > maxBytes) return [];
      const t0 = performance.now();
      const owned = await options.packageTrust?.check(req.path, req.fd);
      const trust = owned ? { package: { name: owned.package, digestMatches: owned.digestMatches } } : undefined;
      const score = scoreFile(reader, { mode: reader.mode, ...(model ? { model } : {}), ...(trust ? { trust } : {}) });
      options.onScore?.(req.sha256, score, performance.now() - t0);
      const out = findingsOf(score);
      if (memo.size >= memoMax) memo.delete(memo.keys().next().value as string);
      memo.set(key, out);
      return out;
    } finally {
      reader?.close();
    }
  };
  return async (req) => {
    // Package ownership depends on the path, so the memo is per content and path.
    const key = `${req.sha256}\0${req.path}`;
    const known = memo.get(key) ?? scoring.get(key);
    if (known) return known;
    const p = score(req, key).finally(() => scoring.delete(key));
    scoring.set(key, p);
    return p;
  };
}
