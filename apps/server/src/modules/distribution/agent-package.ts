// The agent package: a gzipped tarball of what an endpoint needs to run `yamori agent` (the Node
// binary this server runs on, the CLI and agent sources, built native addons, production
// dependencies), built from this server's own tree once per content and cached in the data
// directory. Streamed from and to disk: never held in memory.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { lstat, mkdir, readdir, readFile, readlink, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { AGENT_WORKSPACES, resolutionCandidates, runtimeDependencies, shipsDependencyFile, shipsWorkspaceFile } from './package-contents.ts';
import { TAR_END, tarHeader, tarPadding, type TarEntry } from './tar.ts';

/** Bumped when the layout of the package changes, so cached packages of the old layout are rebuilt. */
const LAYOUT = 1;

/** `bin/yamori` of the package: the CLI on the Node shipped beside it, wherever the package is unpacked. */
export const YAMORI_LAUNCHER = `#!/bin/sh
# yamori: the Yamori CLI on the Node.js shipped in this agent package.
here=$(dirname "$(readlink -f "$0")")
exec "$here/node" "$here/../app/apps/cli/bin/yamori.js" "$@"
`;

export interface AgentPackage {
  /** `0.1.0-<12 hex of the content key>`: the directory name on the endpoint. */
  version: string;
  /** `linux-x64`: the platform of the Node binary inside. */
  platform: string;
  fileName: string;
  /** Absolute path of the cached tarball. */
  path: string;
  sha256: string;
  size: number;
}

export interface AgentPackages {
  /** `linux-x64`: the platform its packages are for (the server's own). */
  platform: string;
  /** The package of the tree as it is now: built on first use, then cached (in this process and on disk). */
  current(): Promise<AgentPackage>;
}

interface Item extends TarEntry {
  /** Where the content comes from: a file on disk, or bytes made here. */
  source?: string | Buffer;
}

const platformOf = (p: { platform: string; arch: string }) => `${p.platform}-${p.arch}`;

/**
 * @param appRoot the repository root this server runs from (holds apps/, packages/, node_modules/)
 * @param nodeBinary the Node binary to ship (the server's own: process.execPath)
 * @param cacheDir where built packages are kept (in the server's data directory)
 */
export function createAgentPackages(o: {
  appRoot: string;
  nodeBinary: string;
  cacheDir: string;
  platform?: { platform: string; arch: string };
  log?: { info(obj: object, msg: string): void };
}): AgentPackages {
  let building: Promise<AgentPackage> | undefined;
  return {
    platform: platformOf(o.platform ?? process),
    current: () => {
      building ??= ensurePackage(o).catch((e: unknown) => {
        building = undefined; // the next request tries again
        throw e;
      });
      return building;
    },
  };
}

async function ensurePackage(o: Parameters<typeof createAgentPackages>[0]): Promise<AgentPackage> {
  const items = await listItems(o.appRoot, o.nodeBinary);
  const cliVersion = (JSON.parse(await readFile(join(o.appRoot, 'apps/cli/package.json'), 'utf8')) as { version: string }).version;
  const version = `${cliVersion}-${contentKey(items).slice(0, 12)}`;
  const platform = platformOf(o.platform ?? process);
  const fileName = `yamori-agent-${version}-${platform}.tar.gz`;
  const path = join(o.cacheDir, fileName);
  const sumPath = `${path}.sha256`;
  if (existsSync(path) && existsSync(sumPath)) {
    const sha256 = (await readFile(sumPath, 'utf8')).slice(0, 64);
    return { version, platform, fileName, path, sha256, size: (await stat(path)).size };
  }
  await mkdir(o.cacheDir, { recursive: true, mode: 0o755 });
  const started = Date.now();
  const manifest = Buffer.from(`${JSON.stringify({ name: 'yamori-agent', version, platform, node: process.version }, null, 2)}\n`);
  const all: Item[] = [{ path: 'yamori-package.json', type: 'file', mode: 0o644, size: manifest.length, mtime: 0, source: manifest }, ...items];
  const tmp = `${path}.${process.pid}.tmp`;
  const hash = createHash('sha256');
  let size = 0;
  try {
    await pipeline(
      tarStream(all),
      createGzip({ level: 6 }),
      new Transform({
        transform(chunk: Buffer, _enc, done) {
          hash.update(chunk);
          size += chunk.length;
          done(null, chunk);
        },
      }),
      createWriteStream(tmp, { mode: 0o644 }),
    );
    const sha256 = hash.digest('hex');
    await rename(tmp, path);
    await writeFile(sumPath, `${sha256}  ${fileName}\n`, { mode: 0o644 });
    // Packages of earlier trees: the endpoints that need them have them.
    // (another instance's build in progress keeps its temporary file; a crashed one's goes after an hour)
    for (const f of await readdir(o.cacheDir)) {
      if (!f.startsWith('yamori-agent-') || f === fileName || f === `${fileName}.sha256`) continue;
      const age = Date.now() - ((await stat(join(o.cacheDir, f)).catch(() => undefined))?.mtimeMs ?? Date.now());
      const stale = !f.endsWith('.tmp') || age > 3600_000;
      if (stale) await rm(join(o.cacheDir, f), { force: true });
    }
    o.log?.info({ fileName, bytes: size, files: all.length, ms: Date.now() - started }, 'agent package built');
    return { version, platform, fileName, path, sha256, size };
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/** A key over everything that goes in: paths, kinds, modes, sizes, modification times, link targets. */
function contentKey(items: readonly Item[]): string {
  const h = createHash('sha256').update(`layout ${LAYOUT}\n`);
  for (const i of items) {
    const origin = Buffer.isBuffer(i.source) ? createHash('sha256').update(i.source).digest('hex') : (i.source ?? '');
    h.update(`${i.path}\0${i.type}\0${i.mode}\0${i.size}\0${i.mtime}\0${i.linkname ?? ''}\0${origin}\n`);
  }
  return h.digest('hex');
}

async function* tarStream(items: readonly Item[]): AsyncGenerator<Buffer> {
  for (const i of items) {
    yield tarHeader(i);
    if (i.type !== 'file') continue;
    let n = 0;
    if (Buffer.isBuffer(i.source)) {
      n = i.source.length;
      yield i.source;
    } else if (i.source) {
      for await (const chunk of createReadStream(i.source, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>) {
        n += chunk.length;
        yield chunk;
      }
    }
    // a file that changed size while being read would corrupt the archive: fail instead
    if (n !== i.size) throw new Error(`${i.path} changed while the agent package was built (${i.size} → ${n} bytes); try again`);
    yield tarPadding(n);
  }
  yield TAR_END;
}

const modeOf = (m: number) => (m & 0o111 ? 0o755 : 0o644);
const seconds = (ms: number) => Math.floor(ms / 1000);

/** Every entry of the package, in a stable order (directories before their contents). */
async function listItems(appRoot: string, nodeBinary: string): Promise<Item[]> {
  const node = await stat(nodeBinary);
  const launcher = Buffer.from(YAMORI_LAUNCHER);
  const items: Item[] = [
    { path: 'bin', type: 'directory', mode: 0o755, size: 0, mtime: 0 },
    { path: 'bin/node', type: 'file', mode: 0o755, size: node.size, mtime: seconds(node.mtimeMs), source: nodeBinary },
    { path: 'bin/yamori', type: 'file', mode: 0o755, size: launcher.length, mtime: 0, source: launcher },
  ];
  const dirs = new Set<string>();
  const addDirs = (rel: string) => {
    const parts = rel.split('/');
    for (let k = 1; k < parts.length; k++) {
      const d = parts.slice(0, k).join('/');
      if (!dirs.has(d)) {
        dirs.add(d);
        items.push({ path: `app/${d}`, type: 'directory', mode: 0o755, size: 0, mtime: 0 });
      }
    }
  };
  items.push({ path: 'app', type: 'directory', mode: 0o755, size: 0, mtime: 0 });
  const addTree = async (dir: string, ships: (rel: string) => boolean) => {
    for (const rel of await walk(join(appRoot, dir))) {
      if (!ships(rel)) continue;
      const full = join(appRoot, dir, rel);
      const s = await lstat(full);
      addDirs(`${dir}/${rel}`);
      if (s.isSymbolicLink()) items.push({ path: `app/${dir}/${rel}`, type: 'symlink', mode: 0o777, size: 0, mtime: seconds(s.mtimeMs), linkname: await readlink(full) });
      else items.push({ path: `app/${dir}/${rel}`, type: 'file', mode: modeOf(s.mode), size: s.size, mtime: seconds(s.mtimeMs), source: full });
    }
  };

  const manifests = new Map<string, { name: string; dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> }>();
  for (const ws of AGENT_WORKSPACES) manifests.set(ws, JSON.parse(await readFile(join(appRoot, ws, 'package.json'), 'utf8')) as never);
  const workspaceNames = new Set([...manifests.values()].map((m) => m.name));
  for (const ws of AGENT_WORKSPACES) await addTree(ws, shipsWorkspaceFile);
  // The workspaces are found through node_modules/@yamori/* links, as in the checkout.
  for (const name of [...workspaceNames].sort()) {
    const link = `node_modules/${name}`;
    addDirs(link);
    const s = await lstat(join(appRoot, link));
    items.push({ path: `app/${link}`, type: 'symlink', mode: 0o777, size: 0, mtime: seconds(s.mtimeMs), linkname: await readlink(join(appRoot, link)) });
  }
  // npm dependencies, resolved the way Node resolves them, transitively.
  const shipped = new Set<string>();
  const queue: Array<{ from: string; manifest: { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> } }> = [
    ...[...manifests].map(([from, manifest]) => ({ from, manifest })),
  ];
  while (queue.length > 0) {
    const { from, manifest } = queue.shift() ?? { from: '', manifest: {} };
    const deps = runtimeDependencies(manifest);
    for (const name of [...deps.required, ...deps.optional]) {
      if (name.startsWith('@yamori/')) continue; // workspaces: only the agent's own ship (the CLI's server, intel and sandbox stay out)
      const found = resolutionCandidates(from, name).find((c) => existsSync(join(appRoot, c, 'package.json')));
      if (!found) {
        if (deps.required.includes(name)) throw new Error(`${name}, a dependency of ${from}, is not installed under ${appRoot}: run npm ci`);
        continue;
      }
      if (shipped.has(found)) continue;
      shipped.add(found);
      queue.push({ from: found, manifest: JSON.parse(await readFile(join(appRoot, found, 'package.json'), 'utf8')) as never });
    }
  }
  for (const dep of [...shipped].sort()) await addTree(dep, shipsDependencyFile);
  return items;
}

/** Paths of all files and links under `root`, relative to it, sorted; nested node_modules are not entered. */
async function walk(root: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  const entries = await readdir(join(root, prefix), { withFileTypes: true });
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) {
      if (e.name !== 'node_modules') out.push(...(await walk(root, rel)));
    } else if (e.isFile() || e.isSymbolicLink()) out.push(rel);
  }
  return out;
}
