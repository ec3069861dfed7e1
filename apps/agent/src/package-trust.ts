import { createHash } from 'node:crypto';
import { existsSync, readdirSync, statSync, createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Trust from the package manager, like fapolicyd's trust database: a file that an installed Debian
 * package owns, and whose digest still matches the package's md5sums, is the distribution's own.
 * The database is read in the background and re-read when dpkg's state changes (an install or an
 * upgrade), never on the exec path: until it is loaded, nothing is trusted by it.
 */
export interface PackageTrust {
  /** Package ownership and digest check of `path` (whose content is `fd` or the path itself). */
  check(path: string, fd?: number): Promise<{ package: string; digestMatches: boolean } | undefined>;
  /** Reloads if dpkg's state changed since the last load; resolves when the current state is loaded. */
  refresh(): Promise<void>;
  readonly loaded: boolean;
  readonly size: number;
}

/** Only files that can be executed or loaded matter for exec decisions. */
const EXECUTABLE_DIRS = /(^|\/)(s?bin|lib|lib32|lib64|libexec|libx32|games)\//;

/** `md5  usr/bin/ls` lines of one package's md5sums file → absolute paths. */
export function parseMd5sums(text: string): Array<{ path: string; md5: string }> {
  const out: Array<{ path: string; md5: string }> = [];
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]{32}) {2}(.+)$/.exec(line);
    if (m?.[1] && m[2] && EXECUTABLE_DIRS.test(m[2])) out.push({ md5: m[1], path: `/${m[2]}` });
  }
  return out;
}

/** Merged /usr (Debian 12): /bin/x and /usr/bin/x are the same file, listed under either name. */
function aliases(path: string): string[] {
  const m = /^\/(bin|sbin|lib|lib32|lib64|libx32)(\/.*)$/.exec(path);
  if (m) return [path, `/usr/${m[1]}${m[2]}`];
  const u = /^\/usr\/(bin|sbin|lib|lib32|lib64|libx32)(\/.*)$/.exec(path);
  return u ? [path, `/${u[1]}${u[2]}`] : [path];
}

function md5Of(path: string, fd: number | undefined): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('md5');
    const s = fd !== undefined ? createReadStream('', { fd, autoClose: false, start: 0 }) : createReadStream(path);
    s.on('data', (c) => h.update(c));
    s.on('end', () => resolve(h.digest('hex')));
    s.on('error', reject);
  });
}

export function createPackageTrust(options: { root?: string } = {}): PackageTrust {
  const root = options.root ?? '/';
  const infoDir = join(root, 'var/lib/dpkg/info');
  const statusFile = join(root, 'var/lib/dpkg/status');
  let db = new Map<string, { md5: string; pkg: string }>();
  let loadedFor = -1;
  let loading: Promise<void> | undefined;

  async function load(): Promise<void> {
    const version = existsSync(statusFile) ? (await stat(statusFile)).mtimeMs : 0;
    if (version === loadedFor) return;
    const next = new Map<string, { md5: string; pkg: string }>();
    const files = existsSync(infoDir) ? (await readdir(infoDir)).filter((f) => f.endsWith('.md5sums')) : [];
    for (const f of files) {
      const pkg = f.slice(0, -'.md5sums'.length).replace(/:.*$/, '');
      for (const e of parseMd5sums(await readFile(join(infoDir, f), 'utf8'))) next.set(e.path, { md5: e.md5, pkg });
      // Yield between packages: a full load never holds the event loop for long.
      await new Promise((r) => setImmediate(r));
    }
    db = next;
    loadedFor = version;
  }

  return {
    get loaded() {
      return loadedFor !== -1;
    },
    get size() {
      return db.size;
    },
    refresh() {
      loading ??= load().finally(() => (loading = undefined));
      return loading;
    },
    async check(path, fd) {
      const entry = aliases(path).map((p) => db.get(p)).find((e) => e !== undefined);
      if (!entry) return undefined;
      return { package: entry.pkg, digestMatches: (await md5Of(path, fd)) === entry.md5 };
    },
  };
}

/** Whether dpkg's database exists here (a Debian-family system). */
export function hasDpkg(root = '/'): boolean {
  try {
    return statSync(join(root, 'var/lib/dpkg/info')).isDirectory() && readdirSync(join(root, 'var/lib/dpkg/info')).length > 0;
  } catch {
    return false;
  }
}
