// The tree walk for `yamori scan`: regular files only, each (dev, inode) once, symlinks out of
// the tree not followed unless asked, special files skipped, unreadable directories reported and
// the walk goes on.
import { lstat, opendir, realpath, stat } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';

export type WalkEntry =
  | { kind: 'file'; path: string; size: number; dev: number; ino: number }
  | { kind: 'skipped'; path: string; reason: WalkSkipReason; detail: string }
  | { kind: 'error'; path: string; code: string; message: string };

export type WalkSkipReason = 'special_file' | 'symlink_out_of_tree' | 'symlink_broken' | 'duplicate' | 'excluded';

export interface WalkOptions {
  followSymlinks?: boolean;
  /** Paths (as walked) to leave out, e.g. the quarantine store itself. */
  exclude?: (path: string) => boolean;
}

function errInfo(err: unknown): { code: string; message: string } {
  const e = err as NodeJS.ErrnoException;
  return { code: e.code ?? 'EUNKNOWN', message: e.message };
}

function inside(path: string, roots: readonly string[]): boolean {
  return roots.some((r) => path === r || path.startsWith(r.endsWith(sep) ? r : r + sep));
}

function special(s: { isFIFO(): boolean; isSocket(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean }): string | null {
  if (s.isFIFO()) return 'fifo';
  if (s.isSocket()) return 'socket';
  if (s.isCharacterDevice()) return 'character device';
  if (s.isBlockDevice()) return 'block device';
  return null;
}

export async function* walkTree(paths: readonly string[], options: WalkOptions = {}): AsyncGenerator<WalkEntry> {
  const follow = options.followSymlinks ?? false;
  const exclude = options.exclude ?? (() => false);
  const seenFiles = new Set<string>();
  const seenDirs = new Set<string>();
  const roots: string[] = [];
  for (const p of paths) {
    try {
      roots.push(await realpath(resolve(p)));
    } catch {
      // reported below when the root is visited
    }
  }

  function* file(path: string, s: { size: number; dev: number; ino: number }): Generator<WalkEntry> {
    const key = `${s.dev}:${s.ino}`;
    if (seenFiles.has(key)) {
      yield { kind: 'skipped', path, reason: 'duplicate', detail: 'same file already scanned (hard link or symlink)' };
      return;
    }
    seenFiles.add(key);
    yield { kind: 'file', path, size: s.size, dev: s.dev, ino: s.ino };
  }

  for (const p of paths) {
    const root = resolve(p);
    const stack: string[] = [];
    // A path named on the command line is followed even when it is a symlink (like find -H).
    try {
      const s = await stat(root);
      const sp = special(s);
      if (s.isDirectory()) stack.push(root);
      else if (s.isFile()) yield* file(root, s);
      else yield { kind: 'skipped', path: root, reason: 'special_file', detail: sp ?? 'not a regular file' };
    } catch (err) {
      yield { kind: 'error', path: root, ...errInfo(err) };
    }
    while (stack.length > 0) {
      const dir = stack.pop() as string;
      let key: string;
      try {
        const ds = await stat(dir);
        key = `${ds.dev}:${ds.ino}`;
      } catch (err) {
        yield { kind: 'error', path: dir, ...errInfo(err) };
        continue;
      }
      if (seenDirs.has(key)) continue;
      seenDirs.add(key);
      const names: { name: string; dirent: import('node:fs').Dirent }[] = [];
      try {
        const d = await opendir(dir);
        for await (const dirent of d) names.push({ name: dirent.name, dirent });
      } catch (err) {
        yield { kind: 'error', path: dir, ...errInfo(err) };
        continue;
      }
      names.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      const subdirs: string[] = [];
      for (const { name, dirent } of names) {
        const path = join(dir, name);
        if (exclude(path)) {
          yield { kind: 'skipped', path, reason: 'excluded', detail: 'excluded' };
          continue;
        }
        try {
          if (dirent.isDirectory()) {
            subdirs.push(path);
          } else if (dirent.isSymbolicLink()) {
            let target: string;
            try {
              target = await realpath(path);
            } catch (err) {
              yield { kind: 'skipped', path, reason: 'symlink_broken', detail: errInfo(err).message };
              continue;
            }
            const inTree = inside(target, roots);
            if (!inTree && !follow) {
              yield { kind: 'skipped', path, reason: 'symlink_out_of_tree', detail: `points to ${target}, outside the scanned tree (use --follow-symlinks)` };
              continue;
            }
            const ts = await stat(target);
            if (ts.isDirectory()) {
              // Inside the tree it is walked anyway under its real path.
              if (!inTree) subdirs.push(target);
            } else if (ts.isFile()) {
              // Scanned under its real path: the open refuses symlinks (O_NOFOLLOW).
              yield* file(target, ts);
            } else {
              yield { kind: 'skipped', path, reason: 'special_file', detail: special(ts) ?? 'not a regular file' };
            }
          } else if (dirent.isFile()) {
            yield* file(path, await lstat(path));
          } else {
            const s = await lstat(path);
            if (s.isDirectory()) subdirs.push(path);
            else if (s.isFile()) yield* file(path, s);
            else yield { kind: 'skipped', path, reason: 'special_file', detail: special(s) ?? 'not a regular file' };
          }
        } catch (err) {
          yield { kind: 'error', path, ...errInfo(err) };
        }
      }
      for (let i = subdirs.length - 1; i >= 0; i--) stack.push(subdirs[i] as string);
    }
  }
}
