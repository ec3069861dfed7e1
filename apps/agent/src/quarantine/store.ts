// The quarantine store: a malicious file is moved into a root-only directory, its content
// encrypted (AES-256-GCM, a random IV per item, the item id as associated data) with a per-store
// key kept 0600 beside it, so it can neither run nor be found by another scanner. Metadata
// (original path, owner, mode, sha256, time, reason) lets it be listed, restored — to its place
// or another path, with mode and owner, sha256 verified — or deleted.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, link, lstat, mkdir, open, readdir, readFile, rename, stat, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

export interface QuarantineEntry {
  id: string;
  originalPath: string;
  uid: number;
  gid: number;
  /** Permission bits (incl. setuid/setgid/sticky) of the original file. */
  mode: number;
  size: number;
  sha256: string;
  /** ISO 8601. */
  quarantinedAt: string;
  reason: string;
  /** Names of what detected it, e.g. ["builtin:EICAR-Test-File", "yara:default:Some_Rule"]. */
  detections: string[];
  /** Who asked: "scan", "exec", "server" … */
  source: string;
}

export interface QuarantineRequest {
  reason: string;
  detections?: string[];
  source?: string;
  /** Refuse (and change nothing) if the file's content is no longer this. */
  expectedSha256?: string;
}

export interface RestoreOptions {
  /** Where to put it; default its original path. */
  to?: string;
  /** Replace an existing file at the destination. Default false. */
  overwrite?: boolean;
}

export type QuarantineErrorCode = 'not_found' | 'conflict' | 'changed' | 'integrity' | 'invalid' | 'io';

export class QuarantineError extends Error {
  readonly code: QuarantineErrorCode;
  constructor(code: QuarantineErrorCode, message: string) {
    super(message);
    this.code = code;
    this.name = 'QuarantineError';
  }
}

export interface QuarantineStore {
  readonly dir: string;
  quarantine(path: string, request: QuarantineRequest): Promise<QuarantineEntry>;
  list(): Promise<QuarantineEntry[]>;
  get(id: string): Promise<QuarantineEntry>;
  restore(id: string, options?: RestoreOptions): Promise<{ entry: QuarantineEntry; restoredTo: string }>;
  delete(id: string): Promise<void>;
}

export interface QuarantineStoreDeps {
  now?: () => Date;
  newId?: () => string;
}

export const DEFAULT_QUARANTINE_DIR = '/var/lib/yamori/quarantine';
const KEY_FILE = 'store.key';
const MAGIC = Buffer.from('YMQ1');
const IV_LEN = 12;
const TAG_LEN = 16;
const CHUNK = 1024 * 1024;
const ID_RE = /^[0-9a-f]{32}$/;

function ioError(what: string, err: unknown): QuarantineError {
  const e = err as NodeJS.ErrnoException;
  if (e instanceof QuarantineError) return e;
  if (e.code === 'ENOENT') return new QuarantineError('not_found', `${what}: no such file`);
  if (e.code === 'EEXIST') return new QuarantineError('conflict', `${what}: already exists`);
  if (e.code === 'ELOOP') return new QuarantineError('invalid', `${what}: is a symlink (not followed)`);
  return new QuarantineError('io', `${what}: ${e.message}`);
}

async function loadKey(dir: string): Promise<Buffer> {
  const path = join(dir, KEY_FILE);
  try {
    const fh = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      const key = randomBytes(32);
      await fh.writeFile(key);
      await fh.sync();
      return key;
    } finally {
      await fh.close();
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw ioError(`quarantine key ${path}`, err);
  }
  const st = await lstat(path);
  if (!st.isFile()) throw new QuarantineError('invalid', `quarantine key ${path} is not a regular file`);
  if ((st.mode & 0o077) !== 0) await chmod(path, 0o600);
  const key = await readFile(path);
  if (key.length !== 32) throw new QuarantineError('invalid', `quarantine key ${path} is ${key.length} bytes, expected 32`);
  return key;
}

async function writeAll(fh: FileHandle, buf: Buffer): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off);
    off += bytesWritten;
  }
}

async function readExactly(fh: FileHandle, buf: Buffer, position: number): Promise<number> {
  let off = 0;
  while (off < buf.length) {
    const { bytesRead } = await fh.read(buf, off, buf.length - off, position + off);
    if (bytesRead === 0) break;
    off += bytesRead;
  }
  return off;
}

/** Opens (creating if needed: dir 0700, key 0600) the store at `dir`. */
export async function openQuarantineStore(dir: string = DEFAULT_QUARANTINE_DIR, deps: QuarantineStoreDeps = {}): Promise<QuarantineStore> {
  const root = resolve(dir);
  const now = deps.now ?? (() => new Date());
  const newId = deps.newId ?? (() => randomBytes(16).toString('hex'));
  await mkdir(root, { recursive: true, mode: 0o700 });
  const rs = await lstat(root);
  if (!rs.isDirectory()) throw new QuarantineError('invalid', `quarantine store ${root} is not a directory`);
  if ((rs.mode & 0o077) !== 0) await chmod(root, 0o700);
  const key = await loadKey(root);

  const metaPath = (id: string) => join(root, `${id}.json`);
  const dataPath = (id: string) => join(root, `${id}.bin`);

  async function get(id: string): Promise<QuarantineEntry> {
    if (!ID_RE.test(id)) throw new QuarantineError('invalid', `not a quarantine id: ${JSON.stringify(id)}`);
    try {
      return JSON.parse(await readFile(metaPath(id), 'utf8')) as QuarantineEntry;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new QuarantineError('not_found', `no quarantined file with id ${id}`);
      throw ioError(`quarantine entry ${id}`, err);
    }
  }

  async function quarantine(path: string, request: QuarantineRequest): Promise<QuarantineEntry> {
    const src = resolve(path);
    if (src === root || src.startsWith(root + '/')) throw new QuarantineError('invalid', `${src} is inside the quarantine store`);
    let fh: FileHandle;
    try {
      fh = await open(src, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (err) {
      throw ioError(src, err);
    }
    const id = newId();
    const tmp = join(root, `.${id}.tmp`);
    let out: FileHandle | undefined;
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new QuarantineError('invalid', `${src} is not a regular file`);
      const iv = randomBytes(IV_LEN);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(Buffer.from(id));
      const hash = createHash('sha256');
      out = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
      await writeAll(out, Buffer.concat([MAGIC, iv]));
      const buf = Buffer.allocUnsafe(CHUNK);
      let size = 0;
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, CHUNK, null);
        if (bytesRead === 0) break;
        const chunk = buf.subarray(0, bytesRead);
        hash.update(chunk);
        await writeAll(out, cipher.update(chunk));
        size += bytesRead;
      }
      await writeAll(out, cipher.final());
      await writeAll(out, cipher.getAuthTag());
      await out.sync();
      await out.close();
      out = undefined;
      const sha256 = hash.digest('hex');
      if (request.expectedSha256 && request.expectedSha256.toLowerCase() !== sha256) {
        throw new QuarantineError('changed', `${src} changed since it was detected (sha256 ${sha256}, expected ${request.expectedSha256}): not quarantined`);
      }
      // The path must still be the file we read: do not delete a file swapped in meanwhile.
      const again = await lstat(src);
      if (again.dev !== st.dev || again.ino !== st.ino) {
        throw new QuarantineError('changed', `${src} was replaced while it was being quarantined: not quarantined`);
      }
      const entry: QuarantineEntry = {
        id,
        originalPath: src,
        uid: st.uid,
        gid: st.gid,
        mode: st.mode & 0o7777,
        size,
        sha256,
        quarantinedAt: now().toISOString(),
        reason: request.reason,
        detections: request.detections ?? [],
        source: request.source ?? 'scan',
      };
      await rename(tmp, dataPath(id));
      await writeFile(metaPath(id), `${JSON.stringify(entry, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
      try {
        await unlink(src);
      } catch (err) {
        // Could not remove the original: undo, so the store never holds a file still in place.
        await unlink(metaPath(id)).catch(() => undefined);
        await unlink(dataPath(id)).catch(() => undefined);
        throw ioError(`removing ${src}`, err);
      }
      return entry;
    } catch (err) {
      await out?.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
      throw ioError(src, err);
    } finally {
      await fh.close().catch(() => undefined);
    }
  }

  async function list(): Promise<QuarantineEntry[]> {
    const names = await readdir(root);
    const out: QuarantineEntry[] = [];
    for (const n of names) {
      if (!n.endsWith('.json')) continue;
      const id = n.slice(0, -5);
      if (!ID_RE.test(id)) continue;
      try {
        out.push(await get(id));
      } catch {
        // removed meanwhile
      }
    }
    return out.sort((a, b) => (a.quarantinedAt < b.quarantinedAt ? -1 : a.quarantinedAt > b.quarantinedAt ? 1 : a.id < b.id ? -1 : 1));
  }

  async function restore(id: string, options: RestoreOptions = {}): Promise<{ entry: QuarantineEntry; restoredTo: string }> {
    const entry = await get(id);
    let dest = resolve(options.to ?? entry.originalPath);
    try {
      if ((await stat(dest)).isDirectory()) dest = join(dest, basename(entry.originalPath));
    } catch {
      // does not exist: the usual case
    }
    if (!options.overwrite) {
      try {
        await lstat(dest);
        throw new QuarantineError('conflict', `${dest} already exists (restore to another path, or overwrite)`);
      } catch (err) {
        if (err instanceof QuarantineError) throw err;
      }
    }
    const destDir = dirname(dest);
    try {
      if (!(await stat(destDir)).isDirectory()) throw new QuarantineError('invalid', `${destDir} is not a directory`);
    } catch (err) {
      throw ioError(`restore destination ${destDir}`, err);
    }
    const tmp = join(destDir, `.${basename(dest)}.yamori-restore-${randomBytes(4).toString('hex')}`);
    let inp: FileHandle | undefined;
    let out: FileHandle | undefined;
    try {
      inp = await open(dataPath(id), constants.O_RDONLY | constants.O_NOFOLLOW);
      const total = (await inp.stat()).size;
      const header = Buffer.alloc(MAGIC.length + IV_LEN);
      const tag = Buffer.alloc(TAG_LEN);
      if (total < header.length + TAG_LEN || (await readExactly(inp, header, 0)) !== header.length || !header.subarray(0, MAGIC.length).equals(MAGIC)) {
        throw new QuarantineError('integrity', `quarantined data of ${id} is damaged (bad header)`);
      }
      await readExactly(inp, tag, total - TAG_LEN);
      const decipher = createDecipheriv('aes-256-gcm', key, header.subarray(MAGIC.length));
      decipher.setAAD(Buffer.from(id));
      decipher.setAuthTag(tag);
      const hash = createHash('sha256');
      out = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
      const buf = Buffer.allocUnsafe(CHUNK);
      let pos = header.length;
      const end = total - TAG_LEN;
      while (pos < end) {
        const n = await readExactly(inp, buf.subarray(0, Math.min(CHUNK, end - pos)), pos);
        if (n === 0) break;
        const plain = decipher.update(buf.subarray(0, n));
        hash.update(plain);
        await writeAll(out, plain);
        pos += n;
      }
      try {
        decipher.final();
      } catch {
        throw new QuarantineError('integrity', `quarantined data of ${id} failed authentication (damaged or not from this store's key)`);
      }
      const sha256 = hash.digest('hex');
      if (sha256 !== entry.sha256) throw new QuarantineError('integrity', `restored content of ${id} has sha256 ${sha256}, expected ${entry.sha256}`);
      // Owner first: chown clears setuid/setgid, the chmod after it puts them back.
      await out.chown(entry.uid, entry.gid);
      await out.chmod(entry.mode);
      await out.sync();
      await out.close();
      out = undefined;
      if (options.overwrite) await rename(tmp, dest);
      else {
        // link() fails if dest appeared meanwhile: never clobber without being asked.
        await link(tmp, dest);
        await unlink(tmp);
      }
    } catch (err) {
      await out?.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
      throw ioError(`restoring ${id} to ${dest}`, err);
    } finally {
      await inp?.close().catch(() => undefined);
    }
    await remove(id);
    return { entry, restoredTo: dest };
  }

  async function remove(id: string): Promise<void> {
    await get(id);
    await unlink(dataPath(id)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw ioError(`deleting ${id}`, err);
    });
    await unlink(metaPath(id)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw ioError(`deleting ${id}`, err);
    });
  }

  return { dir: root, quarantine, list, get, restore, delete: remove };
}
