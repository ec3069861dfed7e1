import { closeSync, fstatSync } from 'node:fs';
import type { WrittenFile } from '@yamori/sensor-linux';

/**
 * Pre-analysis at close-write (ADR 0011): a file that may run soon (the close-write watch's
 * candidates) is hashed in the background, one or two at a time and in small reads, so its first
 * exec finds the hash, and the agent's engines and server lookup, already done. The hash counts
 * only if the file is unchanged afterwards (size, mtime, ctime from fstat on the same fd): it then
 * goes into the exec gate's map under the same file key the gate's exec requests have. An exec
 * of a file whose hash is under way waits for it instead of hashing a second time.
 */
export interface PreHashStats {
  /** Candidates offered by the watch. */
  candidates: number;
  /** Hashed and unchanged afterwards: in the exec gate's map. */
  hashed: number;
  /** Already hashed (same file key), or already queued. */
  known: number;
  /** A newer version of the same file arrived while this one waited. */
  superseded: number;
  /** Changed while it was hashed: thrown away. */
  discarded: number;
  /** Not hashed: the agent sheds deep work. */
  skipped: number;
  /** Not hashed: the queue was full. */
  dropped: number;
  errors: number;
  /** The agent's preparation (engines, lookup) ran for the hash. */
  prepared: number;
  queued: number;
  running: number;
}

export interface PreHasher {
  /** Candidates from the close-write watch; takes ownership of their fds. */
  offer(files: readonly WrittenFile[]): void;
  /**
   * The hash of this file key if it is being computed (a queued one starts at once): an exec of
   * the file awaits it. Resolves undefined when the file changed meanwhile or could not be read.
   */
  pending(key: string): Promise<string | undefined> | undefined;
  stats(): PreHashStats;
  /** Closes what waits in the queue; running work ends on its own. */
  stop(): void;
}

export interface PreHasherDeps {
  key(file: WrittenFile): string;
  /** The exec gate already holds a hash for this key. */
  known(key: string): boolean;
  /** Puts the hash into the exec gate's map. */
  remember(file: WrittenFile, sha256: string): void;
  /** False while the agent sheds deep work ('deep_scan'). */
  wanted(): boolean;
  /** The agent's preparation of the content (engines, lookup); the fd stays open until it settles. */
  prepare?: ((file: { path: string; sha256: string; fd: number }) => Promise<void>) | undefined;
  hash(fd: number, size: number): Promise<string>;
  /** Files hashed at once (default 1). */
  concurrency?: number;
  /** Candidates waiting, each holding an fd (default 256). */
  maxQueue?: number;
  log?: (level: 'debug' | 'warn', msg: string, fields?: Record<string, unknown>) => void;
}

interface Job {
  file: WrittenFile;
  key: string;
  hashed?: Promise<string | undefined>;
}

const closeQuietly = (fd: number) => {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
};

/** The file behind fd still has the identity it had when the event was read. */
function unchanged(f: WrittenFile): boolean {
  try {
    const st = fstatSync(f.fd, { bigint: true });
    return Number(st.size) === f.size && st.mtimeNs === f.mtimeNs && st.ctimeNs === f.ctimeNs;
  } catch {
    return false;
  }
}

export function createPreHasher(deps: PreHasherDeps): PreHasher {
  const concurrency = Math.max(1, deps.concurrency ?? 1);
  const maxQueue = deps.maxQueue ?? 256;
  const jobs = new Map<string, Job>();
  const queue: Job[] = [];
  let running = 0;
  let stopped = false;
  const s = { candidates: 0, hashed: 0, known: 0, superseded: 0, discarded: 0, skipped: 0, dropped: 0, errors: 0, prepared: 0 };

  const drop = (job: Job) => {
    jobs.delete(job.key);
    closeQuietly(job.file.fd);
  };

  function begin(job: Job): Promise<string | undefined> {
    if (job.hashed) return job.hashed;
    const at = queue.indexOf(job);
    if (at >= 0) queue.splice(at, 1);
    running++;
    const { file } = job;
    // changed since the event (a later event for it is on its way): not worth reading
    const current = unchanged(file) ? deps.hash(file.fd, file.size) : Promise.resolve(undefined);
    job.hashed = current.then(
      (sha256) => {
        if (sha256 !== undefined && unchanged(file)) return sha256;
        s.discarded++;
        return undefined;
      },
      (err: unknown) => {
        s.errors++;
        deps.log?.('debug', 'pre-hash failed', { path: file.path, error: (err as Error).message });
        return undefined;
      },
    );
    void job.hashed
      .then(async (sha256) => {
        if (sha256 === undefined) return;
        s.hashed++;
        deps.remember(file, sha256);
        if (!deps.prepare || stopped) return;
        await deps.prepare({ path: file.path, sha256, fd: file.fd });
        s.prepared++;
      })
      .catch((err: unknown) => deps.log?.('warn', 'preparing a written executable failed', { path: file.path, error: (err as Error).message }))
      .finally(() => {
        drop(job);
        running--;
        pump();
      });
    return job.hashed;
  }

  function pump(): void {
    while (running < concurrency && queue.length > 0) {
      const job = queue[0] as Job;
      if (stopped || !deps.wanted()) {
        queue.shift();
        s.skipped++;
        drop(job);
      } else if (deps.known(job.key)) {
        queue.shift();
        s.known++;
        drop(job);
      } else void begin(job);
    }
  }

  return {
    offer(files) {
      for (const file of files) {
        s.candidates++;
        const key = deps.key(file);
        if (stopped || !deps.wanted()) {
          s.skipped++;
          closeQuietly(file.fd);
          continue;
        }
        if (jobs.has(key) || deps.known(key)) {
          s.known++;
          closeQuietly(file.fd);
          continue;
        }
        // an older version of the same file still waiting would only be thrown away after hashing
        for (let i = queue.length - 1; i >= 0; i--) {
          const q = queue[i] as Job;
          if (q.file.dev !== file.dev || q.file.ino !== file.ino) continue;
          queue.splice(i, 1);
          s.superseded++;
          drop(q);
        }
        if (queue.length >= maxQueue) {
          s.dropped++;
          closeQuietly(file.fd);
          continue;
        }
        const job: Job = { file, key };
        jobs.set(key, job);
        queue.push(job);
        pump();
      }
    },
    pending(key) {
      const job = jobs.get(key);
      return job ? begin(job) : undefined;
    },
    stats: () => ({ ...s, queued: queue.length, running }),
    stop() {
      stopped = true;
      for (const job of queue.splice(0)) drop(job);
    },
  };
}
