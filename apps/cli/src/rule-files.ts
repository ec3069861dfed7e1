// Rule files named on a command line: `yamori yara add DIR` and `yamori sigma push DIR` take files
// and directories alike.
import { readdir, stat } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import { UsageProblem } from './server-api.ts';

/**
 * Each path as is, each directory as its files whose names match `ext` (recursively, sorted).
 * `name` is the file's path below the directory named, or its base name when named itself.
 * A missing path or a directory without such files is a UsageProblem.
 */
export async function expandRuleFiles(paths: readonly string[], ext: RegExp, kinds: string): Promise<Array<{ path: string; name: string }>> {
  const out: Array<{ path: string; name: string }> = [];
  for (const p of paths) {
    let s;
    try {
      s = await stat(p);
    } catch (e) {
      throw new UsageProblem(`cannot read ${p}: ${(e as Error).message}`);
    }
    if (!s.isDirectory()) {
      out.push({ path: p, name: basename(p) });
      continue;
    }
    const found = (await readdir(p, { withFileTypes: true, recursive: true }))
      .filter((e) => e.isFile() && ext.test(e.name))
      .map((e) => join(e.parentPath, e.name))
      .sort();
    if (found.length === 0) throw new UsageProblem(`${p} holds no ${kinds} files`);
    for (const f of found) out.push({ path: f, name: relative(p, f) });
  }
  return out;
}
