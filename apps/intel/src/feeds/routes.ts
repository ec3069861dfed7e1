import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { FeedImportQuery, FeedImportReport, FeedSource, FeedSourceInput, parseWith } from '@yamori/protocol';
import type { Authenticator } from '../auth.ts';
import { InvalidInputError, NotFoundError } from '../errors.ts';
import { recomputeSource } from '../maintenance.ts';
import { fetchSource, type FetchDeps } from './feed-fetch.ts';
import { importFeed } from './import-service.ts';
import { deleteSource, getSource, listSources, putSource, recordFetch, toFeedSource } from './source-repository.ts';

/** Feed imports (upload) and feed sources with trust weights and schedules (admin keys). */
export interface FeedRoutesOptions extends FetchDeps {
  auth: Authenticator;
}

export const feedRoutes: FastifyPluginAsyncTypebox<FeedRoutesOptions> = async (app, opts) => {
  const { db } = opts.database;
  app.addHook('onRequest', opts.auth.require('admin'));
  // The feed file is the body as is, whatever its content type (JSON, CSV, text).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: opts.maxBytes }, (_req, body, done) => done(null, body));

  app.post(
    '/import',
    { schema: { querystring: FeedImportQuery, response: { 200: FeedImportReport } }, bodyLimit: opts.maxBytes },
    async (request) => {
      if (!Buffer.isBuffer(request.body) || request.body.length === 0) throw new InvalidInputError('empty body: send the feed file as the request body');
      const q = request.query;
      return importFeed(opts, { text: request.body.toString('utf8'), format: q.format, source: q.source, type: q.type, verdict: q.verdict, confidence: q.confidence, tlp: q.tlp });
    },
  );

  app.get('/sources', { schema: { response: { 200: Type.Object({ items: Type.Array(FeedSource) }) } } }, async () => ({
    items: (await listSources(db)).map(toFeedSource),
  }));

  app.put(
    '/sources/:name',
    { schema: { params: Type.Object({ name: FeedSource.properties.name }), response: { 200: FeedSource } } },
    async (request) => {
      const body = parseJson(request.body);
      const input = { ...(body as object), name: request.params.name };
      let valid;
      try {
        valid = parseWith(FeedSourceInput, input, 'feed source');
      } catch (e) {
        throw new InvalidInputError((e as Error).message);
      }
      if (valid.url && !valid.format) throw new InvalidInputError('a feed with a url needs a format (stix, misp, csv or list)');
      const before = await getSource(db, valid.name);
      const row = await putSource(db, valid, opts.now());
      // A new weight changes the combined verdicts this source contributes to.
      if (before && before.trust !== row.trust) await recomputeSource(opts.database, row.name, opts.now());
      return toFeedSource(row);
    },
  );

  app.delete('/sources/:name', { schema: { params: Type.Object({ name: Type.String({ maxLength: 128 }) }) } }, async (request, reply) => {
    if (!(await deleteSource(db, request.params.name))) throw new NotFoundError(`feed source ${request.params.name}`);
    return reply.status(204).send();
  });

  app.post(
    '/sources/:name/fetch',
    { schema: { params: Type.Object({ name: Type.String({ maxLength: 128 }) }), response: { 200: FeedImportReport, 204: Type.Null() } } },
    async (request, reply) => {
      const src = await getSource(db, request.params.name);
      if (!src) throw new NotFoundError(`feed source ${request.params.name}`);
      if (!src.url || !src.format) throw new InvalidInputError(`feed source ${src.name} has no url/format to fetch`);
      try {
        const r = await fetchSource(opts, { ...src, etag: null });
        if (r === 'not-modified') return reply.status(204).send(null);
        return r;
      } catch (e) {
        await recordFetch(db, src.name, `error: ${(e as Error).message}`, null, opts.now());
        throw e instanceof Error && 'code' in e ? e : new InvalidInputError(`fetching ${src.url}: ${(e as Error).message}`);
      }
    },
  );
};

function parseJson(body: unknown): unknown {
  if (!Buffer.isBuffer(body) || body.length === 0) return {};
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (e) {
    throw new InvalidInputError(`body is not JSON: ${(e as Error).message}`);
  }
}
