import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ExportFormat, ExportQuery } from '@yamori/protocol';
import type { Database } from '@yamori/db';
import type { Authenticator } from '../auth.ts';
import type { IntelDb } from '../db/schema.ts';
import { CONTENT_TYPES, exportIndicators } from './service.ts';

/** Feeds out: STIX, Suricata rules, plain lists for firewalls, an nftables set file (organization and admin keys). */
export interface ExportRoutesOptions {
  database: Database<IntelDb>;
  auth: Authenticator;
  now: () => number;
}

export const exportRoutes: FastifyPluginAsyncTypebox<ExportRoutesOptions> = async (app, opts) => {
  app.addHook('onRequest', opts.auth.require('org', 'admin'));
  app.get('/:format', { schema: { params: Type.Object({ format: ExportFormat }), querystring: ExportQuery } }, async (request, reply) => {
    const { format } = request.params;
    const text = await exportIndicators(opts.database.db, format, request.query, opts.now());
    return reply.type(CONTENT_TYPES[format]).send(text);
  });
};
