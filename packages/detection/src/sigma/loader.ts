/**
 * Reading rule files from disk (the only I/O in the Sigma module): a file or a directory tree of
 * `.yml`/`.yaml` files → parsed rules and the errors of those that did not parse.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { compileRules, type EngineOptions, type SigmaEngine } from './engine.ts';
import type { CompiledRule } from './compile.ts';
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
export async function loadSigmaDir(path: string): Promise<{ rules: SigmaRule[]; errors: RuleError[] }> {
  const rules: SigmaRule[] = [];
  const errors: RuleError[] = [];
  for (const file of await ruleFiles(path)) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      errors.push({ file, reason: `cannot read: ${e instanceof Error ? e.message : String(e)}` });
      continue;
    }
    const r = parseSigmaRule(text, file);
    if (r.ok) rules.push(r.rule);
    else errors.push(r.error);
  }
  return { rules, errors };
}

/** Load and compile rule packs: the good rules make the engine, the bad ones are reported. */
export async function loadSigmaPack(
  paths: readonly string[],
  options: EngineOptions = {},
): Promise<{ engine: SigmaEngine; compiled: readonly CompiledRule[]; errors: RuleError[]; files: number }> {
  const rules: SigmaRule[] = [];
  const errors: RuleError[] = [];
  for (const p of paths) {
    const r = await loadSigmaDir(p);
    rules.push(...r.rules);
    errors.push(...r.errors);
  }
  const c = compileRules(rules, options);
  return { engine: c.engine, compiled: c.compiled, errors: [...errors, ...c.errors], files: rules.length + errors.length };
}
