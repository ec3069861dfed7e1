import { readdirSync, realpathSync, statSync } from 'node:fs';
import { globToRegExp, matchGlob } from '@yamori/detection';

/**
 * The policy's `modules.ransomware.decoyFolders` globs → existing directories, with the glob
 * semantics of exclusions (`*` and `?` within a segment, `**` across segments). Bounded: a glob like
 * `/home/*` on a server with thousands of accounts must not make the agent write thousands of
 * files, and `**` is walked only a few levels deep.
 */

export interface FolderExpansion {
  folders: string[];
  /** Matches left out by the bound. */
  truncated: number;
  /** Globs that are not absolute or point into pseudo filesystems. */
  rejected: string[];
}

export interface ExpandOptions {
  maxFolders?: number;
  /** How deep `**` descends below its parent (default 3). */
  maxDepth?: number;
}

const PSEUDO = ['/proc', '/sys', '/dev', '/run'];
const underPseudo = (p: string) => PSEUDO.some((x) => p === x || p.startsWith(`${x}/`));

const isDir = (p: string): boolean => {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
};

const subdirs = (dir: string): string[] => {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory() || (d.isSymbolicLink() && isDir(`${dir === '/' ? '' : dir}/${d.name}`)))
      .map((d) => d.name)
      .sort();
  } catch {
    return [];
  }
};

const join = (dir: string, name: string) => (dir === '/' ? `/${name}` : `${dir}/${name}`);

export function expandDecoyFolders(globs: readonly string[], options: ExpandOptions = {}): FolderExpansion {
  const max = options.maxFolders ?? 256;
  const maxDepth = options.maxDepth ?? 3;
  const out = new Set<string>();
  const seen = new Set<string>();
  const rejected: string[] = [];
  let truncated = 0;
  const add = (p: string) => {
    let real: string;
    try {
      real = realpathSync(p);
    } catch {
      return;
    }
    if (underPseudo(real) || seen.has(real)) return;
    seen.add(real);
    if (out.size >= max) truncated++;
    else out.add(real);
  };
  for (const glob of globs) {
    const clean = glob.replace(/\/+$/, '') || '/';
    if (!clean.startsWith('/') || underPseudo(clean)) {
      rejected.push(glob);
      continue;
    }
    const segments = clean.split('/').filter((s) => s.length > 0);
    let level = ['/'];
    for (const seg of segments) {
      const next: string[] = [];
      if (seg === '**') {
        for (const dir of level) {
          const stack: [string, number][] = [[dir, 0]];
          while (stack.length > 0 && next.length < max * 8) {
            const [d, depth] = stack.pop() as [string, number];
            next.push(d);
            if (depth < maxDepth) for (const s of subdirs(d)) stack.push([join(d, s), depth + 1]);
          }
        }
      } else if (/[*?]/.test(seg)) {
        const re = globToRegExp(seg);
        for (const dir of level) for (const s of subdirs(dir)) if (re.test(s)) next.push(join(dir, s));
      } else {
        for (const dir of level) next.push(join(dir, seg));
      }
      level = next;
      if (level.length === 0) break;
    }
    for (const p of level) if (isDir(p) && matchGlob(clean, p)) add(p);
  }
  return { folders: [...out].sort(), truncated, rejected };
}
