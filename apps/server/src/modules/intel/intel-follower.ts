import type { Kysely } from 'kysely';
import type { FastifyBaseLogger } from 'fastify';
import type { DB } from '../../db-types.ts';
import type { Clock } from '../../lib/time.ts';
import type { WakeupHub } from '../../lib/wakeups.ts';
import { applyVerdict } from '../verdicts/service.ts';
import type { IntelClient } from './intel-client.ts';

const CURSOR_KEY = 'intel_changes_cursor';

async function readCursor(db: Kysely<DB>): Promise<number> {
  const r = await db.selectFrom('server_state').select('value').where('key', '=', CURSOR_KEY).executeTakeFirst();
  return Number(r?.value ?? 0);
}

/** Moves the cursor only forward and only from where this instance read it (several instances may follow). */
async function advanceCursor(db: Kysely<DB>, from: number, to: number): Promise<void> {
  const r = await db.updateTable('server_state').set({ value: String(to) }).where('key', '=', CURSOR_KEY).where('value', '=', String(from)).executeTakeFirst();
  if (Number(r.numUpdatedRows) === 0 && from === 0) {
    await db.insertInto('server_state').values({ key: CURSOR_KEY, value: String(to) }).onConflict((oc) => oc.column('key').doNothing()).execute();
  }
}

/**
 * Follows intelligence's change feed: each file verdict becomes a shared verdict that reaches
 * every connected agent through its check-in, and a malicious one starts the retro-hunt.
 * At-least-once: a change applied twice only repeats a verdict row and a deduplicated alert.
 */
export function startIntelFollower(deps: { db: Kysely<DB>; wakeups: WakeupHub; client: IntelClient; now: Clock; log: FastifyBaseLogger }): { stop(): Promise<void> } {
  const abort = new AbortController();
  let backoff = 1000;
  const loop = async () => {
    while (!abort.signal.aborted) {
      try {
        const since = await readCursor(deps.db);
        const res = await deps.client.changes(since, 30, abort.signal);
        for (const c of res.changes) {
          if (c.type !== 'sha256') continue;
          await applyVerdict(deps.db, deps.wakeups, { sha256: c.value, verdict: c.verdict, source: `intel:${c.source}`, tenantId: null, actor: 'intel', at: deps.now() });
        }
        if (res.next > since) await advanceCursor(deps.db, since, res.next);
        backoff = 1000;
      } catch (e) {
        if (abort.signal.aborted) break;
        deps.log.warn({ err: e }, `intelligence change feed unavailable; retrying in ${backoff} ms`);
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, 60_000);
      }
    }
  };
  const done = loop();
  return {
    stop: async () => {
      abort.abort();
      await done;
    },
  };
}
