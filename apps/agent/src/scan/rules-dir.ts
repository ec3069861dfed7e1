// Loads YARA rule files from a directory (or a single file) and compiles them, so that a scan can
// say which files and rules did not compile and go on with the rest.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { compileYaraRules, type YaraCompileResult, type YaraDiagnostic } from '@yamori/detection';

export const RULE_FILE_EXTENSIONS = ['.yar', '.yara'];

export interface LoadedRules extends YaraCompileResult {
  /** Files that could not be read at all (listed with the compile errors by the CLI). */
  readErrors: YaraDiagnostic[];
}

async function listRuleFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  for (const e of entries) {
    if (!e.isFile() && !e.isSymbolicLink()) continue;
    if (!RULE_FILE_EXTENSIONS.some((x) => e.name.toLowerCase().endsWith(x))) continue;
    out.push(join(e.parentPath, e.name));
  }
  return out.sort();
}

/** Compiles every .yar/.yara under `path` (or the one file `path`), skipping broken files. */
export async function loadYaraRules(path: string, mode: 'strict' | 'skip-broken' = 'skip-broken'): Promise<LoadedRules> {
  const s = await stat(path);
  const base = s.isDirectory() ? path : join(path, '..');
  const files = s.isDirectory() ? await listRuleFiles(path) : [path];
  const readErrors: YaraDiagnostic[] = [];
  const sources: { name: string; source: string }[] = [];
  for (const f of files) {
    const name = relative(base, f) || f;
    try {
      sources.push({ name, source: await readFile(f, 'utf8') });
    } catch (err) {
      readErrors.push({ level: 'error', file: name, line: 0, rule: null, message: `cannot read rule file: ${(err as Error).message}` });
    }
  }
  const compiled = await compileYaraRules(sources, { mode });
  return { ...compiled, readErrors, rejected: [...compiled.rejected, ...readErrors.map((e) => e.file)] };
}
