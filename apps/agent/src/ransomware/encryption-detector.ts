import { entropy, identifyFileType } from '@yamori/detection';

/**
 * The behavioural line of ransomware protection, as pure functions: what one written or renamed
 * file says (from its name and its first few KB), and, per process, whether what it did in a short
 * window adds up to encryption. The module feeds it the watcher's events; time comes in as `now`.
 *
 * A file counts as encrypted when its first bytes are high-entropy data that no known format
 * starts with, while its name promises a format (`report.pdf` that is not a PDF any more), or the
 * name is a known name with an extra extension (`report.pdf.locked`), or the process just renamed
 * it away from a known extension. Compressed formats (zip, JPEG, gzip) are high-entropy too, but
 * they carry their magic bytes, so a user saving photos or a backup tool writing `.tar.zst` files
 * does not count; nor do high-entropy files with names that promise nothing (restic's pack files).
 */

/** How many leading bytes the module reads per event. */
export const PROBE_BYTES = 4096;

/** Extensions → the format family their content must show. */
const EXPECTED: Record<string, string> = {};
const family = (f: string, exts: string) => {
  for (const e of exts.split(' ')) EXPECTED[e] = f;
};
family('pdf', 'pdf');
family('zip', 'docx xlsx pptx docm xlsm odt ods odp zip jar epub');
family('ole2', 'doc xls ppt msg');
family('image', 'jpg jpeg png gif bmp tif tiff webp');
family('archive', 'gz tgz xz bz2 zst 7z rar tar');
family('text', 'txt csv md log json xml html htm yaml yml ini conf cfg sql sh py js ts c h rtf svg eml');

const extOf = (name: string): string => {
  const dot = name.lastIndexOf('.');
  return dot > 0 ? name.slice(dot + 1).toLowerCase() : '';
};
/** `a.pdf.locked` → `pdf`; '' when the name has no inner extension. */
const innerExtOf = (name: string): string => {
  const outer = name.lastIndexOf('.');
  if (outer <= 0) return '';
  return extOf(name.slice(0, outer));
};

export const expectsKnownFormat = (name: string): boolean => EXPECTED[extOf(name)] !== undefined;

/** Entropy that random bytes reach for a sample of n bytes, minus a margin (small samples read lower). */
function entropyFloor(n: number): number {
  // Miller–Madow: the plug-in estimate of 8 bits for uniform bytes is low by about 255 / (2 n ln 2).
  return 8 - 255 / (2 * n * Math.LN2) - 0.35;
}

export interface ContentVerdict {
  /** High-entropy data of no known format. */
  opaque: boolean;
  entropy: number;
  format: string;
}

/** Look at a file's first bytes (at most PROBE_BYTES; fewer than 64 bytes say nothing). */
export function inspectContent(head: Uint8Array): ContentVerdict {
  const type = identifyFileType(head);
  if (head.length < 64) return { opaque: false, entropy: 0, format: type.format };
  const h = entropy(head);
  return { opaque: type.format === 'data' && h >= entropyFloor(head.length), entropy: h, format: type.format };
}

/** Why a written file counts as encrypted, or undefined. `renamedFrom` is the name this process moved it from. */
export function encryptedReason(name: string, content: ContentVerdict, renamedFrom?: string): string | undefined {
  if (!content.opaque) return undefined;
  const ext = extOf(name);
  if (EXPECTED[ext] !== undefined) return `${name}: .${ext} file is now high-entropy data (${content.entropy.toFixed(2)} bits/byte)`;
  const inner = innerExtOf(name);
  if (EXPECTED[inner] !== undefined) return `${name}: .${inner} file with an appended .${ext} extension holds high-entropy data`;
  if (renamedFrom !== undefined && expectsKnownFormat(renamedFrom)) return `${renamedFrom} → ${name}: renamed from .${extOf(renamedFrom)} and holds high-entropy data`;
  return undefined;
}

const NOTE = /(?:^|[^a-z])(?:read[\s_-]?me|readme|how[\s_-]?to|decrypt|recover|restore|ransom|unlock|your[\s_-]?files|instructions|help[\s_-]?files?)(?:[^a-z]|$)/i;
const NOTE_EXT = new Set(['txt', 'html', 'htm', 'hta', 'md', 'url', 'rtf', '']);

/** A file name ransom notes use (`HOW_TO_DECRYPT.txt`, `README-RECOVER.html`, `!!!_READ_ME_!!!.txt`). */
export function isRansomNoteName(name: string): boolean {
  if (!NOTE_EXT.has(extOf(name))) return false;
  const stem = name.replace(/\.[^.]*$/, '');
  return NOTE.test(stem) && /decrypt|recover|restore|ransom|unlock|your[\s_-]?files|!!|instructions/i.test(stem);
}

export type Signal =
  | { kind: 'encrypted'; path: string; reason: string }
  /** A decoy deleted or renamed (the write-a-copy-then-unlink pattern). */
  | { kind: 'decoy_touched'; path: string; reason: string }
  | { kind: 'note'; path: string; reason: string };

export interface DetectorLimits {
  /** Signals older than this are forgotten (ms). */
  windowMs: number;
  /** Score at which a process is reported. */
  threshold: number;
  /** At least this many encrypted files (a user deleting decoys is not ransomware). */
  minEncrypted: number;
}

export const DEFAULT_LIMITS: DetectorLimits = { windowMs: 30_000, threshold: 6, minEncrypted: 1 };

const WEIGHT: Record<Signal['kind'], number> = { encrypted: 1, decoy_touched: 3, note: 3 };

interface ProcessWindow {
  signals: { at: number; kind: Signal['kind']; path: string; reason: string }[];
  reported: boolean;
}

export interface Finding {
  score: number;
  encrypted: number;
  reasons: string[];
}

export interface EncryptionDetector {
  /** Add one signal of `pid` at `now`; returns a finding the first time the process crosses the threshold. */
  observe(pid: number, signal: Signal, now: number): Finding | undefined;
  forget(pid: number): void;
  /** Whether `path` already counts as encrypted for `pid` in its window. */
  counted(pid: number, path: string): boolean;
  /** Processes with signals in their window (for state and tests). */
  readonly size: number;
}

/** Per-process windows of signals; each file counts once per window, each process is reported once. */
export function createEncryptionDetector(limits: DetectorLimits = DEFAULT_LIMITS, maxProcesses = 4096): EncryptionDetector {
  const windows = new Map<number, ProcessWindow>();
  return {
    observe(pid, signal, now) {
      let w = windows.get(pid);
      if (!w) {
        if (windows.size >= maxProcesses) {
          for (const [p, old] of windows) if ((old.signals.at(-1)?.at ?? 0) < now - limits.windowMs) windows.delete(p);
          if (windows.size >= maxProcesses) windows.delete(windows.keys().next().value as number);
        }
        w = { signals: [], reported: false };
        windows.set(pid, w);
      }
      if (w.reported) return undefined;
      w.signals = w.signals.filter((s) => s.at >= now - limits.windowMs);
      if (w.signals.some((s) => s.kind === signal.kind && s.path === signal.path)) return undefined;
      w.signals.push({ at: now, ...signal });
      let score = 0;
      let encrypted = 0;
      for (const s of w.signals) {
        score += WEIGHT[s.kind];
        if (s.kind === 'encrypted') encrypted++;
      }
      if (score < limits.threshold || encrypted < limits.minEncrypted) return undefined;
      w.reported = true;
      const notes = w.signals.filter((s) => s.kind === 'note').length;
      const decoys = w.signals.filter((s) => s.kind === 'decoy_touched').length;
      const summary = `${encrypted} file(s) encrypted${decoys ? `, ${decoys} decoy(s) deleted or renamed` : ''}${notes ? `, ransom note written` : ''} within ${Math.round(limits.windowMs / 1000)} s`;
      return { score, encrypted, reasons: [summary, ...w.signals.slice(0, 20).map((s) => s.reason)] };
    },
    forget(pid) {
      windows.delete(pid);
    },
    counted(pid, path) {
      return windows.get(pid)?.signals.some((s) => s.kind === 'encrypted' && s.path === path) ?? false;
    },
    get size() {
      return windows.size;
    },
  };
}
