/**
 * Reading rule files from disk (the only I/O in the Sigma module): a file or a directory tree of
 * `.yml`/`.yaml` files → parsed rules and the errors of those that did not parse.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { compileRules, type EngineOptions, type SigmaEngine } from './engine.ts';
import type { CompiledRule } from './compile.ts';
import { isCorrelationText, parseSigmaCorrelation, resolveCorrelations, type ResolvedCorrelation, type SigmaCorrelation } from './correlation.ts';
import { parseSigmaRule } from './parse.ts';
import type { RuleError, SigmaRule } from './types.ts';

async function ruleFiles(path: string): Promise<string[]> {
  const st = await stat(path);
  if (!st.isDirectory()) return [path];
  const entries = await readdir(path, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && /\.ya?ml$/i.test(e.name))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

/** Parse every rule file under `path` (a file or a directory, recursively). */
export async function loadSigmaDir(path: string): Promise<{ rules: SigmaRule[]; correlations: SigmaCorrelation[]; errors: RuleError[] }> {
  const rules: SigmaRule[] = [];
  const correlations: SigmaCorrelation[] = [];
  const errors: RuleError[] = [];
  for (const file of await ruleFiles(path)) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      errors.push({ file, reason: `cannot read: ${e instanceof Error ? e.message : String(e)}` });
      continue;
    }
    if (isCorrelationText(text)) {
      const c = parseSigmaCorrelation(text, file);
      if (c.ok) correlations.push(c.correlation);
      else errors.push(c.error);
      continue;
    }
    const r = parseSigmaRule(text, file);
    if (r.ok) rules.push(r.rule);
    else errors.push(r.error);
  }
  return { rules, correlations, errors };
}

/** Load and compile rule packs: the good rules make the engine, the bad ones are reported. */
export async function loadSigmaPack(
  paths: readonly string[],
  options: EngineOptions = {},
): Promise<{ engine: SigmaEngine; compiled: readonly CompiledRule[]; correlations: ResolvedCorrelation[]; errors: RuleError[]; files: number }> {
  const rules: SigmaRule[] = [];
  const correlations: SigmaCorrelation[] = [];
  const errors: RuleError[] = [];
  for (const p of paths) {
    const r = await loadSigmaDir(p);
    rules.push(...r.rules);
    correlations.push(...r.correlations);
    errors.push(...r.errors);
  }
  const c = compileRules(rules, options);
  const corr = resolveCorrelations(correlations, c.compiled.map((x) => ({ id: x.rule.id, title: x.rule.title })));
  return {
    engine: c.engine,
    compiled: c.compiled,
    correlations: corr.resolved,
    errors: [...errors, ...c.errors, ...corr.errors],
    files: rules.length + correlations.length + errors.length,
  };
}
