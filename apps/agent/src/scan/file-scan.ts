// Scans one file: open without following symlinks, read once, sha256, then the built-in EICAR
// signature, the hash blocklist and YARA (bounded size and time). Used by `yamori scan` and by
// the exec gate on a verdict-cache miss.
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import type { YaraMatch, YaraRuleset, YaraScanOptions, YaraStringMatch } from '@yamori/detection';
import { EICAR_SIGNATURE_NAME, EMPTY_BLOCKLIST, isEicar, type HashBlocklist } from './builtin-signatures.ts';
import type { EngineFinding } from '../decision.ts';

export interface ScanEngines {
  /** Compiled YARA rules, or null (no rules given, or libyara unavailable). */
  yara: YaraRuleset | null;
  blocklist?: HashBlocklist;
  /** YARA bounds: maxBytes (files above it are hashed but not YARA-scanned), timeoutMs. */
  yaraOptions?: YaraScanOptions;
}

export interface Detection {
  engine: 'builtin' | 'blocklist' | 'yara';
  /** Signature or rule name (for YARA `namespace:rule`). */
  name: string;
  rule?: string;
  namespace?: string;
  tags?: string[];
  meta?: Record<string, string | number | boolean | null>;
  strings?: YaraStringMatch[];
}

export type YaraStatus = 'scanned' | 'off' | 'too_large' | 'timeout' | 'failed';

export interface FileScanResult {
  path: string;
  size: number;
  sha256: string | null;
  detections: Detection[];
  yara: YaraStatus;
  /** Set when the file could not be scanned (fully): unreadable, vanished, YARA timeout … */
  error?: { code: string; message: string };
  /** Set when the path turned out not to be a regular file when opened (raced with the walk). */
  skipped?: string;
  timings: { readMs: number; hashMs: number; yaraMs: number };
}

const CHUNK = 1024 * 1024;

function errOf(err: unknown): { code: string; message: string } {
  const e = err as NodeJS.ErrnoException;
  const code = e.code ?? 'EUNKNOWN';
  const why =
    code === 'EACCES' || code === 'EPERM'
      ? 'permission denied'
      : code === 'ENOENT'
        ? 'file vanished before it could be scanned'
        : code === 'ELOOP'
          ? 'became a symlink before it could be scanned'
          : code === 'EIO'
            ? 'I/O error while reading'
            : e.message;
  return { code, message: why };
}

export function yaraDetection(m: YaraMatch): Detection {
  return { engine: 'yara', name: `${m.namespace}:${m.rule}`, rule: m.rule, namespace: m.namespace, tags: m.tags, meta: m.meta, strings: m.strings };
}

async function readAll(fh: FileHandle, size: number): Promise<Buffer> {
  // Read to EOF: the size from fstat may be stale for a file being written.
  // One buffer of the expected size, then a probe for data appended meanwhile; no 1 MiB buffer
  // per small file (that churns the GC on trees of many small files).
  const first = Buffer.allocUnsafe(size);
  let filled = 0;
  while (filled < size) {
    const { bytesRead } = await fh.read(first, filled, size - filled, null);
    if (bytesRead === 0) return first.subarray(0, filled);
    filled += bytesRead;
  }
  const chunks: Buffer[] = [first];
  let total = size;
  for (let probe = Buffer.allocUnsafe(8192); ; probe = Buffer.allocUnsafe(CHUNK)) {
    const { bytesRead } = await fh.read(probe, 0, probe.length, null);
    if (bytesRead === 0) break;
    chunks.push(probe.subarray(0, bytesRead));
    total += bytesRead;
  }
  return chunks.length === 1 ? first : Buffer.concat(chunks, total);
}

/** Scans one file. Never throws: problems come back as `error`. */
export async function scanFile(path: string, engines: ScanEngines): Promise<FileScanResult> {
  const timings = { readMs: 0, hashMs: 0, yaraMs: 0 };
  const blocklist = engines.blocklist ?? EMPTY_BLOCKLIST;
  const maxYara = engines.yaraOptions?.maxBytes ?? Number.POSITIVE_INFINITY;
  const result: FileScanResult = { path, size: 0, sha256: null, detections: [], yara: engines.yara ? 'scanned' : 'off', timings };
  let fh: FileHandle | undefined;
  try {
    let t = performance.now();
    // O_NONBLOCK: a path swapped for a fifo after the walk must not hang the scan.
    fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    const st = await fh.stat();
    if (!st.isFile()) {
      result.skipped = 'not a regular file when opened';
      return result;
    }
    result.size = st.size;
    let data: Buffer | null = null;
    const hash = createHash('sha256');
    if (st.size <= maxYara) {
      data = await readAll(fh, st.size);
      result.size = data.length;
      timings.readMs = performance.now() - t;
      t = performance.now();
      hash.update(data);
      timings.hashMs = performance.now() - t;
    } else {
      // Too big for YARA: hash it in chunks, never holding it whole in memory.
      const buf = Buffer.allocUnsafe(CHUNK);
      let total = 0;
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, CHUNK, null);
        if (bytesRead === 0) break;
        hash.update(bytesRead === CHUNK ? buf : buf.subarray(0, bytesRead));
        total += bytesRead;
      }
      result.size = total;
      timings.readMs = performance.now() - t;
      if (engines.yara) result.yara = 'too_large';
    }
    const sha256 = hash.digest('hex');
    result.sha256 = sha256;
    if (data && isEicar(data)) result.detections.push({ engine: 'builtin', name: EICAR_SIGNATURE_NAME });
    if (blocklist.has(sha256)) {
      result.detections.push({ engine: 'blocklist', name: blocklist.label(sha256) ?? `sha256:${sha256}` });
    }
    if (data && engines.yara) {
      t = performance.now();
      const r = await engines.yara.scan(data, { ...engines.yaraOptions, maxBytes: Number.MAX_SAFE_INTEGER });
      timings.yaraMs = performance.now() - t;
      if (r.ok) {
        result.detections.push(...r.matches.map(yaraDetection));
      } else {
        result.yara = r.error.code === 'timeout' ? 'timeout' : 'failed';
        result.error = { code: `YARA_${r.error.code.toUpperCase()}`, message: r.error.message };
      }
    }
  } catch (err) {
    result.error = errOf(err);
  } finally {
    await fh?.close().catch(() => undefined);
  }
  return result;
}

/** A file result as exec-gate engine findings (the agent's decision pipeline input). */
export function toEngineFindings(r: FileScanResult): EngineFinding[] {
  return r.detections.map((d) => ({
    verdict: 'malicious' as const,
    module: 'malware' as const,
    ruleId: d.engine === 'yara' ? `yara:${d.name}` : `${d.engine}:${d.name}`,
    ruleName: d.rule ?? d.name,
    ...(d.engine === 'yara' && d.namespace ? { ruleset: d.namespace } : {}),
    reasons: d.strings?.slice(0, 5).map((s) => `${s.identifier}@${s.offset}: ${s.dataText}`) ?? [`${d.engine} match`],
  }));
}

/**
 * The exec gate's local file engine for a verdict-cache miss: EICAR, hash blocklist and YARA
 * within the given bounds (keep maxBytes small here: the exec waits for it). A file over the
 * bound or a YARA timeout gives no finding; the decision pipeline then goes on to the lookup.
 */
export function createFileScanEngine(engines: () => ScanEngines): (req: { path: string; sha256: string; pid: number }) => Promise<EngineFinding[]> {
  return async (req) => toEngineFindings(await scanFile(req.path, engines()));
}
