import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { randomUUID } from 'node:crypto';
import { MAX_EVENTS_PER_BATCH, type AnyEvent } from '@yamori/protocol';

/**
 * Durable, bounded on-disk event queue (node:sqlite, WAL). Survives agent restarts and server
 * outages. Bounded by the payload bytes it holds (policy telemetry.queueMaxMb): when over, the
 * OLDEST telemetry not yet in a batch is dropped first; alerts (`yamori.alert`) are never dropped,
 * even if that means exceeding the bound. Drops are counted per dataset, durably.
 *
 * Exactly-once delivery with the server's idempotency by batch id: `nextBatch()` assigns events
 * to a batch id and commits that before returning, so a crash after sending but before `ack()`
 * returns the same id with the same events after restart. Only one batch is open at a time.
 *
 * Telemetry is written in groups: events enqueued within `coalesceMs` (or up to 256 of them) go
 * into one transaction. A transaction per process start cost more than everything else the agent
 * does for an exec; the price is that a crash loses at most the last `coalesceMs` of telemetry.
 * Alerts are never held back: an enqueue that carries one commits at once, with what waits.
 */
export interface QueuedBatch {
  batchId: string;
  events: AnyEvent[];
  bytes: number;
}

export interface EventQueue {
  enqueue(events: readonly AnyEvent[]): void;
  /** The open batch if there is one, else a new one of the oldest events; null when empty. */
  nextBatch(): QueuedBatch | null;
  /** The server committed the batch (200, duplicate or not): delete its events. */
  ack(batchId: string): void;
  /**
   * The server refused the batch as too large (413): reopen it and form batches of half its size
   * ('split'); a single event that is too large is dropped and counted as 'too_large'.
   */
  shrink(batchId: string): 'split' | 'dropped';
  /** The server refused the batch as invalid (400): drop it, count it as 'poison'. */
  reject(batchId: string): number;
  depth(): number;
  bytes(): number;
  /** Dropped events per dataset (plus 'poison'), since the queue was created. */
  dropped(): Record<string, number>;
  droppedTotal(): number;
  setMaxBytes(maxBytes: number): void;
  close(): void;
}

export interface EventQueueDeps {
  path: string;
  maxBytes: number;
  maxBatchEvents?: number;
  /** Uncompressed payload bytes per batch (the server's body limit applies after gzip). */
  maxBatchBytes?: number;
  newId?: () => string;
  /** How long telemetry may wait to be written with later events (ms, default 25; 0: at once). */
  coalesceMs?: number;
}

const COALESCE_MAX = 256;

const ALERT = 'yamori.alert';

export function createEventQueue(deps: EventQueueDeps): EventQueue {
  mkdirSync(dirname(deps.path), { recursive: true, mode: 0o700 });
  const db = new DatabaseSync(deps.path);
  db.exec(`
    PRAGMA journal_mode = WAL;
    PRAGMA synchronous = NORMAL;
    PRAGMA busy_timeout = 5000;
    -- 512 KiB of page cache, not SQLite's 2 MB: the queue reads its head and appends at its tail, and
    -- the rest comes from the kernel's page cache; the agent keeps what it caches for good (ADR 0012)
    PRAGMA cache_size = -512;
    CREATE TABLE IF NOT EXISTS events (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      dataset TEXT NOT NULL,
      alert INTEGER NOT NULL,
      size INTEGER NOT NULL,
      body TEXT NOT NULL,
      batch_id TEXT
    );
    CREATE INDEX IF NOT EXISTS events_droppable ON events (alert, batch_id, seq);
    CREATE INDEX IF NOT EXISTS events_batch ON events (batch_id);
    CREATE TABLE IF NOT EXISTS dropped (dataset TEXT PRIMARY KEY, count INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  `);
  let maxBytes = deps.maxBytes;
  const newId = deps.newId ?? randomUUID;
  const hardMaxEvents = Math.min(deps.maxBatchEvents ?? MAX_EVENTS_PER_BATCH, MAX_EVENTS_PER_BATCH);
  const hardMaxBytes = deps.maxBatchBytes ?? 8 * 1024 * 1024;

  const st = (sql: string): StatementSync => db.prepare(sql);
  const insert = st('INSERT INTO events (dataset, alert, size, body) VALUES (?, ?, ?, ?)');
  const openBatch = st('SELECT batch_id FROM events WHERE batch_id IS NOT NULL ORDER BY seq LIMIT 1');
  const batchRows = st('SELECT body, size FROM events WHERE batch_id = ? ORDER BY seq');
  const candidates = st('SELECT seq, size FROM events WHERE batch_id IS NULL ORDER BY seq LIMIT ?');
  const assign = st('UPDATE events SET batch_id = ? WHERE batch_id IS NULL AND seq <= ?');
  const deleteBatch = st('DELETE FROM events WHERE batch_id = ?');
  const countBatch = st('SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS b FROM events WHERE batch_id = ?');
  const release = st('UPDATE events SET batch_id = NULL WHERE batch_id = ?');
  const oldestTelemetry = st('SELECT seq, size, dataset FROM events WHERE alert = 0 AND batch_id IS NULL ORDER BY seq LIMIT 512');
  const deleteSeq = st('DELETE FROM events WHERE seq = ?');
  const countDrop = st('INSERT INTO dropped (dataset, count) VALUES (?, ?) ON CONFLICT (dataset) DO UPDATE SET count = count + excluded.count');
  const getMeta = st('SELECT value FROM meta WHERE key = ?');
  const setMeta = st('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value');

  const totals = db.prepare('SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS b FROM events').get() as { n: number; b: number };
  let depth = Number(totals.n);
  let bytes = Number(totals.b);
  // A 413 halves the batch size; persisted so a restart does not hit the limit again.
  let batchEvents = Number((getMeta.get('batch_events') as { value?: string } | undefined)?.value ?? hardMaxEvents);

  const tx = <T>(fn: () => T): T => {
    db.exec('BEGIN IMMEDIATE');
    try {
      const r = fn();
      db.exec('COMMIT');
      return r;
    } catch (err) {
      db.exec('ROLLBACK');
      throw err;
    }
  };

  const addDrops = (counts: Map<string, number>) => {
    for (const [k, n] of counts) countDrop.run(k, n);
  };

  /** Drop the oldest unbatched telemetry until under the bound (inside a transaction). */
  const enforceBound = () => {
    const drops = new Map<string, number>();
    while (bytes > maxBytes) {
      const rows = oldestTelemetry.all() as { seq: number; size: number; dataset: string }[];
      if (rows.length === 0) break; // only alerts (and the open batch) left: keep them
      for (const r of rows) {
        deleteSeq.run(r.seq);
        bytes -= Number(r.size);
        depth -= 1;
        drops.set(r.dataset, (drops.get(r.dataset) ?? 0) + 1);
        if (bytes <= maxBytes) break;
      }
    }
    addDrops(drops);
  };

  const load = (batchId: string): QueuedBatch => {
    const rows = batchRows.all(batchId) as { body: string; size: number }[];
    return {
      batchId,
      events: rows.map((r) => JSON.parse(r.body) as AnyEvent),
      bytes: rows.reduce((s, r) => s + Number(r.size), 0),
    };
  };

  const coalesceMs = deps.coalesceMs ?? 25;
  let waiting: { dataset: string; size: number; body: string }[] = [];
  let waitingBytes = 0;
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (waiting.length === 0) return;
    const saved = { bytes, depth };
    try {
      tx(() => {
        for (const r of waiting) {
          insert.run(r.dataset, r.dataset === ALERT ? 1 : 0, r.size, r.body);
          bytes += r.size;
          depth += 1;
        }
        if (bytes > maxBytes) enforceBound();
      });
    } catch (err) {
      // rolled back: the events keep waiting for the next try
      ({ bytes, depth } = saved);
      throw err;
    }
    waiting = [];
    waitingBytes = 0;
  };
  const flushLater = () => {
    try {
      flush();
    } catch {
      // the disk is full or the database busy: the events wait in memory, the next enqueue or batch retries
      timer ??= setTimeout(flushLater, 1000).unref();
    }
  };

  return {
    enqueue(events) {
      if (events.length === 0) return;
      let alert = false;
      for (const ev of events) {
        const body = JSON.stringify(ev);
        const size = Buffer.byteLength(body);
        waiting.push({ dataset: ev.event.dataset, size, body });
        waitingBytes += size;
        alert ||= ev.event.dataset === ALERT;
      }
      if (alert || coalesceMs <= 0 || waiting.length >= COALESCE_MAX || bytes + waitingBytes > maxBytes) flush();
      else timer ??= setTimeout(flushLater, coalesceMs).unref();
    },

    nextBatch() {
      flush();
      const open = openBatch.get() as { batch_id: string } | undefined;
      if (open) return load(open.batch_id);
      const id = tx(() => {
        const rows = candidates.all(batchEvents) as { seq: number; size: number }[];
        if (rows.length === 0) return null;
        let last = -1;
        let sum = 0;
        for (const r of rows) {
          if (last !== -1 && sum + Number(r.size) > hardMaxBytes) break;
          sum += Number(r.size);
          last = Number(r.seq);
        }
        const id = newId();
        assign.run(id, last);
        return id;
      });
      return id === null ? null : load(id);
    },

    ack(batchId) {
      tx(() => {
        const b = countBatch.get(batchId) as { n: number; b: number };
        deleteBatch.run(batchId);
        depth -= Number(b.n);
        bytes -= Number(b.b);
        if (batchEvents < hardMaxEvents) {
          batchEvents = Math.min(hardMaxEvents, batchEvents * 2);
          setMeta.run('batch_events', String(batchEvents));
        }
      });
    },

    shrink(batchId) {
      return tx(() => {
        const n = Number((countBatch.get(batchId) as { n: number }).n);
        if (n <= 1) {
          // One event the server will never take: drop it rather than loop on it.
          const b = countBatch.get(batchId) as { n: number; b: number };
          deleteBatch.run(batchId);
          depth -= Number(b.n);
          bytes -= Number(b.b);
          addDrops(new Map([['too_large', Number(b.n)]]));
          return 'dropped' as const;
        }
        release.run(batchId);
        batchEvents = Math.max(1, Math.min(batchEvents, Math.floor(n / 2)));
        setMeta.run('batch_events', String(batchEvents));
        return 'split' as const;
      });
    },

    reject(batchId) {
      return tx(() => {
        const b = countBatch.get(batchId) as { n: number; b: number };
        deleteBatch.run(batchId);
        depth -= Number(b.n);
        bytes -= Number(b.b);
        addDrops(new Map([['poison', Number(b.n)]]));
        return Number(b.n);
      });
    },

    depth: () => depth + waiting.length,
    bytes: () => bytes + waitingBytes,
    dropped() {
      const out: Record<string, number> = {};
      for (const r of db.prepare('SELECT dataset, count FROM dropped').all() as { dataset: string; count: number }[]) {
        out[r.dataset] = Number(r.count);
      }
      return out;
    },
    droppedTotal() {
      return Number((db.prepare('SELECT COALESCE(SUM(count), 0) AS n FROM dropped').get() as { n: number }).n);
    },
    setMaxBytes(n) {
      maxBytes = n;
      flush();
      if (bytes > maxBytes) tx(enforceBound);
    },
    close() {
      flush();
      db.close();
    },
  };
}
