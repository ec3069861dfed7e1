import type { IntelKysely } from './indicator-repository.ts';
import { headSeq } from './indicator-repository.ts';
import { KnownFilter } from './known-filter.ts';

/**
 * The in-memory filter of values with a verdict, kept current by following the change feed: every
 * value gets a verdict only through a change entry, so applying the changes after `seq` brings the
 * filter up to date. Each lookup first checks the feed head (one indexed read) and catches up, so
 * a lookup never misses a verdict committed before it started, on any instance.
 */
export interface KnownSet {
  /** Bring the filter up to date; returns it. */
  current(): Promise<KnownFilter>;
}

const PAGE = 20_000;

export function createKnownSet(db: IntelKysely): KnownSet {
  let filter: KnownFilter | undefined;
  let seq = 0;
  let pending: Promise<KnownFilter> | undefined;

  const build = async (): Promise<KnownFilter> => {
    const head = await headSeq(db);
    const { n } = (await db.selectFrom('indicators').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()) ?? { n: 0 };
    const f = new KnownFilter(Math.max(Number(n) * 2, 100_000));
    let after: { type: string; value: string } | undefined;
    for (;;) {
      let q = db.selectFrom('indicators').select(['type', 'value']).orderBy('type').orderBy('value').limit(PAGE);
      if (after) {
        const a = after;
        q = q.where((eb) => eb.or([eb('type', '>', a.type), eb.and([eb('type', '=', a.type), eb('value', '>', a.value)])]));
      }
      const rows = await q.execute();
      for (const r of rows) f.add(r.type, r.value);
      if (rows.length < PAGE) break;
      after = rows[rows.length - 1];
    }
    seq = head;
    return f;
  };

  const catchUp = async (f: KnownFilter, head: number): Promise<KnownFilter> => {
    while (seq < head) {
      const rows = await db.selectFrom('changes').select(['seq', 'type', 'value']).where('seq', '>', seq).orderBy('seq').limit(PAGE).execute();
      if (rows.length === 0) break;
      for (const r of rows) f.add(r.type, r.value);
      seq = rows[rows.length - 1]!.seq;
    }
    // Past twice its capacity the false-positive rate climbs: rebuild at the next refresh.
    return f.count > f.capacity * 2 ? build() : f;
  };

  const refresh = async (): Promise<KnownFilter> => {
    if (!filter) {
      filter = await build();
      return filter;
    }
    const head = await headSeq(db);
    if (head > seq) filter = await catchUp(filter, head);
    return filter;
  };

  return {
    current() {
      // Single flight: concurrent lookups share one refresh.
      pending ??= refresh().finally(() => {
        pending = undefined;
      });
      return pending;
    },
  };
}
