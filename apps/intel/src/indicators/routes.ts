import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { Indicator, IndicatorDetail, IndicatorType, IntelChangesResponse, IntelLookupRequest, IntelLookupResponse, type Tlp, type Verdict } from '@yamori/protocol';
import type { Database } from '@yamori/db';
import type { Counter } from 'prom-client';
import type { Authenticator } from '../auth.ts';
import type { IntelDb } from '../db/schema.ts';
import { NotFoundError } from '../errors.ts';
import { CHANGES_TOPIC } from '../feeds/import-service.ts';
import { clientGone, listenFor } from '../wait.ts';
import { changesSince, getIndicator, getObservations, getRelated, loadTrust } from './indicator-repository.ts';
import { createKnownSet } from './known-set.ts';
import { lookup } from './lookup.ts';
import { normalise } from './normalise.ts';

/** Lookups, single indicators and the change feed (organization and admin keys). */
export interface IndicatorRoutesOptions {
  database: Database<IntelDb>;
  auth: Authenticator;
  now: () => number;
  maxLongPollS: number;
  lookups?: Counter;
}

const iso = (ms: number) => new Date(ms).toISOString();

export const indicatorRoutes: FastifyPluginAsyncTypebox<IndicatorRoutesOptions> = async (app, opts) => {
  const { db, notifier } = opts.database;
  app.addHook('onRequest', opts.auth.require('org', 'admin'));
  const known = createKnownSet(db);

  app.post('/lookup', { schema: { body: IntelLookupRequest, response: { 200: IntelLookupResponse } } }, async (request) => {
    opts.lookups?.inc(request.body.items.length);
    return lookup(db, request.body, opts.now(), await known.current());
  });

  app.get(
    '/changes',
    {
      schema: {
        querystring: Type.Object(
          {
            since: Type.Optional(Type.Integer({ minimum: 0 })),
            waitS: Type.Optional(Type.Integer({ minimum: 0, maximum: 60 })),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000 })),
          },
          { additionalProperties: false },
        ),
        response: { 200: IntelChangesResponse },
      },
    },
    async (request, reply) => {
      const since = request.query.since ?? 0;
      const limit = request.query.limit ?? 1000;
      const waitS = Math.min(request.query.waitS ?? 0, opts.maxLongPollS);
      const listener = waitS > 0 ? listenFor(notifier, CHANGES_TOPIC) : undefined;
      try {
        let rows = await changesSince(db, since, limit);
        if (rows.length === 0 && listener) {
          await listener.wait(waitS * 1000, clientGone(reply.raw));
          rows = await changesSince(db, since, limit);
        }
        return {
          changes: rows.map((r) => ({
            seq: r.seq,
            type: r.type as IndicatorType,
            value: r.value,
            verdict: r.verdict as Verdict,
            confidence: r.confidence,
            source: r.source,
            at: iso(r.at),
          })),
          next: rows.length > 0 ? rows[rows.length - 1]!.seq : since,
        };
      } finally {
        listener?.close();
      }
    },
  );

  app.get(
    '/indicators/:type/:value',
    {
      schema: {
        params: Type.Object({ type: IndicatorType, value: Type.String({ minLength: 1, maxLength: 2048 }) }),
        response: { 200: IndicatorDetail },
      },
    },
    async (request) => {
      const n = normalise(request.params.type, request.params.value);
      if (!n.ok) throw new NotFoundError(`indicator ${request.params.value} (${n.reason})`);
      const row = await getIndicator(db, n.type, n.value);
      if (!row) throw new NotFoundError(`indicator ${n.type} ${n.value}`);
      const [obs, related, trustOf] = await Promise.all([getObservations(db, n.type, n.value), getRelated(db, n.type, n.value), loadTrust(db)]);
      const live = row.expires_at === null || row.expires_at > opts.now();
      const indicator: Indicator = {
        type: n.type,
        value: n.value,
        verdict: live ? (row.verdict as Verdict) : 'unknown',
        confidence: live ? row.confidence : 0,
        source: row.source,
        tlp: row.tlp as Tlp,
        firstSeen: iso(row.first_seen),
        lastSeen: iso(row.last_seen),
        expiresAt: row.expires_at === null ? null : iso(row.expires_at),
        related,
      };
      return {
        indicator,
        observations: obs.map((o) => ({
          source: o.source,
          verdict: o.verdict as Verdict,
          confidence: o.confidence,
          trust: trustOf(o.source),
          tlp: o.tlp as Tlp,
          lastSeen: iso(o.last_seen),
          expiresAt: o.expires_at === null ? null : iso(o.expires_at),
        })),
      };
    },
  );
};
