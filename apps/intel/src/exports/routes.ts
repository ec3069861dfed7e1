import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ExportFormat, ExportQuery, type IndicatorType, type Tlp, type Verdict } from '@yamori/protocol';
import type { Database } from '@yamori/db';
import type { Authenticator } from '../auth.ts';
import type { IntelDb } from '../db/schema.ts';
import { listForExport } from '../indicators/indicator-repository.ts';
import { tlpAtOrBelow } from '../indicators/verdict-combine.ts';
import type { ExportRow } from './export-row.ts';
import { renderList } from './list-export.ts';
import { renderNft } from './nft-export.ts';
import { renderStix } from './stix-export.ts';
import { renderSuricata } from './suricata-export.ts';

/** Feeds out: STIX, Suricata rules, plain lists for firewalls, an nftables set file. */
export interface ExportRoutesOptions {
  database: Database<IntelDb>;
  auth: Authenticator;
  now: () => number;
}

const TYPES: Record<ExportFormat, IndicatorType[]> = {
  stix: ['sha256', 'ip', 'cidr', 'domain', 'url'],
  suricata: ['sha256', 'ip', 'cidr', 'domain', 'url'],
  ip: ['ip', 'cidr'],
  nft: ['ip', 'cidr'],
  domain: ['domain'],
  url: ['url'],
  sha256: ['sha256'],
};

export const exportRoutes: FastifyPluginAsyncTypebox<ExportRoutesOptions> = async (app, opts) => {
  app.addHook('onRequest', opts.auth.require('org', 'admin'));
  app.get('/:format', { schema: { params: Type.Object({ format: ExportFormat }), querystring: ExportQuery } }, async (request, reply) => {
    const { format } = request.params;
    const q = request.query;
    const now = opts.now();
    const rows = await listForExport(opts.database.db, {
      types: TYPES[format],
      verdicts: (q.verdict ?? 'malicious').split(',') as Verdict[],
      minConfidence: q.minConfidence ?? 0,
      tlps: tlpAtOrBelow(q.maxTlp ?? 'amber'),
      now,
    });
    const list: ExportRow[] = rows.map((r) => ({
      type: r.type as IndicatorType,
      value: r.value,
      verdict: r.verdict as Verdict,
      confidence: r.confidence,
      source: r.source,
      tlp: r.tlp as Tlp,
      firstSeen: r.first_seen,
      lastSeen: r.last_seen,
      expiresAt: r.expires_at,
    }));
    switch (format) {
      case 'stix':
        return reply.type('application/stix+json;version=2.1').send(renderStix(list, now));
      case 'suricata':
        return reply.type('text/plain; charset=utf-8').send(renderSuricata(list, now));
      case 'nft':
        return reply.type('text/plain; charset=utf-8').send(renderNft(list, now, q.chains ?? false));
      default:
        return reply.type('text/plain; charset=utf-8').send(renderList(format, list, now, q.stripScheme ?? true));
    }
  });
};
