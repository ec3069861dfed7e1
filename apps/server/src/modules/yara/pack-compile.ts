import { compileYaraRules, formatYaraDiagnostic, YaraUnavailableError } from '@yamori/detection';
import type { YaraRuleSource } from '@yamori/protocol';
import { AppError, InvalidInputError } from '../../lib/errors.ts';

/**
 * Strict compile of one uploaded pack with libyara, in-process: any error refuses the whole pack
 * with one line per diagnostic (`file:line: error in rule R: reason`) in the 400's details.
 * Returns the number of rules. Packs compile in their own namespace on the agents, so a pack is
 * checked alone here.
 */
export async function compilePackOrThrow(files: readonly YaraRuleSource[]): Promise<{ ruleCount: number; warnings: string[] }> {
  let r;
  try {
    r = await compileYaraRules(files.map((f) => ({ name: f.name, source: f.source, namespace: 'pack' })), { mode: 'strict' });
  } catch (e) {
    if (e instanceof YaraUnavailableError) throw new AppError('unavailable', `this server cannot check YARA rules (libyara unavailable: ${e.message}); nothing was stored`);
    throw e;
  }
  if (r.errors.length > 0 || !r.ruleset) {
    const details = r.errors.slice(0, 200).map(formatYaraDiagnostic);
    if (details.length === 0) details.push('the rules compiled to nothing');
    const nFiles = new Set(r.errors.map((e) => e.file)).size;
    throw new InvalidInputError(
      `YARA rules do not compile: ${r.errors.length} error${r.errors.length === 1 ? '' : 's'} in ${nFiles} file${nFiles === 1 ? '' : 's'}; nothing was stored. ${details.slice(0, 5).join('; ')}`,
      details,
    );
  }
  if (r.ruleset.ruleCount === 0) throw new InvalidInputError('the pack holds no YARA rules; nothing was stored');
  return { ruleCount: r.ruleset.ruleCount, warnings: r.warnings.map(formatYaraDiagnostic) };
}

/** `source` becomes one file named after the pack; `files` are checked for duplicate names. */
export function packFiles(name: string, body: { source?: string | undefined; files?: YaraRuleSource[] | undefined }): YaraRuleSource[] | undefined {
  if (body.source !== undefined && body.files !== undefined) throw new InvalidInputError('send either source (one rule text) or files (several), not both');
  if (body.source !== undefined) {
    const base = name.replace(/[^A-Za-z0-9_.+-]+/g, '_').replace(/^[^A-Za-z0-9_]+/, '').slice(0, 190) || 'rules';
    return [{ name: `${base}.yar`, source: body.source }];
  }
  if (body.files === undefined) return undefined;
  const seen = new Set<string>();
  for (const f of body.files) {
    if (seen.has(f.name)) throw new InvalidInputError(`file name "${f.name}" appears twice in the pack`);
    seen.add(f.name);
  }
  return body.files;
}
