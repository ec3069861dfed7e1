import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { setTimeout as delay } from 'node:timers/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AnyEvent, DetectionEvent, ProcessEvent } from '@yamori/protocol';
import { createEventQueue } from './event-queue.ts';

const T = '2026-06-01T00:00:00.000Z';
let n = 0;
const proc = (pad = 0): ProcessEvent => ({
  '@timestamp': T,
  event: { id: `ev-${String(++n).padStart(8, '0')}`, dataset: 'yamori.process', kind: 'event', category: ['process'], type: ['start'], action: 'exec' },
  process: { entity_id: 'x'.repeat(pad), pid: n },
});
const alert = (): DetectionEvent => ({
  '@timestamp': T,
  event: { id: `al-${String(++n).padStart(8, '0')}`, dataset: 'yamori.alert', kind: 'alert', category: ['malware'], type: ['denied'], action: 'exec_denied' },
  rule: { id: 'r', name: 'R' },
  yamori: { module: 'malware', mode: 'block', action: 'deny_exec' },
});
const ids = (evs: AnyEvent[]) => evs.map((e) => e.event.id);

function tmp(t: { after: (fn: () => void) => void }) {
  const d = mkdtempSync(join(tmpdir(), 'ymr-queue-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return join(d, 'queue.db');
}

void test('events and the open batch survive a restart; the batch id is stable until acked', (t) => {
  const path = tmp(t);
  const q1 = createEventQueue({ path, maxBytes: 1 << 20, maxBatchEvents: 3 });
  const evs = [proc(), proc(), proc(), proc(), alert()];
  q1.enqueue(evs);
  const b1 = q1.nextBatch();
  assert.ok(b1);
  assert.deepEqual(ids(b1.events), ids(evs.slice(0, 3)));
  q1.close(); // "crash" after sending, before the ack

  const q2 = createEventQueue({ path, maxBytes: 1 << 20, maxBatchEvents: 3 });
  assert.equal(q2.depth(), 5);
  const again = q2.nextBatch();
  assert.equal(again?.batchId, b1.batchId);
  assert.deepEqual(ids(again?.events ?? []), ids(b1.events));
  q2.enqueue([proc()]); // new events do not join an open batch
  assert.equal(q2.nextBatch()?.events.length, 3);
  q2.ack(b1.batchId);
  const b2 = q2.nextBatch();
  assert.notEqual(b2?.batchId, b1.batchId);
  assert.deepEqual(ids(b2?.events ?? []), [evs[3]!.event.id, evs[4]!.event.id, `ev-${String(n).padStart(8, '0')}`]);
  q2.ack(b2!.batchId);
  assert.equal(q2.nextBatch(), null);
  assert.equal(q2.depth(), 0);
  assert.equal(q2.bytes(), 0);
  q2.close();
});

void test('bound: oldest telemetry is dropped first, counted per dataset; alerts are never dropped', (t) => {
  const path = tmp(t);
  const one = Buffer.byteLength(JSON.stringify(proc(200)));
  const q = createEventQueue({ path, maxBytes: one * 10 });
  const first = [alert(), ...Array.from({ length: 10 }, () => proc(200))];
  q.enqueue(first);
  q.enqueue(Array.from({ length: 5 }, () => proc(200)));
  assert.ok(q.bytes() <= one * 10);
  const dropped = q.dropped();
  assert.ok((dropped['yamori.process'] ?? 0) >= 5);
  assert.equal(dropped['yamori.alert'], undefined);
  const b = q.nextBatch();
  assert.ok(b);
  assert.equal(b.events[0]?.event.dataset, 'yamori.alert');
  // the survivors are the newest telemetry, in order
  const seqs = b.events.slice(1).map((e) => (e as ProcessEvent).process.pid);
  assert.deepEqual(seqs, [...seqs].sort((a, z) => a - z));
  assert.equal(seqs.at(-1), n);
  q.ack(b.batchId);

  // Only alerts: they stay, over the bound.
  q.setMaxBytes(1);
  q.enqueue([alert(), alert(), proc()]);
  assert.equal(q.depth(), 2);
  assert.equal(q.dropped()['yamori.alert'], undefined);
  assert.ok(q.droppedTotal() >= 6);
  q.close();
});

void test('the open batch is never trimmed by the bound (its content is fixed by its id)', (t) => {
  const q = createEventQueue({ path: tmp(t), maxBytes: 1 << 20 });
  q.enqueue([proc(), proc()]);
  const b = q.nextBatch()!;
  q.setMaxBytes(1);
  q.enqueue([proc()]);
  assert.deepEqual(ids(q.nextBatch()!.events), ids(b.events));
  q.close();
});

void test('413: shrink splits the batch; a single oversized event is dropped. 400: reject drops and counts poison', (t) => {
  const q = createEventQueue({ path: tmp(t), maxBytes: 1 << 20 });
  q.enqueue([proc(), proc(), proc(), proc()]);
  const b = q.nextBatch()!;
  assert.equal(q.shrink(b.batchId), 'split');
  const small = q.nextBatch()!;
  assert.notEqual(small.batchId, b.batchId);
  assert.equal(small.events.length, 2);
  assert.equal(q.reject(small.batchId), 2);
  assert.equal(q.dropped()['poison'], 2);
  const rest = q.nextBatch()!;
  q.shrink(rest.batchId);
  const single = q.nextBatch()!;
  assert.equal(single.events.length, 1);
  assert.equal(q.shrink(single.batchId), 'dropped');
  assert.equal(q.dropped()['too_large'], 1);
  assert.equal(q.depth(), 1);
  q.close();
});

void test('telemetry is written in groups within coalesceMs; an alert, a batch and close() write what waits at once', async (t) => {
  const path = tmp(t);
  const q = createEventQueue({ path, maxBytes: 1 << 20, coalesceMs: 50 });
  const onDisk = () => {
    const db = new DatabaseSync(path, { readOnly: true });
    try {
      return Number((db.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n);
    } finally {
      db.close();
    }
  };
  q.enqueue([proc()]);
  q.enqueue([proc()]);
  assert.equal(q.depth(), 2, 'waiting events count');
  assert.equal(onDisk(), 0, 'not yet written');
  await delay(150);
  assert.equal(onDisk(), 2, 'written together after coalesceMs');
  q.enqueue([proc()]);
  q.enqueue([alert()]);
  assert.equal(onDisk(), 4, 'an alert commits at once, with the telemetry that waited');
  q.enqueue([proc()]);
  assert.equal(q.nextBatch()?.events.length, 5, 'a batch takes what waits');
  q.enqueue([proc()]);
  q.close();
  const again = createEventQueue({ path, maxBytes: 1 << 20 });
  assert.equal(again.depth(), 6, 'close() wrote the last one');
  again.close();
});
