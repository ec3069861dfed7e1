// Progress for long scans: a redrawn bar on a terminal, a periodic plain line otherwise (logs,
// pipes). Formatting is pure; the reporter only decides when to write.
import type { ScanProgress, ScanSummary } from './scanner.ts';

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i] ?? 'TiB'}`;
}

function rates(p: { filesDone: number; bytesDone: number; elapsedMs: number }): string {
  const s = Math.max(p.elapsedMs / 1000, 1e-3);
  return `${(p.filesDone / s).toFixed(0)} files/s, ${(p.bytesDone / 1048576 / s).toFixed(1)} MiB/s`;
}

function shorten(path: string, max: number): string {
  return path.length <= max ? path : `…${path.slice(path.length - max + 1)}`;
}

/** One terminal line, at most `width` columns: bar, counts, rates, current file. */
export function formatProgressBar(p: ScanProgress, width: number): string {
  const frac = p.bytesTotal > 0 ? p.bytesDone / p.bytesTotal : p.filesTotal > 0 ? p.filesDone / p.filesTotal : 0;
  const barWidth = 20;
  const filled = Math.min(barWidth, Math.round(frac * barWidth));
  const pct = p.walkDone ? `${(frac * 100).toFixed(0).padStart(3)}%` : ' ..%';
  const total = `${p.filesDone}/${p.filesTotal}${p.walkDone ? '' : '+'}`;
  const head = `[${'#'.repeat(filled)}${'-'.repeat(barWidth - filled)}] ${pct} ${total} files ${formatBytes(p.bytesDone)} ${rates(p)} ${p.detections} found ${p.errors} errors`;
  const room = width - head.length - 1;
  return room > 10 && p.current ? `${head} ${shorten(p.current, room)}` : head.slice(0, width);
}

/** The periodic line for non-terminals. */
export function formatProgressLine(p: ScanProgress): string {
  return `scan: ${p.filesDone}/${p.filesTotal}${p.walkDone ? '' : '+'} files, ${formatBytes(p.bytesDone)}/${formatBytes(p.bytesTotal)}, ${rates(p)}, ${p.detections} found, ${p.errors} errors`;
}

export function formatSummary(s: ScanSummary): string[] {
  const skipped = Object.entries(s.skipped)
    .map(([k, v]) => `${k.replaceAll('_', ' ')} ${v}`)
    .join(', ');
  return [
    '----------- SCAN SUMMARY -----------',
    `Scanned files: ${s.files}`,
    `Data scanned: ${formatBytes(s.bytes)}`,
    `Infected files: ${s.infected}`,
    `Errors: ${s.errors}`,
    `Skipped: ${skipped || 'none'}`,
    `YARA: ${s.yara ? `on${s.yaraTooLarge ? ` (${s.yaraTooLarge} files over the size bound: hashed only)` : ''}` : 'off'}`,
    `Time: ${(s.elapsedMs / 1000).toFixed(2)} s (${s.filesPerSec.toFixed(0)} files/s, ${s.mibPerSec.toFixed(1)} MiB/s)`,
  ];
}

export interface ProgressSink {
  isTTY: boolean;
  columns?: number;
  write(text: string): void;
}

/**
 * A progress callback: on a TTY redraws at most ~10 times a second; otherwise writes a line every
 * `intervalMs` (default 10 s). Call `done()` before printing the summary.
 */
export function createProgressReporter(sink: ProgressSink, options: { intervalMs?: number; now?: () => number } = {}) {
  const now = options.now ?? (() => performance.now());
  const every = sink.isTTY ? 100 : (options.intervalMs ?? 10_000);
  // A terminal gets its bar at once; a log gets its first line after one interval.
  let last = sink.isTTY ? Number.NEGATIVE_INFINITY : now();
  let drawn = false;
  return {
    update(p: ScanProgress) {
      const t = now();
      if (t - last < every) return;
      last = t;
      if (sink.isTTY) {
        sink.write(`\r\x1b[2K${formatProgressBar(p, (sink.columns ?? 80) - 1)}`);
        drawn = true;
      } else {
        sink.write(`${formatProgressLine(p)}\n`);
      }
    },
    /** Clears the bar line (TTY) so the next output starts clean. */
    clear() {
      if (drawn) sink.write('\r\x1b[2K');
      drawn = false;
    },
    done() {
      this.clear();
    },
  };
}
