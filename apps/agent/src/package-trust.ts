import { createHash, hash, randomBytes } from 'node:crypto';
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

/**
 * The loaded database, compact: dpkg lists tens to hundreds of thousands of executable paths, and
 * a Map of path strings to `{ md5, pkg }` objects (which also kept every md5sums file's text alive
 * through sliced strings) held 15 MB of heap for 42k paths. Here a path is a 64-bit digest keyed
 * with a random salt per load, in one sorted array, with its md5 (16 bytes) and package number
 * beside it: 28 bytes per path. Two different paths share a key with probability 2⁻⁶⁴ (the salt
 * keeps anyone from choosing a path that does), so a lookup answers as the Map did.
 */
interface Table {
  salt: string;
  /** Sorted by (hi, lo), no duplicates; entry i is keyHi[i]·2³² + keyLo[i]. */
  keyHi: Uint32Array;
  keyLo: Uint32Array;
  /** 16 bytes per entry. */
  md5: Buffer;
  pkg: Uint32Array;
  packages: string[];
}

const EMPTY: Table = { salt: '', keyHi: new Uint32Array(0), keyLo: new Uint32Array(0), md5: Buffer.alloc(0), pkg: new Uint32Array(0), packages: [] };

function pathKey(salt: string, path: string): bigint {
  return hash('sha256', salt + path, 'buffer').readBigUInt64LE(0);
}

/** Index of `key` in the table, or -1. */
function find(t: Table, key: bigint): number {
  const hi = Number(key >> 32n);
  const lo = Number(key & 0xffffffffn);
  let a = 0;
  let b = t.keyHi.length - 1;
  while (a <= b) {
    const m = (a + b) >>> 1;
    const mh = t.keyHi[m] ?? 0;
    const ml = t.keyLo[m] ?? 0;
    if (mh === hi && ml === lo) return m;
    if (mh < hi || (mh === hi && ml < lo)) a = m + 1;
    else b = m - 1;
  }
  return -1;
}

/** Collects (path, md5, package) in load order; `build` makes the sorted table (a later path wins, as Map.set did). */
function tableBuilder() {
  const salt = randomBytes(16).toString('hex');
  const packages: string[] = [];
  let keys = new BigUint64Array(1 << 14);
  let md5 = Buffer.alloc(16 << 14);
  let pkg = new Uint32Array(1 << 14);
  let n = 0;
  return {
    addPackage(name: string): number {
      return packages.push(name) - 1;
    },
    add(path: string, md5Hex: string, pkgIndex: number): void {
      if (n === keys.length) {
        const k = new BigUint64Array(n * 2);
        k.set(keys);
        keys = k;
        const m = Buffer.alloc(md5.length * 2);
        md5.copy(m);
        md5 = m;
        const p = new Uint32Array(n * 2);
        p.set(pkg);
        pkg = p;
      }
      keys[n] = pathKey(salt, path);
      md5.write(md5Hex, n * 16, 16, 'hex');
      pkg[n] = pkgIndex;
      n++;
    },
    async build(): Promise<Table> {
      const sorted = keys.slice(0, n).sort();
      let u = 0;
      for (let i = 0; i < n; i++) if (i === 0 || sorted[i] !== sorted[u - 1]) sorted[u++] = sorted[i] ?? 0n;
      const t: Table = {
        salt,
        keyHi: new Uint32Array(u),
        keyLo: new Uint32Array(u),
        md5: Buffer.alloc(u * 16),
        pkg: new Uint32Array(u),
        packages,
      };
      for (let i = 0; i < u; i++) {
        const k = sorted[i] ?? 0n;
        t.keyHi[i] = Number(k >> 32n);
        t.keyLo[i] = Number(k & 0xffffffffn);
      }
      for (let i = 0; i < n; i++) {
        const at = find(t, keys[i] ?? 0n);
        md5.copy(t.md5, at * 16, i * 16, i * 16 + 16);
        t.pkg[at] = pkg[i] ?? 0;
        if (i % 20_000 === 19_999) await new Promise((r) => setImmediate(r));
      }
      return t;
    },
  };
}

export function createPackageTrust(options: { root?: string } = {}): PackageTrust {
  const root = options.root ?? '/';
  const infoDir = join(root, 'var/lib/dpkg/info');
  const statusFile = join(root, 'var/lib/dpkg/status');
  let db = EMPTY;
  let loadedFor = -1;
  let loading: Promise<void> | undefined;

  async function load(): Promise<void> {
    const version = existsSync(statusFile) ? (await stat(statusFile)).mtimeMs : 0;
    if (version === loadedFor) return;
    const next = tableBuilder();
    const files = existsSync(infoDir) ? (await readdir(infoDir)).filter((f) => f.endsWith('.md5sums')) : [];
    for (const f of files) {
      const pkg = next.addPackage(f.slice(0, -'.md5sums'.length).replace(/:.*$/, ''));
      for (const e of parseMd5sums(await readFile(join(infoDir, f), 'utf8'))) next.add(e.path, e.md5, pkg);
      // Yield between packages: a full load never holds the event loop for long.
      await new Promise((r) => setImmediate(r));
    }
    db = await next.build();
    loadedFor = version;
  }

  return {
    get loaded() {
      return loadedFor !== -1;
    },
    get size() {
      return db.keyHi.length;
    },
    refresh() {
      loading ??= load().finally(() => (loading = undefined));
      return loading;
    },
    async check(path, fd) {
      const t = db;
      const at = aliases(path).map((p) => find(t, pathKey(t.salt, p))).find((i) => i !== -1);
      if (at === undefined) return undefined;
      const md5 = t.md5.toString('hex', at * 16, at * 16 + 16);
      return { package: t.packages[t.pkg[at] ?? 0] ?? '', digestMatches: (await md5Of(path, fd)) === md5 };
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
